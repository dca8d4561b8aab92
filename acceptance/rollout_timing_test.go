package acceptance

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

// TestAccSchemaRollout_UpgradeTimeAgainstPsql measures three-region
// upgrades with bake_time = 0, a canary wave then the other two regions,
// as a user runs them: the wall time of `terraform plan` and of `terraform
// apply` of a new migration, with the HTTP requests the provider sent
// (counted by a proxy) and the span of dbfleetd's operations; against the
// floor of running the same migration with psql in one region after
// another, on databases of the same regions at the same version. It runs
// upgradeRounds upgrades and logs each and the medians; it asserts only
// that every upgrade happened, in wave order.
//
// It does not call t.Parallel, so that it runs while the parallel tests
// are paused: the numbers are less noisy.
func TestAccSchemaRollout_UpgradeTimeAgainstPsql(t *testing.T) {
	const upgradeRounds = 3
	name := setup(t, "acc_timing").name
	counter := newRequestCounter(t)
	up1 := "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL);"
	cfg := rolloutConfig{
		schema:            daemontest.UniqueName("acc_timing_app"),
		migrations:        []migration{{version: 1, up: up1}},
		waves:             canaryWaves,
		bakeTime:          "0s",
		database:          name,
		regions:           allRegions,
		endpoint:          counter.url(),
		requiredProviders: true,
	}

	dir := t.TempDir()
	tf := newTerraformCLI(t, dir)
	write := func(c rolloutConfig) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "main.tf"), []byte(c.config()), 0o644))
	}
	write(cfg)
	t.Cleanup(func() {
		if _, err := tf.run(".", "destroy", "-no-color", "-auto-approve"); err != nil {
			t.Errorf("destroying: %v", err)
		}
	})
	tf.mustRun(".", "apply", "-no-color", "-auto-approve")
	recordPasswords(t, tf)
	psql := newPsqlFleet(t, name+"_psql")
	psql.run(up1)

	timed := func(args ...string) (time.Duration, map[string]int) {
		started := time.Now()
		tf.mustRun(args...)
		return time.Since(started), normalizeRoutes(counter.take(), cfg.schema)
	}
	var applies, spans, floors []time.Duration
	t.Logf("three-region upgrades, waves %v, bake_time = 0:", canaryWaves)
	for v := int64(2); v < 2+upgradeRounds; v++ {
		up := fmt.Sprintf("ALTER TABLE accounts ADD COLUMN c%[1]d text;\nCREATE INDEX accounts_c%[1]d ON accounts (c%[1]d);", v)
		cfg.migrations = append(cfg.migrations, migration{version: v, up: up})
		write(cfg)
		counter.take()
		planTime, planRequests := timed(".", "plan", "-no-color")
		applyTime, applyRequests := timed(".", "apply", "-no-color", "-auto-approve")
		recordPasswords(t, tf)
		require.NoError(t, checkWaveOrder(t, name, v, canaryWaves, 0))

		var first, last time.Time
		var perRegion []string
		for _, region := range allRegions {
			op := lastOperation(t, region, name)
			require.True(t, op.Done, "the upgrade in %s", region)
			if first.IsZero() || op.CreatedAt.Before(first) {
				first = op.CreatedAt
			}
			if op.UpdatedAt.After(last) {
				last = op.UpdatedAt
			}
			perRegion = append(perRegion, fmt.Sprintf("%s %s", region, op.UpdatedAt.Sub(op.CreatedAt).Round(time.Millisecond)))
		}
		floor, psqlPerRegion := psql.run(up)

		applies, spans, floors = append(applies, applyTime), append(spans, last.Sub(first)), append(floors, floor)
		t.Logf("version %d:", v)
		t.Logf("  terraform plan:  %s, %d requests %v", planTime.Round(time.Millisecond), total(planRequests), planRequests)
		t.Logf("  terraform apply: %s, %d requests %v", applyTime.Round(time.Millisecond), total(applyRequests), applyRequests)
		t.Logf("  dbfleetd's upgrade operations: %s from the first PUT to the last done (%s)",
			last.Sub(first).Round(time.Millisecond), strings.Join(perRegion, ", "))
		t.Logf("  psql, one region after another: %s (%s)", floor.Round(time.Millisecond), strings.Join(psqlPerRegion, ", "))
	}
	versions := []int64{1}
	for v := int64(2); v < 2+upgradeRounds; v++ {
		versions = append(versions, v)
	}
	require.NoError(t, checkLedgerVersions(name, allRegions, versions...))
	apply, span, floor := median(applies), median(spans), median(floors)
	t.Logf("medians of %d upgrades: terraform apply %s, dbfleetd's operations %s, psql %s; apply/psql %.1fx, operations/psql %.1fx",
		upgradeRounds, apply.Round(time.Millisecond), span.Round(time.Millisecond), floor.Round(time.Millisecond),
		apply.Seconds()/floor.Seconds(), span.Seconds()/floor.Seconds())
}

// psqlFleet is a database of one name in every region, outside dbfleet,
// that psql migrates.
type psqlFleet struct {
	t    *testing.T
	psql string
	name string
}

// newPsqlFleet creates a database named name in every region, as the
// superuser, and drops them when the test ends.
func newPsqlFleet(t *testing.T, name string) *psqlFleet {
	t.Helper()
	psql, err := clientProgram("psql")
	require.NoError(t, err)
	for _, region := range allRegions {
		require.NoError(t, adminExec(region, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()))
		t.Cleanup(func() {
			if err := adminExec(region, "postgres", "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
				t.Error(err)
			}
		})
	}
	return &psqlFleet{t: t, psql: psql, name: name}
}

// run runs sql with psql, as the superuser in one transaction, in one
// region after another, canary first, and returns how long that took in
// all and in each region.
func (f *psqlFleet) run(sql string) (time.Duration, []string) {
	f.t.Helper()
	var total time.Duration
	var perRegion []string
	for _, region := range slices.Concat(canaryWaves...) {
		r := fleet.regions[region]
		ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
		cmd := exec.CommandContext(ctx, f.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1",
			"-h", r.Host, "-p", strconv.Itoa(r.Port), "-U", r.SuperuserUser, "-d", f.name, "-c", sql)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+r.SuperuserPassword, "PGCONNECT_TIMEOUT=10")
		started := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(started)
		cancel()
		require.NoError(f.t, err, "psql in %s: %s", region, out)
		total += took
		perRegion = append(perRegion, fmt.Sprintf("%s %s", region, took.Round(time.Millisecond)))
	}
	return total, perRegion
}

// recordPasswords records the passwords in the state of tf's working
// directory as secrets.
func recordPasswords(t *testing.T, tf *terraformCLI) {
	t.Helper()
	out := tf.mustRun(".", "show", "-no-color", "-json")
	state, err := decodeState(out)
	require.NoError(t, err)
	instancesOf(state)
}

// normalizeRoutes names schema routes without the schema's name.
func normalizeRoutes(counts map[string]int, schema string) map[string]int {
	out := map[string]int{}
	for route, n := range counts {
		out[strings.Replace(route, "/v1/schemas/"+schema, "/v1/schemas/{name}", 1)] += n
	}
	return out
}

// total is the sum of counts.
func total(counts map[string]int) int {
	n := 0
	for c := range maps.Values(counts) {
		n += c
	}
	return n
}

// median is the median of durations.
func median(durations []time.Duration) time.Duration {
	sorted := slices.Sorted(slices.Values(durations))
	return sorted[len(sorted)/2]
}
