package runner

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the runner's Prometheus metrics.
type Metrics struct {
	runs       *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	ratio      *prometheus.GaugeVec
	iterations *prometheus.CounterVec
	swept      *prometheus.CounterVec

	mu sync.Mutex
	// tally counts passed and all runs per env, scenario and region since
	// the process started, for the success ratio gauge.
	tally map[[3]string]*[2]int
}

// NewMetrics registers the runner's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"env", "scenario", "region"}
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dbfleet_runner_scenario_runs_total",
			Help: "Scenario runs by environment, scenario, region and outcome (passed or failed).",
		}, append(labels, "outcome")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dbfleet_runner_scenario_duration_seconds",
			Help:    "How long scenario runs took, by environment, scenario, region and outcome.",
			Buckets: []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600},
		}, append(labels, "outcome")),
		ratio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dbfleet_runner_scenario_success_ratio",
			Help: "Passed over all scenario runs since the runner started, by environment, scenario and region.",
		}, labels),
		iterations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dbfleet_runner_iterations_total",
			Help: "Iterations of the scenario suite the runner finished, by environment.",
		}, []string{"env"}),
		swept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dbfleet_runner_swept_total",
			Help: "Leftovers of dead runs the sweeper removed, by environment and kind (database or schema).",
		}, []string{"env", "kind"}),
		tally: map[[3]string]*[2]int{},
	}
	reg.MustRegister(m.runs, m.duration, m.ratio, m.iterations, m.swept)
	return m
}

// observe records one scenario run.
func (m *Metrics) observe(res *Result) {
	m.runs.WithLabelValues(res.Env, res.Scenario, res.Region, res.Outcome).Inc()
	m.duration.WithLabelValues(res.Env, res.Scenario, res.Region, res.Outcome).Observe(res.Duration.Seconds())
	key := [3]string{res.Env, res.Scenario, res.Region}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tally[key]
	if t == nil {
		t = &[2]int{}
		m.tally[key] = t
	}
	if res.Outcome == OutcomePassed {
		t[0]++
	}
	t[1]++
	m.ratio.WithLabelValues(key[:]...).Set(float64(t[0]) / float64(t[1]))
}

func (m *Metrics) iterationDone(env string) { m.iterations.WithLabelValues(env).Inc() }

func (m *Metrics) sweptOne(env, kind string) { m.swept.WithLabelValues(env, kind).Inc() }
