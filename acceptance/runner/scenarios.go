package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// How a scenario drives dbfleet.
const (
	// ViaTerraform: the real provider through the Terraform CLI.
	ViaTerraform = "terraform"
	// ViaAPI: dbfleetd's HTTP API directly.
	ViaAPI = "api"
)

// AllRegions is the region recorded for a scenario that spans regions.
const AllRegions = "all"

// Scenario is one check the runner runs against an environment.
type Scenario struct {
	// Name identifies the scenario in flags, records, metrics and reports.
	Name string
	// Via is ViaTerraform or ViaAPI.
	Via string
	// PerRegion scenarios run once in each region, each run recorded with
	// its region; the others run once over the environment's regions.
	PerRegion bool
	// MinRegions is how many regions the scenario needs; with fewer it is
	// recorded as failed.
	MinRegions int
	// Description says what the scenario does and what it checks.
	Description string
	run         func(ctx context.Context, t *trial) error
}

// Scenarios returns every scenario, in the order the runner runs them.
func Scenarios() []*Scenario {
	return []*Scenario{
		{Name: "create_destroy", Via: ViaTerraform, PerRegion: true, MinRegions: 1, run: runCreateDestroy,
			Description: "terraform apply of one database in the region, a plan that must be empty, terraform destroy; the API must show it ready, then gone"},
		{Name: "schema_rollout", Via: ViaTerraform, MinRegions: 1, run: runSchemaRollout,
			Description: "a schema with one-region waves and a database in every region; terraform apply of version 1, then of version 2 through the full wave-by-wave rollout; every ledger at 2, the rollout completed, an empty plan, terraform destroy"},
		{Name: "replica_consistency", Via: ViaAPI, MinRegions: 2, run: runReplicaConsistency,
			Description: "a database in the first region and its logical replica in the second; writes on the source, a consistency check that must say consistent, the replica's row count, deletes"},
		{Name: "rapid_calls", Via: ViaAPI, MinRegions: 1, run: runRapidCalls,
			Description: "successive changes to one database as fast as the API accepts them (waiting only on 409), reads and plans in between; the last change must win in the API and in PostgreSQL"},
		{Name: "load", Via: ViaAPI, MinRegions: 1, run: runLoad,
			Description: "many databases created at once across the regions, all ready, all deleted at once, none left"},
		{Name: "retry_storm", Via: ViaAPI, MinRegions: 1, run: runRetryStorm,
			Description: "concurrent retries of one PUT and one DELETE with the same Idempotency-Key: one operation each, no 5xx, a reused key with another body refused, dbfleetd healthy"},
	}
}

// SelectScenarios returns the scenarios names lists, in the runner's
// order; no names selects all.
func SelectScenarios(names []string) ([]*Scenario, error) {
	all := Scenarios()
	if len(names) == 0 {
		return all, nil
	}
	var known []string
	for _, s := range all {
		known = append(known, s.Name)
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("unknown scenario %q; scenarios: %s", n, strings.Join(known, ", "))
		}
	}
	return slices.DeleteFunc(all, func(s *Scenario) bool { return !slices.Contains(names, s.Name) }), nil
}

// runEnv is what a run's trials share.
type runEnv struct {
	env     string
	runID   string
	prefix  string
	api     *api
	tf      *terraform
	results *Results
	// workDir holds the trials' Terraform working directories.
	workDir string
	// opTimeout bounds each operation a scenario waits for.
	opTimeout time.Duration
	// loadDatabases is how many databases the load scenario creates.
	loadDatabases int
	// stormSize is how many copies of one request the retry storm sends
	// at once.
	stormSize int
	// rapidCalls is how many successive changes rapid_calls makes.
	rapidCalls int
	// names numbers the run's resources.
	names atomic.Int64
	now   func() time.Time
	log   zerolog.Logger
}

// trialRegions are the regions a trial of an iteration works on.
type trialRegions struct {
	// all are the environment's regions in the backend's order.
	all []string
	// pick is where a scenario that works in one region works: it rotates
	// with the iteration.
	pick string
}

// workDir returns a new empty directory for the trial's Terraform files.
func (t *trial) workDir() (string, error) {
	dir, err := os.MkdirTemp(t.env.workDir, t.scenario.Name+"-")
	if err != nil {
		return "", fmt.Errorf("making a Terraform working directory: %w", err)
	}
	t.mu.Lock()
	t.dirs = append(t.dirs, dir)
	t.mu.Unlock()
	return dir, nil
}

// writeFile writes a Terraform file into dir.
func writeFile(dir, name, content string) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
