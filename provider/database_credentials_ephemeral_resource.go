package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

var _ ephemeral.EphemeralResourceWithConfigure = (*databaseCredentialsEphemeralResource)(nil)

// rotationWait bounds how long Open waits for a password rotation that is
// under way, so that it never hands out a password the region does not
// accept yet.
const rotationWait = 5 * time.Minute

func newDatabaseCredentialsEphemeralResource() ephemeral.EphemeralResource {
	return &databaseCredentialsEphemeralResource{}
}

// databaseCredentialsEphemeralResource is dbfleet_database_credentials: how
// to connect to one database as its owner, never written to state or plan.
type databaseCredentialsEphemeralResource struct {
	client *client.Client
}

// databaseCredentialsModel is dbfleet_database_credentials' configuration
// and result.
type databaseCredentialsModel struct {
	Region   types.String `tfsdk:"region"`
	Name     types.String `tfsdk:"name"`
	Host     types.String `tfsdk:"host"`
	Port     types.Int64  `tfsdk:"port"`
	Database types.String `tfsdk:"database"`
	User     types.String `tfsdk:"user"`
	Password types.String `tfsdk:"password"`
	URI      types.String `tfsdk:"uri"`
}

// Metadata names the ephemeral resource dbfleet_database_credentials.
func (r *databaseCredentialsEphemeralResource) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_database_credentials"
}

// Schema describes dbfleet_database_credentials.
func (r *databaseCredentialsEphemeralResource) Schema(_ context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "How to connect to one dbfleet database as its owner role: host, port, database, user " +
			"and password, and a ready-made connection URI. As an ephemeral resource it is read anew in every " +
			"Terraform run and is never written to the state or plan files, so it can configure another provider " +
			"(such as a PostgreSQL provider), feed write-only arguments of other resources, or be an ephemeral " +
			"output. It needs Terraform 1.10+ or OpenTofu 1.11+ and a token with the write scope (dbfleetd shows " +
			"passwords to no one else). Pair it with `password_in_state = false` on the `dbfleet_database` to keep " +
			"the password out of state altogether. While a password rotation of the database runs, it waits for " +
			"the rotation (up to five minutes) and returns the new password.",
		Attributes: map[string]schema.Attribute{
			"region": schema.StringAttribute{
				MarkdownDescription: "The region of the database, such as `westeurope`.",
				Required:            true,
				Validators:          []validator.String{identifier()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "The database's name, such as `orders`. It " + identifierRule + ".",
				Required:            true,
				Validators:          []validator.String{identifier()},
			},
			"host": schema.StringAttribute{
				MarkdownDescription: "The host name or address that applications connect to.",
				Computed:            true,
			},
			"port": schema.Int64Attribute{
				MarkdownDescription: "The TCP port that applications connect to.",
				Computed:            true,
			},
			"database": schema.StringAttribute{
				MarkdownDescription: "The database to connect to: the same as `name`.",
				Computed:            true,
			},
			"user": schema.StringAttribute{
				MarkdownDescription: "The owner role to log in as.",
				Computed:            true,
			},
			"password": schema.StringAttribute{
				MarkdownDescription: "The owner role's current password.",
				Computed:            true,
				Sensitive:           true,
			},
			"uri": schema.StringAttribute{
				MarkdownDescription: "A PostgreSQL connection URI with all of the above, " +
					"`postgresql://user:password@host:port/database`, the user and password percent-encoded.",
				Computed:  true,
				Sensitive: true,
			},
		},
	}
}

// Configure takes the API client that the provider configured.
func (r *databaseCredentialsEphemeralResource) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	r.client = configuredClient(req.ProviderData, "Ephemeral Resource", &resp.Diagnostics)
}

// Open reads the database's connection details and password from dbfleetd.
func (r *databaseCredentialsEphemeralResource) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	var m databaseCredentialsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	region, name := m.Region.ValueString(), m.Name.ValueString()
	ctx = withDatabaseFields(ctx, region, name)
	const summary = "Unable to Read Database Credentials"

	db, err := r.client.DatabaseGet(ctx, region, name)
	if err == nil && db.OperationID != "" {
		db, err = r.afterRotation(ctx, db)
	}
	switch {
	case errors.Is(err, client.ErrNotFound):
		resp.Diagnostics.AddError(summary, fmt.Sprintf("Database %q does not exist in region %q. Create it first; "+
			"when a dbfleet_database in this configuration creates it, refer to that resource's region and name.", name, region))
		return
	case err != nil:
		resp.Diagnostics.AddError(summary, requestFailureDetail("read the credentials of", region, name, err))
		return
	case db.Password == "":
		resp.Diagnostics.AddError(summary, fmt.Sprintf("dbfleetd returned database %q in region %q without its "+
			"password: only a token with the write scope may read passwords. Configure the provider with such a token.", name, region))
		return
	}
	m.Host, m.Port = types.StringValue(db.Host), types.Int64Value(int64(db.Port))
	m.Database, m.User = types.StringValue(db.Name), types.StringValue(db.Owner)
	m.Password = types.StringValue(db.Password)
	m.URI = types.StringValue(connectionURI(db))
	tflog.Debug(ctx, "Read database credentials")
	resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
}

// afterRotation waits for the operation running on db when it rotates the
// password (dbfleetd stores the new password before the region takes it),
// and reads the database again; db is returned as it is otherwise.
func (r *databaseCredentialsEphemeralResource) afterRotation(ctx context.Context, db *apiv1.Database) (*apiv1.Database, error) {
	op, err := r.client.OperationGet(ctx, db.OperationID)
	if err != nil || op.Kind != apiv1.OperationKindRotatePassword || op.Done {
		return db, nil //nolint:nilerr // the operation is only consulted; the database was read
	}
	tflog.Info(ctx, "Waiting for the password rotation under way", map[string]any{"operation_id": op.ID})
	ctx, cancel := context.WithTimeout(ctx, rotationWait)
	defer cancel()
	if _, err := r.client.WaitOperation(ctx, op.ID, func(*apiv1.Operation) {}); err != nil {
		return nil, fmt.Errorf("waiting for password rotation %s: %w", op.ID, err)
	}
	return r.client.DatabaseGet(ctx, db.Region, db.Name)
}

// connectionURI is a PostgreSQL connection URI for db's owner.
func connectionURI(db *apiv1.Database) string {
	u := url.URL{
		Scheme: "postgresql",
		User:   url.UserPassword(db.Owner, db.Password),
		Host:   net.JoinHostPort(db.Host, strconv.Itoa(db.Port)),
		Path:   "/" + db.Name,
	}
	return u.String()
}
