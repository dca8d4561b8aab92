package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// Defaults of Config's zero fields.
const (
	// DefaultPrefix begins the name of every resource a run creates.
	DefaultPrefix = "dbfr_"
	// DefaultOpTimeout bounds each operation a scenario waits for.
	DefaultOpTimeout = 5 * time.Minute
	// DefaultScenarioTimeout bounds one scenario run, cleanup aside.
	DefaultScenarioTimeout = 20 * time.Minute
	// DefaultLease is how long a run counts as alive after its last
	// heartbeat; it renews the lease every third of it.
	DefaultLease = 2 * time.Minute
	// DefaultLoadDatabases is how many databases the load scenario creates.
	DefaultLoadDatabases = 10
	// DefaultStormSize is how many copies of one request the retry storm
	// sends at once.
	DefaultStormSize = 8
	// DefaultRapidCalls is how many successive changes rapid_calls makes.
	DefaultRapidCalls = 5
	// DefaultSweepEvery is how often a long run sweeps dead runs' leftovers.
	DefaultSweepEvery = 10 * time.Minute
	// cleanupTimeout bounds the removal of what a scenario run left.
	cleanupTimeout = 3 * time.Minute
)

// Config configures Run.
type Config struct {
	// Endpoint and Token reach dbfleetd; the token needs the write scope.
	// The token is never logged.
	Endpoint string
	Token    string
	// Env names the environment (dev, staging, prod-westeurope) in records,
	// logs and metrics. Required.
	Env string
	// Scenarios are the scenarios to run; empty runs all.
	Scenarios []*Scenario
	// Regions, when not empty, restricts the run to these regions;
	// otherwise it uses every region the backend lists, healthy or not.
	Regions []string
	// Iterations is how many times to run the suite; 0 runs until ctx ends.
	Iterations int
	// Interval is the time from one iteration's start to the next's; an
	// iteration that takes longer is followed at once.
	Interval time.Duration
	// Parallel is how many scenario runs run at once. Zero means 1.
	Parallel int
	// Prefix begins every resource name. Empty means DefaultPrefix.
	Prefix string
	// Results records the runs. Required.
	Results *Results
	// Metrics, when not nil, receives every scenario run.
	Metrics *Metrics
	// TerraformPath is the CLI the Terraform scenarios run, Terraform or
	// OpenTofu; required for them.
	TerraformPath string
	// ProviderBinary is the provider that the CLI uses through
	// dev_overrides; empty uses the implicit local mirror (make install)
	// after init.
	ProviderBinary string
	// WorkDir is where the run keeps Terraform working directories; empty
	// means the system's temporary directory.
	WorkDir string
	// Zero durations and counts mean the Default* constants.
	OpTimeout       time.Duration
	ScenarioTimeout time.Duration
	Lease           time.Duration
	LoadDatabases   int
	StormSize       int
	RapidCalls      int
	// SweepEvery is how often the run sweeps dead runs' leftovers, at
	// its start and then between iterations; negative never sweeps.
	SweepEvery time.Duration
	// SweepTTL is the sweeper's TTL; zero means DefaultTTL.
	SweepTTL time.Duration
	Logger   zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// RunSummary is what a run did.
type RunSummary struct {
	RunID      string
	Iterations int
	Passed     int
	Failed     int
}

func (c *Config) setDefaults() error {
	if c.Env == "" {
		return errors.New("the environment name (-env) is required")
	}
	if c.Results == nil {
		return errors.New("a results store is required")
	}
	if c.Iterations < 0 || c.Parallel < 0 || c.Interval < 0 {
		return fmt.Errorf("iterations (%d), parallel (%d) and interval (%s) must not be negative", c.Iterations, c.Parallel, c.Interval)
	}
	c.Prefix = cmp.Or(c.Prefix, DefaultPrefix)
	if err := ValidatePrefix(c.Prefix); err != nil {
		return err
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = Scenarios()
	}
	c.Parallel = max(c.Parallel, 1)
	c.OpTimeout = cmp.Or(c.OpTimeout, DefaultOpTimeout)
	c.ScenarioTimeout = cmp.Or(c.ScenarioTimeout, DefaultScenarioTimeout)
	c.Lease = cmp.Or(c.Lease, DefaultLease)
	c.LoadDatabases = cmp.Or(c.LoadDatabases, DefaultLoadDatabases)
	c.StormSize = cmp.Or(c.StormSize, DefaultStormSize)
	c.RapidCalls = cmp.Or(c.RapidCalls, DefaultRapidCalls)
	c.SweepEvery = cmp.Or(c.SweepEvery, DefaultSweepEvery)
	c.WorkDir = cmp.Or(c.WorkDir, os.TempDir())
	if c.Now == nil {
		c.Now = time.Now
	}
	needsTerraform := slices.ContainsFunc(c.Scenarios, func(s *Scenario) bool { return s.Via == ViaTerraform })
	if needsTerraform && c.TerraformPath == "" {
		return errors.New("the Terraform scenarios need the Terraform CLI: set -terraform or TF_ACC_TERRAFORM_PATH")
	}
	return nil
}

// Run runs the scenarios against the environment, Iterations times or until
// ctx ends, and records every scenario run. A failing scenario is recorded
// and the run goes on; Run fails only when it cannot run at all. When ctx
// ends, running scenarios are interrupted (and not recorded), their
// resources removed, and Run returns without error.
func Run(ctx context.Context, cfg Config) (*RunSummary, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	start := cfg.Now()
	runID, err := NewRunID(start)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With().Str("env", cfg.Env).Str("runId", runID).Logger()
	host, _ := os.Hostname()
	run := &RunRecord{ID: runID, Env: cfg.Env, Endpoint: cfg.Endpoint, Prefix: cfg.Prefix, Host: host, PID: os.Getpid(),
		Started: start, LeaseUntil: start.Add(cfg.Lease)}
	if err := cfg.Results.RunInsert(ctx, run); err != nil {
		return nil, err
	}
	defer func() {
		endCtx, cancel := contextForCleanup(ctx, statusTimeout)
		defer cancel()
		if err := cfg.Results.RunEnd(endCtx, runID, cfg.Now()); err != nil {
			log.Error().Err(err).Msg("Failed to record the end of the run")
		}
	}()
	heartbeatCtx, stopHeartbeat := context.WithCancel(ctx)
	defer stopHeartbeat()
	go heartbeat(heartbeatCtx, cfg, runID, log)

	workDir, err := os.MkdirTemp(cfg.WorkDir, "dbfleet-runner-"+runID+"-")
	if err != nil {
		return nil, fmt.Errorf("making the run's working directory: %w", err)
	}
	defer os.RemoveAll(workDir)

	a, err := newAPI(cfg.Endpoint, cfg.Token, runID)
	if err != nil {
		return nil, err
	}
	env := &runEnv{
		env: cfg.Env, runID: runID, prefix: cfg.Prefix, api: a, results: cfg.Results, workDir: workDir,
		opTimeout: cfg.OpTimeout, loadDatabases: cfg.LoadDatabases, stormSize: cfg.StormSize, rapidCalls: cfg.RapidCalls,
		now: cfg.Now, log: log,
	}
	if cfg.TerraformPath != "" {
		if env.tf, err = newTerraform(cfg.TerraformPath, cfg.ProviderBinary, workDir, cfg.Endpoint, cfg.Token); err != nil {
			return nil, err
		}
	}
	sweeper, err := NewSweeper(SweepConfig{Endpoint: cfg.Endpoint, Token: cfg.Token, Env: cfg.Env, Prefix: cfg.Prefix,
		Results: cfg.Results, TTL: cfg.SweepTTL, OpTimeout: cfg.OpTimeout, LiveRun: runID, Logger: log, Metrics: cfg.Metrics, Now: cfg.Now})
	if err != nil {
		return nil, err
	}

	var names []string
	for _, s := range cfg.Scenarios {
		names = append(names, s.Name)
	}
	log.Info().Str("endpoint", cfg.Endpoint).Strs("scenarios", names).Int("iterations", cfg.Iterations).
		Dur("interval", cfg.Interval).Int("parallel", cfg.Parallel).Str("prefix", cfg.Prefix).Msg("Started run")

	summary := &RunSummary{RunID: runID}
	var lastSweep time.Time
	for iteration := 1; cfg.Iterations == 0 || iteration <= cfg.Iterations; iteration++ {
		began := cfg.Now()
		if cfg.SweepEvery > 0 && (lastSweep.IsZero() || began.Sub(lastSweep) >= cfg.SweepEvery) {
			lastSweep = began
			sweep(ctx, sweeper, log)
		}
		if ctx.Err() != nil {
			break
		}
		results := runIteration(ctx, cfg, env, iteration)
		if ctx.Err() != nil {
			break
		}
		summary.Iterations++
		for _, r := range results {
			if r.Outcome == OutcomePassed {
				summary.Passed++
			} else {
				summary.Failed++
			}
		}
		if cfg.Metrics != nil {
			cfg.Metrics.iterationDone(cfg.Env)
		}
		log.Info().Int("iteration", iteration).Int("passed", summary.Passed).Int("failed", summary.Failed).
			Dur("elapsed", cfg.Now().Sub(began)).Msg("Finished iteration")
		if cfg.Iterations != 0 && iteration == cfg.Iterations {
			break
		}
		if wait := cfg.Interval - cfg.Now().Sub(began); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
	log.Info().Int("iterations", summary.Iterations).Int("passed", summary.Passed).Int("failed", summary.Failed).Msg("Finished run")
	return summary, nil
}

// heartbeat renews the run's lease until ctx ends.
func heartbeat(ctx context.Context, cfg Config, runID string, log zerolog.Logger) {
	tick := time.NewTicker(cfg.Lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := cfg.Results.RunRenewLease(ctx, runID, cfg.Now().Add(cfg.Lease)); err != nil && ctx.Err() == nil {
				log.Error().Err(err).Msg("Failed to renew the run's lease")
			}
		}
	}
}

// sweep runs the sweeper once and logs what it did.
func sweep(ctx context.Context, s *Sweeper, log zerolog.Logger) {
	rep, err := s.Sweep(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Error().Err(err).Msg("Failed to sweep")
		}
		return
	}
	log.Info().Strs("databases", rep.Databases).Strs("schemas", rep.Schemas).Int("kept", rep.Kept).
		Int("failed", len(rep.Failed)).Msg("Swept leftovers of dead runs")
}

// job is one scenario run an iteration schedules.
type job struct {
	scenario *Scenario
	region   string
}

// runIteration runs every scenario once (per-region ones once per region),
// cfg.Parallel at a time, and returns what it recorded.
func runIteration(ctx context.Context, cfg Config, env *runEnv, iteration int) []*Result {
	regions, listErr := listRegions(ctx, env.api, cfg.Regions)
	var jobs []job
	for _, s := range cfg.Scenarios {
		if s.PerRegion && listErr == nil {
			for _, r := range regions {
				jobs = append(jobs, job{s, r})
			}
			continue
		}
		jobs = append(jobs, job{s, AllRegions})
	}
	tr := trialRegions{all: regions}
	if len(regions) > 0 {
		tr.pick = regions[(iteration-1)%len(regions)]
	}

	var mu sync.Mutex
	var out []*Result
	sem := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			res := runTrial(ctx, cfg, env, j, tr, iteration, listErr)
			if res == nil {
				return
			}
			mu.Lock()
			out = append(out, res)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// listRegions returns the backend's regions, or those of only that it has.
func listRegions(ctx context.Context, a *api, only []string) ([]string, error) {
	list, err := a.client.RegionList(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range list {
		if len(only) == 0 || slices.Contains(only, r.Name) {
			names = append(names, r.Name)
		}
	}
	if len(only) > len(names) {
		return names, fmt.Errorf("regions %v asked for, but the backend has only %v", only, regionNames(list))
	}
	return names, nil
}

func regionNames(list []apiv1.Region) []string {
	var names []string
	for _, r := range list {
		names = append(names, r.Name)
	}
	return names
}

// runTrial runs one scenario run, cleans up after it, records it and logs
// it. It returns nil when ctx ended during it: an interrupted run is
// neither a pass nor a failure.
func runTrial(ctx context.Context, cfg Config, env *runEnv, j job, regions trialRegions, iteration int, regionsErr error) *Result {
	s := j.scenario
	t := &trial{
		env: env, scenario: s, region: j.region, regions: regions, iteration: iteration,
		log: env.log.With().Str("scenario", s.Name).Str("region", j.region).Int("iteration", iteration).Logger(),
	}
	t.log.Info().Str("via", s.Via).Msg("Started scenario")
	start := cfg.Now()
	var err error
	switch {
	case regionsErr != nil:
		t.setStep("list_regions", "")
		err = fmt.Errorf("listing the regions: %w", regionsErr)
	case len(regions.all) < s.MinRegions:
		t.setStep("list_regions", "")
		err = fmt.Errorf("scenario %s needs %d regions; the environment has %d (%s)", s.Name, s.MinRegions, len(regions.all), strings.Join(regions.all, ", "))
	default:
		trialCtx, cancel := context.WithTimeout(withTrial(ctx, t), cfg.ScenarioTimeout)
		err = s.run(trialCtx, t)
		cancel()
	}
	duration := cfg.Now().Sub(start)
	step, stepRegion := t.where()
	t.recordOperations(ctx, start)
	cleanupErr := cleanup(ctx, t)
	if ctx.Err() != nil {
		t.log.Info().Str("step", step).Msg("Interrupted scenario")
		return nil
	}
	if err == nil && cleanupErr != nil {
		err, step, stepRegion = cleanupErr, "cleanup", ""
	}

	ops, requests := t.ids()
	res := &Result{
		RunID: env.runID, Iteration: iteration, Env: env.env, Scenario: s.Name, Via: s.Via, Region: j.region,
		Start: start, Duration: duration, Outcome: OutcomePassed, OperationIDs: ops, RequestIDs: requests,
	}
	if err != nil {
		res.Outcome, res.Error, res.Step = OutcomeFailed, err.Error(), step
		res.ErrorRegion = failureRegion(err, stepRegion)
		if res.ErrorRegion == "" && j.region != AllRegions {
			res.ErrorRegion = j.region
		}
		ev := t.log.Error().Str("step", step).Str("errorRegion", res.ErrorRegion).Err(err).
			Strs("operationIds", ops).Strs("requestIds", requests).Dur("duration", duration)
		var opErr *OperationError
		if errors.As(err, &opErr) {
			ev = ev.Str("operationId", opErr.Op.ID)
		}
		if len(requests) > 0 {
			ev = ev.Str("requestId", requests[len(requests)-1])
		}
		if cleanupErr != nil && !errors.Is(err, cleanupErr) {
			ev = ev.AnErr("cleanupErr", cleanupErr)
		}
		ev.Msg("Failed scenario")
	} else {
		t.log.Info().Dur("duration", duration).Int("operations", len(ops)).Msg("Passed scenario")
	}
	recordCtx, cancel := contextForCleanup(ctx, statusTimeout)
	defer cancel()
	if err := env.results.ResultInsert(recordCtx, res); err != nil {
		t.log.Error().Err(err).Msg("Failed to record the scenario run")
	}
	if cfg.Metrics != nil {
		cfg.Metrics.observe(res)
	}
	return res
}

// recordOperations adds to the trial the operations on the databases it
// claimed since start: Terraform's output names none when all goes well.
func (t *trial) recordOperations(ctx context.Context, start time.Time) {
	lookCtx, cancel := contextForCleanup(ctx, statusTimeout)
	defer cancel()
	for _, res := range t.claimed() {
		if res.Kind != KindDatabase {
			continue
		}
		ops, err := t.env.api.operations(lookCtx, res.Region, res.Name)
		if err != nil {
			t.log.Warn().Err(err).Str("database", res.Name).Msg("Failed to list a database's operations")
			continue
		}
		for _, op := range ops {
			if !op.CreatedAt.Before(start.Add(-time.Second)) {
				t.addOperation(op.ID)
			}
		}
	}
}

// cleanup removes what the trial claimed, newest first (replicas before
// their sources, databases before their schemas), and its working
// directories. It runs even when ctx has ended, bounded by cleanupTimeout.
func cleanup(ctx context.Context, t *trial) error {
	cleanCtx, cancel := contextForCleanup(withTrial(ctx, t), cleanupTimeout)
	defer cancel()
	t.mu.Lock()
	dirs := t.dirs
	t.mu.Unlock()
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
	claimed := t.claimed()
	var errs []error
	for _, kind := range []string{KindDatabase, KindSchema} {
		for _, res := range slices.Backward(claimed) {
			if res.Kind != kind {
				continue
			}
			var err error
			if kind == KindDatabase {
				err = t.env.api.removeDatabase(cleanCtx, res.Region, res.Name, t.env.opTimeout)
			} else {
				err = t.env.api.removeSchema(cleanCtx, res.Name)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := t.env.results.ResourceRemoved(cleanCtx, res.Kind, res.Region, res.Name, t.env.now()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cleaning up: %w", err)
	}
	return nil
}
