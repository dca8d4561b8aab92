package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

var (
	_ resource.ResourceWithConfigure      = (*databaseResource)(nil)
	_ resource.ResourceWithImportState    = (*databaseResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*databaseResource)(nil)
	_ resource.ResourceWithValidateConfig = (*databaseResource)(nil)
)

// defaultOperationTimeout is how long create, update and delete wait for
// their operation when the timeouts block leaves it out.
const defaultOperationTimeout = 20 * time.Minute

// databaseStatuses are the values of the status attribute.
var databaseStatuses = []string{
	apiv1.DatabaseStatusProvisioning,
	apiv1.DatabaseStatusReady,
	apiv1.DatabaseStatusWaiting,
	apiv1.DatabaseStatusRolledBack,
	apiv1.DatabaseStatusDeleting,
	apiv1.DatabaseStatusFailed,
}

// driftPolicyEffects says what each of apiv1.DriftPolicies does, for the
// description of drift_policy.
var driftPolicyEffects = map[string]string{
	apiv1.DriftPolicyHeal: "repairs what it finds: it recreates a lost owner role and its grants, rebuilds a lost " +
		"or damaged migration ledger from what the catalog shows, puts changed parameters back, recreates a dropped " +
		"or broken subscription and resyncs it, and recreates a dropped replica from its source. It never recreates " +
		"a dropped source database, which would come back empty: that stays in `drift`",
	apiv1.DriftPolicyReport: "only records what it finds, as an event and in `drift` and `conditions`, and repairs " +
		"nothing, so that a person can look first",
}

// driftPolicyDescription describes drift_policy from apiv1.DriftPolicies.
func driftPolicyDescription() string {
	d := "What dbfleet's reconciler does when it finds that the database differs from its configuration in its " +
		"region (it checks every database periodically, every 30 seconds by default): one of " + quotedList(apiv1.DriftPolicies) +
		". Defaults to `" + apiv1.DriftPolicies[0] + "`."
	for _, p := range apiv1.DriftPolicies {
		d += " `" + p + "` " + driftPolicyEffects[p] + "."
	}
	return d + " Whatever it does not repair, `terraform plan` shows as a change of `drift`. Changing it changes " +
		"the setting in place."
}

func newDatabaseResource() resource.Resource {
	return &databaseResource{}
}

// databaseResource is dbfleet_database: one database in one region.
type databaseResource struct {
	client *client.Client
}

// databaseResourceModel is dbfleet_database's configuration and state.
type databaseResourceModel struct {
	ID                 types.String   `tfsdk:"id"`
	Region             types.String   `tfsdk:"region"`
	Name               types.String   `tfsdk:"name"`
	DeletionProtection types.Bool     `tfsdk:"deletion_protection"`
	SkipFinalBackup    types.Bool     `tfsdk:"skip_final_backup"`
	Schema             types.String   `tfsdk:"schema"`
	SchemaVersion      types.Int64    `tfsdk:"schema_version"`
	Parameters         types.Map      `tfsdk:"parameters"`
	ReplicaOf          types.String   `tfsdk:"replica_of"`
	DriftPolicy        types.String   `tfsdk:"drift_policy"`
	AppliedVersion     types.Int64    `tfsdk:"applied_version"`
	RolloutWave        types.Int64    `tfsdk:"rollout_wave"`
	Status             types.String   `tfsdk:"status"`
	Host               types.String   `tfsdk:"host"`
	Port               types.Int64    `tfsdk:"port"`
	Owner              types.String   `tfsdk:"owner"`
	Password           types.String   `tfsdk:"password"`
	PasswordInState    types.Bool     `tfsdk:"password_in_state"`
	PasswordVersion    types.Int64    `tfsdk:"password_version"`
	Drift              types.String   `tfsdk:"drift"`
	Replication        types.Object   `tfsdk:"replication"`
	Consistency        types.Object   `tfsdk:"consistency"`
	Conditions         types.List     `tfsdk:"conditions"`
	Timeouts           timeouts.Value `tfsdk:"timeouts"`
}

// Metadata names the resource dbfleet_database.
func (r *databaseResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_database"
}

// Schema describes dbfleet_database.
func (r *databaseResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	timeoutDescription := func(operation, whenItRunsOut string) string {
		return fmt.Sprintf("How long to wait for the operation that %s the database, as a duration such as `30m` or `1h`. "+
			"Defaults to `%.0fm`. When it runs out, the operation goes on in dbfleetd and %s.",
			operation, defaultOperationTimeout.Minutes(), whenItRunsOut)
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A PostgreSQL database in one region, with an owner role that dbfleet creates, and " +
			"optionally the migrations of a `dbfleet_schema`, which reach it as the schema's rollout policy allows. " +
			"Creating, changing and deleting it each start an operation in dbfleetd that Terraform waits for, " +
			"bounded by the `timeouts` block; with `TF_LOG=INFO`, Terraform logs the operation's progress while it " +
			"waits, such as the rollout wave, the gate it waits for and the time left.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The database's identifier, `region/name`, such as `westeurope/orders`. " +
					"`terraform import` takes the same form.",
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"region": schema.StringAttribute{
				MarkdownDescription: "The region the database lives in, such as `westeurope`: one of the regions " +
					"dbfleetd administers (the `dbfleet_regions` data source lists them). " +
					"Changing it replaces the database: Terraform deletes it in the old region, which deletion " +
					"protection refuses, and creates a new, empty one in the new region.",
				Required:      true,
				Validators:    []validator.String{identifier()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "The database's name in PostgreSQL, such as `orders`. It " + identifierRule + ". " +
					"Changing it replaces the database: Terraform deletes the old one, which deletion protection " +
					"refuses, and creates a new, empty one.",
				Required:      true,
				Validators:    []validator.String{identifier()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"deletion_protection": schema.BoolAttribute{
				MarkdownDescription: "Whether dbfleet refuses to delete the database. Defaults to `true`. " +
					"While it is `true`, a plan that destroys or replaces the database fails: set it to `false` " +
					"and apply first. Changing it changes the setting in place.",
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(true),
			},
			"skip_final_backup": schema.BoolAttribute{
				MarkdownDescription: "Whether deleting the database skips the final `pg_dump` that dbfleet otherwise " +
					"takes into its backup directory before dropping it. Defaults to `false`. " +
					"Changing it changes the setting in place; it matters only when the database is deleted.",
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(false),
			},
			"schema": schema.StringAttribute{
				MarkdownDescription: "The name of the `dbfleet_schema` whose migrations the database runs, such as `app`. " +
					"Leave it out for a database without managed migrations. When the schema is in the same " +
					"configuration, refer to it (`schema = dbfleet_schema.app.name`) so that Terraform publishes it " +
					"first. Setting it on an existing database runs the schema's migrations in place, up to " +
					"`schema_version` and gated by the schema's rollout policy. Whether a database may move to another " +
					"schema or leave its schema is for dbfleetd to decide; a refusal is an error at plan time.",
				Optional:   true,
				Validators: []validator.String{identifier()},
			},
			"schema_version": schema.Int64Attribute{
				MarkdownDescription: "The schema version the database runs: one of the versions of the schema's " +
					"migrations. Defaults to the schema's latest version, resolved at every plan, so that a newly " +
					"published version reaches the database at its next apply. Changing it starts an upgrade (or, to a " +
					"lower version, a downgrade that runs the `down` SQL of each version above it) that the schema's " +
					"rollout policy gates: in a region of a later wave, the apply waits, within the `update` timeout, " +
					"until the databases of the earlier waves have run the version and stayed healthy for the " +
					"schema's `bake_time`. A version whose rollout halted, or a downgrade past a version without " +
					"`down` SQL, is an error at plan time. After an upgrade failed, or a rollout rolled the database " +
					"back, it reads as the version the database is at, so that the next plan shows the upgrade again. " +
					"Requires `schema`.",
				Optional: true,
				Computed: true,
				Validators: []validator.Int64{
					int64validator.AtLeast(1),
					int64validator.AlsoRequires(path.MatchRoot("schema")),
				},
			},
			"parameters": schema.MapAttribute{
				MarkdownDescription: "Database-level settings (`ALTER DATABASE ... SET`) by name, such as " +
					"`{ statement_timeout = \"30s\", work_mem = \"64MB\" }`. Only these are allowed: " +
					parameterDescriptions() + ". Any other name, or a value not of its parameter's form, is an error " +
					"at plan time. Changing them changes the settings in place; sessions opened afterwards see them. " +
					"Leave it out to set none.",
				ElementType: types.StringType,
				Optional:    true,
				Validators:  []validator.Map{allowedParameters()},
			},
			"replica_of": schema.StringAttribute{
				MarkdownDescription: "The region of the database that this one replicates, such as `westeurope`: set it " +
					"to make the database a logical replica of the database of the same `name` in that region, its " +
					"source. dbfleet publishes the source's tables, subscribes the replica with an initial copy of " +
					"their rows, and from then on streams every change; `replication` and `consistency` report how " +
					"the replica follows. A replica runs the same `schema` as its source, whose migrations dbfleet " +
					"applies to the replica itself (they are not replicated); in a rollout, replicas move to a new " +
					"version before their source, so that a replica has new columns before its source sends them. " +
					"The source must exist first, must not be a replica itself, and cannot be deleted while it has " +
					"replicas: in the same configuration, refer to it (`replica_of = dbfleet_database.orders_westeurope.region`) " +
					"or add `depends_on`, so that Terraform creates the source before its replicas and destroys it " +
					"after them. Write to the source only: rows written to a replica are not sent back and make it " +
					"inconsistent. Leave it out for a database that is not a replica. Changing it replaces the database.",
				Optional:      true,
				Validators:    []validator.String{identifier()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"drift_policy": schema.StringAttribute{
				MarkdownDescription: driftPolicyDescription(),
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString(apiv1.DriftPolicies[0]),
				Validators:          []validator.String{stringvalidator.OneOf(apiv1.DriftPolicies...)},
			},
			"drift": schema.StringAttribute{
				MarkdownDescription: driftAttribute,
				Computed:            true,
				PlanModifiers:       []planmodifier.String{noDrift{}},
			},
			"replication": replicationField.resourceAttribute(),
			"consistency": consistencyField.resourceAttribute(),
			"conditions":  conditionsField.resourceAttribute(),
			"applied_version": schema.Int64Attribute{
				MarkdownDescription: "The schema version that the database's migration ledger is at, as dbfleet last " +
					"observed it. It is below `schema_version` while an upgrade waits on its rollout gate, and after a " +
					"rollout halted or rolled back. Null without a schema.",
				Computed: true,
			},
			"rollout_wave": schema.Int64Attribute{
				MarkdownDescription: "The rollout wave, from `1`, of the database's region in its schema's rollout " +
					"policy: an upgrade in wave N waits for the databases of the waves before N. Null without a schema.",
				Computed: true,
			},
			"status": schema.StringAttribute{
				MarkdownDescription: "The database's status as dbfleet last observed it: one of " +
					quotedList(databaseStatuses) + ". `" + apiv1.DatabaseStatusWaiting + "` means an upgrade waits on " +
					"its rollout gate; `" + apiv1.DatabaseStatusRolledBack + "` that a halted rollout took the " +
					"database back to the previous version.",
				Computed: true,
			},
			"host": schema.StringAttribute{
				MarkdownDescription: "The host name or address that applications connect to.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"port": schema.Int64Attribute{
				MarkdownDescription: "The TCP port that applications connect to.",
				Computed:            true,
				PlanModifiers:       []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			},
			"owner": schema.StringAttribute{
				MarkdownDescription: "The PostgreSQL role that owns the database and its schema; applications connect as it.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"password": schema.StringAttribute{
				MarkdownDescription: "The owner role's password, which dbfleet generates when it creates the database " +
					"and again whenever `password_version` changes. With `password_in_state = true` (the default) it " +
					"is stored in Terraform's state and plan files: protect them accordingly. With " +
					"`password_in_state = false` it is always null; use the ephemeral resource " +
					"`dbfleet_database_credentials` to read it.",
				Computed:      true,
				Sensitive:     true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown(), passwordPlan{}},
			},
			"password_in_state": passwordInStateAttribute(),
			"password_version":  passwordVersionAttribute(),
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{
				Create: true,
				Update: true,
				Delete: true,
				CreateDescription: timeoutDescription("creates",
					"the apply fails, keeping the database in state as tainted"),
				UpdateDescription: timeoutDescription("changes",
					"the apply fails; running it again once the operation is done converges. An upgrade waiting on its "+
						"rollout gate counts against it"),
				DeleteDescription: timeoutDescription("deletes",
					"the destroy fails, keeping the database in state. A new value takes effect only once applied, "+
						"before the destroy"),
			}),
		},
	}
}

// Configure takes the API client that the provider configured.
func (r *databaseResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = configuredClient(req.ProviderData, "Resource", &resp.Diagnostics)
}

// Create puts the database, saves it to state at once so that a failure from
// then on leaves it tainted rather than untracked, waits for the operation,
// and reads the database back.
func (r *databaseResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan databaseResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Create(ctx, defaultOperationTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	region, name := plan.Region.ValueString(), plan.Name.ValueString()
	ctx = withDatabaseFields(ctx, region, name)

	const summary = "Unable to Create Database"
	spec, diags := plan.spec(ctx)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	op, err := r.client.DatabasePut(ctx, region, name, spec)
	if err != nil {
		addPutError(&resp.Diagnostics, summary, "create", region, name, err)
		return
	}

	plan.ID = types.StringValue(databaseID(region, name))
	plan.Status = types.StringNull()
	plan.Host = types.StringNull()
	plan.Port = types.Int64Null()
	plan.Owner = types.StringNull()
	plan.Password = types.StringNull()
	plan.AppliedVersion = types.Int64Null()
	plan.Replication = types.ObjectNull(replicationField.objectAttrTypes())
	plan.Consistency = types.ObjectNull(consistencyField.objectAttrTypes())
	plan.Conditions = types.ListNull(conditionsField.elemType())
	if plan.SchemaVersion.IsUnknown() {
		plan.SchemaVersion = types.Int64Null()
	}
	if plan.RolloutWave.IsUnknown() {
		plan.RolloutWave = types.Int64Null()
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(setIdentity(ctx, resp.Identity, databaseIdentity(region, name))...)
	if resp.Diagnostics.HasError() {
		return
	}

	const tainted = "Terraform keeps the database in state as tainted, so the next apply replaces it: it deletes " +
		"the database first, which deletion_protection = true refuses (set it to false for that apply). " +
		"To keep the database as it is instead, run terraform untaint on this resource."
	if err := r.waitForOperation(ctx, op, "create", region, name); err != nil {
		resp.Diagnostics.AddError(summary, err.Error()+"\n\n"+tainted)
		return
	}

	db, err := r.client.DatabaseGet(ctx, region, name)
	if err != nil {
		resp.Diagnostics.AddError(summary, fmt.Sprintf("dbfleet created database %q in region %q, "+
			"but reading it back failed: %s\n\n%s", name, region, err, tainted))
		return
	}
	resp.Diagnostics.Append(plan.setDatabase(ctx, db)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Read refreshes the database from dbfleet, and removes it from state with
// a warning when it no longer exists. It sets drift, with a warning, when
// dbfleetd reports drift that it did not repair, so that the plan shows it
// (see database_drift.go).
func (r *databaseResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state databaseResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	region, name := state.Region.ValueString(), state.Name.ValueString()
	ctx = withDatabaseFields(ctx, region, name)
	// Set first: the framework wants an identity after every Read, even
	// one that removes the resource.
	resp.Diagnostics.Append(setIdentity(ctx, resp.Identity, databaseIdentity(region, name))...)

	db, err := r.client.DatabaseGet(ctx, region, name)
	if errors.Is(err, client.ErrNotFound) {
		tflog.Warn(ctx, "Database removed outside Terraform")
		resp.Diagnostics.AddWarning("Database Removed Outside Terraform",
			fmt.Sprintf("Database %q in region %q no longer exists in dbfleet, so Terraform removed it from state. "+
				"The next apply creates it again, empty.", name, region))
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Unable to Read Database",
			fmt.Sprintf("Could not read database %q in region %q: %s", name, region, err))
		return
	}
	resp.Diagnostics.Append(state.setDatabase(ctx, db)...)
	state.Drift = driftValue(db)
	if !state.Drift.IsNull() {
		tflog.Warn(ctx, "Database drifted", map[string]any{"reason": state.Drift.ValueString()})
		addDriftWarning(&resp.Diagnostics, db)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update puts the changed settings, waits for the operation, and reads the
// database back.
func (r *databaseResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state databaseResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Update(ctx, defaultOperationTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	region, name := plan.Region.ValueString(), plan.Name.ValueString()
	ctx = withDatabaseFields(ctx, region, name)

	const summary = "Unable to Update Database"
	spec, diags := plan.spec(ctx)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	op, err := r.client.DatabasePut(ctx, region, name, spec)
	if err != nil {
		addPutError(&resp.Diagnostics, summary, "update", region, name, err)
		return
	}
	const retry = "Terraform keeps the database's previous settings in state. Fix the cause, then run terraform apply again."
	if err := r.waitForOperation(ctx, op, "update", region, name); err != nil {
		resp.Diagnostics.AddError(summary, err.Error()+"\n\n"+retry)
		return
	}
	if rotatesPassword(&plan, &state) {
		if err := r.rotatePassword(ctx, region, name); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("password_version"), "Unable to Rotate Database Password",
				err.Error()+"\n\nThe database's other settings are applied. "+retry)
			return
		}
	}

	db, err := r.client.DatabaseGet(ctx, region, name)
	if err != nil {
		resp.Diagnostics.AddError(summary, fmt.Sprintf("dbfleet updated database %q in region %q, "+
			"but reading it back failed: %s\n\n%s", name, region, err, retry))
		return
	}
	resp.Diagnostics.Append(plan.setDatabase(ctx, db)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(setIdentity(ctx, resp.Identity, databaseIdentity(region, name))...)
}

// Delete deletes the database and waits for the operation. A database that
// is already gone counts as deleted.
func (r *databaseResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state databaseResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := state.Timeouts.Delete(ctx, defaultOperationTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	region, name := state.Region.ValueString(), state.Name.ValueString()
	ctx = withDatabaseFields(ctx, region, name)

	const summary = "Unable to Delete Database"
	op, err := r.client.DatabaseDelete(ctx, region, name)
	var apiErr *client.APIError
	switch {
	case errors.Is(err, client.ErrNotFound):
		tflog.Info(ctx, "Database already deleted")
		return
	case errors.As(err, &apiErr) && apiErr.Code == apiv1.CodeDeletionProtected:
		resp.Diagnostics.AddError(summary, fmt.Sprintf("Database %q in region %q has deletion protection on, "+
			"so dbfleet refuses to delete it. To delete it, set deletion_protection = false in its configuration, "+
			"run terraform apply, then destroy it.", name, region))
		return
	case err != nil:
		resp.Diagnostics.AddError(summary, requestFailureDetail("delete", region, name, err))
		return
	}
	const retry = "Terraform keeps the database in state. Fix the cause, then run terraform destroy again."
	if err := r.waitForOperation(ctx, op, "delete", region, name); err != nil {
		resp.Diagnostics.AddError(summary, err.Error()+"\n\n"+retry)
	}
}

// ImportState imports a database by its id, region/name, or (Terraform
// 1.12+) by its identity; Read fills in the rest.
func (r *databaseResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	region, name, diags := databaseImportKey(ctx, req)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(setIdentity(ctx, resp.Identity, databaseIdentity(region, name))...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), databaseID(region, name))...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("region"), region)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), name)...)
}

// ValidateConfig refuses a database that replicates its own region.
func (r *databaseResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var config databaseResourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if config.ReplicaOf.IsNull() || config.ReplicaOf.IsUnknown() || !config.ReplicaOf.Equal(config.Region) {
		return
	}
	resp.Diagnostics.AddAttributeError(path.Root("replica_of"), "Database Replicates Its Own Region", fmt.Sprintf(
		"replica_of names region %q, the database's own region. A replica follows the database of the same name in "+
			"another region: set replica_of to the source's region, or leave it out for a database that is not a replica.",
		config.ReplicaOf.ValueString()))
}

// ModifyPlan fails a plan that would delete a database with deletion
// protection on, or whose final backup its region cannot take, then asks
// dbfleetd what the planned database would do, so
// that the plan shows the resolved schema_version and the rollout_wave, and
// so that an unknown region, schema, version or parameter, a downgrade
// without down SQL or a halted rollout fail the plan rather than the apply.
func (r *databaseResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if !req.State.Raw.IsNull() {
		refuseProtectedDelete(ctx, req, resp)
		r.refuseUnbackedDelete(ctx, req, resp)
	}
	if req.Plan.Raw.IsNull() || resp.Diagnostics.HasError() {
		return
	}
	r.planRollout(ctx, req, resp)
}

// refuseProtectedDelete fails a plan that deletes a database with deletion
// protection on, by destroying or replacing it.
func refuseProtectedDelete(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var state databaseResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || !state.DeletionProtection.ValueBool() {
		return
	}
	region, name := state.Region.ValueString(), state.Name.ValueString()
	const summary = "Database Is Deletion Protected"
	if req.Plan.Raw.IsNull() {
		resp.Diagnostics.AddError(summary, fmt.Sprintf("This plan destroys database %q in region %q, "+
			"whose deletion_protection is true, so dbfleet would refuse. To destroy it, set "+
			"deletion_protection = false in its configuration and apply that first.", name, region))
		return
	}
	var plan databaseResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	for _, a := range []struct {
		name         string
		before, next types.String
	}{
		{"region", state.Region, plan.Region},
		{"name", state.Name, plan.Name},
	} {
		if a.next.IsUnknown() || a.next.Equal(a.before) {
			continue
		}
		resp.Diagnostics.AddAttributeError(path.Root(a.name), summary, fmt.Sprintf("Changing %s replaces "+
			"database %q in region %q, which deletes it, but its deletion_protection is true, so dbfleet would "+
			"refuse. To replace it, first apply deletion_protection = false without other changes.", a.name, name, region))
	}
}

// planRollout asks dbfleetd's :plan what putting the planned database would
// do and plans schema_version, rollout_wave and applied_version from the
// answer. It asks when the database is created or changes, and also when
// nothing changes but schema_version follows the schema's latest version,
// which may have moved.
//
// A schema_version that follows the latest version is planned as the
// latest only when nothing else changes: otherwise it stays unknown and
// the apply puts the latest version then. An apply re-plans the database
// after the resources it refers to, and a dbfleet_schema applied before it
// may have published a newer version; a version known at plan time would
// then differ from the one at apply time, which Terraform refuses.
//
// While a value the request needs is unknown, or the schema does not exist
// yet (a dbfleet_schema created by the same apply, say), it leaves those
// attributes unknown instead.
func (r *databaseResource) planRollout(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var plan, config databaseResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var state *databaseResourceModel
	if !req.State.Raw.IsNull() {
		state = new(databaseResourceModel)
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
		if resp.Diagnostics.HasError() {
			return
		}
	}
	hasSchema := !plan.Schema.IsNull()
	if !hasSchema {
		plan.SchemaVersion = types.Int64Null()
		plan.AppliedVersion = types.Int64Null()
		plan.RolloutWave = types.Int64Null()
	}
	if plan.ReplicaOf.IsNull() {
		// Only replicas report replication and consistency.
		plan.Replication = types.ObjectNull(replicationField.objectAttrTypes())
		plan.Consistency = types.ObjectNull(consistencyField.objectAttrTypes())
	}

	known := !plan.Region.IsUnknown() && !plan.Name.IsUnknown() && !plan.Schema.IsUnknown() &&
		!config.SchemaVersion.IsUnknown() && isFullyKnown(ctx, plan.Parameters) &&
		!plan.DeletionProtection.IsUnknown() && !plan.SkipFinalBackup.IsUnknown() &&
		!plan.ReplicaOf.IsUnknown() && !plan.DriftPolicy.IsUnknown()
	if !known {
		plan.leaveRolloutUnknown(config.SchemaVersion)
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	replacing := state == nil || !plan.Region.Equal(state.Region) || !plan.Name.Equal(state.Name)
	// A plan that only clears drift puts the same settings again, and what
	// dbfleet observes after that is for the apply to tell.
	unchanged := !replacing && equalButDrift(ctx, req.Plan, req.State)
	reapplies := unchanged && !plan.Drift.Equal(state.Drift)
	if reapplies {
		plan.leaveObservedUnknown()
	}
	followsLatest := hasSchema && config.SchemaVersion.IsNull()
	if unchanged && !followsLatest {
		if reapplies {
			resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		}
		return
	}

	region, name := plan.Region.ValueString(), plan.Name.ValueString()
	ctx = withDatabaseFields(ctx, region, name)
	spec, diags := plan.spec(ctx)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	// The configured version, not the planned one: 0 asks for the latest.
	spec.SchemaVersion = config.SchemaVersion.ValueInt64()
	answer, err := r.client.DatabasePlan(ctx, region, name, spec)
	if r.schemaNotPublished(ctx, err, plan.Schema.ValueString()) {
		tflog.Warn(ctx, "Planned database on a schema that does not exist yet", map[string]any{"schema": plan.Schema.ValueString()})
		resp.Diagnostics.AddAttributeWarning(path.Root("schema"), "Schema Not Published Yet", fmt.Sprintf("dbfleetd "+
			"cannot plan database %q in region %q yet: %s\n\nWhen a dbfleet_schema in this configuration creates the "+
			"schema, the apply plans the database again after it and goes on. Otherwise the apply fails here: "+
			"create the schema first, or correct the schema's name.", name, region, err))
		plan.leaveRolloutUnknown(config.SchemaVersion)
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	if source := plan.ReplicaOf.ValueString(); r.sourceNotCreated(ctx, err, source, name) {
		tflog.Warn(ctx, "Planned replica of a database that does not exist yet", map[string]any{"replica_of": source})
		resp.Diagnostics.AddAttributeWarning(path.Root("replica_of"), "Source Database Not Created Yet", fmt.Sprintf(
			"dbfleetd cannot plan replica %q in region %q yet: %s\n\nWhen a dbfleet_database in this configuration "+
				"creates the source, database %q in region %q, and the replica refers to it or depends on it, the apply "+
				"plans the replica again after it and goes on. Otherwise the apply fails here: create the source first, "+
				"or correct replica_of.", name, region, err, name, source))
		plan.leaveRolloutUnknown(config.SchemaVersion)
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	if err != nil {
		schemaChanges := state != nil && !replacing && !state.Schema.IsNull() && !plan.Schema.Equal(state.Schema) &&
			state.AppliedVersion.ValueInt64() > 0
		addDatabasePlanError(&resp.Diagnostics, err, region, name, plan.Schema.ValueString(), config.SchemaVersion, schemaChanges)
		return
	}
	tflog.Info(ctx, "Planned database", map[string]any{
		"actions":         answer.Actions,
		"current_version": answer.CurrentVersion,
		"target_version":  answer.TargetVersion,
		"wave":            answer.Wave,
		"waves":           answer.Waves,
		"gate":            answer.Gate,
	})
	if hasSchema {
		switch {
		case followsLatest && unchanged:
			plan.SchemaVersion = types.Int64Value(answer.TargetVersion)
		case followsLatest:
			plan.SchemaVersion = types.Int64Unknown()
		}
		plan.RolloutWave = types.Int64Value(int64(answer.Wave))
		// The ledger stays where it is only when the version does not
		// change and no earlier upgrade is unfinished.
		plan.AppliedVersion = types.Int64Unknown()
		if !replacing && plan.SchemaVersion.Equal(state.SchemaVersion) && state.AppliedVersion.Equal(state.SchemaVersion) {
			plan.AppliedVersion = state.AppliedVersion
		}
		if unchanged && !plan.SchemaVersion.Equal(state.SchemaVersion) {
			// Following the latest version turned a plan without changes
			// into an upgrade: what dbfleet observes after it is for the
			// apply to tell, as for any other change.
			plan.leaveObservedUnknown()
		}
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// schemaNotPublished reports whether err, the answer of a :plan, refuses
// the database because its schema does not exist: an invalid_argument about
// schema, while dbfleetd has no schema of that name.
func (r *databaseResource) schemaNotPublished(ctx context.Context, err error, schemaName string) bool {
	if schemaName == "" || !invalidField(err, "schema") {
		return false
	}
	_, getErr := r.client.SchemaGet(ctx, schemaName)
	return errors.Is(getErr, client.ErrNotFound)
}

// sourceNotCreated reports whether err, the answer of a :plan, refuses a
// replica because its source does not exist: an invalid_argument about
// replica_of, while dbfleetd has no database name in region source.
func (r *databaseResource) sourceNotCreated(ctx context.Context, err error, source, name string) bool {
	if source == "" || !invalidField(err, "replica_of") {
		return false
	}
	_, getErr := r.client.DatabaseGet(ctx, source, name)
	return errors.Is(getErr, client.ErrNotFound)
}

// equalButDrift reports whether plan holds the same values as state,
// leaving drift aside.
func equalButDrift(ctx context.Context, plan tfsdk.Plan, state tfsdk.State) bool {
	var drift types.String
	if diags := state.GetAttribute(ctx, path.Root("drift"), &drift); diags.HasError() {
		return false
	}
	if diags := plan.SetAttribute(ctx, path.Root("drift"), drift); diags.HasError() {
		return false
	}
	return plan.Raw.Equal(state.Raw)
}

// leaveRolloutUnknown makes what only dbfleetd's :plan can tell unknown:
// rollout_wave, applied_version and, unless configVersion pins it,
// schema_version. Without a schema they stay null.
// leaveObservedUnknown plans what dbfleet observes (status, conditions, a
// replica's replication and consistency) as known after apply.
func (m *databaseResourceModel) leaveObservedUnknown() {
	m.Status = types.StringUnknown()
	m.Conditions = types.ListUnknown(conditionsField.elemType())
	if !m.ReplicaOf.IsNull() {
		m.Replication = types.ObjectUnknown(replicationField.objectAttrTypes())
		m.Consistency = types.ObjectUnknown(consistencyField.objectAttrTypes())
	}
}

func (m *databaseResourceModel) leaveRolloutUnknown(configVersion types.Int64) {
	if m.Schema.IsNull() {
		return
	}
	if configVersion.IsNull() {
		m.SchemaVersion = types.Int64Unknown()
	}
	m.AppliedVersion = types.Int64Unknown()
	m.RolloutWave = types.Int64Unknown()
}

// spec is the desired state that m asks dbfleet for.
func (m *databaseResourceModel) spec(ctx context.Context) (apiv1.DatabaseSpec, diag.Diagnostics) {
	protection := m.DeletionProtection.ValueBool()
	spec := apiv1.DatabaseSpec{
		DeletionProtection: &protection,
		SkipFinalBackup:    m.SkipFinalBackup.ValueBool(),
		Schema:             m.Schema.ValueString(),
		SchemaVersion:      m.SchemaVersion.ValueInt64(),
		ReplicaOf:          m.ReplicaOf.ValueString(),
		DriftPolicy:        m.DriftPolicy.ValueString(),
	}
	var diags diag.Diagnostics
	if !m.Parameters.IsNull() {
		diags = m.Parameters.ElementsAs(ctx, &spec.Parameters, false)
	}
	return spec, diags
}

// setDatabase sets every attribute but drift and timeouts from db (Read
// sets drift; an apply keeps the planned null). Without a schema,
// schema_version, applied_version and rollout_wave are null; without
// replica_of, replication and consistency. When an
// upgrade failed or a rollout rolled the database back, schema_version is
// the version the database is at rather than the one it failed to reach,
// so that the next plan shows the upgrade again (and refuses it while its
// rollout is halted) instead of nothing. Parameters that dbfleet reports as
// none stay an empty map when m has one.
func (m *databaseResourceModel) setDatabase(ctx context.Context, db *apiv1.Database) diag.Diagnostics {
	var diags diag.Diagnostics
	m.ID = types.StringValue(databaseID(db.Region, db.Name))
	m.Region = types.StringValue(db.Region)
	m.Name = types.StringValue(db.Name)
	m.DeletionProtection = types.BoolValue(db.DeletionProtection)
	m.SkipFinalBackup = types.BoolValue(db.SkipFinalBackup)
	m.Schema = stringOrNull(db.Schema)
	m.SchemaVersion = types.Int64Null()
	m.AppliedVersion = types.Int64Null()
	m.RolloutWave = types.Int64Null()
	if db.Schema != "" {
		m.SchemaVersion = types.Int64Value(db.SchemaVersion)
		if db.Status == apiv1.DatabaseStatusFailed || db.Status == apiv1.DatabaseStatusRolledBack {
			m.SchemaVersion = types.Int64Value(db.AppliedVersion)
		}
		m.AppliedVersion = types.Int64Value(db.AppliedVersion)
		m.RolloutWave = types.Int64Value(int64(db.RolloutWave))
	}
	switch {
	case len(db.Parameters) > 0:
		m.Parameters, diags = types.MapValueFrom(ctx, types.StringType, db.Parameters)
	case m.Parameters.IsNull() || m.Parameters.IsUnknown() || len(m.Parameters.Elements()) > 0:
		m.Parameters = types.MapNull(types.StringType)
	}
	m.Status = types.StringValue(db.Status)
	m.Host = types.StringValue(db.Host)
	m.Port = types.Int64Value(int64(db.Port))
	m.Owner = types.StringValue(db.Owner)
	m.Password = passwordValue(m.PasswordInState, db.Password)
	if m.PasswordInState.IsNull() {
		m.PasswordInState = types.BoolValue(true)
	}
	m.ReplicaOf = stringOrNull(db.ReplicaOf)
	m.DriftPolicy = types.StringValue(cmp.Or(db.DriftPolicy, apiv1.DriftPolicies[0]))
	m.Replication = types.ObjectNull(replicationField.objectAttrTypes())
	m.Consistency = types.ObjectNull(consistencyField.objectAttrTypes())
	if db.ReplicaOf != "" {
		m.Replication = replicationValue(db.Replication)
		m.Consistency = consistencyValue(db.Consistency)
	}
	m.Conditions = conditionsValue(db.Conditions)
	return diags
}

// waitForOperation waits until op is done. Unless it succeeded, it returns
// an error that says in full sentences what failed, for a diagnostic's
// detail.
func (r *databaseResource) waitForOperation(ctx context.Context, op *apiv1.Operation, verb, region, name string) error {
	ctx = tflog.SetField(ctx, "operation_id", op.ID)
	tflog.Info(ctx, "Waiting for dbfleet operation", map[string]any{"kind": op.Kind, "state": op.State})
	if !op.Done {
		last, err := r.client.WaitOperation(ctx, op.ID, func(op *apiv1.Operation) {
			tflog.Info(ctx, "dbfleet operation progressed", map[string]any{
				"operation_id": op.ID,
				"state":        op.State,
				"progress":     op.Progress,
			})
		})
		if err != nil {
			return errors.New(waitFailureDetail(verb, region, name, op.ID, last, err))
		}
		op = last
	}
	tflog.Info(ctx, "dbfleet operation done", map[string]any{"state": op.State})
	if op.State != apiv1.OperationSucceeded {
		return errors.New(operationFailureDetail(verb, region, name, op))
	}
	return nil
}

// requestFailureDetail explains a request that dbfleet refused or did not
// answer.
func requestFailureDetail(verb, region, name string, err error) string {
	detail := fmt.Sprintf("Could not %s database %q in region %q: %s", verb, name, region, err)
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		return detail + "\n\ndbfleetd gave no answer. Check that the provider's endpoint is reachable, then run " +
			"Terraform again: the request is safe to repeat."
	}
	switch apiErr.Code {
	case apiv1.CodeOperationInProgress:
		return detail + fmt.Sprintf("\n\nOperation %s is already changing this database. "+
			"Wait until it is done, then run Terraform again.", apiErr.Details["operation_id"])
	case apiv1.CodeUnauthenticated, apiv1.CodePermissionDenied:
		return detail + "\n\nCheck the provider's token: it must be valid and have the write scope."
	}
	return detail
}

// addPutError adds an error for a PUT of the database that dbfleetd refused
// or did not answer: on the attribute at fault when dbfleetd names it, such
// as replica_of when the source is missing, which the plan could only warn
// about (the source may have been created earlier in the same apply).
func addPutError(diags *diag.Diagnostics, summary, verb, region, name string, err error) {
	detail := requestFailureDetail(verb, region, name, err)
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && apiErr.Code == apiv1.CodeInvalidArgument {
		addBlamedError(diags, apiErr, databaseBlames, summary, detail)
		return
	}
	diags.AddError(summary, detail)
}

// waitFailureDetail explains why waiting for operation id stopped before it
// was done; last is the last state seen of it, if any.
func waitFailureDetail(verb, region, name, id string, last *apiv1.Operation, err error) string {
	var b strings.Builder
	if errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(&b, "Timed out waiting for operation %s to %s database %q in region %q.", id, verb, name, region)
	} else {
		fmt.Fprintf(&b, "Stopped waiting for operation %s to %s database %q in region %q: %s", id, verb, name, region, err)
	}
	if last != nil {
		fmt.Fprintf(&b, " It was %s", last.State)
		if last.Progress != "" {
			fmt.Fprintf(&b, " (%s)", last.Progress)
		}
		b.WriteString(".")
	}
	fmt.Fprintf(&b, "\n\nThe operation goes on in dbfleetd. If it needs longer, raise the %s value in the resource's timeouts block.", verb)
	return b.String()
}

// operationFailureDetail explains an operation that is done but did not
// succeed: its id, state, error code, message, region and step.
func operationFailureDetail(verb, region, name string, op *apiv1.Operation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dbfleet could not %s database %q in region %q: operation %s ended %s.", verb, name, region, op.ID, op.State)
	if e := op.Error; e != nil {
		fmt.Fprintf(&b, "\n\nError code: %s\nMessage: %s", e.Code, e.Message)
		if e.Region != "" {
			fmt.Fprintf(&b, "\nRegion: %s", e.Region)
		}
		if e.Step != "" {
			fmt.Fprintf(&b, "\nStep: %s", e.Step)
		}
		if e.Code == apiv1.CodeRolloutHalted {
			b.WriteString("\n\nThe rollout of the schema version halted. To go on, publish a newer version of the schema, " +
				"or fix the cause and resume the rollout (POST /v1/schemas/<schema>/rollouts/<version>:resume); " +
				"then run terraform apply again.")
		}
	}
	return b.String()
}

// withDatabaseFields adds the database to every log line of ctx.
func withDatabaseFields(ctx context.Context, region, name string) context.Context {
	return tflog.SetField(tflog.SetField(ctx, "region", region), "database", name)
}

// databaseID is a database's id and import ID.
func databaseID(region, name string) string {
	return region + "/" + name
}

// parseDatabaseID splits an import ID of the form region/name.
func parseDatabaseID(id string) (region, name string, err error) {
	region, name, ok := strings.Cut(id, "/")
	if !ok || !identifierPattern.MatchString(region) || !identifierPattern.MatchString(name) {
		return "", "", fmt.Errorf("expected an import ID of the form region/name, such as westeurope/orders, "+
			"where region and name each %s; got %q", identifierRule, id)
	}
	return region, name, nil
}

// quotedList renders values as `a`, `b` or `c`.
func quotedList(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "`" + v + "`"
	}
	if len(quoted) == 1 {
		return quoted[0]
	}
	return strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
}

// databaseBlames are the attributes of dbfleet_database that dbfleetd's
// invalid_argument answers can be about.
var databaseBlames = []blame{
	{attribute: path.Root("region"), field: "region", summary: "Invalid Region",
		hint: "Use a region that dbfleetd administers; the dbfleet_regions data source lists them."},
	{attribute: path.Root("name"), field: "name", summary: "Invalid Database Name"},
	{attribute: path.Root("schema"), field: "schema", summary: "Invalid Schema"},
	{attribute: path.Root("schema_version"), field: "schema_version", summary: "Invalid Schema Version",
		hint: "Use a version of the schema's migrations, or leave schema_version out to run the schema's latest version. " +
			"When a dbfleet_schema in this configuration adds the version, refer to it " +
			"(schema_version = dbfleet_schema.app.latest_version) so that the plan waits for it."},
	{attribute: path.Root("parameters"), field: "parameters", summary: "Invalid Database Parameter"},
	{attribute: path.Root("replica_of"), field: "replica_of", summary: "Invalid Replica Source",
		hint: "replica_of names the region of the source: the database of the same name there, which must exist, " +
			"must not be a replica itself, and must be in another region. A database cannot become a replica, or " +
			"stop being one, in place: create a new database instead."},
	{attribute: path.Root("drift_policy"), field: "drift_policy", summary: "Invalid Drift Policy"},
}

// schemaChangeBlame is the blame of a refused schema when the plan moves a
// database that has run migrations to another schema, or off its schema.
var schemaChangeBlame = blame{attribute: path.Root("schema"), field: "schema", summary: "Schema Cannot Change",
	hint: "A database that has run migrations of one schema cannot move to another, or leave it. Keep its schema, " +
		"or create a new database (under another name) for the other schema."}

// addDatabasePlanError turns dbfleetd's refusal of a database's :plan into
// a diagnostic on the attribute at fault, saying what to do next. version
// is the configured schema_version, null for the latest; schemaChanges
// says whether the plan moves a database that has run migrations off its
// schema.
func addDatabasePlanError(diags *diag.Diagnostics, err error, region, name, schemaName string, version types.Int64, schemaChanges bool) {
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		diags.AddError("Unable to Plan Database", requestFailureDetail("plan", region, name, err))
		return
	}
	target, resumeVersion := "the latest version", "<version>"
	if !version.IsNull() {
		target = fmt.Sprintf("version %d", version.ValueInt64())
		resumeVersion = strconv.FormatInt(version.ValueInt64(), 10)
	}
	switch apiErr.Code {
	case apiv1.CodeRolloutHalted:
		if v := apiErr.Details["version"]; v != "" {
			resumeVersion = v
		}
		diags.AddAttributeError(path.Root("schema_version"), "Rollout Halted", fmt.Sprintf("dbfleetd refuses to move "+
			"database %q in region %q to %s of schema %q: %s\n\nTo go on, publish a newer version or resume the rollout "+
			"(POST /v1/schemas/%s/rollouts/%s:resume).", name, region, target, schemaName, apiErr, schemaName, resumeVersion))
	case apiv1.CodeDowngradeImpossible:
		diags.AddAttributeError(path.Root("schema_version"), "Downgrade Impossible", fmt.Sprintf("dbfleetd cannot move "+
			"database %q in region %q down to %s of schema %q: %s\n\nA downgrade runs the down SQL of each version above "+
			"the target. Add down SQL to those migrations of the dbfleet_schema, or keep schema_version where it is.",
			name, region, target, schemaName, apiErr))
	case apiv1.CodeFailedPrecondition, apiv1.CodeNameTaken:
		addRegionRefusal(diags, apiErr, region, name)
	case apiv1.CodeInvalidArgument:
		blames := databaseBlames
		if schemaChanges {
			blames = append([]blame{schemaChangeBlame}, databaseBlames...)
		}
		addBlamedError(diags, apiErr, blames, "Invalid Database Configuration",
			fmt.Sprintf("dbfleetd refused database %q in region %q: %s", name, region, apiErr))
	default:
		diags.AddError("Unable to Plan Database", requestFailureDetail("plan", region, name, err))
	}
}

// parameterDescriptions lists the allowed database parameters with the
// values each takes, for the parameters attribute's description.
func parameterDescriptions() string {
	names := apiv1.DatabaseParameterNames()
	described := make([]string, len(names))
	for i, n := range names {
		described[i] = "`" + n + "` (" + apiv1.DatabaseParameters[n].Description + ")"
	}
	return strings.Join(described, "; ")
}
