package reconcile

import "github.com/prometheus/client_golang/prometheus"

// Checks, the label of the findings and repairs metrics.
const (
	checkDatabase   = "database"
	checkOwnerRole  = "owner_role"
	checkOwnership  = "ownership"
	checkParameters = "parameters"
	checkLedger     = "ledger"
	checkRegion     = "region"
	checkReplica    = "replica"
)

type metrics struct {
	findings     *prometheus.CounterVec
	repairs      *prometheus.CounterVec
	errors       *prometheus.CounterVec
	regionUp     *prometheus.GaugeVec
	passes       prometheus.Counter
	passDuration prometheus.Histogram
	checked      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dbfleet_reconcile_findings_total",
			Help: "Drift the reconciler found, by check; a drift that persists counts once.",
		}, []string{"check"}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dbfleet_reconcile_repairs_total",
			Help: "Drift the reconciler repaired, by check.",
		}, []string{"check"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dbfleet_reconcile_errors_total",
			Help: "Checks or repairs that failed and will be retried with backoff, by check.",
		}, []string{"check"}),
		regionUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dbfleet_reconcile_region_up",
			Help: "Whether the region answered the reconciler's last pass (1) or not (0).",
		}, []string{"region"}),
		passes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dbfleet_reconcile_passes_total",
			Help: "Reconcile passes run.",
		}),
		passDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dbfleet_reconcile_pass_duration_seconds",
			Help:    "Time one reconcile pass took.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
		}),
		checked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dbfleet_reconcile_databases_checked_total",
			Help: "Databases the reconciler checked.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.findings, m.repairs, m.errors, m.regionUp, m.passes, m.passDuration, m.checked)
	}
	return m
}
