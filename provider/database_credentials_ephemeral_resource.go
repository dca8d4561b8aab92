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
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

var (
	_ ephemeral.EphemeralResourceWithConfigure      = (*databaseCredentialsEphemeralResource)(nil)
	_ ephemeral.EphemeralResourceWithValidateConfig = (*databaseCredentialsEphemeralResource)(nil)
)

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
	ID       types.String `tfsdk:"id"`
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
			"id": schema.StringAttribute{
				MarkdownDescription: "The database's id, `region/name`, such as `westeurope/orders`: set it to a " +
					"`dbfleet_database`'s `id`, or set `region` and `name` instead. Prefer `id` when the database is " +
					"created in the same configuration: it is unknown until the database exists, so Terraform reads " +
					"the credentials only after creating it (with `region` and `name`, which are known at plan, it " +
					"would read them while planning and fail on a database that does not exist yet).",
				Optional: true,
				Computed: true,
			},
			"region": schema.StringAttribute{
				MarkdownDescription: "The region of the database, such as `westeurope`; with `name`, instead of `id`.",
				Optional:            true,
				Computed:            true,
				Validators:          []validator.String{identifier()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "The database's name, such as `orders`; with `region`, instead of `id`. It " +
					identifierRule + ".",
				Optional:   true,
				Computed:   true,
				Validators: []validator.String{identifier()},
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

// ValidateConfig asks for either id, or region and name.
func (r *databaseCredentialsEphemeralResource) ValidateConfig(ctx context.Context, req ephemeral.ValidateConfigRequest, resp *ephemeral.ValidateConfigResponse) {
	var m databaseCredentialsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	byID, byName := !m.ID.IsNull(), !m.Region.IsNull() || !m.Name.IsNull()
	switch {
	case byID && byName:
		resp.Diagnostics.AddAttributeError(path.Root("id"), "Conflicting Database Credentials Arguments",
			"Set either id, or region and name, not both: id already names the region and the database.")
	case !byID && (m.Region.IsNull() || m.Name.IsNull()):
		resp.Diagnostics.AddError("Missing Database Credentials Arguments",
			"Set id to a dbfleet_database's id (region/name), or set both region and name.")
	case byID && !m.ID.IsUnknown():
		if _, _, err := parseDatabaseID(m.ID.ValueString()); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("id"), "Invalid Database ID", "The id is not a database's id: "+err.Error()+".")
		}
	}
}

// Open reads the database's connection details and password from dbfleetd.
func (r *databaseCredentialsEphemeralResource) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	var m databaseCredentialsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	region, name := m.Region.ValueString(), m.Name.ValueString()
	if !m.ID.IsNull() {
		var err error
		if region, name, err = parseDatabaseID(m.ID.ValueString()); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("id"), "Invalid Database ID", "The id is not a database's id: "+err.Error()+".")
			return
		}
	}
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
	m.ID, m.Region, m.Name = types.StringValue(databaseID(db.Region, db.Name)), types.StringValue(db.Region), types.StringValue(db.Name)
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
