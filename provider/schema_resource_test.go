package provider

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

func schemaSchema(t *testing.T) schema.Schema {
	t.Helper()
	var resp resource.SchemaResponse
	newSchemaResource().Schema(context.Background(), resource.SchemaRequest{}, &resp)
	require.False(t, resp.Diagnostics.HasError())
	return resp.Schema
}

// schemaState is a dbfleet_schema's state, or null when m is nil.
func schemaState(t *testing.T, s schema.Schema, m *schemaResourceModel) tfsdk.State {
	t.Helper()
	state := tfsdk.State{Schema: s, Raw: tftypes.NewValue(s.Type().TerraformType(context.Background()), nil)}
	if m != nil {
		diags := state.Set(context.Background(), m)
		require.False(t, diags.HasError(), "%v", diags)
	}
	return state
}

// migrations is a migrations list value.
func migrations(ms ...apiv1.Migration) types.List {
	values := make([]attr.Value, len(ms))
	for i, m := range ms {
		values[i] = types.ObjectValueMust(migrationAttrTypes, map[string]attr.Value{
			"version": types.Int64Value(m.Version),
			"up":      types.StringValue(m.Up),
			"down":    stringOrNull(m.Down),
		})
	}
	return types.ListValueMust(types.ObjectType{AttrTypes: migrationAttrTypes}, values)
}

// rollout is a rollout value: the defaults, changed by edit.
func rollout(edit func(attrs map[string]attr.Value)) types.Object {
	attrs := defaultRollout().Attributes()
	edit(attrs)
	return types.ObjectValueMust(rolloutAttrTypes, attrs)
}

// rolloutConfig is a rollout block as configured: only what edit sets.
func rolloutConfig(edit func(attrs map[string]attr.Value)) types.Object {
	return rollout(func(attrs map[string]attr.Value) {
		attrs["bake_time"] = types.StringNull()
		attrs["on_failure"] = types.StringNull()
		attrs["health_checks"] = types.ObjectNull(healthChecksAttrTypes)
		edit(attrs)
	})
}

func waves(regions ...[]string) types.List {
	v, diags := types.ListValueFrom(context.Background(), wavesType.ElemType, regions)
	if diags.HasError() {
		panic(diags)
	}
	return v
}

// schemaConfig is the configuration of schema app with ms and rollout r.
func schemaConfig(r types.Object, ms ...apiv1.Migration) *schemaResourceModel {
	return &schemaResourceModel{
		ID:            types.StringNull(),
		Name:          types.StringValue("app"),
		Migrations:    migrations(ms...),
		Rollout:       r,
		LatestVersion: types.Int64Null(),
		Checksum:      types.StringNull(),
	}
}

// published is schema app in state: ms with the default rollout, published.
func published(ms ...apiv1.Migration) *schemaResourceModel {
	m := schemaConfig(defaultRollout(), ms...)
	m.ID = types.StringValue("app")
	m.LatestVersion = types.Int64Value(ms[len(ms)-1].Version)
	m.Checksum = types.StringValue("sum-1")
	return m
}

var (
	createOrders = apiv1.Migration{Version: 1, Up: "CREATE TABLE orders (id bigint PRIMARY KEY)", Down: "DROP TABLE orders"}
	addTotal     = apiv1.Migration{Version: 2, Up: "ALTER TABLE orders ADD COLUMN total numeric"}
	addIndex     = apiv1.Migration{Version: 5, Up: "CREATE INDEX ON orders (total);\nCREATE TABEL x ()"}
)

func TestSchemaConfigValidation(t *testing.T) {
	t.Parallel()

	noRollout := types.ObjectNull(rolloutAttrTypes)
	set := func(name string, v attr.Value) types.Object {
		return rolloutConfig(func(attrs map[string]attr.Value) { attrs[name] = v })
	}
	tests := []struct {
		name       string
		config     *schemaResourceModel
		wantErrors []string
		wantDetail string
	}{
		{name: "WithoutRollout", config: schemaConfig(noRollout, createOrders, addTotal)},
		{
			name: "WithRollout",
			config: schemaConfig(rolloutConfig(func(attrs map[string]attr.Value) {
				attrs["waves"] = waves([]string{"westeurope"}, []string{"northeurope", "eastus"})
				attrs["bake_time"] = types.StringValue("30s")
				attrs["on_failure"] = types.StringValue(apiv1.OnFailureRollback)
			}), createOrders, addTotal, addIndex),
		},
		{name: "WaveSize", config: schemaConfig(set("wave_size", types.Int64Value(2)), createOrders)},
		{name: "ZeroBakeTime", config: schemaConfig(set("bake_time", types.StringValue("0s")), createOrders)},
		{
			name:       "NoMigrations",
			config:     schemaConfig(noRollout),
			wantErrors: []string{"migrations: Invalid Attribute Value"},
		},
		{
			name:       "VersionsOutOfOrder",
			config:     schemaConfig(noRollout, addTotal, createOrders),
			wantErrors: []string{"migrations[1].version: Invalid Migration Version"},
			wantDetail: "Version 1 comes after version 2, but migration versions must be unique and strictly increasing",
		},
		{
			name:       "DuplicateVersion",
			config:     schemaConfig(noRollout, createOrders, addTotal, apiv1.Migration{Version: 2, Up: "SELECT 1"}),
			wantErrors: []string{"migrations[2].version: Invalid Migration Version"},
		},
		{
			name:       "VersionZero",
			config:     schemaConfig(noRollout, apiv1.Migration{Version: 0, Up: "SELECT 1"}),
			wantErrors: []string{"migrations[0].version: Invalid Attribute Value"},
		},
		{
			name:       "EmptyUp",
			config:     schemaConfig(noRollout, apiv1.Migration{Version: 1}),
			wantErrors: []string{"migrations[0].up: Invalid Attribute Value Length"},
		},
		{
			name:       "RegionInTwoWaves",
			config:     schemaConfig(set("waves", waves([]string{"westeurope"}, []string{"eastus", "westeurope"})), createOrders),
			wantErrors: []string{"rollout.waves[1][1]: Region In More Than One Wave"},
			wantDetail: `Region "westeurope" is in wave 1 and again in wave 2`,
		},
		{
			name:       "RegionTwiceInOneWave",
			config:     schemaConfig(set("waves", waves([]string{"eastus", "eastus"})), createOrders),
			wantErrors: []string{"rollout.waves[0][1]: Region In More Than One Wave"},
			wantDetail: `Region "eastus" is in wave 1 twice`,
		},
		{
			name:       "EmptyWave",
			config:     schemaConfig(set("waves", waves([]string{"westeurope"}, []string{})), createOrders),
			wantErrors: []string{"rollout.waves[1]: Invalid Attribute Value"},
		},
		{
			name:       "BadRegionName",
			config:     schemaConfig(set("waves", waves([]string{"West Europe"})), createOrders),
			wantErrors: []string{"rollout.waves[0][0]: Invalid Attribute Value Match"},
		},
		{
			name: "WavesAndWaveSize",
			config: schemaConfig(rolloutConfig(func(attrs map[string]attr.Value) {
				attrs["waves"] = waves([]string{"westeurope"})
				attrs["wave_size"] = types.Int64Value(1)
			}), createOrders),
			wantErrors: []string{"rollout.waves: Invalid Attribute Combination"},
		},
		{
			name:       "WaveSizeZero",
			config:     schemaConfig(set("wave_size", types.Int64Value(0)), createOrders),
			wantErrors: []string{"rollout.wave_size: Invalid Attribute Value"},
		},
		{
			name:       "BakeTimeNotADuration",
			config:     schemaConfig(set("bake_time", types.StringValue("soon")), createOrders),
			wantErrors: []string{"rollout.bake_time: Invalid Duration"},
		},
		{
			name:       "NegativeBakeTime",
			config:     schemaConfig(set("bake_time", types.StringValue("-1m")), createOrders),
			wantErrors: []string{"rollout.bake_time: Invalid Duration"},
		},
		{
			name:       "UnknownOnFailure",
			config:     schemaConfig(set("on_failure", types.StringValue("retry")), createOrders),
			wantErrors: []string{"rollout.on_failure: Invalid Attribute Value Match"},
			wantDetail: `value must be one of: ["halt" "rollback"]`,
		},
		{
			name: "BadName",
			config: func() *schemaResourceModel {
				m := schemaConfig(noRollout, createOrders)
				m.Name = types.StringValue("App")
				return m
			}(),
			wantErrors: []string{"name: Invalid Attribute Value Match"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			errs, details := validateConfig(t, "dbfleet_schema", schemaState(t, schemaSchema(t), tt.config).Raw)

			if diff := cmp.Diff(tt.wantErrors, errs); diff != "" {
				t.Fatalf("errors mismatch (-want +got):\n%s", diff)
			}
			if tt.wantDetail != "" {
				require.Contains(t, details[0], tt.wantDetail)
			}
		})
	}
}

func TestOnFailureDescription(t *testing.T) {
	t.Parallel()
	d := onFailureDescription()
	require.Contains(t, d, "one of `halt` or `rollback`. Defaults to `halt`.")
	for _, p := range onFailurePolicies {
		require.Contains(t, d, "`"+p.name+"` "+p.does)
	}
}

// planSchema runs dbfleet_schema's ModifyPlan against a fake backend with
// replies and returns the planned model, the diagnostics and the backend.
func planSchema(t *testing.T, replies map[string]fakeReply, state, plan *schemaResourceModel) (*schemaResourceModel, diag.Diagnostics, *fakeBackend) {
	t.Helper()
	backend, c := newFakeBackend(t, replies)
	s := schemaSchema(t)
	req := resource.ModifyPlanRequest{
		State: schemaState(t, s, state),
		Plan:  tfsdk.Plan(schemaState(t, s, plan)),
	}
	resp := resource.ModifyPlanResponse{Plan: req.Plan}

	(&schemaResource{client: c}).ModifyPlan(context.Background(), req, &resp)

	var got schemaResourceModel
	require.False(t, resp.Plan.Get(context.Background(), &got).HasError())
	return &got, resp.Diagnostics, backend
}

func TestSchemaModifyPlan(t *testing.T) {
	t.Parallel()

	const validatePath = "POST /v1/schemas/app:validate"
	valid := map[string]fakeReply{validatePath: {status: http.StatusOK, body: apiv1.SchemaValidation{Valid: true, Region: "westeurope"}}}
	invalid := func(errs ...apiv1.MigrationError) map[string]fakeReply {
		return map[string]fakeReply{validatePath: {status: http.StatusOK, body: apiv1.SchemaValidation{Region: "westeurope", Errors: errs}}}
	}
	// newPlan is the plan to publish ms over state: its computed values
	// as the schema's plan modifiers leave them.
	newPlan := func(state *schemaResourceModel, ms ...apiv1.Migration) *schemaResourceModel {
		m := schemaConfig(defaultRollout(), ms...)
		m.ID, m.LatestVersion, m.Checksum = types.StringUnknown(), types.Int64Unknown(), types.StringUnknown()
		if state != nil {
			m.ID, m.LatestVersion, m.Checksum = state.ID, state.LatestVersion, state.Checksum
		}
		return m
	}
	v1 := published(createOrders)
	slowerRollout := *v1
	slowerRollout.Rollout = rollout(func(attrs map[string]attr.Value) { attrs["bake_time"] = types.StringValue("10m") })
	unknownMigrations := newPlan(v1, createOrders)
	unknownMigrations.Migrations = types.ListUnknown(types.ObjectType{AttrTypes: migrationAttrTypes})
	changedV1 := createOrders
	changedV1.Up = "CREATE TABLE orders (id uuid PRIMARY KEY)"

	tests := []struct {
		name         string
		replies      map[string]fakeReply
		state        *schemaResourceModel
		plan         *schemaResourceModel
		wantValidate bool
		wantLatest   types.Int64
		wantChecksum types.String
		wantErrors   []string
		wantDetails  []string
	}{
		{
			name:         "CreateLeavesComputedValuesUnknown",
			replies:      valid,
			plan:         newPlan(nil, createOrders, addTotal, addIndex),
			wantValidate: true,
			wantLatest:   types.Int64Unknown(),
			wantChecksum: types.StringUnknown(),
		},
		{
			name:         "NewMigrationMakesComputedValuesUnknown",
			replies:      valid,
			state:        v1,
			plan:         newPlan(v1, createOrders, addTotal),
			wantValidate: true,
			wantLatest:   types.Int64Unknown(),
			wantChecksum: types.StringUnknown(),
		},
		{
			name:         "UnchangedSchemaIsNotValidated",
			state:        v1,
			plan:         v1,
			wantLatest:   types.Int64Value(1),
			wantChecksum: types.StringValue("sum-1"),
		},
		{
			name:         "RolloutChangeKeepsChecksum",
			replies:      valid,
			state:        v1,
			plan:         &slowerRollout,
			wantValidate: true,
			wantLatest:   types.Int64Value(1),
			wantChecksum: types.StringValue("sum-1"),
		},
		{
			name:         "UnknownMigrationsAreNotValidated",
			state:        v1,
			plan:         unknownMigrations,
			wantLatest:   types.Int64Unknown(),
			wantChecksum: types.StringUnknown(),
		},
		{
			name: "InvalidMigration",
			replies: invalid(apiv1.MigrationError{
				Version: 5, Line: 2, Code: apiv1.CodeMigrationInvalid, Message: `syntax error at or near "TABEL"`,
			}),
			plan:         newPlan(nil, createOrders, addTotal, addIndex),
			wantValidate: true,
			wantLatest:   types.Int64Unknown(),
			wantChecksum: types.StringUnknown(),
			wantErrors:   []string{"migrations[2].up: Invalid Migration"},
			wantDetails: []string{`migration 5, line 2: syntax error at or near "TABEL"` + "\n\n" +
				"dbfleetd ran the migrations in a scratch database in region westeurope and rolled it back; nothing " +
				"changed. Fix the SQL of migration 5, then plan again."},
		},
		{
			name: "PublishedMigrationChanged",
			replies: invalid(apiv1.MigrationError{
				Version: 1, Code: apiv1.CodePublishedVersion, Message: "westeurope/orders has run version 1 with another checksum",
			}),
			state:        v1,
			plan:         newPlan(v1, changedV1, addTotal),
			wantValidate: true,
			wantLatest:   types.Int64Unknown(),
			wantChecksum: types.StringUnknown(),
			wantErrors:   []string{"migrations[0].up: Published Migration Changed"},
			wantDetails: []string{"migration 1: westeurope/orders has run version 1 with another checksum\n\n" +
				"A database has run version 1, so it can no longer change or go away. Restore it as it was published, " +
				"and make the change in a new migration with a higher version."},
		},
		{
			name: "PublishedMigrationRemoved",
			replies: invalid(apiv1.MigrationError{
				Version: 1, Code: apiv1.CodePublishedVersion, Message: "version 1 was removed but westeurope/orders has run it",
			}),
			state:        v1,
			plan:         newPlan(v1, addTotal),
			wantValidate: true,
			wantLatest:   types.Int64Unknown(),
			wantChecksum: types.StringUnknown(),
			wantErrors:   []string{"migrations: Published Migration Changed"},
		},
		{
			name: "UnknownRegionInWaves",
			replies: map[string]fakeReply{validatePath: fieldErrorReply(http.StatusBadRequest, apiv1.CodeInvalidArgument, "rollout.waves",
				"rollout wave 2 names region mars, which is not configured; configured regions: [westeurope northeurope eastus]")},
			plan: func() *schemaResourceModel {
				m := newPlan(nil, createOrders)
				m.Rollout = rollout(func(attrs map[string]attr.Value) {
					attrs["waves"] = waves([]string{"westeurope"}, []string{"mars"})
				})
				return m
			}(),
			wantValidate: true,
			wantLatest:   types.Int64Unknown(),
			wantChecksum: types.StringUnknown(),
			wantErrors:   []string{"rollout.waves: Invalid Rollout Policy"},
		},
		{
			name:         "ValidationUnavailable",
			replies:      map[string]fakeReply{validatePath: apiErrorReply(http.StatusNotImplemented, "", "")},
			plan:         newPlan(nil, createOrders),
			wantValidate: true,
			wantLatest:   types.Int64Unknown(),
			wantChecksum: types.StringUnknown(),
			wantErrors:   []string{": Unable to Validate Schema"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, diags, backend := planSchema(t, tt.replies, tt.state, tt.plan)

			if diff := cmp.Diff(tt.wantErrors, errorsAt(diags)); diff != "" {
				t.Fatalf("errors mismatch (-want +got):\n%s", diff)
			}
			for i, want := range tt.wantDetails {
				require.Equal(t, want, diags.Errors()[i].Detail())
			}
			require.Equal(t, tt.wantLatest, got.LatestVersion, "latest_version")
			require.Equal(t, tt.wantChecksum, got.Checksum, "checksum")
			if !tt.wantValidate {
				require.Empty(t, backend.requests())
				return
			}
			require.Equal(t, []string{validatePath}, backend.requests())
			var spec apiv1.SchemaSpec
			backend.body(t, validatePath, &spec)
			require.NotNil(t, spec.Rollout, "a known rollout policy is validated too")
		})
	}
}

func TestSchemaCreate(t *testing.T) {
	t.Parallel()

	const putPath = "PUT /v1/schemas/app"
	tests := []struct {
		name       string
		reply      fakeReply
		wantErrors []string
	}{
		{
			name:  "SavesComputedValues",
			reply: fakeReply{status: http.StatusOK, body: apiv1.Schema{Name: "app", LatestVersion: 2, Checksum: "sum-2"}},
		},
		{
			name:       "PublishedVersionChanged",
			reply:      apiErrorReply(http.StatusConflict, apiv1.CodePublishedVersion, "version 1 has run in westeurope/orders"),
			wantErrors: []string{"migrations: Published Migration Changed"},
		},
		{
			name:       "NoAnswer",
			reply:      apiErrorReply(http.StatusServiceUnavailable, apiv1.CodeRegionUnavailable, "down"),
			wantErrors: []string{": Unable to Create Schema"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			backend, c := newFakeBackend(t, map[string]fakeReply{putPath: tt.reply})
			s := schemaSchema(t)
			plan := schemaConfig(rollout(func(attrs map[string]attr.Value) {
				attrs["waves"] = waves([]string{"westeurope"}, []string{"northeurope", "eastus"})
			}), createOrders, addTotal)
			plan.ID, plan.LatestVersion, plan.Checksum = types.StringUnknown(), types.Int64Unknown(), types.StringUnknown()
			req := resource.CreateRequest{Plan: tfsdk.Plan(schemaState(t, s, plan))}
			resp := resource.CreateResponse{State: schemaState(t, s, nil)}

			(&schemaResource{client: c}).Create(context.Background(), req, &resp)

			if diff := cmp.Diff(tt.wantErrors, errorsAt(resp.Diagnostics)); diff != "" {
				t.Fatalf("errors mismatch (-want +got):\n%s", diff)
			}
			var spec apiv1.SchemaSpec
			backend.body(t, putPath, &spec)
			connectable := true
			want := apiv1.SchemaSpec{
				Migrations: []apiv1.Migration{createOrders, addTotal},
				Rollout: &apiv1.RolloutPolicy{
					Waves:        [][]string{{"westeurope"}, {"northeurope", "eastus"}},
					BakeTime:     "0s",
					OnFailure:    apiv1.OnFailureHalt,
					HealthChecks: &apiv1.HealthChecks{Connectable: &connectable},
				},
			}
			if diff := cmp.Diff(want, spec); diff != "" {
				t.Fatalf("spec mismatch (-want +got):\n%s", diff)
			}
			if tt.wantErrors != nil {
				require.True(t, resp.State.Raw.IsNull(), "nothing saved")
				return
			}
			var got schemaResourceModel
			require.False(t, resp.State.Get(context.Background(), &got).HasError())
			require.Equal(t, types.StringValue("app"), got.ID)
			require.Equal(t, types.Int64Value(2), got.LatestVersion)
			require.Equal(t, types.StringValue("sum-2"), got.Checksum)
		})
	}
}

func TestSchemaRead(t *testing.T) {
	t.Parallel()

	const getPath = "GET /v1/schemas/app"
	prior := published(createOrders)
	prior.Rollout = rollout(func(attrs map[string]attr.Value) { attrs["bake_time"] = types.StringValue("1m") })

	t.Run("RefreshesFromDbfleet", func(t *testing.T) {
		t.Parallel()
		off := false
		_, c := newFakeBackend(t, map[string]fakeReply{getPath: {status: http.StatusOK, body: apiv1.Schema{
			Name:       "app",
			Migrations: []apiv1.Migration{{Version: 1, Up: createOrders.Up, Down: createOrders.Down, Checksum: "m1"}, {Version: 2, Up: addTotal.Up, Checksum: "m2"}},
			Rollout: apiv1.RolloutPolicy{WaveSize: 2, BakeTime: "1m0s", OnFailure: apiv1.OnFailureRollback,
				HealthChecks: &apiv1.HealthChecks{Connectable: &off}},
			LatestVersion: 2,
			Checksum:      "sum-2",
		}}})
		s := schemaSchema(t)
		req := resource.ReadRequest{State: schemaState(t, s, prior)}
		resp := resource.ReadResponse{State: req.State}

		(&schemaResource{client: c}).Read(context.Background(), req, &resp)

		require.False(t, resp.Diagnostics.HasError(), "%v", resp.Diagnostics)
		var got schemaResourceModel
		require.False(t, resp.State.Get(context.Background(), &got).HasError())
		want := published(createOrders, addTotal)
		want.Checksum = types.StringValue("sum-2")
		want.Rollout = rollout(func(attrs map[string]attr.Value) {
			attrs["wave_size"] = types.Int64Value(2)
			attrs["bake_time"] = types.StringValue("1m") // the configuration's spelling of 1m0s
			attrs["on_failure"] = types.StringValue(apiv1.OnFailureRollback)
			attrs["health_checks"] = types.ObjectValueMust(healthChecksAttrTypes, map[string]attr.Value{"connectable": types.BoolValue(false)})
		})
		require.Equal(t, *want, got)
	})

	t.Run("SpellsBakeTimeShortOnImport", func(t *testing.T) {
		t.Parallel()
		_, c := newFakeBackend(t, map[string]fakeReply{getPath: {status: http.StatusOK, body: apiv1.Schema{
			Name:          "app",
			Migrations:    []apiv1.Migration{{Version: 1, Up: createOrders.Up, Down: createOrders.Down}},
			Rollout:       apiv1.RolloutPolicy{BakeTime: "1h30m0s", OnFailure: apiv1.OnFailureHalt},
			LatestVersion: 1,
			Checksum:      "sum-1",
		}}})
		s := schemaSchema(t)
		imported := &schemaResourceModel{
			ID: types.StringValue("app"), Name: types.StringValue("app"),
			Migrations:    types.ListNull(types.ObjectType{AttrTypes: migrationAttrTypes}),
			Rollout:       types.ObjectNull(rolloutAttrTypes),
			LatestVersion: types.Int64Null(), Checksum: types.StringNull(),
		}
		req := resource.ReadRequest{State: schemaState(t, s, imported)}
		resp := resource.ReadResponse{State: req.State}

		(&schemaResource{client: c}).Read(context.Background(), req, &resp)

		require.False(t, resp.Diagnostics.HasError(), "%v", resp.Diagnostics)
		var got schemaResourceModel
		require.False(t, resp.State.Get(context.Background(), &got).HasError())
		want := published(createOrders)
		want.Rollout = rollout(func(attrs map[string]attr.Value) { attrs["bake_time"] = types.StringValue("1h30m") })
		require.Equal(t, *want, got)
	})

	t.Run("RemovesSchemaGoneOutsideTerraform", func(t *testing.T) {
		t.Parallel()
		_, c := newFakeBackend(t, nil)
		s := schemaSchema(t)
		req := resource.ReadRequest{State: schemaState(t, s, prior)}
		resp := resource.ReadResponse{State: req.State}

		(&schemaResource{client: c}).Read(context.Background(), req, &resp)

		require.False(t, resp.Diagnostics.HasError())
		require.Len(t, resp.Diagnostics.Warnings(), 1)
		require.Equal(t, "Schema Removed Outside Terraform", resp.Diagnostics.Warnings()[0].Summary())
		require.True(t, resp.State.Raw.IsNull())
	})
}

func TestSchemaDelete(t *testing.T) {
	t.Parallel()

	const deletePath = "DELETE /v1/schemas/app"
	tests := []struct {
		name       string
		replies    map[string]fakeReply
		wantErrors []string
		wantDetail string
	}{
		{name: "Deletes", replies: map[string]fakeReply{deletePath: {status: http.StatusNoContent}}},
		{name: "AlreadyGone"},
		{
			name:       "InUse",
			replies:    map[string]fakeReply{deletePath: apiErrorReply(http.StatusConflict, apiv1.CodeConflict, "schema app is used by westeurope/orders")},
			wantErrors: []string{": Unable to Delete Schema"},
			wantDetail: "dbfleet refuses to delete schema \"app\" while databases use it: schema app is used by westeurope/orders",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			backend, c := newFakeBackend(t, tt.replies)
			s := schemaSchema(t)
			req := resource.DeleteRequest{State: schemaState(t, s, published(createOrders))}
			resp := resource.DeleteResponse{State: req.State}

			(&schemaResource{client: c}).Delete(context.Background(), req, &resp)

			require.Equal(t, []string{deletePath}, backend.requests())
			if diff := cmp.Diff(tt.wantErrors, errorsAt(resp.Diagnostics)); diff != "" {
				t.Fatalf("errors mismatch (-want +got):\n%s", diff)
			}
			if tt.wantDetail != "" {
				require.True(t, strings.HasPrefix(resp.Diagnostics.Errors()[0].Detail(), tt.wantDetail))
			}
		})
	}
}

func TestSchemaImportState(t *testing.T) {
	t.Parallel()

	tests := []struct {
		id         string
		wantErrors []string
	}{
		{id: "app"},
		{id: "App", wantErrors: []string{": Invalid Import ID"}},
		{id: "westeurope/app", wantErrors: []string{": Invalid Import ID"}},
		{id: "", wantErrors: []string{": Invalid Import ID"}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			s := schemaSchema(t)
			resp := resource.ImportStateResponse{State: schemaState(t, s, nil)}

			newSchemaResource().(resource.ResourceWithImportState).ImportState(context.Background(),
				resource.ImportStateRequest{ID: tt.id}, &resp)

			if diff := cmp.Diff(tt.wantErrors, errorsAt(resp.Diagnostics)); diff != "" {
				t.Fatalf("errors mismatch (-want +got):\n%s", diff)
			}
			if tt.wantErrors != nil {
				return
			}
			var name types.String
			require.False(t, resp.State.GetAttribute(context.Background(), path.Root("name"), &name).HasError())
			require.Equal(t, tt.id, name.ValueString())
		})
	}
}

func TestSchemaRequestErrors(t *testing.T) {
	t.Parallel()

	// The messages and fields are dbfleetd's.
	tests := []struct {
		message   string
		field     string
		code      string
		wantError string
	}{
		{message: "rollout sets both waves and wave_size; set one", field: "rollout.waves", wantError: "rollout.waves: Invalid Rollout Policy"},
		{message: "rollout wave_size must be positive", field: "rollout.wave_size", wantError: "rollout.wave_size: Invalid Rollout Policy"},
		{message: "rollout wave 2 is empty", field: "rollout.waves", wantError: "rollout.waves: Invalid Rollout Policy"},
		{message: "rollout waves name region eastus more than once", field: "rollout.waves", wantError: "rollout.waves: Invalid Rollout Policy"},
		{message: "rollout bake_time must not be negative", field: "rollout.bake_time", wantError: "rollout.bake_time: Invalid Rollout Policy"},
		{message: `rollout on_failure must be "halt" or "rollback", not "retry"`, field: "rollout.on_failure", wantError: "rollout.on_failure: Invalid Rollout Policy"},
		{message: "migration versions must be positive and strictly increasing: 2 follows 2", field: "migrations", wantError: "migrations: Invalid Migrations"},
		{message: "migration 3 has no up SQL", field: "migrations", wantError: "migrations: Invalid Migrations"},
		{message: `schema "App" must start with a lowercase letter`, field: "name", wantError: "name: Invalid Schema Name"},
		{message: "no region is configured to validate migrations in", field: "rollout.waves", wantError: "rollout.waves: Invalid Rollout Policy"},
		// Without a field, or with one the resource does not have, nothing
		// in the message places the error: it stays on the resource.
		{message: `rollout bake_time "soon" is not a duration such as 30s or 10m`, wantError: ": Invalid Schema"},
		{message: "bad", field: "rollout.health_checks", wantError: ": Invalid Schema"},
		{
			message:   "migration 1 has been run by a database, so its up SQL is immutable; publish the change as a new version",
			code:      apiv1.CodePublishedVersion,
			wantError: "migrations: Published Migration Changed",
		},
		{message: "boom", code: apiv1.CodeInternal, wantError: ": Unable to Update Schema"},
	}
	for _, tt := range tests {
		t.Run(tt.message, func(t *testing.T) {
			t.Parallel()
			code := tt.code
			if code == "" {
				code = apiv1.CodeInvalidArgument
			}
			var details map[string]string
			if tt.field != "" {
				details = map[string]string{detailField: tt.field}
			}
			var diags diag.Diagnostics

			addSchemaRequestError(&diags, "Unable to Update Schema", "put", "app",
				&client.APIError{Status: http.StatusBadRequest, Code: code, Message: tt.message, Details: details})

			require.Equal(t, []string{tt.wantError}, errorsAt(diags))
			require.Contains(t, diags.Errors()[0].Detail(), tt.message)
		})
	}
}

func TestShortDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":        "0s",
		"0s":      "0s",
		"30s":     "30s",
		"1m0s":    "1m",
		"10m0s":   "10m",
		"1m30s":   "1m30s",
		"1h0m0s":  "1h",
		"1h30m0s": "1h30m",
		"1h0m5s":  "1h0m5s",
		"500ms":   "500ms",
		"soon":    "soon",
	} {
		require.Equal(t, want, shortDuration(in), in)
	}
}
