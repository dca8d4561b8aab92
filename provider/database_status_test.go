package provider

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

var (
	observedAt = time.Date(2026, 5, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*60*60))
	checkedAt  = time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
)

// replicaDB is a replica in eastus of orders in westeurope, with a
// consistency check that found public.items inconsistent.
func replicaDB() *apiv1.Database {
	return &apiv1.Database{
		Region: "eastus", Name: "orders", ReplicaOf: "westeurope", Schema: "app", SchemaVersion: 2, AppliedVersion: 2,
		RolloutWave: 1, Status: apiv1.DatabaseStatusReady, Host: "127.0.0.1", Port: 5433, Owner: "orders_owner",
		Password: "pw", Generation: 1, ObservedGeneration: 1,
		Replication: &apiv1.ReplicationStatus{
			State: "streaming", Tables: map[string]string{"public.items": "ready", "public.notes": "copying"},
			LagBytes: 128, LagSeconds: 0.25, ObservedAt: observedAt,
		},
		Consistency: &apiv1.ConsistencyCheck{CheckedAt: checkedAt, Result: "inconsistent", Tables: []apiv1.TableCheck{
			{Table: "public.items", SourceRows: 25000, ReplicaRows: 25000,
				DifferingRanges: []apiv1.KeyRange{{From: "10001", To: "20001"}, {From: "20001"}}},
			{Table: "public.notes", Consistent: true, SourceRows: 3, ReplicaRows: 3},
		}},
		Conditions: []apiv1.Condition{{Type: apiv1.ConditionReady, Status: apiv1.ConditionTrue, Reason: apiv1.ReasonReconciled,
			Message: "the database exists", ObservedGeneration: 1, LastTransitionTime: checkedAt}},
	}
}

func TestReplicationValue(t *testing.T) {
	t.Parallel()

	require.True(t, replicationValue(nil).IsNull())

	got := replicationValue(replicaDB().Replication)

	want := types.ObjectValueMust(replicationField.objectAttrTypes(), map[string]attr.Value{
		"state":       types.StringValue("streaming"),
		"lag_bytes":   types.Int64Value(128),
		"lag_seconds": types.Float64Value(0.25),
		"tables": types.MapValueMust(types.StringType, map[string]attr.Value{
			"public.items": types.StringValue("ready"),
			"public.notes": types.StringValue("copying"),
		}),
		"error":       types.StringNull(),
		"observed_at": types.StringValue("2026-05-01T10:00:00Z"),
	})
	require.Equal(t, want, got)
}

func TestConsistencyValue(t *testing.T) {
	t.Parallel()

	require.True(t, consistencyValue(nil).IsNull())

	got := consistencyValue(replicaDB().Consistency)

	keyRange := func(from, to types.String) attr.Value {
		return types.ObjectValueMust(keyRangeField.objectAttrTypes(), map[string]attr.Value{"from": from, "to": to})
	}
	table := func(name string, consistent bool, rows int64, ranges ...attr.Value) attr.Value {
		return types.ObjectValueMust(tableCheckField.objectAttrTypes(), map[string]attr.Value{
			"name": types.StringValue(name), "consistent": types.BoolValue(consistent),
			"source_rows": types.Int64Value(rows), "replica_rows": types.Int64Value(rows),
			"differing_ranges": types.ListValueMust(keyRangeField.elemType(), ranges),
			"error":            types.StringNull(),
		})
	}
	want := types.ObjectValueMust(consistencyField.objectAttrTypes(), map[string]attr.Value{
		"checked_at": types.StringValue("2026-05-01T09:30:00Z"),
		"result":     types.StringValue("inconsistent"),
		"error":      types.StringNull(),
		"tables": types.ListValueMust(tableCheckField.elemType(), []attr.Value{
			table("public.items", false, 25000,
				keyRange(types.StringValue("10001"), types.StringValue("20001")),
				keyRange(types.StringValue("20001"), types.StringNull())),
			table("public.notes", true, 3),
		}),
	})
	require.True(t, want.Equal(got), "got %s,\nwant %s", got, want)
}

func TestConditionsValue(t *testing.T) {
	t.Parallel()

	require.Equal(t, types.ListValueMust(conditionsField.elemType(), []attr.Value{}), conditionsValue(nil))

	got := conditionsValue(replicaDB().Conditions)

	want := types.ListValueMust(conditionsField.elemType(), []attr.Value{
		types.ObjectValueMust(conditionsField.objectAttrTypes(), map[string]attr.Value{
			"type":                 types.StringValue(apiv1.ConditionReady),
			"status":               types.StringValue(apiv1.ConditionTrue),
			"reason":               types.StringValue(apiv1.ReasonReconciled),
			"message":              types.StringValue("the database exists"),
			"observed_generation":  types.Int64Value(1),
			"last_transition_time": types.StringValue("2026-05-01T09:30:00Z"),
		}),
	})
	require.Equal(t, want, got)
}

// TestObservedAttributesMatchTheirTypes holds the schemas of the resource
// and of the data source to the types the values are built with.
func TestObservedAttributesMatchTheirTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dataSource := databaseDataSourceSchema(t)

	for _, f := range []observedField{replicationField, consistencyField, conditionsField} {
		require.Equal(t, f.attrType(), databaseSchema(t).Attributes[f.name].GetType(), "resource %s", f.name)
		require.Equal(t, f.attrType(), dataSource.Attributes[f.name].GetType(), "data source %s", f.name)
		require.Equal(t, f.attrType().TerraformType(ctx), databaseSchema(t).Attributes[f.name].GetType().TerraformType(ctx))
	}
}

func TestSetDatabaseReplica(t *testing.T) {
	t.Parallel()
	m := database("eastus", "orders", true)

	require.False(t, m.setDatabase(context.Background(), replicaDB()).HasError())

	require.Equal(t, types.StringValue("westeurope"), m.ReplicaOf)
	require.Equal(t, types.StringValue(apiv1.DriftPolicyHeal), m.DriftPolicy, "an empty drift policy is the default")
	require.Equal(t, replicationValue(replicaDB().Replication), m.Replication)
	require.Equal(t, consistencyValue(replicaDB().Consistency), m.Consistency)
	require.Equal(t, conditionsValue(replicaDB().Conditions), m.Conditions)

	// The same database once it is no longer a replica reports neither.
	source := replicaDB()
	source.ReplicaOf, source.DriftPolicy = "", apiv1.DriftPolicyReport
	require.False(t, m.setDatabase(context.Background(), source).HasError())

	require.Equal(t, types.StringNull(), m.ReplicaOf)
	require.Equal(t, types.StringValue(apiv1.DriftPolicyReport), m.DriftPolicy)
	require.True(t, m.Replication.IsNull(), "replication")
	require.True(t, m.Consistency.IsNull(), "consistency")
}

func TestDriftPolicyDescription(t *testing.T) {
	t.Parallel()
	require.Len(t, driftPolicyEffects, len(apiv1.DriftPolicies))
	for _, p := range apiv1.DriftPolicies {
		require.NotEmpty(t, driftPolicyEffects[p], "what drift policy %s does", p)
		require.Contains(t, driftPolicyDescription(), "`"+p+"` "+driftPolicyEffects[p])
	}
	require.Contains(t, driftPolicyDescription(), "Defaults to `"+apiv1.DriftPolicyHeal+"`.")
}
