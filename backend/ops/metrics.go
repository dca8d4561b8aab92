package ops

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

type metrics struct {
	operations *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	halts      *prometheus.CounterVec
	waiting    *prometheus.CounterVec
	lagBytes   *prometheus.GaugeVec
	lagSeconds *prometheus.GaugeVec
	checks     *prometheus.CounterVec

	// mu guards lagged: the replicas that have lag series, so that those of
	// deleted replicas can be dropped.
	mu     sync.Mutex
	lagged map[store.DatabaseKey]bool
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lagged: map[store.DatabaseKey]bool{},
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dbfleet_operations_total",
			Help: "Operations by kind and state: started, then succeeded, failed or cancelled.",
		}, []string{"kind", "state"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dbfleet_operation_duration_seconds",
			Help:    "Time from an operation's creation to its end, by kind and final state.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}, []string{"kind", "state"}),
		halts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dbfleet_rollout_halts_total",
			Help: "Rollouts halted by a failed migration or health check, by schema.",
		}, []string{"schema"}),
		waiting: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dbfleet_rollout_gate_waits_total",
			Help: "Times an upgrade found its rollout gate closed and waited, by schema.",
		}, []string{"schema"}),
	}
	m.lagBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dbfleet_replication_lag_bytes",
		Help: "How many bytes of its source's WAL a replica has not confirmed, by replica region and database.",
	}, []string{"region", "database"})
	m.lagSeconds = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dbfleet_replication_lag_seconds",
		Help: "A replica's replay lag as its source sees it, by replica region and database.",
	}, []string{"region", "database"})
	m.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dbfleet_consistency_checks_total",
		Help: "Replica consistency checks by result: consistent, inconsistent, failed.",
	}, []string{"result"})
	if reg != nil {
		reg.MustRegister(m.operations, m.duration, m.halts, m.waiting, m.lagBytes, m.lagSeconds, m.checks)
	}
	return m
}

func (m *metrics) started(kind string) { m.operations.WithLabelValues(kind, "started").Inc() }

func (m *metrics) finished(op *store.Operation) {
	m.operations.WithLabelValues(op.Kind, op.State).Inc()
	m.duration.WithLabelValues(op.Kind, op.State).Observe(op.UpdatedAt.Sub(op.CreatedAt).Seconds())
}

func (m *metrics) rolloutHalted(schema string) { m.halts.WithLabelValues(schema).Inc() }

func (m *metrics) gateWaited(schema string) { m.waiting.WithLabelValues(schema).Inc() }

func (m *metrics) replicationObserved(db *store.Database, st store.ReplicationStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lagged[db.Key()] = true
	m.lagBytes.WithLabelValues(db.Region, db.Name).Set(float64(st.LagBytes))
	m.lagSeconds.WithLabelValues(db.Region, db.Name).Set(st.LagSeconds)
}

// forgetReplicasExcept drops the lag series of replicas a monitor pass no
// longer found (deleted, or no longer replicas), so that they neither pile
// up nor keep a last lag that alerts would fire on.
func (m *metrics) forgetReplicasExcept(current map[store.DatabaseKey]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key := range m.lagged {
		if !current[key] {
			m.lagBytes.DeleteLabelValues(key.Region, key.Name)
			m.lagSeconds.DeleteLabelValues(key.Region, key.Name)
			delete(m.lagged, key)
		}
	}
}

// schemaDeleted drops a deleted schema's rollout series.
func (m *metrics) schemaDeleted(schema string) {
	m.halts.DeleteLabelValues(schema)
	m.waiting.DeleteLabelValues(schema)
}

func (m *metrics) consistencyChecked(_ *store.Database, result string) {
	m.checks.WithLabelValues(result).Inc()
}
