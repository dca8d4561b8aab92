// Command dbfleet-bench runs dbfleet's benchmarks (`make bench`) and writes
// their figures to a JSON file and a Markdown report. Every figure is
// measured beside a baseline in the same run and given as a ratio to it,
// because the machines that run it are noisy and shared.
//
//  1. provision: terraform apply -parallelism=10 of N databases (schema
//     with two migrations) against `dbfleetd dev`, versus the same SQL
//     from 10 parallel psql sessions.
//  2. polling: requests per operation after the mutating request, and the
//     delay from an operation's end in the backend to the provider's
//     client returning it.
//  3. load: GET one database and GET one operation at rising fixed rates
//     from loopback, versus GET /healthz; dbfleetd's RSS.
//  4. rollout: 300 databases in three one-region waves move to a new
//     version with bake_time 0, through the HTTP API, versus psql running
//     the same migration wave by wave.
//  5. scale: a reconcile pass and GET /v1/databases with 1,000, 10,000 and
//     30,000 databases recorded (regions simulated), per database.
//  6. nodes: `dbfleetd serve` nodes on one PostgreSQL store: failover
//     after SIGKILL of the leader and resumption of a killed node's step,
//     against the node timeout; operation pick-up time and create
//     throughput with 3 nodes and 1, against 1 node on SQLite.
//
// It starts its own `dbfleetd dev` (and so its own PostgreSQL regions), and
// for benchmark 6 its own regions and `dbfleetd serve` nodes, in a
// temporary directory and removes it at the end. A run of some benchmarks
// (-only) keeps the other benchmarks' figures in the results file.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
)

// benchmarks are the benchmark names -only accepts, in the order they run.
var benchmarks = []string{"provision", "polling", "load", "rollout", "scale", "nodes"}

// benchEnv is what the benchmarks share.
type benchEnv struct {
	work      string
	pgBin     string
	terraform string
	dev       *devServer
	rssStart  int64
	start     time.Time
}

func (e *benchEnv) progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(e.start).Seconds(), fmt.Sprintf(format, args...))
}

// machine is where the figures were measured.
type machine struct {
	NProc        int    `json:"nproc"`
	MemoryMiB    int64  `json:"memory_mib"`
	Kernel       string `json:"kernel"`
	LoadAvgStart string `json:"loadavg_at_start"`
	LoadAvgEnd   string `json:"loadavg_at_end"`
	Go           string `json:"go"`
	PostgreSQL   string `json:"postgresql"`
	Terraform    string `json:"terraform,omitempty"`
}

// goal is one of the goals, met or not.
type goal struct {
	Benchmark string  `json:"benchmark"`
	Figure    string  `json:"figure"`
	Value     float64 `json:"value"`
	Goal      string  `json:"goal"`
	Met       bool    `json:"met"`
}

// results is what results.json holds.
type results struct {
	Date         string           `json:"date"`
	Commit       string           `json:"commit"`
	Command      string           `json:"command"`
	DurationS    float64          `json:"duration_s"`
	Machine      machine          `json:"machine"`
	Goals        []goal           `json:"goals"`
	Provisioning *provisionResult `json:"provisioning,omitempty"`
	Polling      *pollingResult   `json:"polling,omitempty"`
	APILoad      *loadResult      `json:"api_load,omitempty"`
	Rollout      *rolloutResult   `json:"rollout,omitempty"`
	Scale        *scaleResult     `json:"scale,omitempty"`
	Nodes        *nodesResult     `json:"nodes,omitempty"`
	Notes        []string         `json:"notes"`
	// Earlier are the runs that measured the sections a run of some
	// benchmarks (-only) kept from the results file.
	Earlier []earlierRun `json:"earlier_runs,omitempty"`
}

// earlierRun is when, at which commit and on what machine the kept
// sections were measured.
type earlierRun struct {
	Date     string   `json:"date"`
	Commit   string   `json:"commit"`
	Machine  machine  `json:"machine"`
	Sections []string `json:"sections"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dbfleet-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("dbfleet-bench", flag.ContinueOnError)
	dbfleetd := flags.String("dbfleetd", "bin/dbfleetd", "the dbfleetd program to benchmark")
	terraform := flags.String("terraform", "", "the Terraform CLI (1.5.7) for the provision benchmark, with the provider installed in its local mirror (make install)")
	pgBinDir := flags.String("pg-bin", "", "directory of psql; default: where dbfleetd finds PostgreSQL's programs")
	only := flags.String("only", strings.Join(benchmarks, ","), "comma-separated benchmarks to run: "+strings.Join(benchmarks, ", ")+"; the results file keeps the others' figures")
	runs := flags.Int("runs", 3, "rounds of the provision and rollout benchmarks; the report gives medians")
	provisionN := flags.Int("provision-databases", 100, "databases terraform apply creates (at most 100)")
	pollingN := flags.Int("polling-databases", 50, "databases the polling benchmark creates and deletes")
	rolloutN := flags.Int("rollout-databases-per-region", 100, "databases per region in the rollout benchmark")
	nodesRuns := flags.Int("nodes-runs", 5, "SIGKILLs of the failover and of the resume measurement of the nodes benchmark")
	nodesPickUps := flags.Int("nodes-pick-ups", 20, "creates submitted one at a time per configuration of the nodes benchmark")
	nodesBatch := flags.Int("nodes-batch", 60, "creates submitted at once per configuration of the nodes benchmark")
	sizesFlag := flags.String("scale-sizes", "1000,10000,30000", "comma-separated numbers of databases the scale benchmark records")
	jsonOut := flags.String("json", "bench/results.json", "where to write the results")
	mdOut := flags.String("markdown", "bench/RESULTS.md", "where to write the report")
	keep := flags.Bool("keep", false, "keep the temporary directory (logs, Terraform configuration)")
	reportOnly := flags.Bool("report-only", false, "run nothing: write the report again from the results file")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *reportOnly {
		b, err := os.ReadFile(*jsonOut)
		if err != nil {
			return err
		}
		var res results
		if err := json.Unmarshal(b, &res); err != nil {
			return fmt.Errorf("read %s: %w", *jsonOut, err)
		}
		return os.WriteFile(*mdOut, []byte(markdown(&res)), 0o644)
	}
	selected := map[string]bool{}
	for _, name := range strings.Split(*only, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(benchmarks, name) {
			return fmt.Errorf("-only: unknown benchmark %q; choose from %s", name, strings.Join(benchmarks, ", "))
		}
		selected[name] = true
	}
	if *provisionN > 100 || *provisionN < 1 {
		return errors.New("-provision-databases must be between 1 and 100")
	}
	var sizes []int
	for _, s := range strings.Split(*sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-scale-sizes: %q is not a positive number", s)
		}
		sizes = append(sizes, n)
	}
	if *nodesRuns < 1 || *nodesPickUps < 1 || *nodesBatch < 1 {
		return errors.New("-nodes-runs, -nodes-pick-ups and -nodes-batch must be positive")
	}
	if selected["rollout"] && *runs > len(upgradeMigrations) {
		return fmt.Errorf("-runs must be at most %d", len(upgradeMigrations))
	}

	env := &benchEnv{terraform: *terraform, pgBin: *pgBinDir, start: time.Now()}
	if env.pgBin == "" {
		psql, err := pgbin.Path("psql")
		if err != nil {
			return err
		}
		env.pgBin = filepath.Dir(psql)
	}
	if selected["provision"] && env.terraform == "" {
		return errors.New("the provision benchmark needs -terraform (or leave it out with -only)")
	}
	bin, err := filepath.Abs(*dbfleetd)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "dbfleet-bench-")
	if err != nil {
		return err
	}
	env.work = work
	if *keep {
		env.progress("keeping %s", work)
	} else {
		defer os.RemoveAll(work)
	}

	res := &results{
		Date:    time.Now().UTC().Format(time.RFC3339),
		Commit:  gitCommit(),
		Command: "make bench",
		Machine: describeMachine(ctx, env),
		Notes: []string{
			"Every figure is a ratio to a baseline measured in the same run, on the same machine, at about the same time; the machine is shared with other work, so absolute times vary from run to run.",
			"dbfleetd runs as `dbfleetd dev --rate-limit -1`: its own three PostgreSQL regions (fsync off, as dev regions are), the API rate limit off so that the load benchmark meets the server rather than the limiter. Its reconciler runs as usual throughout.",
		},
	}

	if selected["provision"] || selected["polling"] || selected["load"] || selected["rollout"] {
		env.progress("starting dbfleetd dev")
		if env.dev, err = startDev(ctx, bin, work); err != nil {
			return err
		}
		defer env.dev.removeClusters()
		defer env.dev.stop()
		time.Sleep(2 * time.Second) // let start-up work settle before the idle RSS
		if env.rssStart, err = rss(env.dev.pid()); err != nil {
			return err
		}
		if selected["provision"] {
			if res.Provisioning, err = benchProvision(ctx, env, *provisionN, *runs); err != nil {
				return fmt.Errorf("provision: %w", err)
			}
		}
		if selected["polling"] {
			if res.Polling, err = benchPolling(ctx, env, *pollingN); err != nil {
				return fmt.Errorf("polling: %w", err)
			}
			if res.Provisioning != nil {
				res.Polling.TerraformRequestsAfterMut = res.Provisioning.AfterMutation
			}
		}
		if selected["load"] {
			if res.APILoad, err = benchLoad(ctx, env); err != nil {
				return fmt.Errorf("load: %w", err)
			}
		}
		if selected["rollout"] {
			if res.Rollout, err = benchRollout(ctx, env, *rolloutN, *runs); err != nil {
				return fmt.Errorf("rollout: %w", err)
			}
		}
		if err := env.dev.alive(); err != nil {
			return err
		}
		env.dev.stop()
	}
	if selected["scale"] {
		if res.Scale, err = benchScale(ctx, env, sizes); err != nil {
			return fmt.Errorf("scale: %w", err)
		}
		if selected["rollout"] {
			env.progress("scale: reconcile passes over the rollout's databases in the real dev regions")
			if res.Scale.Real, err = benchRealPass(ctx, env, env.dev.dataDir); err != nil {
				return fmt.Errorf("scale: real regions: %w", err)
			}
		}
	}
	if selected["nodes"] {
		if res.Nodes, err = benchNodes(ctx, env, bin, *nodesPickUps, *nodesBatch, *nodesRuns); err != nil {
			return fmt.Errorf("nodes: %w", err)
		}
	}
	res.Machine.LoadAvgEnd = loadAvg()
	res.DurationS = round(time.Since(env.start).Seconds(), 1)
	if len(selected) < len(benchmarks) {
		res.Command = "dbfleet-bench " + strings.Join(args, " ")
		if err := keepEarlier(res, *jsonOut, selected); err != nil {
			return err
		}
	}
	res.Goals = goals(res)

	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(*mdOut, []byte(markdown(res)), 0o644); err != nil {
		return err
	}
	env.progress("wrote %s and %s", *jsonOut, *mdOut)
	for _, g := range res.Goals {
		verdict := "met"
		if !g.Met {
			verdict = "MISSED"
		}
		env.progress("goal %s: %s = %v (goal %s): %s", g.Benchmark, g.Figure, g.Value, g.Goal, verdict)
	}
	return nil
}

// goals checks the figures against the goals.
func goals(res *results) []goal {
	out := checkGoals(res)
	for i := range out {
		out[i].Value = round(out[i].Value, 3)
	}
	return out
}

func checkGoals(res *results) []goal {
	var out []goal
	if p := res.Provisioning; p != nil {
		out = append(out, goal{"provision", "apply / floor (median of runs)", p.Ratio, "<= 1.5", p.Ratio <= 1.5})
	}
	if p := res.Polling; p != nil {
		out = append(out,
			goal{"polling", "requests after the mutating request, most for one operation (provider client)", float64(p.RequestsAfterMutationMax), "<= 3", p.RequestsAfterMutationMax <= 3},
			goal{"polling", "delay from operation end to the client returning, p50 (ms)", p.DelayP50MS, "< 50", p.DelayP50MS < 50})
		if p.TerraformRequestsAfterMut > 0 {
			out = append(out, goal{"polling", "requests after the mutating request, per operation (terraform apply)", p.TerraformRequestsAfterMut, "<= 3", p.TerraformRequestsAfterMut <= 3})
		}
	}
	if s := res.Scale; s != nil && len(s.Sizes) > 1 {
		out = append(out,
			goal{"scale", "reconcile pass growth exponent (1 = linear)", s.PassExponent, "<= 1.1", s.PassExponent <= 1.1},
			goal{"scale", "GET /v1/databases growth exponent (1 = linear)", s.ListExponent, "<= 1.1", s.ListExponent <= 1.1})
	}
	return out
}

func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	if status, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(status) > 0 {
		commit += " (with uncommitted changes)"
	}
	return commit
}

func describeMachine(ctx context.Context, env *benchEnv) machine {
	m := machine{NProc: runtime.NumCPU(), Go: runtime.Version(), LoadAvgStart: loadAvg()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kib, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
				m.MemoryMiB = kib / 1024
			}
		}
	}
	if out, err := exec.CommandContext(ctx, filepath.Join(env.pgBin, "postgres"), "--version").Output(); err == nil {
		m.PostgreSQL = strings.TrimSpace(string(out))
	}
	if env.terraform != "" {
		if out, err := exec.CommandContext(ctx, env.terraform, "version").Output(); err == nil {
			m.Terraform, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
		}
	}
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// keepEarlier copies into res, from the results file at path, the sections
// of the benchmarks this run left out, so that a run of some benchmarks
// updates the file rather than replaces it, and says which run measured
// them.
func keepEarlier(res *results, path string, selected map[string]bool) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var old results
	if err := json.Unmarshal(b, &old); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	for _, name := range benchmarks {
		if selected[name] || !copySection(res, &old, name) {
			continue
		}
		from := earlierRun{Date: old.Date, Commit: old.Commit, Machine: old.Machine}
		for _, e := range old.Earlier {
			if slices.Contains(e.Sections, name) {
				from = earlierRun{Date: e.Date, Commit: e.Commit, Machine: e.Machine}
			}
		}
		i := slices.IndexFunc(res.Earlier, func(e earlierRun) bool { return e.Date == from.Date && e.Commit == from.Commit })
		if i < 0 {
			res.Earlier = append(res.Earlier, from)
			i = len(res.Earlier) - 1
		}
		res.Earlier[i].Sections = append(res.Earlier[i].Sections, name)
	}
	return nil
}

// copySection copies the named benchmark's section from src to dst and
// says whether src had one.
func copySection(dst, src *results, name string) bool {
	switch name {
	case "provision":
		dst.Provisioning = src.Provisioning
		return src.Provisioning != nil
	case "polling":
		dst.Polling = src.Polling
		return src.Polling != nil
	case "load":
		dst.APILoad = src.APILoad
		return src.APILoad != nil
	case "rollout":
		dst.Rollout = src.Rollout
		return src.Rollout != nil
	case "scale":
		dst.Scale = src.Scale
		return src.Scale != nil
	case "nodes":
		dst.Nodes = src.Nodes
		return src.Nodes != nil
	}
	return false
}
