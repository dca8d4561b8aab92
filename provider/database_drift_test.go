package provider

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// drifted returns a database of generation 2 whose Drifted condition, for
// generation observed, says reason.
func drifted(reason string, observed int64) apiv1.Database {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	return apiv1.Database{
		Region: "westeurope", Name: "orders", Status: apiv1.DatabaseStatusReady, DeletionProtection: true,
		Host: "127.0.0.1", Port: 5432, Owner: "orders_owner", Password: "pw",
		DriftPolicy: apiv1.DriftPolicyHeal, Generation: 2, ObservedGeneration: 2,
		Conditions: []apiv1.Condition{
			{Type: apiv1.ConditionReady, Status: apiv1.ConditionFalse, Reason: apiv1.ReasonDatabaseMissing,
				Message: "database orders does not exist in westeurope", ObservedGeneration: observed, LastTransitionTime: at},
			{Type: apiv1.ConditionDrifted, Status: apiv1.ConditionTrue, Reason: reason,
				Message: "database orders is gone from westeurope", ObservedGeneration: observed, LastTransitionTime: at},
		},
	}
}

func TestReportedDrift(t *testing.T) {
	t.Parallel()

	inSync := drifted(apiv1.ReasonInSync, 2)
	inSync.Conditions[1].Status = apiv1.ConditionFalse
	noGeneration := drifted(apiv1.ReasonParametersDrifted, 0)
	tests := []struct {
		name string
		db   apiv1.Database
		want types.String
	}{
		{name: "NotCheckedYet", db: apiv1.Database{Generation: 1}, want: types.StringNull()},
		{name: "InSync", db: inSync, want: types.StringNull()},
		{name: "Drifted", db: drifted(apiv1.ReasonDatabaseMissing, 2), want: types.StringValue(apiv1.ReasonDatabaseMissing)},
		{name: "DriftedForAnEarlierGeneration", db: drifted(apiv1.ReasonParametersDrifted, 1), want: types.StringNull()},
		{name: "DriftedWithoutGeneration", db: noGeneration, want: types.StringValue(apiv1.ReasonParametersDrifted)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, driftValue(&tt.db))
		})
	}
}

func TestDriftWarning(t *testing.T) {
	t.Parallel()

	replica := drifted(apiv1.ReasonDatabaseMissing, 2)
	replica.Region, replica.ReplicaOf = "eastus", "westeurope"
	report := drifted(apiv1.ReasonParametersDrifted, 2)
	report.DriftPolicy = apiv1.DriftPolicyReport
	appliedSince := drifted(apiv1.ReasonParametersDrifted, 2)
	appliedSince.DriftPolicy = apiv1.DriftPolicyReport
	appliedSince.UpdatedAt = appliedSince.Conditions[1].LastTransitionTime.Add(time.Minute)
	tests := []struct {
		name string
		db   apiv1.Database
		want []string
	}{
		{
			name: "SourceMissing",
			db:   drifted(apiv1.ReasonDatabaseMissing, 2),
			want: []string{`database "orders" in region "westeurope" differs from its configuration (DatabaseMissing): ` +
				"database orders is gone from westeurope", "never recreates a dropped database by itself", "Applying creates it again, empty"},
		},
		{
			name: "ReplicaMissing",
			db:   replica,
			want: []string{"(DatabaseMissing)", `copies its source's rows from region "westeurope" anew`},
		},
		{
			name: "ReportOnly",
			db:   report,
			want: []string{"(ParametersDrifted)", `drift_policy is "report"`, `set drift_policy = "heal"`},
		},
		{
			name: "FoundBeforeTheLastOperation",
			db:   appliedSince,
			want: []string{"(ParametersDrifted)", "The reconciler found this at 2026-05-01T12:00:00Z, before the " +
				"database's last operation ended, at 2026-05-01T12:01:00Z. If that operation (an apply, say) repaired it"},
		},
		{
			name: "NotHealed",
			db:   drifted(apiv1.ReasonLedgerUnverifiable, 2),
			want: []string{"(LedgerUnverifiable)", "could not repair this by itself"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var diags diag.Diagnostics

			addDriftWarning(&diags, &tt.db)

			require.False(t, diags.HasError())
			warnings := diags.Warnings()
			require.Len(t, warnings, 1)
			require.Equal(t, "Database Drifted", warnings[0].Summary())
			for _, want := range tt.want {
				require.Contains(t, warnings[0].Detail(), want)
			}
			if tt.db.UpdatedAt.IsZero() {
				require.NotContains(t, warnings[0].Detail(), "last operation")
			}
		})
	}
}

// TestDriftShowsInPlan drives the provider over the plugin protocol as
// Terraform does for `terraform plan` and `terraform apply` on a database
// whose Drifted condition is True: the refresh sets drift and warns, the
// plan changes drift to null and leaves what dbfleet observes (status,
// conditions) to the apply, and the apply puts the same settings again and
// ends with the planned null, although dbfleetd still reports the drift
// until its reconciler checks again.
func TestDriftShowsInPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const dbPath = "/v1/databases/westeurope/orders"
	stillDrifted := drifted(apiv1.ReasonDatabaseMissing, 2)
	backend, _ := newFakeBackend(t, map[string]fakeReply{
		"GET " + dbPath: {status: http.StatusOK, body: stillDrifted},
		"PUT " + dbPath: {status: http.StatusAccepted, body: apiv1.Operation{ID: "op-1", Kind: apiv1.OperationKindApplyDatabase,
			State: apiv1.OperationSucceeded, Done: true}},
		"POST " + dbPath + ":plan": {status: http.StatusOK, body: apiv1.DatabasePlan{Actions: []string{}}},
	})
	server := configuredServer(t, backend.url)
	s := databaseSchema(t)
	typ := s.Type().TerraformType(ctx)

	// The state after the last apply: in sync.
	prior := database("westeurope", "orders", true)
	before := databaseState(t, s, prior)
	read, err := server.ReadResource(ctx, &tfprotov6.ReadResourceRequest{TypeName: "dbfleet_database", CurrentState: dynamicValue(t, before.Raw)})
	require.NoError(t, err)

	require.Len(t, read.Diagnostics, 1)
	warning := read.Diagnostics[0]
	require.Equal(t, tfprotov6.DiagnosticSeverityWarning, warning.Severity)
	require.Equal(t, "Database Drifted", warning.Summary)
	require.Equal(t, "drift", renderAttributePath(warning.Attribute))
	refreshed := valueOf(t, read.NewState, typ)
	require.Equal(t, types.StringValue(apiv1.ReasonDatabaseMissing), driftIn(t, s, refreshed))

	config := configured(prior, false)
	plan, err := server.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
		TypeName:         "dbfleet_database",
		PriorState:       read.NewState,
		ProposedNewState: read.NewState,
		Config:           dynamicValue(t, databaseState(t, s, config).Raw),
	})
	require.NoError(t, err)

	require.Empty(t, plan.Diagnostics)
	require.Empty(t, plan.RequiresReplace)
	planned := valueOf(t, plan.PlannedState, typ)
	diffs, err := refreshed.Diff(planned)
	require.NoError(t, err)
	var changed []string
	for _, d := range diffs {
		if len(d.Path.Steps()) == 1 {
			changed = append(changed, d.Path.String())
		}
	}
	slices.Sort(changed)
	require.Equal(t, []string{`AttributeName("conditions")`, `AttributeName("drift")`, `AttributeName("status")`}, changed,
		"drift changes, and what dbfleet observes is left to the apply")
	for _, name := range []string{"conditions", "status"} {
		v, _, err := tftypes.WalkAttributePath(planned, tftypes.NewAttributePath().WithAttributeName(name))
		require.NoError(t, err)
		require.False(t, v.(tftypes.Value).IsKnown(), "%s is unknown", name)
	}
	require.Equal(t, types.StringNull(), driftIn(t, s, planned))

	applied, err := server.ApplyResourceChange(ctx, &tfprotov6.ApplyResourceChangeRequest{
		TypeName:     "dbfleet_database",
		PriorState:   read.NewState,
		PlannedState: plan.PlannedState,
		Config:       dynamicValue(t, databaseState(t, s, config).Raw),
	})
	require.NoError(t, err)

	require.Empty(t, applied.Diagnostics)
	after := valueOf(t, applied.NewState, typ)
	require.Equal(t, types.StringNull(), driftIn(t, s, after), "the apply keeps the planned drift")
	require.Contains(t, backend.requests(), "PUT "+dbPath)
	var spec apiv1.DatabaseSpec
	backend.body(t, "PUT "+dbPath, &spec)
	protection := true
	if diff := cmp.Diff(apiv1.DatabaseSpec{DeletionProtection: &protection, DriftPolicy: apiv1.DriftPolicyHeal}, spec); diff != "" {
		t.Fatalf("the apply puts the same settings again (-want +got):\n%s", diff)
	}
}

// configuredServer is the provider over the plugin protocol, configured
// for the dbfleetd at endpoint.
func configuredServer(t *testing.T, endpoint string) tfprotov6.ProviderServer {
	t.Helper()
	ctx := context.Background()
	server, err := providerserver.NewProtocol6WithError(New("test")())()
	require.NoError(t, err)
	var schemaResp provider.SchemaResponse
	New("test")().Schema(ctx, provider.SchemaRequest{}, &schemaResp)
	typ, ok := schemaResp.Schema.Type().TerraformType(ctx).(tftypes.Object)
	require.True(t, ok)
	attrs := make(map[string]tftypes.Value, len(typ.AttributeTypes))
	for name, at := range typ.AttributeTypes {
		attrs[name] = tftypes.NewValue(at, nil)
	}
	attrs["endpoint"] = tftypes.NewValue(tftypes.String, endpoint)
	attrs["token"] = tftypes.NewValue(tftypes.String, "t0ken")
	attrs["max_retries"] = tftypes.NewValue(tftypes.Number, 0)
	resp, err := server.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{
		TerraformVersion: "1.5.7",
		Config:           dynamicValue(t, tftypes.NewValue(typ, attrs)),
	})
	require.NoError(t, err)
	for _, d := range resp.Diagnostics {
		t.Fatalf("configuring the provider: %s: %s", d.Summary, d.Detail)
	}
	return server
}

func dynamicValue(t *testing.T, v tftypes.Value) *tfprotov6.DynamicValue {
	t.Helper()
	dv, err := tfprotov6.NewDynamicValue(v.Type(), v)
	require.NoError(t, err)
	return &dv
}

func valueOf(t *testing.T, dv *tfprotov6.DynamicValue, typ tftypes.Type) tftypes.Value {
	t.Helper()
	require.NotNil(t, dv)
	v, err := dv.Unmarshal(typ)
	require.NoError(t, err)
	return v
}

// driftIn reads drift from v, a dbfleet_database of schema s.
func driftIn(t *testing.T, s schema.Schema, v tftypes.Value) types.String {
	t.Helper()
	var drift types.String
	require.False(t, tfsdk.State{Schema: s, Raw: v}.GetAttribute(context.Background(), path.Root("drift"), &drift).HasError())
	return drift
}
