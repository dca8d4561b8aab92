package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

var _ datasource.DataSourceWithConfigure = (*databaseDataSource)(nil)

func newDatabaseDataSource() datasource.DataSource {
	return &databaseDataSource{}
}

// databaseDataSource is the data source dbfleet_database: one database's
// settings and status, whoever manages it.
type databaseDataSource struct {
	client *client.Client
}

// databaseDataSourceModel is the data source dbfleet_database's state.
type databaseDataSourceModel struct {
	ID                 types.String `tfsdk:"id"`
	Region             types.String `tfsdk:"region"`
	Name               types.String `tfsdk:"name"`
	DeletionProtection types.Bool   `tfsdk:"deletion_protection"`
	SkipFinalBackup    types.Bool   `tfsdk:"skip_final_backup"`
	Schema             types.String `tfsdk:"schema"`
	SchemaVersion      types.Int64  `tfsdk:"schema_version"`
	Parameters         types.Map    `tfsdk:"parameters"`
	ReplicaOf          types.String `tfsdk:"replica_of"`
	DriftPolicy        types.String `tfsdk:"drift_policy"`
	AppliedVersion     types.Int64  `tfsdk:"applied_version"`
	RolloutWave        types.Int64  `tfsdk:"rollout_wave"`
	Status             types.String `tfsdk:"status"`
	Host               types.String `tfsdk:"host"`
	Port               types.Int64  `tfsdk:"port"`
	Owner              types.String `tfsdk:"owner"`
	Password           types.String `tfsdk:"password"`
	Generation         types.Int64  `tfsdk:"generation"`
	ObservedGeneration types.Int64  `tfsdk:"observed_generation"`
	OperationID        types.String `tfsdk:"operation_id"`
	Replication        types.Object `tfsdk:"replication"`
	Consistency        types.Object `tfsdk:"consistency"`
	Conditions         types.List   `tfsdk:"conditions"`
}

// Metadata names the data source dbfleet_database.
func (d *databaseDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_database"
}

// Schema describes the data source dbfleet_database.
func (d *databaseDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(description string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: description, Computed: true}
	}
	computedInt := func(description string) schema.Int64Attribute {
		return schema.Int64Attribute{MarkdownDescription: description, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "One database in one region as dbfleet knows it: its settings, what dbfleet last observed " +
			"of it, and for a replica how it follows its source. Use it to connect to a database that another " +
			"configuration manages, or to look into a replica's lag and last consistency check. Reading a database " +
			"that does not exist is an error.",
		Attributes: map[string]schema.Attribute{
			"id": computed("The database's identifier, `region/name`, such as `westeurope/orders`."),
			"region": schema.StringAttribute{
				MarkdownDescription: "The region the database lives in, such as `westeurope`.",
				Required:            true,
				Validators:          []validator.String{identifier()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "The database's name in PostgreSQL, such as `orders`.",
				Required:            true,
				Validators:          []validator.String{identifier()},
			},
			"deletion_protection": schema.BoolAttribute{
				MarkdownDescription: "Whether dbfleet refuses to delete the database.",
				Computed:            true,
			},
			"skip_final_backup": schema.BoolAttribute{
				MarkdownDescription: "Whether deleting the database skips the final `pg_dump`.",
				Computed:            true,
			},
			"schema":         computed("The name of the schema whose migrations the database runs. Null without a schema."),
			"schema_version": computedInt("The schema version the database is to run. Null without a schema."),
			"parameters": schema.MapAttribute{
				MarkdownDescription: "The database-level settings dbfleet sets, by name. Null when none.",
				ElementType:         types.StringType,
				Computed:            true,
			},
			"replica_of": computed("The region of the database's source when it is a replica. Null otherwise."),
			"drift_policy": computed("What dbfleet's reconciler does when the database differs from its settings: " +
				quotedList(apiv1.DriftPolicies) + "."),
			"applied_version": computedInt("The schema version that the database's migration ledger is at. " +
				"Null without a schema."),
			"rollout_wave": computedInt("The rollout wave, from `1`, of the database's region in its schema's rollout " +
				"policy. Null without a schema."),
			"status": computed("The database's status: one of " + quotedList(databaseStatuses) + "."),
			"host":   computed("The host name or address that applications connect to."),
			"port":   computedInt("The TCP port that applications connect to."),
			"owner":  computed("The PostgreSQL role that owns the database; applications connect as it."),
			"password": schema.StringAttribute{
				MarkdownDescription: "The owner role's password. It is stored in Terraform's state: protect the state " +
					"accordingly, or read the database only where the state is protected like the one that manages it.",
				Computed:  true,
				Sensitive: true,
			},
			"generation": computedInt("The generation of the database's settings: dbfleetd counts it up at each " +
				"change of them."),
			"observed_generation": computedInt("The generation of the settings that dbfleet last applied in the " +
				"region; below `generation` while a change is under way or after it failed."),
			"operation_id": computed("The operation changing the database now, such as an upgrade waiting on its " +
				"rollout gate; the `dbfleet_operation` data source reads it. Null when none."),
			"replication": replicationField.dataSourceAttribute(),
			"consistency": consistencyField.dataSourceAttribute(),
			"conditions":  conditionsField.dataSourceAttribute(),
		},
	}
}

// Configure takes the API client that the provider configured.
func (d *databaseDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = configuredClient(req.ProviderData, "Data Source", &resp.Diagnostics)
}

// Read reads the database.
func (d *databaseDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var config databaseDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	region, name := config.Region.ValueString(), config.Name.ValueString()
	ctx = withDatabaseFields(ctx, region, name)

	db, err := d.client.DatabaseGet(ctx, region, name)
	if errors.Is(err, client.ErrNotFound) {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Database Not Found", fmt.Sprintf("dbfleet has no "+
			"database %q in region %q: %s\n\nCheck the region and the name; when a dbfleet_database in this "+
			"configuration creates the database, refer to it (name = dbfleet_database.orders.name) so that Terraform "+
			"reads the data source after it.", name, region, err))
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Unable to Read Database",
			fmt.Sprintf("Could not read database %q in region %q: %s", name, region, err))
		return
	}
	state, diags := newDatabaseDataSourceModel(ctx, db)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// newDatabaseDataSourceModel converts a database of the API, with null for
// what does not apply to it.
func newDatabaseDataSourceModel(ctx context.Context, db *apiv1.Database) (databaseDataSourceModel, diag.Diagnostics) {
	m := databaseDataSourceModel{
		ID:                 types.StringValue(databaseID(db.Region, db.Name)),
		Region:             types.StringValue(db.Region),
		Name:               types.StringValue(db.Name),
		DeletionProtection: types.BoolValue(db.DeletionProtection),
		SkipFinalBackup:    types.BoolValue(db.SkipFinalBackup),
		Schema:             stringOrNull(db.Schema),
		SchemaVersion:      types.Int64Null(),
		Parameters:         types.MapNull(types.StringType),
		ReplicaOf:          stringOrNull(db.ReplicaOf),
		DriftPolicy:        types.StringValue(cmp.Or(db.DriftPolicy, apiv1.DriftPolicies[0])),
		AppliedVersion:     types.Int64Null(),
		RolloutWave:        types.Int64Null(),
		Status:             types.StringValue(db.Status),
		Host:               types.StringValue(db.Host),
		Port:               types.Int64Value(int64(db.Port)),
		Owner:              types.StringValue(db.Owner),
		Password:           stringOrNull(db.Password),
		Generation:         types.Int64Value(db.Generation),
		ObservedGeneration: types.Int64Value(db.ObservedGeneration),
		OperationID:        stringOrNull(db.OperationID),
		Replication:        types.ObjectNull(replicationField.objectAttrTypes()),
		Consistency:        types.ObjectNull(consistencyField.objectAttrTypes()),
		Conditions:         conditionsValue(db.Conditions),
	}
	if db.Schema != "" {
		m.SchemaVersion = types.Int64Value(db.SchemaVersion)
		m.AppliedVersion = types.Int64Value(db.AppliedVersion)
		m.RolloutWave = types.Int64Value(int64(db.RolloutWave))
	}
	if db.ReplicaOf != "" {
		m.Replication = replicationValue(db.Replication)
		m.Consistency = consistencyValue(db.Consistency)
	}
	var diags diag.Diagnostics
	if len(db.Parameters) > 0 {
		m.Parameters, diags = types.MapValueFrom(ctx, types.StringType, db.Parameters)
	}
	return m, diags
}
