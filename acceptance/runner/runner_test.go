package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
)

// runSetup is what a test that runs the runner against the fleet needs.
type runSetup struct {
	fleet   *devFleet
	results *Results
	metrics *Metrics
	reg     *prometheus.Registry
	logs    *logBuffer
	api     *api
}

func setup(t *testing.T) *runSetup {
	t.Helper()
	f := requireFleet(t)
	results, err := OpenResults(t.Context(), filepath.Join(t.TempDir(), "results.db"))
	require.NoError(t, err)
	t.Cleanup(func() { results.Close() })
	a, err := newAPI(f.endpoint, f.token, "test")
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	return &runSetup{fleet: f, results: results, metrics: NewMetrics(reg), reg: reg, logs: &logBuffer{}, api: a}
}

// config is a run configuration against the fleet with small numbers.
func (s *runSetup) config(t *testing.T, prefix string) Config {
	return Config{
		Endpoint: s.fleet.endpoint, Token: s.fleet.token, Env: "dev", Prefix: prefix,
		Results: s.results, Metrics: s.metrics, TerraformPath: s.fleet.terraform, ProviderBinary: s.fleet.provider,
		WorkDir: t.TempDir(), OpTimeout: 2 * time.Minute, ScenarioTimeout: 5 * time.Minute,
		LoadDatabases: 3, StormSize: 4, RapidCalls: 3, Parallel: 2, SweepEvery: -1,
		Logger: zerolog.New(s.logs),
	}
}

// metric returns the value of the counter or gauge name whose label values
// are env dev and values, in any order.
func (s *runSetup) metric(t *testing.T, name string, values ...string) float64 {
	t.Helper()
	families, err := s.reg.Gather()
	require.NoError(t, err)
	want := append([]string{"dev"}, values...)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
			if !slices.Equal(sortedCopy(got), sortedCopy(want)) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s%v", name, want)
	return 0
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// prefixed lists the databases with prefix that the API shows, as region/name.
func (s *runSetup) prefixed(t *testing.T, prefix string) []string {
	t.Helper()
	dbs, err := s.api.client.DatabaseList(t.Context())
	require.NoError(t, err)
	var out []string
	for _, db := range dbs {
		if strings.HasPrefix(db.Name, prefix) {
			out = append(out, db.Region+"/"+db.Name)
		}
	}
	return out
}

// logLines decodes the JSON log lines with the message msg.
func logLines(t *testing.T, logs, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "log line %q", line)
		if m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestRunPassesEveryScenarioAgainstDev(t *testing.T) {
	s := setup(t)
	const prefix, iterations = "tall_", 2
	cfg := s.config(t, prefix)
	cfg.Iterations = iterations
	sum, err := Run(t.Context(), cfg)
	require.NoError(t, err)

	rows, err := s.results.ResultList(t.Context(), &ResultListParams{RunID: sum.RunID})
	require.NoError(t, err)
	type key struct {
		Iteration        int
		Scenario, Region string
	}
	var want, got []key
	for it := 1; it <= iterations; it++ {
		for _, sc := range Scenarios() {
			if sc.PerRegion {
				for _, r := range devregions.DefaultNames {
					want = append(want, key{it, sc.Name, r})
				}
			} else {
				want = append(want, key{it, sc.Name, AllRegions})
			}
		}
	}
	for _, r := range rows {
		got = append(got, key{r.Iteration, r.Scenario, r.Region})
		t.Run(fmt.Sprintf("%d/%s/%s", r.Iteration, r.Scenario, r.Region), func(t *testing.T) {
			require.Equal(t, OutcomePassed, r.Outcome, "failed at step %s in %s: %s", r.Step, r.ErrorRegion, r.Error)
			require.Empty(t, r.Error)
			require.Equal(t, "dev", r.Env)
			require.Positive(t, r.Duration)
			require.NotEmpty(t, r.OperationIDs, "a passed scenario records the operations it caused")
			require.NotEmpty(t, r.RequestIDs, "a passed scenario records its mutating requests")
			require.Contains(t, []string{ViaAPI, ViaTerraform}, r.Via)
		})
	}
	sortKeys := func(k []key) {
		slices.SortFunc(k, func(a, b key) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	}
	sortKeys(want)
	sortKeys(got)
	require.Empty(t, cmp.Diff(want, got), "recorded scenario runs (-want +got)")
	require.Equal(t, &RunSummary{RunID: sum.RunID, Iterations: iterations, Passed: len(want)}, sum)
	require.Empty(t, s.prefixed(t, prefix), "the run left databases behind")

	require.InDelta(t, iterations, s.metric(t, "dbfleet_runner_scenario_runs_total", "create_destroy", "eastus", OutcomePassed), 0)
	require.InDelta(t, 1, s.metric(t, "dbfleet_runner_scenario_success_ratio", "schema_rollout", AllRegions), 0)
	require.InDelta(t, iterations, s.metric(t, "dbfleet_runner_iterations_total"), 0)

	logs := s.logs.String()
	require.NotContains(t, logs, s.fleet.token, "the log holds the API token")
	passed := logLines(t, logs, "Passed scenario")
	require.Len(t, passed, len(want))
	for _, l := range passed {
		for _, field := range []string{"scenario", "env", "region", "runId"} {
			require.NotEmpty(t, l[field], "field %s of %v", field, l)
		}
	}

	rep, err := BuildReport(t.Context(), s.results, ReportParams{Env: "dev", Since: time.Now().Add(-time.Hour)}, time.Now())
	require.NoError(t, err)
	require.Len(t, rep.Envs, 1)
	require.Equal(t, len(want), rep.Envs[0].Runs)
	require.Empty(t, rep.Envs[0].Failures)
	for _, st := range rep.Envs[0].Stats {
		require.InDelta(t, 1, st.SuccessRatio(), 0, "%s in %s", st.Scenario, st.Region)
		require.Positive(t, st.P50)
		require.GreaterOrEqual(t, st.P95, st.P50)
	}
	var html bytes.Buffer
	require.NoError(t, rep.WriteHTML(&html))
	require.Contains(t, html.String(), "<svg")
	require.Contains(t, html.String(), "Duration of retry_storm")
}

func TestRunRecordsStoppedRegionAndGoesOn(t *testing.T) {
	s := setup(t)
	const prefix, stopped, iterations = "tfail_", "eastus", 2
	scenarios, err := SelectScenarios([]string{"create_destroy"})
	require.NoError(t, err)
	cfg := s.config(t, prefix)
	cfg.Scenarios, cfg.Iterations, cfg.Parallel, cfg.OpTimeout = scenarios, iterations, 3, 8*time.Second

	s.fleet.stopRegion(t, stopped)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			s.fleet.startRegion(t, stopped)
		}
	})
	sum, err := Run(t.Context(), cfg)
	require.NoError(t, err)
	s.fleet.startRegion(t, stopped)
	restarted = true

	rows, err := s.results.ResultList(t.Context(), &ResultListParams{RunID: sum.RunID})
	require.NoError(t, err)
	require.Len(t, rows, iterations*len(devregions.DefaultNames))
	perIteration := map[int]int{}
	for _, r := range rows {
		perIteration[r.Iteration]++
		if r.Region != stopped {
			require.Equal(t, OutcomePassed, r.Outcome, "%s in %s, iteration %d: %s", r.Scenario, r.Region, r.Iteration, r.Error)
			continue
		}
		require.Equal(t, OutcomeFailed, r.Outcome, "create_destroy in the stopped region")
		require.Equal(t, stopped, r.ErrorRegion)
		require.Equal(t, "apply", r.Step)
		require.Contains(t, r.Error, "eastus")
		require.Regexp(t, `op-[0-9a-f-]{36}`, r.Error, "the error names the operation")
		require.Contains(t, r.Error, "not done after", "the error says how far the operation got")
		require.NotEmpty(t, r.OperationIDs)
		require.NotEmpty(t, r.RequestIDs)
	}
	require.Equal(t, map[int]int{1: 3, 2: 3}, perIteration, "the runner went on after the failure")
	require.Equal(t, 2, sum.Failed)

	failed := logLines(t, s.logs.String(), "Failed scenario")
	require.Len(t, failed, iterations)
	for _, l := range failed {
		require.Equal(t, stopped, l["region"])
		require.Equal(t, stopped, l["errorRegion"])
		require.Equal(t, "apply", l["step"])
		require.NotEmpty(t, l["error"])
		require.NotEmpty(t, l["operationId"])
		require.NotEmpty(t, l["requestId"])
	}
	require.InDelta(t, 0, s.metric(t, "dbfleet_runner_scenario_success_ratio", "create_destroy", stopped), 0)
	require.InDelta(t, 1, s.metric(t, "dbfleet_runner_scenario_success_ratio", "create_destroy", "westeurope"), 0)

	// What the failed creates left in the stopped region belongs to a run
	// that has ended: once the region is back, the sweeper removes it.
	sweeper, err := NewSweeper(SweepConfig{Endpoint: s.fleet.endpoint, Token: s.fleet.token, Env: "dev", Prefix: prefix,
		Results: s.results, OpTimeout: time.Minute, Logger: zerolog.New(s.logs)})
	require.NoError(t, err)
	rep, err := sweeper.Sweep(t.Context())
	require.NoError(t, err)
	require.Empty(t, rep.Failed)
	require.Empty(t, s.prefixed(t, prefix))
}

func TestSweepRemovesOnlyDeadRunsLeftovers(t *testing.T) {
	s := setup(t)
	ctx := t.Context()
	const prefix, region = "tkill_", "westeurope"
	resultsPath := filepath.Join(t.TempDir(), "shared.db")
	results, err := OpenResults(ctx, resultsPath)
	require.NoError(t, err)
	t.Cleanup(func() { results.Close() })

	// A run killed in the middle of the load scenario.
	killedRun := startKilledRun(t, s, resultsPath, prefix)

	// A run unknown to the store (another store's, say) that started
	// longer than the TTL ago: its resources are dead once unchanged for
	// the TTL too. Its database has deletion protection on and runs its
	// schema; another schema of it is known only from the store.
	oldRun, err := NewRunID(time.Now().Add(-DefaultTTL - time.Hour))
	require.NoError(t, err)
	oldSchema := mustName(t, prefix, oldRun, "s1")
	oldSpareSchema := mustName(t, prefix, oldRun, "s2")
	oldDB := mustName(t, prefix, oldRun, "db")
	putSchema(t, s.api, oldSchema)
	putSchema(t, s.api, oldSpareSchema)
	require.NoError(t, results.ResourceInsert(ctx, Resource{RunID: oldRun, Kind: KindSchema, Name: oldSpareSchema, Created: time.Now()}))
	putDatabase(t, s.api, region, oldDB, apiv1DatabaseSpec(oldSchema, true))

	// A live run, with a lease that holds past the second sweep's clock:
	// its database and schema stay.
	liveRun, err := NewRunID(time.Now())
	require.NoError(t, err)
	require.NoError(t, results.RunInsert(ctx, &RunRecord{ID: liveRun, Env: "dev", Prefix: prefix, Started: time.Now(), LeaseUntil: time.Now().Add(4 * DefaultTTL)}))
	liveSchema := mustName(t, prefix, liveRun, "s1")
	liveDB := mustName(t, prefix, liveRun, "db")
	putSchema(t, s.api, liveSchema)
	require.NoError(t, results.ResourceInsert(ctx, Resource{RunID: liveRun, Kind: KindSchema, Name: liveSchema, Created: time.Now()}))
	putDatabase(t, s.api, region, liveDB, apiv1DatabaseSpec(liveSchema, false))

	// Databases without the prefix: one of no run, one of another prefix
	// with a dead run's id.
	unprefixed := "keep_" + liveRun
	otherPrefix := mustName(t, "tother_", oldRun, "db")
	putDatabase(t, s.api, region, unprefixed, apiv1DatabaseSpec("", false))
	putDatabase(t, s.api, region, otherPrefix, apiv1DatabaseSpec("", false))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, n := range []string{liveDB, unprefixed, otherPrefix} {
			_ = s.api.removeDatabase(ctx, region, n, time.Minute)
		}
		_ = s.api.removeSchema(ctx, liveSchema)
	})

	sweep := func(now time.Time) *SweepReport {
		sweeper, err := NewSweeper(SweepConfig{Endpoint: s.fleet.endpoint, Token: s.fleet.token, Env: "dev", Prefix: prefix,
			Results: results, OpTimeout: time.Minute, Logger: zerolog.New(s.logs), Metrics: s.metrics, Now: func() time.Time { return now }})
		require.NoError(t, err)
		rep, err := sweeper.Sweep(ctx)
		require.NoError(t, err)
		require.Empty(t, rep.Failed)
		return rep
	}
	// Now: the killed run's databases go; the old run's were touched a
	// moment ago and stay, as do the live run's.
	rep := sweep(time.Now())
	require.NotEmpty(t, rep.Databases)
	for _, d := range rep.Databases {
		_, name, _ := strings.Cut(d, "/")
		runID, ok := runIDOf(prefix, name)
		require.True(t, ok, d)
		require.Equal(t, killedRun, runID, "the first sweep removed %s", d)
	}
	require.Empty(t, rep.Schemas)
	require.Equal(t, 2, rep.Kept, "the live run's database and the recently changed one of the unknown run are kept")

	// A TTL later: the old run's database and schemas go too.
	rep = sweep(time.Now().Add(DefaultTTL + time.Hour))
	require.Equal(t, []string{region + "/" + oldDB}, rep.Databases)
	require.ElementsMatch(t, []string{oldSchema, oldSpareSchema}, rep.Schemas)
	require.Equal(t, 1, rep.Kept, "the live run's database is kept")

	left := s.prefixed(t, "")
	require.ElementsMatch(t, []string{region + "/" + liveDB, region + "/" + unprefixed, region + "/" + otherPrefix},
		filterOut(left, func(n string) bool {
			return !strings.Contains(n, "/tkill_") && !strings.Contains(n, "/keep_") && !strings.Contains(n, "/tother_")
		}),
		"what is left of the test's databases")
	for _, r := range devregions.DefaultNames {
		inPostgres := s.fleet.pgDatabases(t, r)
		for name := range inPostgres {
			if runID, ok := runIDOf(prefix, name); ok {
				require.Equal(t, liveRun, runID, "PostgreSQL in %s still holds %s of run %s (killed run %s)", r, name, runID, killedRun)
			}
		}
		if r == region {
			require.True(t, inPostgres[liveDB], "the live run's database is gone from PostgreSQL")
			require.True(t, inPostgres[unprefixed], "the database without the prefix is gone from PostgreSQL")
			require.True(t, inPostgres[otherPrefix], "the database of another prefix is gone from PostgreSQL")
		}
	}
	for _, name := range []string{oldSchema, oldSpareSchema} {
		_, err := s.api.client.SchemaGet(ctx, name)
		require.ErrorContains(t, err, "404", "schema %s of a dead run", name)
	}
	_, err = s.api.client.SchemaGet(ctx, liveSchema)
	require.NoError(t, err, "the live run's schema")
	require.Positive(t, s.metric(t, "dbfleet_runner_swept_total", KindDatabase))
}

// startKilledRun starts a runner process that runs the load scenario with
// prefix and a two-second lease, kills it (SIGKILL) as soon as one of its
// databases exists, and waits until its lease has run out. It returns the
// run's id.
func startKilledRun(t *testing.T, s *runSetup, resultsPath, prefix string) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envChildResults+"="+resultsPath, envChildPrefix+"="+prefix,
		"DBFLEET_ENDPOINT="+s.fleet.endpoint, "DBFLEET_TOKEN="+s.fleet.token)
	var out logBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	var runID string
	require.Eventually(t, func() bool {
		dbs, err := s.api.client.DatabaseList(t.Context())
		if err != nil {
			return false
		}
		for _, db := range dbs {
			if id, ok := runIDOf(prefix, db.Name); ok {
				runID = id
				return true
			}
		}
		return false
	}, time.Minute, 50*time.Millisecond, "the runner process created no database; its output:\n%s", &out)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	results, err := OpenResults(t.Context(), resultsPath)
	require.NoError(t, err)
	defer results.Close()
	require.Eventually(t, func() bool {
		run, err := results.RunGet(t.Context(), runID)
		return err == nil && run.Ended.IsZero() && run.LeaseUntil.Before(time.Now())
	}, 10*time.Second, 50*time.Millisecond, "the killed run %s's lease did not run out", runID)
	return runID
}

func mustName(t *testing.T, prefix, runID, suffix string) string {
	t.Helper()
	name, err := resourceName(prefix, runID, suffix)
	require.NoError(t, err)
	return name
}

// putSchema creates a one-table schema.
func putSchema(t *testing.T, a *api, name string) {
	t.Helper()
	_, err := a.client.SchemaPut(t.Context(), name, replicaSchema)
	require.NoError(t, err)
}

func apiv1DatabaseSpec(schema string, protected bool) apiv1.DatabaseSpec {
	return apiv1.DatabaseSpec{Schema: schema, DeletionProtection: new(protected), SkipFinalBackup: !protected}
}

// putDatabase creates a database and waits until it is ready.
func putDatabase(t *testing.T, a *api, region, name string, spec apiv1.DatabaseSpec) {
	t.Helper()
	op, err := a.client.DatabasePut(t.Context(), region, name, spec)
	require.NoError(t, err)
	err = a.wait(t.Context(), op, 2*time.Minute)
	require.NoError(t, err)
}

// filterOut returns list without the elements drop says to drop.
func filterOut(list []string, drop func(string) bool) []string {
	return slices.DeleteFunc(slices.Clone(list), drop)
}
