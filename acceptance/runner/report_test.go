package runner

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	durations := func(secs ...int) []time.Duration {
		var out []time.Duration
		for _, s := range secs {
			out = append(out, time.Duration(s)*time.Second)
		}
		return out
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"Empty", nil, 50, 0},
		{"One", durations(3), 95, 3 * time.Second},
		{"MedianOfFour", durations(1, 2, 3, 4), 50, 2 * time.Second},
		{"P95OfTwenty", durations(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 95, 19 * time.Second},
		{"P95OfTen", durations(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 95, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, percentile(tt.sorted, tt.p))
		})
	}
}

// TestReportFromStore records scenario runs in a results store and checks
// the report's figures, its text and its HTML.
func TestReportFromStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	results, err := OpenResults(ctx, filepath.Join(t.TempDir(), "results.db"))
	require.NoError(t, err)
	defer results.Close()
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	require.NoError(t, results.RunInsert(ctx, &RunRecord{ID: "0tp0000abcd", Env: "staging", Prefix: DefaultPrefix, Started: start, LeaseUntil: start}))
	record := func(i int, scenario, region, outcome string, secs int) {
		res := &Result{RunID: "0tp0000abcd", Iteration: i, Env: "staging", Scenario: scenario, Via: ViaAPI, Region: region,
			Start: start.Add(time.Duration(i) * time.Minute), Duration: time.Duration(secs) * time.Second, Outcome: outcome,
			OperationIDs: []string{"op-1"}}
		if outcome == OutcomeFailed {
			res.Error, res.Step, res.ErrorRegion, res.RequestIDs = "operation op-1 failed in region eastus", "apply", region, []string{"req-1"}
		}
		require.NoError(t, results.ResultInsert(ctx, res))
	}
	for i := 1; i <= 4; i++ {
		record(i, "load", AllRegions, OutcomePassed, i)
		outcome := OutcomePassed
		if i == 3 {
			outcome = OutcomeFailed
		}
		record(i, "create_destroy", "eastus", outcome, 10*i)
	}
	record(5, "load", AllRegions, OutcomePassed, 1)

	rep, err := BuildReport(ctx, results, ReportParams{}, start.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, rep.Envs, 1)
	env := rep.Envs[0]
	require.Equal(t, 9, env.Runs)
	require.Equal(t, 8, env.Passed)
	require.Equal(t, 5, env.Iterations)
	want := []ScenarioStats{
		{Scenario: "create_destroy", Via: ViaAPI, Region: "eastus", Runs: 4, Passed: 3, P50: 20 * time.Second, P95: 40 * time.Second, Max: 40 * time.Second},
		{Scenario: "load", Via: ViaAPI, Region: AllRegions, Runs: 5, Passed: 5, P50: 2 * time.Second, P95: 4 * time.Second, Max: 4 * time.Second},
	}
	require.Empty(t, cmp.Diff(want, env.Stats), "stats (-want +got)")
	require.Len(t, env.Failures, 1)
	require.Equal(t, "apply", env.Failures[0].Step)
	require.Equal(t, []string{"req-1"}, env.Failures[0].RequestIDs)

	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	for _, s := range []string{"Environment staging", "75.0%", "step apply, region eastus", "requests: req-1"} {
		require.Contains(t, text.String(), s)
	}
	var html bytes.Buffer
	require.NoError(t, rep.WriteHTML(&html))
	for _, s := range []string{"<svg", "Duration of create_destroy", "<polyline", "operation op-1 failed in region eastus"} {
		require.Contains(t, html.String(), s)
	}
	for _, s := range []string{"http://", "https://", "<script", "src="} {
		require.NotContains(t, html.String(), s, "the report loads nothing from elsewhere")
	}

	since, err := BuildReport(ctx, results, ReportParams{Since: start.Add(4 * time.Minute)}, start.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 3, since.Envs[0].Runs)
}

func TestResultsStoreMigratesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "results.db")
	for range 2 {
		results, err := OpenResults(ctx, path)
		require.NoError(t, err)
		var version int
		require.NoError(t, results.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version))
		require.Equal(t, len(resultsMigrations), version)
		require.NoError(t, results.Close())
	}
}
