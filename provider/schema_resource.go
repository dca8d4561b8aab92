package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

var (
	_ resource.ResourceWithConfigure   = (*schemaResource)(nil)
	_ resource.ResourceWithImportState = (*schemaResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*schemaResource)(nil)
)

// defaultBakeTime is rollout.bake_time when the configuration leaves it out.
const defaultBakeTime = "0s"

// onFailurePolicies are the values of rollout.on_failure, each with what it
// does; the first is the default.
var onFailurePolicies = []struct {
	name string
	does string
}{
	{apiv1.OnFailureHalt, "stops the rollout where it is: the regions already moved stay on the new version, and " +
		"upgrades to it in other regions fail until a newer version is published or the rollout is resumed"},
	{apiv1.OnFailureRollback, "stops the rollout like `halt`, then runs the version's `down` SQL in the regions " +
		"already moved, taking them back to the previous version"},
}

// onFailureNames are the names of onFailurePolicies, in order.
func onFailureNames() []string {
	names := make([]string, len(onFailurePolicies))
	for i, p := range onFailurePolicies {
		names[i] = p.name
	}
	return names
}

// onFailureDescription describes rollout.on_failure from onFailurePolicies.
func onFailureDescription() string {
	d := "What happens when a region fails its migration or its health checks during a rollout: one of " +
		quotedList(onFailureNames()) + ". Defaults to `" + onFailurePolicies[0].name + "`."
	for _, p := range onFailurePolicies {
		d += " `" + p.name + "` " + p.does + "."
	}
	return d + " Changing it applies to rollouts from then on."
}

// Attribute types of the nested objects of dbfleet_schema.
var (
	migrationAttrTypes = map[string]attr.Type{
		"version": types.Int64Type,
		"up":      types.StringType,
		"down":    types.StringType,
	}
	healthChecksAttrTypes = map[string]attr.Type{
		"connectable": types.BoolType,
	}
	wavesType        = types.ListType{ElemType: types.ListType{ElemType: types.StringType}}
	rolloutAttrTypes = map[string]attr.Type{
		"waves":         wavesType,
		"wave_size":     types.Int64Type,
		"bake_time":     types.StringType,
		"on_failure":    types.StringType,
		"health_checks": types.ObjectType{AttrTypes: healthChecksAttrTypes},
	}
)

func newSchemaResource() resource.Resource {
	return &schemaResource{}
}

// schemaResource is dbfleet_schema: a named, append-only list of migrations
// and the policy by which a new version reaches the fleet.
type schemaResource struct {
	client *client.Client
}

// schemaResourceModel is dbfleet_schema's configuration and state. The
// nested attributes stay attribute values because a plan may hold them
// unknown.
type schemaResourceModel struct {
	ID            types.String `tfsdk:"id"`
	Name          types.String `tfsdk:"name"`
	Migrations    types.List   `tfsdk:"migrations"`
	Rollout       types.Object `tfsdk:"rollout"`
	LatestVersion types.Int64  `tfsdk:"latest_version"`
	Checksum      types.String `tfsdk:"checksum"`
}

// migrationModel is one element of migrations.
type migrationModel struct {
	Version types.Int64  `tfsdk:"version"`
	Up      types.String `tfsdk:"up"`
	Down    types.String `tfsdk:"down"`
}

// rolloutModel is rollout.
type rolloutModel struct {
	Waves        types.List   `tfsdk:"waves"`
	WaveSize     types.Int64  `tfsdk:"wave_size"`
	BakeTime     types.String `tfsdk:"bake_time"`
	OnFailure    types.String `tfsdk:"on_failure"`
	HealthChecks types.Object `tfsdk:"health_checks"`
}

// healthChecksModel is rollout.health_checks.
type healthChecksModel struct {
	Connectable types.Bool `tfsdk:"connectable"`
}

// Metadata names the resource dbfleet_schema.
func (r *schemaResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_schema"
}

// Schema describes dbfleet_schema.
func (r *schemaResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "A schema: a named, append-only list of SQL migrations that `dbfleet_database` resources " +
			"run, and the rollout policy by which a new version reaches them, region by region in waves. " +
			"Publishing a version is synchronous; the databases move when their `schema_version` changes (or, " +
			"when they leave it out, on their next apply), and dbfleetd holds each upgrade until the waves " +
			"before its region have run the version and stayed healthy for `bake_time`. " +
			"Every plan that changes the migrations runs them in a scratch database and rolls back, so a " +
			"migration that fails is an error at `terraform plan`, with its version and line.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The schema's identifier, its name. `terraform import` takes the same form.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "The schema's name, such as `app`, which a `dbfleet_database`'s `schema` refers to. " +
					"It " + identifierRule + ". Changing it replaces the schema: Terraform deletes the old one, " +
					"which dbfleetd refuses while databases use it, and creates a new one.",
				Required:      true,
				Validators:    []validator.String{identifier()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"migrations": schema.ListNestedAttribute{
				MarkdownDescription: "The migrations, in version order; at least one. Versions are unique and strictly " +
					"increasing, and need not be consecutive. Each runs as the database owner in its own transaction " +
					"and is recorded in the database's `dbfleet.migrations` ledger, so it never runs twice. " +
					"Adding a migration publishes a new version, which is the new `latest_version`. A version that " +
					"a database has run is published and immutable: changing its `up` SQL or removing it is " +
					"refused at plan time; make the change in a new migration instead.",
				Required: true,
				Validators: []validator.List{
					listvalidator.SizeAtLeast(1),
					increasingVersions(),
				},
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"version": schema.Int64Attribute{
							MarkdownDescription: "The migration's version, a positive integer above every earlier " +
								"migration's. A `dbfleet_database`'s `schema_version` names it.",
							Required:   true,
							Validators: []validator.Int64{int64validator.AtLeast(1)},
						},
						"up": schema.StringAttribute{
							MarkdownDescription: "The SQL that moves a database to this version, such as " +
								"`CREATE TABLE orders (id bigint PRIMARY KEY)`. It may hold several statements; " +
								"they run in one transaction. Once a database has run it, it cannot change.",
							Required:   true,
							Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
						},
						"down": schema.StringAttribute{
							MarkdownDescription: "The SQL that undoes `up`, taking a database back to the previous " +
								"version. Optional, but lowering a database's `schema_version` past this version, " +
								"and `on_failure = \"rollback\"`, need it: without it a downgrade is refused at plan time.",
							Optional:   true,
							Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
						},
					},
				},
			},
			"rollout": schema.SingleNestedAttribute{
				MarkdownDescription: "How a new version reaches the fleet. dbfleetd enforces it for every database of the " +
					"schema, across independent Terraform runs: an upgrade in a region of wave N waits, its operation " +
					"pending, until every database of the schema in the waves before N has run the version and stayed " +
					"healthy for `bake_time`. Leaving it out makes every region one wave with no bake time. Changing " +
					"it applies to upgrades from then on.",
				Optional: true,
				Computed: true,
				Default:  objectdefault.StaticValue(defaultRollout()),
				Attributes: map[string]schema.Attribute{
					"waves": schema.ListAttribute{
						MarkdownDescription: "The waves, in order, each a list of regions, such as " +
							"`[[\"westeurope\"], [\"northeurope\", \"eastus\"]]`: the first wave is the canary. A region " +
							"is in at most one wave; regions that no wave names form a last wave. Conflicts with " +
							"`wave_size`; without either, all regions are one wave.",
						ElementType: types.ListType{ElemType: types.StringType},
						Optional:    true,
						Validators: []validator.List{
							listvalidator.SizeAtLeast(1),
							listvalidator.ValueListsAre(
								listvalidator.SizeAtLeast(1),
								listvalidator.ValueStringsAre(identifier()),
							),
							regionsOnce(),
							listvalidator.ConflictsWith(path.MatchRelative().AtParent().AtName("wave_size")),
						},
					},
					"wave_size": schema.Int64Attribute{
						MarkdownDescription: "How many regions each wave holds, taken in the order of dbfleetd's region " +
							"list (the `dbfleet_regions` data source), as an alternative to naming the `waves`. " +
							"At least `1`.",
						Optional:   true,
						Validators: []validator.Int64{int64validator.AtLeast(1)},
					},
					"bake_time": schema.StringAttribute{
						MarkdownDescription: "How long a wave must stay healthy on a new version before the next wave " +
							"may start, as a duration such as `30s` or `10m`. Defaults to `" + defaultBakeTime + "`: " +
							"the next wave starts as soon as the previous one has moved and passed its health checks.",
						Optional:   true,
						Computed:   true,
						Default:    stringdefault.StaticString(defaultBakeTime),
						Validators: []validator.String{nonNegativeDuration()},
					},
					"on_failure": schema.StringAttribute{
						MarkdownDescription: onFailureDescription(),
						Optional:            true,
						Computed:            true,
						Default:             stringdefault.StaticString(onFailurePolicies[0].name),
						Validators:          []validator.String{stringvalidator.OneOf(onFailureNames()...)},
					},
					"health_checks": schema.SingleNestedAttribute{
						MarkdownDescription: "What healthy means for a region that has moved to a new version. The " +
							"ledger is always checked to be at the version.",
						Optional: true,
						Computed: true,
						Default:  objectdefault.StaticValue(defaultHealthChecks()),
						Attributes: map[string]schema.Attribute{
							"connectable": schema.BoolAttribute{
								MarkdownDescription: "Whether the database owner must be able to connect. Defaults to `true`.",
								Optional:            true,
								Computed:            true,
								Default:             booldefault.StaticBool(true),
							},
						},
					},
				},
			},
			"latest_version": schema.Int64Attribute{
				MarkdownDescription: "The highest migration version: what a `dbfleet_database` that leaves out " +
					"`schema_version` runs. A plan that changes the migrations shows it as known after apply, so that " +
					"databases in the same configuration that refer to it " +
					"(`schema_version = dbfleet_schema.app.latest_version`) plan their upgrade once the new version is " +
					"published, and move to it in the same apply.",
				Computed:      true,
				PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			},
			"checksum": schema.StringAttribute{
				MarkdownDescription: "A checksum over every version and the checksum of its `up` SQL, as dbfleetd " +
					"computes it. It changes whenever a migration is added.",
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
		},
	}
}

// Configure takes the API client that the provider configured.
func (r *schemaResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = configuredClient(req.ProviderData, "Resource", &resp.Diagnostics)
}

// Create puts the schema and saves what dbfleetd computed.
func (r *schemaResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan schemaResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(r.put(ctx, &plan, "Unable to Create Schema")...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(setIdentity(ctx, resp.Identity, schemaIdentityModel{Name: plan.Name})...)
}

// Read refreshes the schema from dbfleet, and removes it from state with a
// warning when it no longer exists.
func (r *schemaResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state schemaResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.Name.ValueString()
	ctx = tflog.SetField(ctx, "schema", name)
	// Set first: the framework wants an identity after every Read, even
	// one that removes the resource.
	resp.Diagnostics.Append(setIdentity(ctx, resp.Identity, schemaIdentityModel{Name: state.Name})...)

	s, err := r.client.SchemaGet(ctx, name)
	if errors.Is(err, client.ErrNotFound) {
		tflog.Warn(ctx, "Schema removed outside Terraform")
		resp.Diagnostics.AddWarning("Schema Removed Outside Terraform",
			fmt.Sprintf("Schema %q no longer exists in dbfleet, so Terraform removed it from state. "+
				"The next apply creates it again.", name))
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Unable to Read Schema", fmt.Sprintf("Could not read schema %q: %s", name, err))
		return
	}
	resp.Diagnostics.Append(state.setSchema(ctx, s)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update puts the changed migrations or rollout policy and saves what
// dbfleetd computed.
func (r *schemaResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan schemaResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(r.put(ctx, &plan, "Unable to Update Schema")...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(setIdentity(ctx, resp.Identity, schemaIdentityModel{Name: plan.Name})...)
}

// Delete deletes the schema. A schema that is already gone counts as
// deleted.
func (r *schemaResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state schemaResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.Name.ValueString()
	ctx = tflog.SetField(ctx, "schema", name)

	const summary = "Unable to Delete Schema"
	err := r.client.SchemaDelete(ctx, name)
	var apiErr *client.APIError
	switch {
	case errors.Is(err, client.ErrNotFound):
		tflog.Info(ctx, "Schema already deleted")
	case errors.As(err, &apiErr) && apiErr.Code == apiv1.CodeConflict:
		resp.Diagnostics.AddError(summary, fmt.Sprintf("dbfleet refuses to delete schema %q while databases use it: %s\n\n"+
			"Destroy those databases, or remove their schema attribute, first. A database whose schema refers to "+
			"this resource (schema = dbfleet_schema.<name>.name) is destroyed before it in the same run.", name, apiErr.Message))
	case err != nil:
		resp.Diagnostics.AddError(summary, fmt.Sprintf("Could not delete schema %q: %s", name, err))
	}
}

// ImportState imports a schema by its name; Read fills in the rest.
func (r *schemaResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	name, diags := schemaImportName(ctx, req)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !identifierPattern.MatchString(name) {
		resp.Diagnostics.AddError("Invalid Import ID",
			fmt.Sprintf("Expected the schema's name as the import ID or the identity's name, such as app, which %s; got %q.", identifierRule, name))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), name)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), name)...)
	resp.Diagnostics.Append(setIdentity(ctx, resp.Identity, schemaIdentityModel{Name: types.StringValue(name)})...)
}

// ModifyPlan, when the migrations or the rollout policy change, plans
// latest_version and checksum as unknown if the migrations change, and asks
// dbfleetd to validate the schema: it runs the migrations in a scratch
// database and checks that no published version changed, so that a bad
// migration fails the plan, pointing at its SQL.
func (r *schemaResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan schemaResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var state *schemaResourceModel
	if !req.State.Raw.IsNull() {
		state = new(schemaResourceModel)
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
		if resp.Diagnostics.HasError() {
			return
		}
	}

	migrationsChanged := state == nil || !plan.Migrations.Equal(state.Migrations)
	rolloutChanged := state == nil || !plan.Rollout.Equal(state.Rollout)
	if !migrationsChanged && !rolloutChanged {
		return
	}
	migrations, diags := plan.apiMigrations(ctx)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if migrationsChanged {
		// Unknown rather than computed here: a database that refers to
		// latest_version then plans its upgrade once the version is
		// published, not against the schema dbfleetd has now.
		plan.LatestVersion = types.Int64Unknown()
		plan.Checksum = types.StringUnknown()
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	}
	if migrations == nil || plan.Name.IsUnknown() {
		return
	}

	name := plan.Name.ValueString()
	ctx = tflog.SetField(ctx, "schema", name)
	spec := apiv1.SchemaSpec{Migrations: migrations}
	// A rollout policy that is not known yet is left out: the migrations
	// can be validated without it.
	if isFullyKnown(ctx, plan.Rollout) {
		spec.Rollout, diags = plan.apiRollout(ctx)
		resp.Diagnostics.Append(diags...)
		if resp.Diagnostics.HasError() {
			return
		}
	}
	validation, err := r.client.SchemaValidate(ctx, name, spec)
	if err != nil {
		addSchemaRequestError(&resp.Diagnostics, "Unable to Validate Schema", "validate", name, err)
		return
	}
	tflog.Info(ctx, "Validated schema", map[string]any{"valid": validation.Valid, "region": validation.Region, "errors": len(validation.Errors)})
	addMigrationErrors(&resp.Diagnostics, validation, migrations)
}

// put puts m's schema and sets m's computed attributes from the answer.
func (r *schemaResource) put(ctx context.Context, m *schemaResourceModel, summary string) diag.Diagnostics {
	var diags diag.Diagnostics
	name := m.Name.ValueString()
	ctx = tflog.SetField(ctx, "schema", name)
	migrations, d := m.apiMigrations(ctx)
	diags.Append(d...)
	rollout, d := m.apiRollout(ctx)
	diags.Append(d...)
	if diags.HasError() {
		return diags
	}
	s, err := r.client.SchemaPut(ctx, name, apiv1.SchemaSpec{Migrations: migrations, Rollout: rollout})
	if err != nil {
		addSchemaRequestError(&diags, summary, "put", name, err)
		return diags
	}
	tflog.Info(ctx, "Put schema", map[string]any{"latest_version": s.LatestVersion})
	m.ID = types.StringValue(s.Name)
	m.LatestVersion = types.Int64Value(s.LatestVersion)
	m.Checksum = types.StringValue(s.Checksum)
	return diags
}

// apiMigrations returns m's migrations for the API, or nil when some part
// of them is not known yet.
func (m *schemaResourceModel) apiMigrations(ctx context.Context) ([]apiv1.Migration, diag.Diagnostics) {
	if !isFullyKnown(ctx, m.Migrations) {
		return nil, nil
	}
	var models []migrationModel
	diags := m.Migrations.ElementsAs(ctx, &models, false)
	if diags.HasError() {
		return nil, diags
	}
	migrations := make([]apiv1.Migration, len(models))
	for i, mm := range models {
		migrations[i] = apiv1.Migration{Version: mm.Version.ValueInt64(), Up: mm.Up.ValueString(), Down: mm.Down.ValueString()}
	}
	return migrations, diags
}

// apiRollout returns m's rollout policy for the API; m.Rollout must be
// known.
func (m *schemaResourceModel) apiRollout(ctx context.Context) (*apiv1.RolloutPolicy, diag.Diagnostics) {
	var rm rolloutModel
	diags := m.Rollout.As(ctx, &rm, basetypes.ObjectAsOptions{})
	if diags.HasError() {
		return nil, diags
	}
	policy := &apiv1.RolloutPolicy{
		WaveSize:  int(rm.WaveSize.ValueInt64()),
		BakeTime:  rm.BakeTime.ValueString(),
		OnFailure: rm.OnFailure.ValueString(),
	}
	if !rm.Waves.IsNull() {
		diags.Append(rm.Waves.ElementsAs(ctx, &policy.Waves, false)...)
	}
	if !rm.HealthChecks.IsNull() {
		var hc healthChecksModel
		diags.Append(rm.HealthChecks.As(ctx, &hc, basetypes.ObjectAsOptions{})...)
		policy.HealthChecks = &apiv1.HealthChecks{Connectable: hc.Connectable.ValueBoolPointer()}
	}
	return policy, diags
}

// setSchema sets every attribute from s. A bake_time that dbfleetd spells
// differently but means the same duration keeps m's spelling, so that "1m"
// does not show as a change to "1m0s"; without one (on import), it is
// spelled without zero minutes or seconds, as people write it.
func (m *schemaResourceModel) setSchema(ctx context.Context, s *apiv1.Schema) diag.Diagnostics {
	var diags diag.Diagnostics
	m.ID = types.StringValue(s.Name)
	m.Name = types.StringValue(s.Name)
	m.LatestVersion = types.Int64Value(s.LatestVersion)
	m.Checksum = types.StringValue(s.Checksum)

	migrations := make([]attr.Value, len(s.Migrations))
	for i, mg := range s.Migrations {
		migrations[i] = types.ObjectValueMust(migrationAttrTypes, map[string]attr.Value{
			"version": types.Int64Value(mg.Version),
			"up":      types.StringValue(mg.Up),
			"down":    stringOrNull(mg.Down),
		})
	}
	m.Migrations = types.ListValueMust(types.ObjectType{AttrTypes: migrationAttrTypes}, migrations)

	bakeTime := shortDuration(s.Rollout.BakeTime)
	var prior rolloutModel
	if !m.Rollout.IsNull() && !m.Rollout.IsUnknown() {
		diags.Append(m.Rollout.As(ctx, &prior, basetypes.ObjectAsOptions{})...)
		if sameDuration(prior.BakeTime.ValueString(), bakeTime) {
			bakeTime = prior.BakeTime.ValueString()
		}
	}
	onFailure := s.Rollout.OnFailure
	if onFailure == "" {
		onFailure = onFailurePolicies[0].name
	}
	connectable := true
	if hc := s.Rollout.HealthChecks; hc != nil && hc.Connectable != nil {
		connectable = *hc.Connectable
	}
	waves := types.ListNull(wavesType.ElemType)
	if len(s.Rollout.Waves) > 0 {
		var d diag.Diagnostics
		waves, d = types.ListValueFrom(ctx, wavesType.ElemType, s.Rollout.Waves)
		diags.Append(d...)
	}
	waveSize := types.Int64Null()
	if s.Rollout.WaveSize > 0 {
		waveSize = types.Int64Value(int64(s.Rollout.WaveSize))
	}
	m.Rollout = types.ObjectValueMust(rolloutAttrTypes, map[string]attr.Value{
		"waves":         waves,
		"wave_size":     waveSize,
		"bake_time":     types.StringValue(bakeTime),
		"on_failure":    types.StringValue(onFailure),
		"health_checks": types.ObjectValueMust(healthChecksAttrTypes, map[string]attr.Value{"connectable": types.BoolValue(connectable)}),
	})
	return diags
}

// defaultRollout is rollout when the configuration leaves it out.
func defaultRollout() types.Object {
	return types.ObjectValueMust(rolloutAttrTypes, map[string]attr.Value{
		"waves":         types.ListNull(wavesType.ElemType),
		"wave_size":     types.Int64Null(),
		"bake_time":     types.StringValue(defaultBakeTime),
		"on_failure":    types.StringValue(onFailurePolicies[0].name),
		"health_checks": defaultHealthChecks(),
	})
}

// defaultHealthChecks is rollout.health_checks when the configuration leaves
// it out.
func defaultHealthChecks() types.Object {
	return types.ObjectValueMust(healthChecksAttrTypes, map[string]attr.Value{"connectable": types.BoolValue(true)})
}

// addMigrationErrors adds an error for each problem that validation found,
// on the up SQL of the migration it names, found by version among
// migrations; a version no longer there (a published version removed) is
// blamed on the migrations list.
func addMigrationErrors(diags *diag.Diagnostics, validation *apiv1.SchemaValidation, migrations []apiv1.Migration) {
	for _, e := range validation.Errors {
		at := path.Root("migrations")
		for i, m := range migrations {
			if m.Version == e.Version {
				at = at.AtListIndex(i).AtName("up")
				break
			}
		}
		detail := fmt.Sprintf("migration %d", e.Version)
		if e.Line > 0 {
			detail += fmt.Sprintf(", line %d", e.Line)
		}
		detail += ": " + e.Message
		if e.Code == apiv1.CodePublishedVersion {
			diags.AddAttributeError(at, "Published Migration Changed", detail+fmt.Sprintf("\n\nA database has run "+
				"version %d, so it can no longer change or go away. Restore it as it was published, and make the "+
				"change in a new migration with a higher version.", e.Version))
			continue
		}
		where := "a scratch database"
		if validation.Region != "" {
			where += " in region " + validation.Region
		}
		diags.AddAttributeError(at, "Invalid Migration", detail+fmt.Sprintf("\n\ndbfleetd ran the migrations in %s "+
			"and rolled it back; nothing changed. Fix the SQL of migration %d, then plan again.", where, e.Version))
	}
	if !validation.Valid && len(validation.Errors) == 0 {
		diags.AddError("Invalid Schema", "dbfleetd found the schema invalid but named no migration. "+
			"Please report this issue to the dbfleet developers.")
	}
}

// schemaBlames are the attributes of dbfleet_schema that dbfleetd's
// invalid_argument answers can be about.
var schemaBlames = []blame{
	{attribute: path.Root("name"), field: "name", summary: "Invalid Schema Name"},
	{attribute: path.Root("migrations"), field: "migrations", summary: "Invalid Migrations"},
	{attribute: path.Root("rollout").AtName("waves"), field: "rollout.waves", summary: "Invalid Rollout Policy",
		hint: "Name only regions that dbfleetd administers (the dbfleet_regions data source lists them), each in one wave."},
	{attribute: path.Root("rollout").AtName("wave_size"), field: "rollout.wave_size", summary: "Invalid Rollout Policy"},
	{attribute: path.Root("rollout").AtName("bake_time"), field: "rollout.bake_time", summary: "Invalid Rollout Policy"},
	{attribute: path.Root("rollout").AtName("on_failure"), field: "rollout.on_failure", summary: "Invalid Rollout Policy"},
}

// addSchemaRequestError turns an error of a request about schema name into
// a diagnostic: on the attribute at fault when dbfleetd refused a value.
func addSchemaRequestError(diags *diag.Diagnostics, summary, verb, name string, err error) {
	detail := fmt.Sprintf("Could not %s schema %q: %s", verb, name, err)
	var apiErr *client.APIError
	switch {
	case !errors.As(err, &apiErr):
		diags.AddError(summary, detail+"\n\ndbfleetd gave no answer. Check that the provider's endpoint is reachable, "+
			"then run Terraform again: the request is safe to repeat.")
	case apiErr.Code == apiv1.CodePublishedVersion:
		diags.AddAttributeError(path.Root("migrations"), "Published Migration Changed", detail+"\n\nA version that "+
			"a database has run can no longer change or go away. Restore it as it was published, and make the "+
			"change in a new migration with a higher version.")
	case apiErr.Code == apiv1.CodeInvalidArgument:
		addBlamedError(diags, apiErr, schemaBlames, "Invalid Schema", detail)
	default:
		diags.AddError(summary, detail)
	}
}

// shortDuration spells a Go duration without trailing zero units ("10m0s"
// as "10m", "1h0m0s" as "1h"); empty is the default bake time. What does
// not parse is returned as it is.
func shortDuration(s string) string {
	if s == "" {
		return defaultBakeTime
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	short := d.String()
	if strings.HasSuffix(short, "m0s") {
		short = strings.TrimSuffix(short, "0s")
	}
	if strings.HasSuffix(short, "h0m") {
		short = strings.TrimSuffix(short, "0m")
	}
	return short
}

// sameDuration reports whether a and b parse as the same duration.
func sameDuration(a, b string) bool {
	da, errA := time.ParseDuration(a)
	db, errB := time.ParseDuration(b)
	return errA == nil && errB == nil && da == db
}
