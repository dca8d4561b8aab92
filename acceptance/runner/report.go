package runner

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// DefaultReportFailures is how many latest failures a report lists per
// environment.
const DefaultReportFailures = 10

// ReportParams selects what a report covers.
type ReportParams struct {
	// Env, when set, reports on that environment only.
	Env string
	// Since drops scenario runs that started before it.
	Since time.Time
	// Failures is how many latest failures to list per environment; zero
	// means DefaultReportFailures.
	Failures int
}

// Report is the success rates, durations and latest failures of the
// recorded scenario runs, per environment.
type Report struct {
	Generated time.Time
	Envs      []EnvReport
}

// EnvReport is one environment's part of a report.
type EnvReport struct {
	Env    string
	Runs   int
	Passed int
	// Iterations counts the distinct (run, iteration) pairs.
	Iterations int
	First      time.Time
	Last       time.Time
	Stats      []ScenarioStats
	// Failures are the latest failed scenario runs, newest first.
	Failures []Result
	// results are the environment's scenario runs, oldest first, for the
	// plots.
	results []Result
}

// ScenarioStats are one scenario's figures in one region (or AllRegions).
type ScenarioStats struct {
	Scenario string
	Via      string
	Region   string
	Runs     int
	Passed   int
	// P50 and P95 are over every run, failed ones included (nearest rank).
	P50 time.Duration
	P95 time.Duration
	Max time.Duration
}

// SuccessRatio is Passed over Runs.
func (s ScenarioStats) SuccessRatio() float64 {
	if s.Runs == 0 {
		return 0
	}
	return float64(s.Passed) / float64(s.Runs)
}

// SuccessRatio is the environment's passed over all scenario runs.
func (e EnvReport) SuccessRatio() float64 {
	if e.Runs == 0 {
		return 0
	}
	return float64(e.Passed) / float64(e.Runs)
}

// BuildReport reads the scenario runs params selects and computes the
// report.
func BuildReport(ctx context.Context, results *Results, params ReportParams, now time.Time) (*Report, error) {
	list, err := results.ResultList(ctx, &ResultListParams{Env: params.Env, Since: params.Since})
	if err != nil {
		return nil, err
	}
	return summarize(list, cmp.Or(params.Failures, DefaultReportFailures), now), nil
}

// summarize computes a report from scenario runs listed oldest first.
func summarize(list []Result, failures int, now time.Time) *Report {
	rep := &Report{Generated: now}
	byEnv := map[string][]Result{}
	var envs []string
	for _, r := range list {
		if _, ok := byEnv[r.Env]; !ok {
			envs = append(envs, r.Env)
		}
		byEnv[r.Env] = append(byEnv[r.Env], r)
	}
	slices.Sort(envs)
	for _, env := range envs {
		results := byEnv[env]
		e := EnvReport{Env: env, results: results, First: results[0].Start, Last: results[len(results)-1].Start}
		type key struct{ scenario, region string }
		groups := map[key][]Result{}
		iterations := map[string]bool{}
		for _, r := range results {
			k := key{r.Scenario, r.Region}
			groups[k] = append(groups[k], r)
			iterations[fmt.Sprintf("%s/%d", r.RunID, r.Iteration)] = true
			e.Runs++
			if r.Outcome == OutcomePassed {
				e.Passed++
			}
		}
		e.Iterations = len(iterations)
		for k, rs := range groups {
			s := ScenarioStats{Scenario: k.scenario, Region: k.region, Via: rs[0].Via, Runs: len(rs)}
			durations := make([]time.Duration, 0, len(rs))
			for _, r := range rs {
				if r.Outcome == OutcomePassed {
					s.Passed++
				}
				durations = append(durations, r.Duration)
			}
			slices.Sort(durations)
			s.P50, s.P95, s.Max = percentile(durations, 50), percentile(durations, 95), durations[len(durations)-1]
			e.Stats = append(e.Stats, s)
		}
		order := scenarioOrder()
		slices.SortFunc(e.Stats, func(a, b ScenarioStats) int {
			return cmp.Or(cmp.Compare(order[a.Scenario], order[b.Scenario]), strings.Compare(a.Scenario, b.Scenario), strings.Compare(a.Region, b.Region))
		})
		for i := len(results) - 1; i >= 0 && len(e.Failures) < failures; i-- {
			if results[i].Outcome == OutcomeFailed {
				e.Failures = append(e.Failures, results[i])
			}
		}
		rep.Envs = append(rep.Envs, e)
	}
	return rep
}

// scenarioOrder ranks scenario names as Scenarios lists them.
func scenarioOrder() map[string]int {
	order := map[string]int{}
	for i, s := range Scenarios() {
		order[s.Name] = i
	}
	return order
}

// percentile is the nearest-rank p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// WriteText writes the report as plain text: per environment, success
// rates and p50/p95 durations per scenario and region, then the latest
// failures.
func (r *Report) WriteText(w io.Writer) error {
	if len(r.Envs) == 0 {
		_, err := fmt.Fprintln(w, "No scenario runs recorded.")
		return err
	}
	for i, e := range r.Envs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Environment %s: %d scenario runs in %d iterations from %s to %s; %d passed (%.1f%%)\n\n",
			e.Env, e.Runs, e.Iterations, e.First.UTC().Format(time.RFC3339), e.Last.UTC().Format(time.RFC3339), e.Passed, 100*e.SuccessRatio())
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "scenario\tvia\tregion\truns\tpassed\tsuccess\tp50\tp95\tmax\t")
		for _, s := range e.Stats {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.1f%%\t%s\t%s\t%s\t\n", s.Scenario, s.Via, s.Region, s.Runs, s.Passed,
				100*s.SuccessRatio(), seconds(s.P50), seconds(s.P95), seconds(s.Max))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(e.Failures) == 0 {
			fmt.Fprintln(w, "\nNo failures.")
			continue
		}
		fmt.Fprintf(w, "\nLatest failures (newest first):\n")
		for _, f := range e.Failures {
			fmt.Fprintf(w, "- %s %s in %s (run %s, iteration %d), step %s, region %s, after %s\n    error: %s\n",
				f.Start.UTC().Format(time.RFC3339), f.Scenario, f.Region, f.RunID, f.Iteration, f.Step, cmp.Or(f.ErrorRegion, "-"), seconds(f.Duration), f.Error)
			if len(f.OperationIDs) > 0 {
				fmt.Fprintf(w, "    operations: %s\n", strings.Join(f.OperationIDs, " "))
			}
			if len(f.RequestIDs) > 0 {
				fmt.Fprintf(w, "    requests: %s\n", strings.Join(f.RequestIDs, " "))
			}
		}
	}
	return nil
}

// seconds renders d in seconds with one decimal.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}
