// Command dbfleet-runner is dbfleet's continuous acceptance runner. It runs
// scenario suites against a dbfleetd endpoint on an interval and records
// every scenario run (run), removes what dead runs left behind (sweep), and
// reports success rates, durations and failures (report). See
// acceptance/runner.
//
// Every command prints its usage on stdout for --help, -h or help and exits
// 0; a usage error prints one line and the usage on stderr and exits 2
// (package cmdline); any other failure exits 1.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/dbfleet/terraform-provider-dbfleet/acceptance/runner"
	"github.com/dbfleet/terraform-provider-dbfleet/internal/cmdline"
)

const usage = `usage:
  dbfleet-runner run    [flags]   run the scenarios on an interval and record them
  dbfleet-runner sweep  [flags]   remove the leftovers of dead runs once
  dbfleet-runner report [flags]   print success rates, p50/p95 durations and latest failures; write an HTML report
  dbfleet-runner help [COMMAND]

The endpoint and token come from -endpoint and -token, else DBFLEET_ENDPOINT and DBFLEET_TOKEN.
Run "dbfleet-runner COMMAND --help" for a command's flags.`

const (
	runHelp = `usage: dbfleet-runner run [flags]

Runs the scenarios on an interval and records every scenario run in the results store. The
Terraform scenarios run the CLI that -terraform names, Terraform 1.5.7 or OpenTofu 1.12.6 (tofu),
with the provider of -provider or, without one, from the local mirror (make install).`
	sweepHelp = `usage: dbfleet-runner sweep [flags]

Removes, once, the databases and schemas that dead runs left behind: only names with -prefix.`
	reportHelp = `usage: dbfleet-runner report [flags]

Prints success rates, p50/p95 durations and the latest failures per environment from the results
store; -html writes the report with plots.`
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	status, handled := cmdline.Exit(err, os.Stdout, os.Stderr)
	if !handled {
		fmt.Fprintln(os.Stderr, "dbfleet-runner:", err)
	}
	os.Exit(status)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	top := &cmdline.Command{Name: "dbfleet-runner", Usage: usage}
	if len(args) == 0 {
		return top.Errorf("a command is required")
	}
	switch args[0] {
	case "run":
		return runCommand(ctx, args[1:], stderr)
	case "sweep":
		return sweepCommand(ctx, args[1:], stdout, stderr)
	case "report":
		return reportCommand(ctx, args[1:], stdout)
	case "help":
		if len(args) > 1 {
			// help COMMAND is COMMAND --help.
			return run(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		return &cmdline.Help{Command: top}
	}
	if cmdline.IsHelp(args[0]) {
		return &cmdline.Help{Command: top}
	}
	return top.Errorf("unknown command %q", args[0])
}

// parse parses cmd's flags, which take no positional arguments.
func parse(cmd *cmdline.Command, args []string) error {
	positional, err := cmd.Parse(args)
	if err != nil {
		return err
	}
	return cmd.NoArguments(positional)
}

// connection are the flags every command that talks to dbfleetd takes.
type connection struct {
	endpoint, token, env, prefix, logLevel string
}

func (c *connection) register(fs *flag.FlagSet) {
	fs.StringVar(&c.endpoint, "endpoint", os.Getenv("DBFLEET_ENDPOINT"), "dbfleetd's URL (default $DBFLEET_ENDPOINT)")
	fs.StringVar(&c.token, "token", "", "an API token with the write scope (default $DBFLEET_TOKEN; prefer the variable: flags show in ps)")
	fs.StringVar(&c.env, "env", "dev", "the environment's name in records, logs and metrics, such as dev, staging or prod-westeurope")
	fs.StringVar(&c.prefix, "prefix", runner.DefaultPrefix, "the prefix of every resource name a run creates; the sweeper touches nothing without it")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
}

// check fills in the token from DBFLEET_TOKEN and returns the logger
// -log-level asks for; a missing endpoint or token, or a bad level, is a
// usage error of cmd.
func (c *connection) check(cmd *cmdline.Command, stderr io.Writer) (zerolog.Logger, error) {
	c.token = cmp.Or(c.token, os.Getenv("DBFLEET_TOKEN"))
	if c.endpoint == "" || c.token == "" {
		return zerolog.Nop(), cmd.Errorf("the endpoint and the token are required: set -endpoint and DBFLEET_TOKEN (or DBFLEET_ENDPOINT, -token)")
	}
	level, err := zerolog.ParseLevel(c.logLevel)
	if err != nil {
		return zerolog.Nop(), cmd.Errorf("-log-level: %w", err)
	}
	return zerolog.New(stderr).Level(level).With().Timestamp().Logger(), nil
}

func runCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	cmd := &cmdline.Command{Name: "dbfleet-runner run", Usage: runHelp, Flags: fs}
	var conn connection
	conn.register(fs)
	var (
		interval        = fs.Duration("interval", 30*time.Second, "time from one iteration's start to the next's")
		parallel        = fs.Int("parallel", 1, "scenario runs at once")
		iterations      = fs.Int("iterations", 0, "iterations to run; 0 runs until SIGINT or SIGTERM")
		scenarios       = fs.String("scenarios", "", "comma-separated scenarios to run (default all): "+scenarioNames())
		regions         = fs.String("regions", "", "comma-separated regions to run in (default every region the backend lists)")
		resultsPath     = fs.String("results", "dbfleet-runner.db", "the SQLite results store")
		metricsListen   = fs.String("metrics-listen", "", "address to serve Prometheus metrics on at /metrics, such as 127.0.0.1:9464 (default none)")
		terraformPath   = fs.String("terraform", os.Getenv("TF_ACC_TERRAFORM_PATH"), "the CLI of the Terraform scenarios: Terraform 1.5.7 or OpenTofu 1.12.6 (default $TF_ACC_TERRAFORM_PATH, else terraform on PATH)")
		providerBinary  = fs.String("provider", defaultProvider(), "the provider binary the CLI uses through dev_overrides (default terraform-provider-dbfleet beside this program, if there); empty uses the local mirror (make install)")
		workDir         = fs.String("workdir", "", "where Terraform working directories go (default the system's temporary directory)")
		opTimeout       = fs.Duration("op-timeout", runner.DefaultOpTimeout, "bound on each operation a scenario waits for")
		scenarioTimeout = fs.Duration("scenario-timeout", runner.DefaultScenarioTimeout, "bound on one scenario run")
		lease           = fs.Duration("lease", runner.DefaultLease, "how long the run counts as alive after its last heartbeat")
		loadDatabases   = fs.Int("load", runner.DefaultLoadDatabases, "databases the load scenario creates at once")
		stormSize       = fs.Int("storm", runner.DefaultStormSize, "copies of one request the retry storm sends at once")
		rapidCalls      = fs.Int("rapid", runner.DefaultRapidCalls, "successive changes rapid_calls makes")
		sweepEvery      = fs.Duration("sweep-every", runner.DefaultSweepEvery, "how often to sweep dead runs' leftovers (at start, then between iterations); negative never")
		sweepTTL        = fs.Duration("sweep-ttl", runner.DefaultTTL, "a run the results store does not know counts as dead once it started this long ago and its resource has not changed for as long")
	)
	if err := parse(cmd, args); err != nil {
		return err
	}
	log, err := conn.check(cmd, stderr)
	if err != nil {
		return err
	}
	selected, err := runner.SelectScenarios(splitList(*scenarios))
	if err != nil {
		return cmd.Errorf("-scenarios: %w", err)
	}
	if *terraformPath == "" {
		*terraformPath = "terraform"
	}
	results, err := runner.OpenResults(ctx, *resultsPath)
	if err != nil {
		return err
	}
	defer results.Close()

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := runner.NewMetrics(registry)
	if *metricsListen != "" {
		stopMetrics, err := serveMetrics(*metricsListen, registry, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	_, err = runner.Run(ctx, runner.Config{
		Endpoint: conn.endpoint, Token: conn.token, Env: conn.env, Prefix: conn.prefix,
		Scenarios: selected, Regions: splitList(*regions), Iterations: *iterations, Interval: *interval, Parallel: *parallel,
		Results: results, Metrics: metrics, TerraformPath: *terraformPath, ProviderBinary: *providerBinary, WorkDir: *workDir,
		OpTimeout: *opTimeout, ScenarioTimeout: *scenarioTimeout, Lease: *lease,
		LoadDatabases: *loadDatabases, StormSize: *stormSize, RapidCalls: *rapidCalls,
		SweepEvery: *sweepEvery, SweepTTL: *sweepTTL, Logger: log,
	})
	return err
}

// serveMetrics serves registry at addr/metrics until the returned function
// is called.
func serveMetrics(addr string, registry *prometheus.Registry, log zerolog.Logger) (func(), error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("Metrics server failed")
		}
	}()
	log.Info().Str("address", l.Addr().String()).Msg("Serving metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

func sweepCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	cmd := &cmdline.Command{Name: "dbfleet-runner sweep", Usage: sweepHelp, Flags: fs}
	var conn connection
	conn.register(fs)
	resultsPath := fs.String("results", "dbfleet-runner.db", "the results store whose leases say which runs live; when it does not exist, runs are judged by -ttl alone")
	ttl := fs.Duration("ttl", runner.DefaultTTL, "a run the results store does not know counts as dead once it started this long ago and its resource has not changed for as long")
	opTimeout := fs.Duration("op-timeout", runner.DefaultOpTimeout, "bound on each operation of a removal")
	if err := parse(cmd, args); err != nil {
		return err
	}
	log, err := conn.check(cmd, stderr)
	if err != nil {
		return err
	}
	var results *runner.Results
	if _, err := os.Stat(*resultsPath); err == nil {
		if results, err = runner.OpenResults(ctx, *resultsPath); err != nil {
			return err
		}
		defer results.Close()
	}
	sweeper, err := runner.NewSweeper(runner.SweepConfig{Endpoint: conn.endpoint, Token: conn.token, Env: conn.env, Prefix: conn.prefix,
		Results: results, TTL: *ttl, OpTimeout: *opTimeout, Logger: log})
	if err != nil {
		return err
	}
	rep, err := sweeper.Sweep(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed %d databases and %d schemas of dead runs; kept %d resources of live runs; %d removals failed\n",
		len(rep.Databases), len(rep.Schemas), rep.Kept, len(rep.Failed))
	for _, d := range rep.Databases {
		fmt.Fprintln(stdout, "  database", d)
	}
	for _, s := range rep.Schemas {
		fmt.Fprintln(stdout, "  schema", s)
	}
	return errors.Join(rep.Failed...)
}

func reportCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	cmd := &cmdline.Command{Name: "dbfleet-runner report", Usage: reportHelp, Flags: fs}
	resultsPath := fs.String("results", "dbfleet-runner.db", "the SQLite results store")
	env := fs.String("env", "", "report on this environment only (default all)")
	since := fs.Duration("since", 0, "only scenario runs that started this long ago or later (default all)")
	failures := fs.Int("failures", runner.DefaultReportFailures, "latest failures to list per environment")
	htmlPath := fs.String("html", "", "write the HTML report with plots here (default none)")
	if err := parse(cmd, args); err != nil {
		return err
	}
	if _, err := os.Stat(*resultsPath); err != nil {
		return fmt.Errorf("-results: %w", err)
	}
	results, err := runner.OpenResults(ctx, *resultsPath)
	if err != nil {
		return err
	}
	defer results.Close()
	params := runner.ReportParams{Env: *env, Failures: *failures}
	now := time.Now()
	if *since > 0 {
		params.Since = now.Add(-*since)
	}
	rep, err := runner.BuildReport(ctx, results, params, now)
	if err != nil {
		return err
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if *htmlPath == "" {
		return nil
	}
	f, err := os.Create(*htmlPath)
	if err != nil {
		return fmt.Errorf("-html: %w", err)
	}
	if err := rep.WriteHTML(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", *htmlPath, err)
	}
	return f.Close()
}

// defaultProvider is the provider binary beside this program, as make build
// leaves it in bin/, or "" when there is none.
func defaultProvider() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(exe), "terraform-provider-dbfleet")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func scenarioNames() string {
	var names []string
	for _, s := range runner.Scenarios() {
		names = append(names, s.Name+" ("+s.Via+")")
	}
	return strings.Join(names, ", ")
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
