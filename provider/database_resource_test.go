package provider

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
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
		Status:             types.StringValue(apiv1.DatabaseStatusReady),
		Host:               types.StringValue("127.0.0.1"),
		Port:               types.Int64Value(5432),
		Owner:              types.StringValue(name + "_owner"),
		Password:           types.StringValue("pw"),
		Timeouts: timeouts.Value{Object: types.ObjectNull(map[string]attr.Type{
			"create": types.StringType,
			"update": types.StringType,
			"delete": types.StringType,
		})},
	}
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
			s := databaseSchema(t)
			plan := databaseState(t, s, tt.plan)
			req := resource.ModifyPlanRequest{
				State: databaseState(t, s, tt.state),
				Plan:  tfsdk.Plan(plan),
			}
			resp := resource.ModifyPlanResponse{Plan: req.Plan}

			newDatabaseResource().(resource.ResourceWithModifyPlan).ModifyPlan(context.Background(), req, &resp)

			if diff := cmp.Diff(tt.wantErrors, errorsAt(resp.Diagnostics)); diff != "" {
				t.Fatalf("errors mismatch (-want +got):\n%s", diff)
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
