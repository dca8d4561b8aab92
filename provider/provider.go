// Package provider is dbfleet's Terraform provider, built on
// terraform-plugin-framework: the provider configuration, one file per
// resource and data source, and the validators they share.
package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

// Environment variables the provider reads when its block leaves the
// corresponding attribute out.
const (
	envEndpoint = "DBFLEET_ENDPOINT"
	envToken    = "DBFLEET_TOKEN"
)

var (
	_ provider.Provider                       = (*dbfleetProvider)(nil)
	_ provider.ProviderWithEphemeralResources = (*dbfleetProvider)(nil)
)

// New returns a function that creates the provider; version is the
// provider's version ("dev" for local builds, "test" in tests).
func New(version string) func() provider.Provider {
	return func() provider.Provider {
		return &dbfleetProvider{version: version}
	}
}

// dbfleetProvider is the dbfleet provider.
type dbfleetProvider struct {
	version string
}

// providerModel is the provider block.
type providerModel struct {
	Endpoint           types.String `tfsdk:"endpoint"`
	Token              types.String `tfsdk:"token"`
	CACertPEM          types.String `tfsdk:"ca_cert_pem"`
	InsecureSkipVerify types.Bool   `tfsdk:"insecure_skip_verify"`
	RequestTimeout     types.String `tfsdk:"request_timeout"`
	MaxRetries         types.Int64  `tfsdk:"max_retries"`
}

// Metadata names the provider dbfleet and reports its version.
func (p *dbfleetProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "dbfleet"
	resp.Version = p.version
}

// Schema describes the provider block.
func (p *dbfleetProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The dbfleet provider manages PostgreSQL databases across regions through dbfleetd, " +
			"dbfleet's provisioning backend. It needs the URL of dbfleetd and an API token; " +
			"`dbfleetd dev` prints both as `DBFLEET_ENDPOINT` and `DBFLEET_TOKEN`.",
		Attributes: map[string]schema.Attribute{
			"endpoint": schema.StringAttribute{
				MarkdownDescription: "The URL of dbfleetd's API, such as `http://127.0.0.1:8580`. " +
					"Defaults to the `" + envEndpoint + "` environment variable; one of the two is required.",
				Optional: true,
			},
			"token": schema.StringAttribute{
				MarkdownDescription: "The API token sent as a bearer token on every request. " +
					"Creating and changing databases needs the `write` scope. " +
					"Defaults to the `" + envToken + "` environment variable; one of the two is required. " +
					"The provider never logs it.",
				Optional:  true,
				Sensitive: true,
			},
			"ca_cert_pem": schema.StringAttribute{
				MarkdownDescription: "PEM-encoded CA certificates to trust for an `https` endpoint, " +
					"in addition to the system's roots. Leave it out to trust the system's roots only.",
				Optional: true,
			},
			"insecure_skip_verify": schema.BoolAttribute{
				MarkdownDescription: "Whether to skip verifying the TLS certificate of an `https` endpoint. " +
					"Defaults to `false`. Only for development endpoints: it lets anyone on the path read the token.",
				Optional: true,
			},
			"request_timeout": schema.StringAttribute{
				MarkdownDescription: "How long one HTTP request to dbfleetd may take, as a duration such as `30s` or `1m`. " +
					"Defaults to `" + client.DefaultRequestTimeout.String() + "`. " +
					"It does not bound waiting for an operation: the `timeouts` block of each resource does.",
				Optional:   true,
				Validators: []validator.String{positiveDuration()},
			},
			"max_retries": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("How many times a request is retried after a connection error, "+
					"a `429` or a `5xx` answer, waiting as long as the answer's `Retry-After` says or backing off "+
					"exponentially. Between `0` and `100`; defaults to `%d`, and `0` never retries. Within a resource's `timeouts` "+
					"(creating, changing, deleting), requests are retried until that time is up, however many retries it takes. "+
					"A retried request that creates or changes "+
					"something carries the same idempotency key, so it never acts twice.", client.DefaultMaxRetries),
				Optional:   true,
				Validators: []validator.Int64{int64validator.Between(0, 100)},
			},
		},
	}
}

// Configure creates the API client that resources and data sources use,
// from the provider block and the environment.
func (p *dbfleetProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}

	for _, a := range []struct {
		name  string
		value attr.Value
	}{
		{"endpoint", cfg.Endpoint},
		{"token", cfg.Token},
		{"ca_cert_pem", cfg.CACertPEM},
		{"insecure_skip_verify", cfg.InsecureSkipVerify},
		{"request_timeout", cfg.RequestTimeout},
		{"max_retries", cfg.MaxRetries},
	} {
		if a.value.IsUnknown() {
			resp.Diagnostics.AddAttributeError(path.Root(a.name), "Unknown Provider Setting",
				fmt.Sprintf("The provider cannot connect to dbfleetd while %s is unknown. "+
					"Set it to a value known before apply, or leave it out to use its default.", a.name))
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}

	endpoint := valueOrEnv(cfg.Endpoint, envEndpoint)
	if endpoint == "" {
		resp.Diagnostics.AddAttributeError(path.Root("endpoint"), "Missing dbfleet Endpoint",
			"The provider needs the URL of dbfleetd. Set endpoint in the provider block or the "+envEndpoint+
				" environment variable, for example to http://127.0.0.1:8580.")
	}
	token := valueOrEnv(cfg.Token, envToken)
	if token == "" {
		resp.Diagnostics.AddAttributeError(path.Root("token"), "Missing dbfleet Token",
			"The provider needs an API token for dbfleetd. Set token in the provider block or, "+
				"to keep it out of the configuration, the "+envToken+" environment variable.")
	}
	requestTimeout := client.DefaultRequestTimeout
	if !cfg.RequestTimeout.IsNull() {
		d, err := time.ParseDuration(cfg.RequestTimeout.ValueString())
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("request_timeout"), "Invalid Request Timeout",
				fmt.Sprintf("request_timeout must be a duration such as 30s: %s.", err))
		}
		requestTimeout = d
	}
	maxRetries := client.DefaultMaxRetries
	if !cfg.MaxRetries.IsNull() {
		maxRetries = int(cfg.MaxRetries.ValueInt64())
	}
	if resp.Diagnostics.HasError() {
		return
	}

	ctx = maskToken(ctx, token)
	ctx = tflog.SetField(ctx, "endpoint", endpoint)
	tflog.Debug(ctx, "Creating dbfleet API client")

	c, err := client.New(client.Config{
		Endpoint:           endpoint,
		Token:              token,
		CACertPEM:          cfg.CACertPEM.ValueString(),
		InsecureSkipVerify: cfg.InsecureSkipVerify.ValueBool(),
		RequestTimeout:     requestTimeout,
		MaxRetries:         maxRetries,
		UserAgent:          fmt.Sprintf("terraform-provider-dbfleet/%s terraform/%s", p.version, req.TerraformVersion),
		Log: func(ctx context.Context, msg string, fields map[string]any) {
			tflog.Debug(maskToken(ctx, token), msg, fields)
		},
	})
	var cfgErr *client.ConfigError
	switch {
	case errors.As(err, &cfgErr):
		resp.Diagnostics.AddAttributeError(path.Root(cfgErr.Field), "Invalid Provider Configuration",
			fmt.Sprintf("The provider's %s setting %s.", cfgErr.Field, cfgErr.Message))
		return
	case err != nil:
		resp.Diagnostics.AddError("Unable to Create dbfleet API Client", err.Error())
		return
	}

	resp.DataSourceData = c
	resp.ResourceData = c
	resp.EphemeralResourceData = c
	tflog.Info(ctx, "Configured dbfleet API client")
}

// Resources lists the provider's resources.
func (p *dbfleetProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		newDatabaseResource,
		newSchemaResource,
	}
}

// EphemeralResources lists the provider's ephemeral resources.
func (p *dbfleetProvider) EphemeralResources(context.Context) []func() ephemeral.EphemeralResource {
	return []func() ephemeral.EphemeralResource{
		newDatabaseCredentialsEphemeralResource,
	}
}

// DataSources lists the provider's data sources.
func (p *dbfleetProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		newRegionsDataSource,
		newDatabaseDataSource,
		newOperationDataSource,
	}
}

// valueOrEnv returns v's value, or the environment variable env when v is
// null.
func valueOrEnv(v types.String, env string) string {
	if v.IsNull() {
		return os.Getenv(env)
	}
	return v.ValueString()
}

// maskToken makes tflog mask token in every message and field logged with
// the returned context, and the value of any field named token.
func maskToken(ctx context.Context, token string) context.Context {
	ctx = tflog.MaskFieldValuesWithFieldKeys(ctx, "token")
	ctx = tflog.MaskAllFieldValuesStrings(ctx, token)
	return tflog.MaskMessageStrings(ctx, token)
}

// configuredClient is the API client the provider's Configure handed to a
// resource or data source (kind names which, for the error); nil while the
// provider is not configured yet, during validation.
func configuredClient(providerData any, kind string, diags *diag.Diagnostics) *client.Client {
	if providerData == nil {
		return nil
	}
	c, ok := providerData.(*client.Client)
	if !ok {
		diags.AddError("Unexpected "+kind+" Configure Type",
			fmt.Sprintf("Expected *client.Client, got %T. Please report this issue to the provider developers.", providerData))
	}
	return c
}
