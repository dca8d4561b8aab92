package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

func TestProviderSchemas(t *testing.T) {
	t.Parallel()
	server, err := providerserver.NewProtocol6WithError(New("test")())()
	require.NoError(t, err)

	// The framework validates every schema while it answers.
	resp, err := server.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})

	require.NoError(t, err)
	for _, d := range resp.Diagnostics {
		t.Errorf("%s: %s: %s", d.Severity, d.Summary, d.Detail)
	}
	require.Contains(t, resp.ResourceSchemas, "dbfleet_database")
	require.Contains(t, resp.ResourceSchemas, "dbfleet_schema")
	require.Contains(t, resp.DataSourceSchemas, "dbfleet_regions")
	require.True(t, hasSensitive(resp.Provider, "token"), "token is sensitive")
	require.True(t, hasSensitive(resp.ResourceSchemas["dbfleet_database"], "password"), "password is sensitive")
	require.Contains(t, resp.DataSourceSchemas, "dbfleet_database")
	require.Contains(t, resp.DataSourceSchemas, "dbfleet_operation")
	require.True(t, hasSensitive(resp.DataSourceSchemas["dbfleet_database"], "password"), "the data source's password is sensitive")
}

func hasSensitive(s *tfprotov6.Schema, name string) bool {
	for _, a := range s.Block.Attributes {
		if a.Name == name {
			return a.Sensitive
		}
	}
	return false
}

// configure runs the provider's Configure on a provider block holding
// values, the other attributes null.
func configure(t *testing.T, values map[string]tftypes.Value) *provider.ConfigureResponse {
	t.Helper()
	ctx := context.Background()
	p := New("test")()
	var schemaResp provider.SchemaResponse
	p.Schema(ctx, provider.SchemaRequest{}, &schemaResp)
	typ, ok := schemaResp.Schema.Type().TerraformType(ctx).(tftypes.Object)
	require.True(t, ok)
	attrs := make(map[string]tftypes.Value, len(typ.AttributeTypes))
	for name, at := range typ.AttributeTypes {
		attrs[name] = tftypes.NewValue(at, nil)
	}
	for name, v := range values {
		require.Contains(t, attrs, name)
		attrs[name] = v
	}
	var resp provider.ConfigureResponse
	p.Configure(ctx, provider.ConfigureRequest{
		Config:           tfsdk.Config{Schema: schemaResp.Schema, Raw: tftypes.NewValue(typ, attrs)},
		TerraformVersion: "1.5.7",
	}, &resp)
	return &resp
}

// errorsAt renders the error diagnostics as "path: summary".
func errorsAt(diags diag.Diagnostics) []string {
	var out []string
	for _, d := range diags.Errors() {
		at := ""
		if dp, ok := d.(diag.DiagnosticWithPath); ok {
			at = dp.Path().String()
		}
		out = append(out, fmt.Sprintf("%s: %s", at, d.Summary()))
	}
	return out
}

// TestProviderConfigure sets environment variables, so it does not run in
// parallel.
func TestProviderConfigure(t *testing.T) {
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	tests := []struct {
		name       string
		env        map[string]string
		config     map[string]tftypes.Value
		wantErrors []string
	}{
		{
			name: "ReadsEnvironment",
			env:  map[string]string{envEndpoint: "http://127.0.0.1:8580", envToken: "t0ken"},
		},
		{
			name:   "PrefersConfigurationToEnvironment",
			env:    map[string]string{envEndpoint: "not a URL", envToken: ""},
			config: map[string]tftypes.Value{"endpoint": str("https://dbfleet.example.com"), "token": str("t0ken")},
		},
		{
			name: "TakesEverySetting",
			config: map[string]tftypes.Value{
				"endpoint":             str("https://dbfleet.example.com/"),
				"token":                str("t0ken"),
				"insecure_skip_verify": tftypes.NewValue(tftypes.Bool, true),
				"request_timeout":      str("1m30s"),
				"max_retries":          tftypes.NewValue(tftypes.Number, 0),
			},
		},
		{
			name:       "MissingEndpointAndToken",
			wantErrors: []string{"endpoint: Missing dbfleet Endpoint", "token: Missing dbfleet Token"},
		},
		{
			name:       "InvalidEndpointFromEnvironment",
			env:        map[string]string{envEndpoint: "127.0.0.1:8580", envToken: "t0ken"},
			wantErrors: []string{"endpoint: Invalid Provider Configuration"},
		},
		{
			name:       "InvalidCACertPEM",
			env:        map[string]string{envEndpoint: "https://dbfleet.example.com", envToken: "t0ken"},
			config:     map[string]tftypes.Value{"ca_cert_pem": str("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")},
			wantErrors: []string{"ca_cert_pem: Invalid Provider Configuration"},
		},
		{
			name: "UnknownSettings",
			env:  map[string]string{envEndpoint: "http://127.0.0.1:8580", envToken: "t0ken"},
			config: map[string]tftypes.Value{
				"endpoint":    tftypes.NewValue(tftypes.String, tftypes.UnknownValue),
				"max_retries": tftypes.NewValue(tftypes.Number, tftypes.UnknownValue),
			},
			wantErrors: []string{"endpoint: Unknown Provider Setting", "max_retries: Unknown Provider Setting"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envEndpoint, "")
			t.Setenv(envToken, "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}

			resp := configure(t, tt.config)

			if diff := cmp.Diff(tt.wantErrors, errorsAt(resp.Diagnostics)); diff != "" {
				t.Fatalf("errors mismatch (-want +got):\n%s", diff)
			}
			if tt.wantErrors != nil {
				require.Nil(t, resp.ResourceData)
				return
			}
			require.IsType(t, &client.Client{}, resp.ResourceData)
			require.IsType(t, &client.Client{}, resp.DataSourceData)
		})
	}
}

// validateConfig validates config for the resource typeName as Terraform
// asks the provider to, running every validator of its schema, and returns
// the errors as "path: summary" and their details.
func validateConfig(t *testing.T, typeName string, config tftypes.Value) (errs, details []string) {
	t.Helper()
	ctx := context.Background()
	server, err := providerserver.NewProtocol6WithError(New("test")())()
	require.NoError(t, err)
	dv, err := tfprotov6.NewDynamicValue(config.Type(), config)
	require.NoError(t, err)

	resp, err := server.ValidateResourceConfig(ctx, &tfprotov6.ValidateResourceConfigRequest{TypeName: typeName, Config: &dv})

	require.NoError(t, err)
	for _, d := range resp.Diagnostics {
		if d.Severity != tfprotov6.DiagnosticSeverityError {
			continue
		}
		errs = append(errs, renderAttributePath(d.Attribute)+": "+d.Summary)
		details = append(details, d.Detail)
	}
	return errs, details
}

// renderAttributePath renders p as the framework renders a path, such as
// migrations[1].version or parameters["work_mem"].
func renderAttributePath(p *tftypes.AttributePath) string {
	var b strings.Builder
	for _, step := range p.Steps() {
		switch s := step.(type) {
		case tftypes.AttributeName:
			if b.Len() > 0 {
				b.WriteString(".")
			}
			b.WriteString(string(s))
		case tftypes.ElementKeyInt:
			fmt.Fprintf(&b, "[%d]", int64(s))
		case tftypes.ElementKeyString:
			fmt.Fprintf(&b, "[%q]", string(s))
		default:
			fmt.Fprintf(&b, "[%v]", s)
		}
	}
	return b.String()
}
