package provider

import (
	"context"
	"net/http"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

func databaseDataSourceSchema(t *testing.T) schema.Schema {
	t.Helper()
	var resp datasource.SchemaResponse
	newDatabaseDataSource().Schema(context.Background(), datasource.SchemaRequest{}, &resp)
	require.False(t, resp.Diagnostics.HasError())
	return resp.Schema
}

// readDatabaseDataSource reads the data source dbfleet_database for
// region/name from a fake backend with replies, and returns the state and
// the errors as "path: summary".
func readDatabaseDataSource(t *testing.T, replies map[string]fakeReply, region, name string) (databaseDataSourceModel, []string) {
	t.Helper()
	ctx := context.Background()
	_, c := newFakeBackend(t, replies)
	s := databaseDataSourceSchema(t)
	typ := s.Type().TerraformType(ctx).(tftypes.Object)
	attrs := make(map[string]tftypes.Value, len(typ.AttributeTypes))
	for n, at := range typ.AttributeTypes {
		attrs[n] = tftypes.NewValue(at, nil)
	}
	attrs["region"] = tftypes.NewValue(tftypes.String, region)
	attrs["name"] = tftypes.NewValue(tftypes.String, name)
	req := datasource.ReadRequest{Config: tfsdk.Config{Schema: s, Raw: tftypes.NewValue(typ, attrs)}}
	resp := datasource.ReadResponse{State: tfsdk.State{Schema: s, Raw: tftypes.NewValue(typ, nil)}}

	(&databaseDataSource{client: c}).Read(ctx, req, &resp)

	var got databaseDataSourceModel
	if !resp.Diagnostics.HasError() {
		require.False(t, resp.State.Get(ctx, &got).HasError())
	}
	return got, errorsAt(resp.Diagnostics)
}

func TestDatabaseDataSourceRead(t *testing.T) {
	t.Parallel()

	t.Run("Replica", func(t *testing.T) {
		t.Parallel()
		db := replicaDB()
		db.Parameters = map[string]string{"work_mem": "64MB"}
		db.OperationID = "op-7"

		got, errs := readDatabaseDataSource(t, map[string]fakeReply{
			"GET /v1/databases/eastus/orders": {status: http.StatusOK, body: db},
		}, "eastus", "orders")

		require.Empty(t, errs)
		want := databaseDataSourceModel{
			ID: types.StringValue("eastus/orders"), Region: types.StringValue("eastus"), Name: types.StringValue("orders"),
			DeletionProtection: types.BoolValue(false), SkipFinalBackup: types.BoolValue(false),
			Schema: types.StringValue("app"), SchemaVersion: types.Int64Value(2),
			Parameters:     types.MapValueMust(types.StringType, map[string]attr.Value{"work_mem": types.StringValue("64MB")}),
			ReplicaOf:      types.StringValue("westeurope"),
			DriftPolicy:    types.StringValue(apiv1.DriftPolicyHeal),
			AppliedVersion: types.Int64Value(2), RolloutWave: types.Int64Value(1),
			Status: types.StringValue(apiv1.DatabaseStatusReady), Host: types.StringValue("127.0.0.1"),
			Port: types.Int64Value(5433), Owner: types.StringValue("orders_owner"), Password: types.StringValue("pw"),
			Generation: types.Int64Value(1), ObservedGeneration: types.Int64Value(1), OperationID: types.StringValue("op-7"),
			Replication: replicationValue(db.Replication),
			Consistency: consistencyValue(db.Consistency),
			Conditions:  conditionsValue(db.Conditions),
		}
		require.Equal(t, want, got)
	})
	t.Run("WithoutSchemaOrReplication", func(t *testing.T) {
		t.Parallel()

		got, errs := readDatabaseDataSource(t, map[string]fakeReply{
			"GET /v1/databases/westeurope/orders": {status: http.StatusOK, body: apiv1.Database{
				Region: "westeurope", Name: "orders", Status: apiv1.DatabaseStatusReady, DriftPolicy: apiv1.DriftPolicyReport,
			}},
		}, "westeurope", "orders")

		require.Empty(t, errs)
		require.True(t, got.Schema.IsNull(), "schema")
		require.True(t, got.SchemaVersion.IsNull(), "schema_version")
		require.True(t, got.AppliedVersion.IsNull(), "applied_version")
		require.True(t, got.RolloutWave.IsNull(), "rollout_wave")
		require.True(t, got.Parameters.IsNull(), "parameters")
		require.True(t, got.ReplicaOf.IsNull(), "replica_of")
		require.True(t, got.Replication.IsNull(), "replication")
		require.True(t, got.Consistency.IsNull(), "consistency")
		require.True(t, got.OperationID.IsNull(), "operation_id")
		require.Equal(t, types.StringValue(apiv1.DriftPolicyReport), got.DriftPolicy)
		require.Empty(t, got.Conditions.Elements())
	})
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()

		_, errs := readDatabaseDataSource(t, nil, "westeurope", "orders")

		require.Equal(t, []string{"name: Database Not Found"}, errs)
	})
	t.Run("Unavailable", func(t *testing.T) {
		t.Parallel()

		_, errs := readDatabaseDataSource(t, map[string]fakeReply{
			"GET /v1/databases/westeurope/orders": apiErrorReply(http.StatusForbidden, apiv1.CodePermissionDenied, "no"),
		}, "westeurope", "orders")

		require.Equal(t, []string{": Unable to Read Database"}, errs)
	})
}

func TestDatabaseDataSourcePasswordIsSensitive(t *testing.T) {
	t.Parallel()
	s := databaseDataSourceSchema(t)
	require.True(t, s.Attributes["password"].IsSensitive())
	for name, a := range s.Attributes {
		if name != "region" && name != "name" {
			require.True(t, a.IsComputed(), "%s is computed", name)
		}
	}
}
