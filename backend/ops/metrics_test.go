package ops

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// TestMetricsForgetWhatIsGone: the lag series of a replica the monitor no
// longer finds, and the rollout series of a deleted schema, are dropped.
func TestMetricsForgetWhatIsGone(t *testing.T) {
	t.Parallel()
	m := newMetrics(prometheus.NewRegistry())
	kept := &store.Database{Region: "eastus", Name: "orders"}
	gone := &store.Database{Region: "eastus", Name: "carts"}
	m.replicationObserved(kept, store.ReplicationStatus{LagBytes: 10})
	m.replicationObserved(gone, store.ReplicationStatus{LagBytes: 42008})
	require.Equal(t, 2, testutil.CollectAndCount(m.lagBytes))

	m.forgetReplicasExcept(map[store.DatabaseKey]bool{kept.Key(): true})
	require.Equal(t, 1, testutil.CollectAndCount(m.lagBytes))
	require.Equal(t, 1, testutil.CollectAndCount(m.lagSeconds))
	require.InDelta(t, 10, testutil.ToFloat64(m.lagBytes.WithLabelValues("eastus", "orders")), 0)

	m.gateWaited("app")
	m.rolloutHalted("app")
	m.gateWaited("other")
	m.schemaDeleted("app")
	require.Equal(t, 1, testutil.CollectAndCount(m.waiting))
	require.Equal(t, 0, testutil.CollectAndCount(m.halts))
}
