package acceptance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

// TestAccStamp_RegionByRegionFollowsTheWaves applies examples/stamp, one
// configuration with one variable file per region, one region at a time,
// each region with its own state, as a platform team does; and checks in
// the ledgers that the schema's versions reached the regions in the same
// wave order as one apply over all regions gives
// (TestAccSchemaRollout_WavesInOneApply): westeurope first, northeurope
// and eastus no earlier than the bake time after it.
//
// It runs the Terraform CLI itself, since terraform-plugin-testing runs one
// configuration and state per step, with a provider built from this module
// under dev_overrides. The schema is examples/stamp/schema with its own
// name and a bake time of one second instead of ten.
//
// The first round creates the databases region by region, canary first,
// one apply after the other, as `make demo` does. The second round
// publishes a new version and applies the regions concurrently, the later
// wave first: their applies start, plan wave 2 and wait on the canary's
// gate; only once dbfleetd reports both waiting does the test start the
// canary's apply. So the order in the ledgers is dbfleetd's doing, not the
// order in which the regions were applied.
func TestAccStamp_RegionByRegionFollowsTheWaves(t *testing.T) {
	name := setup(t, "acc_stamp").name
	t.Parallel()
	const bake = time.Second
	s := newStamp(t, daemontest.UniqueName("acc_stamp_app"), name, bake)

	s.tf.mustRun("schema", "apply", "-no-color", "-auto-approve")
	var waves [][]string
	require.NoError(t, s.tf.outputJSON(&waves, "schema", "waves"))
	require.Equal(t, canaryWaves, waves, "examples/stamp/schema's waves")
	var latest int64
	require.NoError(t, s.tf.outputJSON(&latest, "schema", "latest_version"))
	require.GreaterOrEqual(t, latest, int64(1))
	wave := map[string]int64{}
	for i, w := range waves {
		for _, region := range w {
			wave[region] = int64(i + 1)
		}
	}

	// Round 1: create, canary first.
	var versions []int64
	for v := int64(1); v <= latest; v++ {
		versions = append(versions, v)
	}
	for _, region := range slices.Concat(waves...) {
		s.tf.mustRun(s.regionArgs(region, "apply", "-auto-approve")...)
	}
	require.NoError(t, checkLedgerVersions(name, allRegions, versions...))
	for _, v := range versions {
		require.NoError(t, checkWaveOrder(t, name, v, waves, bake))
	}
	s.checkOutputs(wave, latest)

	// Round 2: a new version, the later wave applied first.
	next := latest + 1
	s.addMigration(next, "CREATE TABLE stamp_audit (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());",
		"DROP TABLE stamp_audit;")
	s.tf.mustRun("schema", "apply", "-no-color", "-auto-approve")
	planFile := filepath.Join(s.dir, "northeurope.tfplan")
	s.tf.mustRun(s.regionArgs("northeurope", "plan", "-out="+planFile)...)
	s.checkPlan(planFile, next, wave["northeurope"])

	var later sync.WaitGroup
	applied := map[string]*regionApply{}
	for _, region := range []string{"northeurope", "eastus"} {
		a := &regionApply{done: make(chan struct{})}
		applied[region] = a
		args := s.regionArgs(region, "apply", "-auto-approve")
		if region == "northeurope" {
			// The plan checked above; a saved plan takes no variables.
			args = []string{".", "apply", "-no-color", "-state=" + s.statePath(region), planFile}
		}
		later.Add(1)
		go func() {
			defer later.Done()
			defer close(a.done)
			_, a.err = s.tf.run(args...)
		}()
	}
	for region, a := range applied {
		require.NoError(t, a.waitOnGate(region, name), "the apply in %s did not wait for the canary", region)
	}
	s.tf.mustRun(s.regionArgs("westeurope", "apply", "-auto-approve")...)
	later.Wait()
	for region, a := range applied {
		require.NoError(t, a.err, "the apply in %s", region)
	}
	require.NoError(t, checkLedgerVersions(name, allRegions, append(versions, next)...))
	require.NoError(t, checkWaveOrder(t, name, next, waves, bake))
	s.checkOutputs(wave, next)
}

// stamp is a copy of examples/stamp in a temporary directory, with a state
// file per region.
type stamp struct {
	t        *testing.T
	dir      string
	tf       *terraformCLI
	database string
	// vars are the variables every region's apply gets.
	vars []string
}

// newStamp copies examples/stamp (main.tf, regions/*.tfvars and
// schema/main.tf) into a temporary directory, naming the schema schema and
// setting its bake time to bake, and returns it with the variables that
// run database there with deletion protection off. Every region's
// databases, then the schema, are destroyed when the test ends.
func newStamp(t *testing.T, schema, database string, bake time.Duration) *stamp {
	t.Helper()
	root, err := moduleRoot()
	require.NoError(t, err)
	src := filepath.Join(root, "examples", "stamp")
	dir := t.TempDir()
	for _, sub := range []string{"regions", "schema", "states"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, sub), 0o755))
	}
	files, err := filepath.Glob(filepath.Join(src, "regions", "*.tfvars"))
	require.NoError(t, err)
	files = append(files, filepath.Join(src, "main.tf"))
	var regions []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		rel, err := filepath.Rel(src, f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, rel), b, 0o644))
		if strings.HasSuffix(f, ".tfvars") {
			regions = append(regions, strings.TrimSuffix(filepath.Base(f), ".tfvars"))
		}
	}
	require.ElementsMatch(t, allRegions, regions, "examples/stamp/regions")

	b, err := os.ReadFile(filepath.Join(src, "schema", "main.tf"))
	require.NoError(t, err)
	schemaTF := replaceOnce(t, string(b), `(?m)^(\s*name\s*=\s*)"app"[ \t]*$`, "${1}"+hclString(schema))
	schemaTF = replaceOnce(t, schemaTF, `(?m)^(\s*bake_time\s*=\s*)"[^"]*"`, "${1}"+hclString(bake.String()))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "schema", "main.tf"), []byte(schemaTF), 0o644))

	s := &stamp{
		t:        t,
		dir:      dir,
		tf:       newTerraformCLI(t, dir),
		database: database,
		vars: []string{
			"-var=schema=" + schema,
			fmt.Sprintf("-var=databases=[%s]", hclString(database)),
			"-var=deletion_protection=false",
			// Where no pg_dump can back a region's server up, the destroy would be refused.
			fmt.Sprintf("-var=skip_final_backup=%t", slices.ContainsFunc(allRegions, func(r string) bool {
				return !capabilities(t, r).CanTakeFinalBackups
			})),
		},
	}
	t.Cleanup(s.destroy)
	return s
}

// replaceOnce replaces the one match of pattern in s with replacement, and
// fails the test when pattern matches other than once: the example changed
// under the test.
func replaceOnce(t *testing.T, s, pattern, replacement string) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	require.Len(t, re.FindAllStringIndex(s, -1), 1, "examples/stamp/schema/main.tf: want one match of %s", pattern)
	return re.ReplaceAllString(s, replacement)
}

// statePath is the state file of region.
func (s *stamp) statePath(region string) string {
	return filepath.Join(s.dir, "states", region+".tfstate")
}

// regionArgs are the arguments of `terraform <command>` for region in the
// stamp's directory: its state, its variable file and the stamp's
// variables.
func (s *stamp) regionArgs(region, command string, extra ...string) []string {
	args := []string{".", command, "-no-color", "-state=" + s.statePath(region), "-var-file=regions/" + region + ".tfvars"}
	return append(append(args, s.vars...), extra...)
}

// addMigration adds a migration to the stamp's schema, after the last.
func (s *stamp) addMigration(version int64, up, down string) {
	s.t.Helper()
	path := filepath.Join(s.dir, "schema", "main.tf")
	b, err := os.ReadFile(path)
	require.NoError(s.t, err)
	text := string(b)
	open := regexp.MustCompile(`(?m)^([ \t]*)migrations\s*=\s*\[[ \t]*$`).FindStringSubmatchIndex(text)
	require.NotNil(s.t, open, "examples/stamp/schema/main.tf: no migrations = [ line")
	indent := text[open[2]:open[3]]
	end := regexp.MustCompile(`(?m)^` + indent + `\][ \t]*$`).FindStringIndex(text[open[1]:])
	require.NotNil(s.t, end, "examples/stamp/schema/main.tf: no ] that closes migrations")
	at := open[1] + end[0]
	element := fmt.Sprintf("%[1]s  {\n%[1]s    version = %[2]d\n%[1]s    up      = %[3]s\n%[1]s    down    = %[4]s\n%[1]s  },\n",
		indent, version, hclString(up), hclString(down))
	require.NoError(s.t, os.WriteFile(path, []byte(text[:at]+element+text[at:]), 0o644))
}

// stampDatabase is an element of the stamp's databases output.
type stampDatabase struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	SchemaVersion  int64  `json:"schema_version"`
	AppliedVersion int64  `json:"applied_version"`
	RolloutWave    int64  `json:"rollout_wave"`
}

// checkOutputs checks every region's outputs: its database ready at
// version, in its wave; and records the passwords as secrets.
func (s *stamp) checkOutputs(wave map[string]int64, version int64) {
	s.t.Helper()
	for _, region := range allRegions {
		state := "-state=" + s.statePath(region)
		var dbs map[string]stampDatabase
		require.NoError(s.t, s.tf.outputJSON(&dbs, ".", "databases", state))
		require.Equal(s.t, map[string]stampDatabase{s.database: {
			ID:             region + "/" + s.database,
			Status:         apiv1.DatabaseStatusReady,
			SchemaVersion:  version,
			AppliedVersion: version,
			RolloutWave:    wave[region],
		}}, dbs, "terraform output databases in %s", region)
		var passwords map[string]string
		require.NoError(s.t, s.tf.outputJSON(&passwords, ".", "passwords", state))
		for name, p := range passwords {
			fleet.secrets.add(p, "the password of database "+region+"/"+name)
		}
	}
}

// checkPlan checks a saved plan of a region: it upgrades the database to
// version, and shows the region's wave.
func (s *stamp) checkPlan(planFile string, version, wave int64) {
	s.t.Helper()
	out := s.tf.mustRun(".", "show", "-no-color", "-json", planFile)
	var plan tfjson.Plan
	require.NoError(s.t, json.Unmarshal([]byte(out), &plan))
	address := fmt.Sprintf("dbfleet_database.this[%q]", s.database)
	i := slices.IndexFunc(plan.ResourceChanges, func(rc *tfjson.ResourceChange) bool { return rc.Address == address })
	require.GreaterOrEqual(s.t, i, 0, "the plan does not change %s", address)
	change := plan.ResourceChanges[i].Change
	require.True(s.t, change.Actions.Update(), "the plan's actions on %s: %v", address, change.Actions)
	after, ok := change.After.(map[string]any)
	require.True(s.t, ok, "the planned values of %s: %#v", address, change.After)
	require.EqualValues(s.t, version, after["schema_version"], "the planned schema_version")
	require.EqualValues(s.t, wave, after["rollout_wave"], "the planned rollout_wave")
}

// destroy destroys every region's databases, then the schema, as the
// stamp's README says, and asks PostgreSQL that the databases are gone.
func (s *stamp) destroy() {
	var wg sync.WaitGroup
	errs := make([]error, len(allRegions))
	for i, region := range allRegions {
		if _, err := os.Stat(s.statePath(region)); err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.tf.run(s.regionArgs(region, "destroy", "-auto-approve")...)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.t.Errorf("destroying the stamp's databases: %v", err)
		return
	}
	if _, err := os.Stat(filepath.Join(s.dir, "schema", "terraform.tfstate")); err == nil {
		if _, err := s.tf.run("schema", "destroy", "-no-color", "-auto-approve"); err != nil {
			s.t.Errorf("destroying the stamp's schema: %v", err)
		}
	}
	for _, region := range allRegions {
		if err := checkGone(s.t, dbInstance{address: region, region: region, name: s.database}); err != nil {
			s.t.Error(err)
		}
	}
}

// regionApply is a region's apply running in the background.
type regionApply struct {
	done chan struct{}
	err  error
}

// waitOnGate waits until dbfleetd reports the region's database waiting
// on its rollout gate; it fails if the apply ends first.
func (a *regionApply) waitOnGate(region, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		select {
		case <-a.done:
			return fmt.Errorf("the apply in %s ended before its database waited on the gate (err: %v)", region, a.err)
		case <-ctx.Done():
			return fmt.Errorf("the database in %s did not wait on the gate: %w", region, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		db, err := apiDatabase(ctx, region, name)
		if err == nil && db.Status == apiv1.DatabaseStatusWaiting {
			return nil
		}
	}
}
