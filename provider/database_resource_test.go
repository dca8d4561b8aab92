package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

func TestParseDatabaseID(t *testing.T) {
	t.Parallel()

	tests := []struct {
		id         string
		wantRegion string
		wantName   string
		wantErr    bool
	}{
		{id: "westeurope/orders", wantRegion: "westeurope", wantName: "orders"},
		{id: "eastus/orders_v2", wantRegion: "eastus", wantName: "orders_v2"},
		{id: "orders", wantErr: true},
		{id: "", wantErr: true},
		{id: "/", wantErr: true},
		{id: "westeurope/", wantErr: true},
		{id: "/orders", wantErr: true},
		{id: "westeurope/orders/extra", wantErr: true},
		{id: "westeurope:orders", wantErr: true},
		{id: "WestEurope/orders", wantErr: true},
		{id: "westeurope/Orders", wantErr: true},
		{id: " westeurope/orders", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()

			region, name, err := parseDatabaseID(tt.id)

			if tt.wantErr {
				require.ErrorContains(t, err, "expected an import ID of the form region/name, such as westeurope/orders")
				require.ErrorContains(t, err, fmt.Sprintf("got %q", tt.id))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantRegion, region)
			require.Equal(t, tt.wantName, name)
			require.Equal(t, tt.id, databaseID(region, name))
		})
	}
}

func databaseSchema(t *testing.T) schema.Schema {
	t.Helper()
	var resp resource.SchemaResponse
	newDatabaseResource().Schema(context.Background(), resource.SchemaRequest{}, &resp)
	require.False(t, resp.Diagnostics.HasError())
	return resp.Schema
}

// databaseState is a dbfleet_database's state, or null when m is nil.
func databaseState(t *testing.T, s schema.Schema, m *databaseResourceModel) tfsdk.State {
	t.Helper()
	state := tfsdk.State{Schema: s, Raw: tftypes.NewValue(s.Type().TerraformType(context.Background()), nil)}
	if m != nil {
		require.False(t, state.Set(context.Background(), m).HasError())
	}
	return state
}

func database(region, name string, deletionProtection bool) *databaseResourceModel {
	return &databaseResourceModel{
		ID:                 types.StringValue(databaseID(region, name)),
		Region:             types.StringValue(region),
		Name:               types.StringValue(name),
		DeletionProtection: types.BoolValue(deletionProtection),
		SkipFinalBackup:    types.BoolValue(false),
		Schema:             types.StringNull(),
		SchemaVersion:      types.Int64Null(),
		Parameters:         types.MapNull(types.StringType),
		AppliedVersion:     types.Int64Null(),
		RolloutWave:        types.Int64Null(),
		Status:             types.StringValue(apiv1.DatabaseStatusReady),
		Host:               types.StringValue("127.0.0.1"),
		Port:               types.Int64Value(5432),
		Owner:              types.StringValue(name + "_owner"),
		Password:           types.StringValue("pw"),
		ReplicaOf:          types.StringNull(),
		DriftPolicy:        types.StringValue(apiv1.DriftPolicyHeal),
		Drift:              types.StringNull(),
		Replication:        types.ObjectNull(replicationField.objectAttrTypes()),
		Consistency:        types.ObjectNull(consistencyField.objectAttrTypes()),
		Conditions:         conditionsValue(nil),
		Timeouts: timeouts.Value{Object: types.ObjectNull(map[string]attr.Type{
			"create": types.StringType,
			"update": types.StringType,
			"delete": types.StringType,
		})},
	}
}

// onSchema returns a copy of m on schema app at version, with the ledger at
// applied, in wave.
func onSchema(m *databaseResourceModel, version, applied, wave int64) *databaseResourceModel {
	c := *m
	c.Schema = types.StringValue("app")
	c.SchemaVersion = types.Int64Value(version)
	c.AppliedVersion = types.Int64Value(applied)
	c.RolloutWave = types.Int64Value(wave)
	return &c
}

// planned returns a copy of m as Terraform plans it before ModifyPlan: the
// computed attributes that may change unknown.
func planned(m *databaseResourceModel) *databaseResourceModel {
	c := *m
	c.Status = types.StringUnknown()
	c.AppliedVersion = types.Int64Unknown()
	c.RolloutWave = types.Int64Unknown()
	c.Replication = types.ObjectUnknown(replicationField.objectAttrTypes())
	c.Consistency = types.ObjectUnknown(consistencyField.objectAttrTypes())
	c.Conditions = types.ListUnknown(conditionsField.elemType())
	if c.DriftPolicy.IsNull() {
		c.DriftPolicy = types.StringValue(apiv1.DriftPolicyHeal)
	}
	if !c.Schema.IsNull() && c.SchemaVersion.IsNull() {
		c.SchemaVersion = types.Int64Unknown()
	}
	return &c
}

// configured returns a copy of m as its configuration: no computed values;
// schema_version only when pinned.
func configured(m *databaseResourceModel, pinnedVersion bool) *databaseResourceModel {
	c := *m
	c.ID = types.StringNull()
	c.Status = types.StringNull()
	c.Host = types.StringNull()
	c.Port = types.Int64Null()
	c.Owner = types.StringNull()
	c.Password = types.StringNull()
	c.AppliedVersion = types.Int64Null()
	c.RolloutWave = types.Int64Null()
	if c.DriftPolicy.Equal(types.StringValue(apiv1.DriftPolicyHeal)) {
		// The default: left out.
		c.DriftPolicy = types.StringNull()
	}
	c.Drift = types.StringNull()
	c.Replication = types.ObjectNull(replicationField.objectAttrTypes())
	c.Consistency = types.ObjectNull(consistencyField.objectAttrTypes())
	c.Conditions = types.ListNull(conditionsField.elemType())
	if !pinnedVersion {
		c.SchemaVersion = types.Int64Null()
	}
	return &c
}

// planDatabase runs dbfleet_database's ModifyPlan against a fake backend
// with replies and returns the planned model (nil when destroyed), the
// errors as "path: summary", the error details, and the backend.
func planDatabase(t *testing.T, replies map[string]fakeReply, state, config, plan *databaseResourceModel) (*databaseResourceModel, []string, []string, *fakeBackend) {
	t.Helper()
	backend, c := newFakeBackend(t, replies)
	s := databaseSchema(t)
	req := resource.ModifyPlanRequest{
		State:  databaseState(t, s, state),
		Config: tfsdk.Config(databaseState(t, s, config)),
		Plan:   tfsdk.Plan(databaseState(t, s, plan)),
	}
	resp := resource.ModifyPlanResponse{Plan: req.Plan}

	(&databaseResource{client: c}).ModifyPlan(context.Background(), req, &resp)

	var details []string
	for _, d := range resp.Diagnostics.Errors() {
		details = append(details, d.Detail())
	}
	if resp.Plan.Raw.IsNull() {
		return nil, errorsAt(resp.Diagnostics), details, backend
	}
	var got databaseResourceModel
	require.False(t, resp.Plan.Get(context.Background(), &got).HasError())
	return &got, errorsAt(resp.Diagnostics), details, backend
}

func TestModifyPlan(t *testing.T) {
	t.Parallel()

	renamed := database("westeurope", "orders_v2", true)
	renamed.ID = types.StringUnknown()
	unprotected := database("westeurope", "orders", false)
	tests := []struct {
		name       string
		state      *databaseResourceModel
		plan       *databaseResourceModel
		wantErrors []string
	}{
		{name: "AllowsCreate", plan: database("westeurope", "orders", true)},
		{name: "AllowsInPlaceChange", state: database("westeurope", "orders", true), plan: unprotected},
		{name: "AllowsDestroyWithoutProtection", state: unprotected},
		{
			name:       "RefusesDestroyWhileProtected",
			state:      database("westeurope", "orders", true),
			wantErrors: []string{": Database Is Deletion Protected"},
		},
		{
			name:       "RefusesReplaceWhileProtected",
			state:      database("westeurope", "orders", true),
			plan:       renamed,
			wantErrors: []string{"name: Database Is Deletion Protected"},
		},
		{
			name:  "AllowsReplaceWithoutProtection",
			state: unprotected,
			plan:  database("northeurope", "orders", false),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			replies := map[string]fakeReply{}
			for _, key := range []string{"westeurope/orders", "westeurope/orders_v2", "northeurope/orders"} {
				replies["POST /v1/databases/"+key+":plan"] = fakeReply{status: http.StatusOK, body: apiv1.DatabasePlan{Actions: []string{"put"}}}
			}
			var config *databaseResourceModel
			if tt.plan != nil {
				config = configured(tt.plan, false)
			}

			_, errs, _, _ := planDatabase(t, replies, tt.state, config, tt.plan)

			if diff := cmp.Diff(tt.wantErrors, errs); diff != "" {
				t.Fatalf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestModifyPlanRollout(t *testing.T) {
	t.Parallel()

	const planPath = "POST /v1/databases/westeurope/orders:plan"
	answer := func(target int64, wave int) map[string]fakeReply {
		return map[string]fakeReply{planPath: {status: http.StatusOK, body: apiv1.DatabasePlan{
			Actions: []string{"migrate"}, CurrentVersion: 2, TargetVersion: target, Wave: wave, Waves: 2,
			Gate: "wave 2 of 2 starts after westeurope/orders has run version 3 for 30s",
		}}}
	}
	plain := database("westeurope", "orders", true)
	onV3 := onSchema(plain, 3, 3, 2)
	withWorkMem := *onV3
	withWorkMem.Parameters = types.MapValueMust(types.StringType, map[string]attr.Value{"work_mem": types.StringValue("64MB")})
	unknownSchema := *plain
	unknownSchema.Schema = types.StringUnknown()
	driftedV3 := *onV3
	driftedV3.Drift = types.StringValue(apiv1.ReasonParametersDrifted)
	replica := *onV3
	replica.Region = types.StringValue("westeurope")
	replica.ReplicaOf = types.StringValue("northeurope")
	reportOnly := *plain
	reportOnly.DriftPolicy = types.StringValue(apiv1.DriftPolicyReport)

	tests := []struct {
		name    string
		replies map[string]fakeReply
		state   *databaseResourceModel
		config  *databaseResourceModel
		plan    *databaseResourceModel
		// wantSpec is the spec sent to :plan; nil when nothing is sent.
		wantSpec    *apiv1.DatabaseSpec
		wantVersion types.Int64
		wantApplied types.Int64
		wantWave    types.Int64
	}{
		{
			name:        "CreateLeavesLatestVersionToApply",
			replies:     answer(3, 2),
			config:      configured(onV3, false),
			plan:        planned(configured(onV3, false)),
			wantSpec:    &apiv1.DatabaseSpec{Schema: "app"},
			wantVersion: types.Int64Unknown(),
			wantApplied: types.Int64Unknown(),
			wantWave:    types.Int64Value(2),
		},
		{
			name:        "ChangeLeavesLatestVersionToApply",
			replies:     answer(3, 2),
			state:       onV3,
			config:      configured(&withWorkMem, false),
			plan:        planned(configured(&withWorkMem, false)),
			wantSpec:    &apiv1.DatabaseSpec{Schema: "app", Parameters: map[string]string{"work_mem": "64MB"}},
			wantVersion: types.Int64Unknown(),
			wantApplied: types.Int64Unknown(),
			wantWave:    types.Int64Value(2),
		},
		{
			name:        "CreateSendsPinnedVersion",
			replies:     answer(2, 1),
			config:      configured(onSchema(plain, 2, 0, 0), true),
			plan:        planned(configured(onSchema(plain, 2, 0, 0), true)),
			wantSpec:    &apiv1.DatabaseSpec{Schema: "app", SchemaVersion: 2},
			wantVersion: types.Int64Value(2),
			wantApplied: types.Int64Unknown(),
			wantWave:    types.Int64Value(1),
		},
		{
			name:        "UnchangedDatabaseFollowsNewLatestVersion",
			replies:     answer(4, 2),
			state:       onV3,
			config:      configured(onV3, false),
			plan:        onV3,
			wantSpec:    &apiv1.DatabaseSpec{Schema: "app"},
			wantVersion: types.Int64Value(4),
			wantApplied: types.Int64Unknown(),
			wantWave:    types.Int64Value(2),
		},
		{
			name:        "UnchangedDatabaseOnLatestVersionStaysPut",
			replies:     answer(3, 2),
			state:       onV3,
			config:      configured(onV3, false),
			plan:        onV3,
			wantSpec:    &apiv1.DatabaseSpec{Schema: "app"},
			wantVersion: types.Int64Value(3),
			wantApplied: types.Int64Value(3),
			wantWave:    types.Int64Value(2),
		},
		{
			name:        "UnchangedPinnedDatabaseAsksNothing",
			state:       onV3,
			config:      configured(onV3, true),
			plan:        onV3,
			wantVersion: types.Int64Value(3),
			wantApplied: types.Int64Value(3),
			wantWave:    types.Int64Value(2),
		},
		{
			name:        "OtherChangeKeepsAppliedVersion",
			replies:     answer(3, 2),
			state:       onV3,
			config:      configured(&withWorkMem, true),
			plan:        planned(&withWorkMem),
			wantSpec:    &apiv1.DatabaseSpec{Schema: "app", SchemaVersion: 3, Parameters: map[string]string{"work_mem": "64MB"}},
			wantVersion: types.Int64Value(3),
			wantApplied: types.Int64Value(3),
			wantWave:    types.Int64Value(2),
		},
		{
			name:        "UnfinishedUpgradeLeavesAppliedVersionUnknown",
			replies:     answer(3, 2),
			state:       onSchema(plain, 3, 2, 2),
			config:      configured(&withWorkMem, true),
			plan:        planned(&withWorkMem),
			wantSpec:    &apiv1.DatabaseSpec{Schema: "app", SchemaVersion: 3, Parameters: map[string]string{"work_mem": "64MB"}},
			wantVersion: types.Int64Value(3),
			wantApplied: types.Int64Unknown(),
			wantWave:    types.Int64Value(2),
		},
		{
			name:        "ClearingDriftPutsTheSameVersion",
			replies:     answer(3, 2),
			state:       &driftedV3,
			config:      configured(onV3, false),
			plan:        onV3,
			wantSpec:    &apiv1.DatabaseSpec{Schema: "app"},
			wantVersion: types.Int64Value(3),
			wantApplied: types.Int64Value(3),
			wantWave:    types.Int64Value(2),
		},
		{
			name:        "CreateReplica",
			replies:     answer(3, 1),
			config:      configured(&replica, false),
			plan:        planned(configured(&replica, false)),
			wantSpec:    &apiv1.DatabaseSpec{Schema: "app", ReplicaOf: "northeurope"},
			wantVersion: types.Int64Unknown(),
			wantApplied: types.Int64Unknown(),
			wantWave:    types.Int64Value(1),
		},
		{
			name:        "ChangeDriftPolicy",
			replies:     answer(0, 0),
			state:       plain,
			config:      configured(&reportOnly, false),
			plan:        planned(&reportOnly),
			wantSpec:    &apiv1.DatabaseSpec{DriftPolicy: apiv1.DriftPolicyReport},
			wantVersion: types.Int64Null(),
			wantApplied: types.Int64Null(),
			wantWave:    types.Int64Null(),
		},
		{
			name:        "UnknownSchemaSkipsPlan",
			config:      configured(&unknownSchema, false),
			plan:        planned(&unknownSchema),
			wantVersion: types.Int64Unknown(),
			wantApplied: types.Int64Unknown(),
			wantWave:    types.Int64Unknown(),
		},
		{
			name:        "NoSchema",
			replies:     answer(0, 0),
			config:      configured(plain, false),
			plan:        planned(configured(plain, false)),
			wantSpec:    &apiv1.DatabaseSpec{},
			wantVersion: types.Int64Null(),
			wantApplied: types.Int64Null(),
			wantWave:    types.Int64Null(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, errs, _, backend := planDatabase(t, tt.replies, tt.state, tt.config, tt.plan)

			require.Empty(t, errs)
			if tt.wantSpec == nil {
				require.Empty(t, backend.requests())
			} else {
				require.Equal(t, []string{planPath}, backend.requests())
				var spec apiv1.DatabaseSpec
				backend.body(t, planPath, &spec)
				protection := true
				tt.wantSpec.DeletionProtection = &protection
				if tt.wantSpec.DriftPolicy == "" {
					tt.wantSpec.DriftPolicy = apiv1.DriftPolicyHeal
				}
				if diff := cmp.Diff(*tt.wantSpec, spec); diff != "" {
					t.Fatalf("spec mismatch (-want +got):\n%s", diff)
				}
			}
			require.Equal(t, tt.wantVersion, got.SchemaVersion, "schema_version")
			require.Equal(t, tt.wantApplied, got.AppliedVersion, "applied_version")
			require.Equal(t, tt.wantWave, got.RolloutWave, "rollout_wave")
		})
	}
}

func TestModifyPlanRolloutErrors(t *testing.T) {
	t.Parallel()

	const planPath = "POST /v1/databases/westeurope/orders:plan"
	pinned := onSchema(database("westeurope", "orders", true), 3, 0, 0)
	latest := configured(pinned, false)
	onBilling := onSchema(database("westeurope", "orders", true), 3, 3, 1)
	onBilling.Schema = types.StringValue("billing")
	replica := configured(pinned, false)
	replica.ReplicaOf = types.StringValue("northeurope")
	halted := fakeReply{status: http.StatusConflict, body: apiv1.ErrorResponse{Error: apiv1.Error{
		Code: apiv1.CodeRolloutHalted,
		Message: "the rollout of schema app version 4 halted: check replica_consistent failed in region northeurope " +
			"(database orders): replica in eastus is inconsistent",
		Details: map[string]string{"field": "schema_version", "schema": "app", "version": "4", "region": "northeurope",
			"database": "orders", "check": apiv1.CheckReplicaConsistent},
	}}}
	// The messages and fields are dbfleetd's.
	tests := []struct {
		name       string
		reply      fakeReply
		state      *databaseResourceModel
		config     *databaseResourceModel
		wantError  string
		wantDetail []string
	}{
		{
			name: "RolloutHalted",
			reply: apiErrorReply(http.StatusConflict, apiv1.CodeRolloutHalted, "the rollout of schema app version 3 halted: "+
				"check migration failed in region westeurope (database orders): syntax error"),
			config:    configured(pinned, true),
			wantError: "schema_version: Rollout Halted",
			wantDetail: []string{
				`dbfleetd refuses to move database "orders" in region "westeurope" to version 3 of schema "app"`,
				"(rollout_halted): the rollout of schema app version 3 halted: check migration failed in region westeurope",
				"publish a newer version or resume the rollout (POST /v1/schemas/app/rollouts/3:resume)",
			},
		},
		{
			name:       "RolloutHaltedOnLatestVersion",
			reply:      apiErrorReply(http.StatusConflict, apiv1.CodeRolloutHalted, "the rollout of schema app version 4 halted"),
			config:     latest,
			wantError:  "schema_version: Rollout Halted",
			wantDetail: []string{"to the latest version of schema \"app\"", "(POST /v1/schemas/app/rollouts/<version>:resume)"},
		},
		{
			name:      "RolloutHaltedNamesVersionInDetails",
			reply:     halted,
			config:    latest,
			wantError: "schema_version: Rollout Halted",
			wantDetail: []string{
				"check replica_consistent failed in region northeurope",
				"check=replica_consistent; database=orders; field=schema_version; region=northeurope; schema=app; version=4",
				"(POST /v1/schemas/app/rollouts/4:resume)",
			},
		},
		{
			name: "DowngradeImpossible",
			reply: fieldErrorReply(http.StatusBadRequest, apiv1.CodeDowngradeImpossible, "schema_version",
				"orders in westeurope cannot go from version 4 down to 3: migration 4 of schema app has no down SQL"),
			config:     configured(pinned, true),
			wantError:  "schema_version: Downgrade Impossible",
			wantDetail: []string{"down to version 3", "migration 4 of schema app has no down SQL", "Add down SQL"},
		},
		{
			name: "UnknownRegion",
			reply: fieldErrorReply(http.StatusBadRequest, apiv1.CodeInvalidArgument, "region",
				"region westeurope is not configured; configured regions: [northeurope eastus]"),
			config:     latest,
			wantError:  "region: Invalid Region",
			wantDetail: []string{"dbfleet_regions data source"},
		},
		{
			name:       "UnknownVersion",
			reply:      fieldErrorReply(http.StatusBadRequest, apiv1.CodeInvalidArgument, "schema_version", "schema app has no version 3; its latest version is 2"),
			config:     configured(pinned, true),
			wantError:  "schema_version: Invalid Schema Version",
			wantDetail: []string{"schema app has no version 3"},
		},
		{
			name: "SchemaCannotChange",
			reply: fieldErrorReply(http.StatusBadRequest, apiv1.CodeInvalidArgument, "schema",
				"database orders in westeurope runs schema billing at version 3 and cannot change schema; create a new database instead"),
			state:      onBilling,
			config:     latest,
			wantError:  "schema: Schema Cannot Change",
			wantDetail: []string{"cannot change schema", "create a new database (under another name)"},
		},
		{
			name: "ReplicaOnAnotherSchema",
			reply: fieldErrorReply(http.StatusBadRequest, apiv1.CodeInvalidArgument, "schema",
				`a replica runs its source's schema: set schema = "billing" like orders in northeurope`),
			config:     replica,
			wantError:  "schema: Invalid Schema",
			wantDetail: []string{`set schema = "billing"`},
		},
		{
			name: "SourceIsAReplica",
			reply: fieldErrorReply(http.StatusBadRequest, apiv1.CodeInvalidArgument, "replica_of",
				"orders in northeurope is itself a replica (of eastus); replicate the source instead"),
			config:     replica,
			wantError:  "replica_of: Invalid Replica Source",
			wantDetail: []string{"is itself a replica", "must not be a replica itself"},
		},
		{
			name: "UnknownParameter",
			reply: fieldErrorReply(http.StatusBadRequest, apiv1.CodeInvalidArgument, "parameters",
				`parameter "fsync" is not allowed; allowed parameters: [lock_timeout work_mem]`),
			config:     latest,
			wantError:  "parameters: Invalid Database Parameter",
			wantDetail: []string{`parameter "fsync" is not allowed`},
		},
		{
			name: "InvalidDriftPolicy",
			reply: fieldErrorReply(http.StatusBadRequest, apiv1.CodeInvalidArgument, "drift_policy",
				`drift_policy "ignore" is not valid; use one of heal, report`),
			config:    latest,
			wantError: "drift_policy: Invalid Drift Policy",
		},
		{
			// Words in the message place nothing: only details do.
			name:       "UnplacedInvalidArgument",
			reply:      apiErrorReply(http.StatusBadRequest, apiv1.CodeInvalidArgument, "the region and schema_version are wrong"),
			config:     latest,
			wantError:  ": Invalid Database Configuration",
			wantDetail: []string{"the region and schema_version are wrong"},
		},
		{
			name: "RegionCannotHoldReplicas",
			reply: fieldErrorReply(http.StatusConflict, apiv1.CodeFailedPrecondition, "replica_of",
				"region eastus cannot hold replicas: missing superuser (on PostgreSQL 15 only a superuser may create a subscription)"),
			config:     replica,
			wantError:  "replica_of: Region Cannot Replicate",
			wantDetail: []string{"(failed_precondition): region eastus cannot hold replicas: missing superuser", "dbfleet_regions data source"},
		},
		{
			name: "RegionCannotCreateDatabases",
			reply: fieldErrorReply(http.StatusConflict, apiv1.CodeFailedPrecondition, "region",
				"region westeurope cannot create databases: missing CREATEDB"),
			config:     latest,
			wantError:  "region: Region Cannot Hold Databases",
			wantDetail: []string{"missing CREATEDB"},
		},
		{
			name: "NameTaken",
			reply: fieldErrorReply(http.StatusConflict, apiv1.CodeNameTaken, "name",
				"database orders already exists in region westeurope, owned by hr_owner, and was not created by dbfleet"),
			config:     latest,
			wantError:  "name: Name Taken",
			wantDetail: []string{"(name_taken): database orders already exists", "Choose another name"},
		},
		{
			name:       "ServerError",
			reply:      apiErrorReply(http.StatusInternalServerError, apiv1.CodeInternal, "boom"),
			config:     latest,
			wantError:  ": Unable to Plan Database",
			wantDetail: []string{`Could not plan database "orders" in region "westeurope"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			replies := map[string]fakeReply{
				planPath:                               tt.reply,
				"GET /v1/schemas/app":                  {status: http.StatusOK, body: apiv1.Schema{Name: "app", LatestVersion: 4}},
				"GET /v1/databases/northeurope/orders": {status: http.StatusOK, body: apiv1.Database{Region: "northeurope", Name: "orders"}},
			}
			_, errs, details, _ := planDatabase(t, replies, tt.state, tt.config, planned(tt.config))

			require.Equal(t, []string{tt.wantError}, errs)
			for _, want := range tt.wantDetail {
				require.Contains(t, details[0], want)
			}
		})
	}
}

func TestSetDatabase(t *testing.T) {
	t.Parallel()

	emptyParameters := types.MapValueMust(types.StringType, map[string]attr.Value{})
	tests := []struct {
		name           string
		db             apiv1.Database
		prior          types.Map
		wantParameters types.Map
		wantVersion    types.Int64
		wantApplied    types.Int64
		wantWave       types.Int64
	}{
		{
			name:           "WithoutSchema",
			db:             apiv1.Database{Region: "westeurope", Name: "orders"},
			prior:          types.MapNull(types.StringType),
			wantParameters: types.MapNull(types.StringType),
			wantVersion:    types.Int64Null(),
			wantApplied:    types.Int64Null(),
			wantWave:       types.Int64Null(),
		},
		{
			name: "OnSchema",
			db: apiv1.Database{Region: "westeurope", Name: "orders", Schema: "app", SchemaVersion: 3, AppliedVersion: 2, RolloutWave: 2,
				Parameters: map[string]string{"work_mem": "64MB"}},
			prior:          types.MapNull(types.StringType),
			wantParameters: types.MapValueMust(types.StringType, map[string]attr.Value{"work_mem": types.StringValue("64MB")}),
			wantVersion:    types.Int64Value(3),
			wantApplied:    types.Int64Value(2),
			wantWave:       types.Int64Value(2),
		},
		{
			name: "FailedUpgrade",
			db: apiv1.Database{Region: "westeurope", Name: "orders", Schema: "app", SchemaVersion: 3, AppliedVersion: 2, RolloutWave: 1,
				Status: apiv1.DatabaseStatusFailed},
			prior:          types.MapNull(types.StringType),
			wantParameters: types.MapNull(types.StringType),
			wantVersion:    types.Int64Value(2),
			wantApplied:    types.Int64Value(2),
			wantWave:       types.Int64Value(1),
		},
		{
			name: "RolledBack",
			db: apiv1.Database{Region: "northeurope", Name: "orders", Schema: "app", SchemaVersion: 3, AppliedVersion: 2, RolloutWave: 2,
				Status: apiv1.DatabaseStatusRolledBack},
			prior:          types.MapNull(types.StringType),
			wantParameters: types.MapNull(types.StringType),
			wantVersion:    types.Int64Value(2),
			wantApplied:    types.Int64Value(2),
			wantWave:       types.Int64Value(2),
		},
		{
			name: "UpgradeWaitingOnGate",
			db: apiv1.Database{Region: "northeurope", Name: "orders", Schema: "app", SchemaVersion: 3, AppliedVersion: 2, RolloutWave: 2,
				Status: apiv1.DatabaseStatusWaiting},
			prior:          types.MapNull(types.StringType),
			wantParameters: types.MapNull(types.StringType),
			wantVersion:    types.Int64Value(3),
			wantApplied:    types.Int64Value(2),
			wantWave:       types.Int64Value(2),
		},
		{
			name:           "KeepsEmptyParameters",
			db:             apiv1.Database{Region: "westeurope", Name: "orders"},
			prior:          emptyParameters,
			wantParameters: emptyParameters,
			wantVersion:    types.Int64Null(),
			wantApplied:    types.Int64Null(),
			wantWave:       types.Int64Null(),
		},
		{
			name:           "ParametersRemovedOutsideTerraform",
			db:             apiv1.Database{Region: "westeurope", Name: "orders"},
			prior:          types.MapValueMust(types.StringType, map[string]attr.Value{"work_mem": types.StringValue("64MB")}),
			wantParameters: types.MapNull(types.StringType),
			wantVersion:    types.Int64Null(),
			wantApplied:    types.Int64Null(),
			wantWave:       types.Int64Null(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := database("westeurope", "orders", true)
			m.Parameters = tt.prior

			require.False(t, m.setDatabase(context.Background(), &tt.db).HasError())

			require.Equal(t, tt.wantParameters, m.Parameters, "parameters")
			require.Equal(t, tt.wantVersion, m.SchemaVersion, "schema_version")
			require.Equal(t, tt.wantApplied, m.AppliedVersion, "applied_version")
			require.Equal(t, tt.wantWave, m.RolloutWave, "rollout_wave")
		})
	}
}

func TestDatabaseConfigValidation(t *testing.T) {
	t.Parallel()

	withParameters := func(params map[string]string) *databaseResourceModel {
		m := configured(database("westeurope", "orders", true), false)
		values := make(map[string]attr.Value, len(params))
		for k, v := range params {
			values[k] = types.StringValue(v)
		}
		m.Parameters = types.MapValueMust(types.StringType, values)
		return m
	}
	versionWithoutSchema := configured(database("westeurope", "orders", true), true)
	versionWithoutSchema.SchemaVersion = types.Int64Value(2)
	versionZero := configured(onSchema(database("westeurope", "orders", true), 0, 0, 0), true)
	replicaOf := func(region string) *databaseResourceModel {
		m := configured(onSchema(database("westeurope", "orders", true), 0, 0, 0), false)
		m.ReplicaOf = types.StringValue(region)
		return m
	}
	driftPolicy := func(policy string) *databaseResourceModel {
		m := configured(database("westeurope", "orders", true), false)
		m.DriftPolicy = types.StringValue(policy)
		return m
	}

	tests := []struct {
		name       string
		config     *databaseResourceModel
		wantErrors []string
		wantDetail string
	}{
		{name: "Valid", config: withParameters(map[string]string{"statement_timeout": "30s", "search_path": "app, public"})},
		{
			name:       "UnknownParameter",
			config:     withParameters(map[string]string{"fsync": "off"}),
			wantErrors: []string{`parameters["fsync"]: Invalid Database Parameter`},
			wantDetail: "allowed parameters: [default_transaction_isolation idle_in_transaction_session_timeout lock_timeout " +
				"maintenance_work_mem search_path statement_timeout timezone work_mem]",
		},
		{
			name:       "BadParameterValue",
			config:     withParameters(map[string]string{"work_mem": "lots"}),
			wantErrors: []string{`parameters["work_mem"]: Invalid Database Parameter`},
			wantDetail: `work_mem = "lots" is not valid`,
		},
		{
			name:       "VersionWithoutSchema",
			config:     versionWithoutSchema,
			wantErrors: []string{"schema_version: Invalid Attribute Combination"},
		},
		{
			name:       "VersionZero",
			config:     versionZero,
			wantErrors: []string{"schema_version: Invalid Attribute Value"},
		},
		{name: "Replica", config: replicaOf("northeurope")},
		{
			name:       "ReplicatesOwnRegion",
			config:     replicaOf("westeurope"),
			wantErrors: []string{"replica_of: Database Replicates Its Own Region"},
			wantDetail: `replica_of names region "westeurope", the database's own region`,
		},
		{
			name:       "ReplicaOfNotARegionName",
			config:     replicaOf("North Europe"),
			wantErrors: []string{"replica_of: Invalid Attribute Value Match"},
			wantDetail: identifierRule,
		},
		{name: "ReportDrift", config: driftPolicy(apiv1.DriftPolicyReport)},
		{
			name:       "UnknownDriftPolicy",
			config:     driftPolicy("ignore"),
			wantErrors: []string{"drift_policy: Invalid Attribute Value Match"},
			wantDetail: `value must be one of: ["heal" "report"]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := databaseSchema(t)

			errs, details := validateConfig(t, "dbfleet_database", databaseState(t, s, tt.config).Raw)

			if diff := cmp.Diff(tt.wantErrors, errs); diff != "" {
				t.Fatalf("errors mismatch (-want +got):\n%s", diff)
			}
			if tt.wantDetail != "" {
				require.Contains(t, details[0], tt.wantDetail)
			}
		})
	}
}

func TestFailureDetails(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		detail string
		want   string
	}{
		{
			name: "OperationFailed",
			detail: operationFailureDetail("create", "westeurope", "orders", &apiv1.Operation{
				ID:    "op-1",
				State: apiv1.OperationFailed,
				Error: &apiv1.OperationError{Code: apiv1.CodeStepFailed, Message: "role orders_owner exists", Region: "westeurope", Step: "create_role"},
			}),
			want: `dbfleet could not create database "orders" in region "westeurope": operation op-1 ended failed.

Error code: step_failed
Message: role orders_owner exists
Region: westeurope
Step: create_role`,
		},
		{
			name: "RolloutHalted",
			detail: operationFailureDetail("update", "northeurope", "orders", &apiv1.Operation{
				ID:    "op-3",
				State: apiv1.OperationFailed,
				Error: &apiv1.OperationError{Code: apiv1.CodeRolloutHalted, Message: "the rollout of app version 3 halted in westeurope: migration failed", Region: "westeurope"},
			}),
			want: `dbfleet could not update database "orders" in region "northeurope": operation op-3 ended failed.

Error code: rollout_halted
Message: the rollout of app version 3 halted in westeurope: migration failed
Region: westeurope

The rollout of the schema version halted. To go on, publish a newer version of the schema, or fix the cause and resume the rollout (POST /v1/schemas/<schema>/rollouts/<version>:resume); then run terraform apply again.`,
		},
		{
			name: "WaitTimedOut",
			detail: waitFailureDetail("update", "westeurope", "orders", "op-2",
				&apiv1.Operation{ID: "op-2", State: apiv1.OperationPending, Progress: "waiting for wave 1"},
				fmt.Errorf("waiting for operation op-2: %w", context.DeadlineExceeded)),
			want: `Timed out waiting for operation op-2 to update database "orders" in region "westeurope". It was pending (waiting for wave 1).

The operation goes on in dbfleetd. If it needs longer, raise the update value in the resource's timeouts block.`,
		},
		{
			name: "OperationInProgress",
			detail: requestFailureDetail("update", "westeurope", "orders", &client.APIError{
				Status: 409, Code: apiv1.CodeOperationInProgress, Message: "busy", Details: map[string]string{"operation_id": "op-0"},
			}),
			want: `Could not update database "orders" in region "westeurope": dbfleet API answered 409 Conflict (operation_in_progress): busy; operation_id=op-0

Operation op-0 is already changing this database. Wait until it is done, then run Terraform again.`,
		},
		{
			name:   "NoAnswer",
			detail: requestFailureDetail("delete", "westeurope", "orders", errors.New("giving up after 6 attempt(s): connection refused")),
			want: `Could not delete database "orders" in region "westeurope": giving up after 6 attempt(s): connection refused

dbfleetd gave no answer. Check that the provider's endpoint is reachable, then run Terraform again: the request is safe to repeat.`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, tt.detail); diff != "" {
				t.Fatalf("detail mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQuotedList(t *testing.T) {
	t.Parallel()
	require.Equal(t, "`a`", quotedList([]string{"a"}))
	require.Equal(t, "`a`, `b` or `c`", quotedList([]string{"a", "b", "c"}))
}

func TestWaitForOperationLogsProgress(t *testing.T) {
	t.Parallel()
	const gate = "waiting: wave 2 of 2 starts after westeurope/orders has run version 3 for 30s (12s left)"
	var polls atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := apiv1.Operation{ID: "op-1", State: apiv1.OperationPending, Progress: gate}
		if polls.Add(1) > 1 {
			op = apiv1.Operation{ID: "op-1", State: apiv1.OperationSucceeded, Done: true}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(op)
	}))
	t.Cleanup(server.Close)
	c, err := client.New(client.Config{Endpoint: server.URL, Token: "t0ken"})
	require.NoError(t, err)
	var logs bytes.Buffer
	ctx := tflogtest.RootLogger(context.Background(), &logs)

	err = (&databaseResource{client: c}).waitForOperation(ctx, &apiv1.Operation{ID: "op-1", State: apiv1.OperationPending},
		"update", "northeurope", "orders")

	require.NoError(t, err)
	entries, err := tflogtest.MultilineJSONDecode(&logs)
	require.NoError(t, err)
	var progressed []map[string]any
	for _, e := range entries {
		if e["@message"] == "dbfleet operation progressed" {
			progressed = append(progressed, e)
		}
	}
	require.Len(t, progressed, 1)
	require.Equal(t, "info", progressed[0]["@level"])
	require.Equal(t, "op-1", progressed[0]["operation_id"])
	require.Equal(t, apiv1.OperationPending, progressed[0]["state"])
	require.Equal(t, gate, progressed[0]["progress"])
}

func TestModifyPlanSchemaNotPublishedYet(t *testing.T) {
	t.Parallel()
	const planPath = "POST /v1/databases/westeurope/orders:plan"
	backend, c := newFakeBackend(t, map[string]fakeReply{
		planPath: fieldErrorReply(http.StatusBadRequest, apiv1.CodeInvalidArgument, "schema",
			"schema app does not exist; create it (dbfleet_schema) before the databases that run it"),
	})
	s := databaseSchema(t)
	config := configured(onSchema(database("westeurope", "orders", true), 0, 0, 0), false)
	req := resource.ModifyPlanRequest{
		State:  databaseState(t, s, nil),
		Config: tfsdk.Config(databaseState(t, s, config)),
		Plan:   tfsdk.Plan(databaseState(t, s, planned(config))),
	}
	resp := resource.ModifyPlanResponse{Plan: req.Plan}

	(&databaseResource{client: c}).ModifyPlan(context.Background(), req, &resp)

	require.Equal(t, []string{planPath, "GET /v1/schemas/app"}, backend.requests())
	require.False(t, resp.Diagnostics.HasError(), "%v", resp.Diagnostics)
	warnings := resp.Diagnostics.Warnings()
	require.Len(t, warnings, 1)
	require.Equal(t, "Schema Not Published Yet", warnings[0].Summary())
	require.Contains(t, warnings[0].Detail(), "schema app does not exist")
	var got databaseResourceModel
	require.False(t, resp.Plan.Get(context.Background(), &got).HasError())
	require.True(t, got.SchemaVersion.IsUnknown(), "schema_version")
	require.True(t, got.RolloutWave.IsUnknown(), "rollout_wave")
	require.True(t, got.AppliedVersion.IsUnknown(), "applied_version")
}

func TestModifyPlanSourceNotCreatedYet(t *testing.T) {
	t.Parallel()
	const planPath = "POST /v1/databases/eastus/orders:plan"
	refused := fieldErrorReply(http.StatusBadRequest, apiv1.CodeInvalidArgument, "replica_of",
		"the source database orders does not exist in region westeurope; create it before its replicas")
	replica := onSchema(database("eastus", "orders", true), 0, 0, 0)
	replica.ReplicaOf = types.StringValue("westeurope")
	config := configured(replica, false)

	t.Run("WarnsWhileTheSourceIsMissing", func(t *testing.T) {
		t.Parallel()
		backend, c := newFakeBackend(t, map[string]fakeReply{planPath: refused})
		s := databaseSchema(t)
		req := resource.ModifyPlanRequest{
			State:  databaseState(t, s, nil),
			Config: tfsdk.Config(databaseState(t, s, config)),
			Plan:   tfsdk.Plan(databaseState(t, s, planned(config))),
		}
		resp := resource.ModifyPlanResponse{Plan: req.Plan}

		(&databaseResource{client: c}).ModifyPlan(context.Background(), req, &resp)

		require.Equal(t, []string{planPath, "GET /v1/databases/westeurope/orders"}, backend.requests())
		require.False(t, resp.Diagnostics.HasError(), "%v", resp.Diagnostics)
		warnings := resp.Diagnostics.Warnings()
		require.Len(t, warnings, 1)
		require.Equal(t, "Source Database Not Created Yet", warnings[0].Summary())
		require.Contains(t, warnings[0].Detail(), `creates the source, database "orders" in region "westeurope"`)
		var got databaseResourceModel
		require.False(t, resp.Plan.Get(context.Background(), &got).HasError())
		require.True(t, got.SchemaVersion.IsUnknown(), "schema_version")
		require.True(t, got.RolloutWave.IsUnknown(), "rollout_wave")
	})
	t.Run("FailsWhenTheSourceExists", func(t *testing.T) {
		t.Parallel()
		_, errs, details, _ := planDatabase(t, map[string]fakeReply{
			planPath:                              refused,
			"GET /v1/databases/westeurope/orders": {status: http.StatusOK, body: apiv1.Database{Region: "westeurope", Name: "orders"}},
		}, nil, config, planned(config))

		require.Equal(t, []string{"replica_of: Invalid Replica Source"}, errs)
		require.Contains(t, details[0], "create it before its replicas")
	})
}

func TestAddPutError(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		err        error
		wantError  string
		wantDetail string
	}{
		{
			name: "SourceMissing",
			err: &client.APIError{Status: http.StatusBadRequest, Code: apiv1.CodeInvalidArgument,
				Message: "the source database orders does not exist in region westeurope; create it before its replicas",
				Details: map[string]string{detailField: "replica_of"}},
			wantError:  "replica_of: Invalid Replica Source",
			wantDetail: `Could not create database "orders" in region "eastus": dbfleet API answered 400 Bad Request (invalid_argument): the source database orders does not exist`,
		},
		{
			name:       "InvalidWithoutField",
			err:        &client.APIError{Status: http.StatusBadRequest, Code: apiv1.CodeInvalidArgument, Message: "request body is not valid"},
			wantError:  ": Unable to Create Database",
			wantDetail: "request body is not valid",
		},
		{
			name:       "Conflict",
			err:        &client.APIError{Status: http.StatusConflict, Code: apiv1.CodeConflict, Message: "busy"},
			wantError:  ": Unable to Create Database",
			wantDetail: "busy",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var diags diag.Diagnostics

			addPutError(&diags, "Unable to Create Database", "create", "eastus", "orders", tt.err)

			require.Equal(t, []string{tt.wantError}, errorsAt(diags))
			require.Contains(t, diags.Errors()[0].Detail(), tt.wantDetail)
		})
	}
}
