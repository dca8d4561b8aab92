package acceptance

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

// TestAccSchemaRollout_WavesInOneApply publishes a schema whose rollout
// makes westeurope the canary and northeurope and eastus a second wave,
// with a bake time, and runs a database on it in every region with
// for_each. The plan of the databases shows each one's wave. Then one
// apply publishes version 2 and upgrades all three, and the ledgers in
// PostgreSQL prove the order: westeurope first, the other two no earlier
// than the bake time after it. Creating the databases on version 1 in one
// apply follows the same order.
func TestAccSchemaRollout_WavesInOneApply(t *testing.T) {
	name := setup(t, "acc_waves").name
	const bake = time.Second
	cfg := rolloutConfig{
		schema:     daemontest.UniqueName("acc_waves_app"),
		migrations: []migration{{version: 1, up: "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL)"}},
		waves:      canaryWaves,
		bakeTime:   bake.String(),
		database:   name,
		regions:    allRegions,
	}
	upgraded := cfg.withMigrations(cfg.migrations[0], migration{version: 2,
		up: "ALTER TABLE accounts ADD COLUMN display_name text;\nCREATE INDEX accounts_email ON accounts (email);"})
	wave := map[string]int64{"westeurope": 1, "northeurope": 2, "eastus": 2}

	var plannedCreate, plannedUpgrade []plancheck.PlanCheck
	var created, moved []statecheck.StateCheck
	plannedUpgrade = append(plannedUpgrade, plancheck.ExpectResourceAction(schemaAddress, plancheck.ResourceActionUpdate))
	for _, region := range allRegions {
		address := cfg.instanceAddress(region)
		plannedCreate = append(plannedCreate,
			plancheck.ExpectResourceAction(address, plancheck.ResourceActionCreate),
			plancheck.ExpectKnownValue(address, tfjsonpath.New("rollout_wave"), knownvalue.Int64Exact(wave[region])),
			plancheck.ExpectKnownValue(address, tfjsonpath.New("schema_version"), knownvalue.Int64Exact(1)),
		)
		// The version is the schema's latest_version, which the same apply
		// publishes: known once the schema is applied.
		plannedUpgrade = append(plannedUpgrade,
			plancheck.ExpectResourceAction(address, plancheck.ResourceActionUpdate),
			plancheck.ExpectUnknownValue(address, tfjsonpath.New("schema_version")),
		)
		created = append(created, readyAt(address, 1, wave[region])...)
		moved = append(moved, readyAt(address, 2, wave[region])...)
	}
	created = append(created, stateCheck(func(*tfjson.State) error {
		return errors.Join(checkLedgerVersions(name, allRegions, 1), checkWaveOrder(t, name, 1, canaryWaves, bake))
	}))
	moved = append(moved, stateCheck(func(*tfjson.State) error {
		return errors.Join(checkLedgerVersions(name, allRegions, 1, 2), checkWaveOrder(t, name, 2, canaryWaves, bake))
	}))

	resource.ParallelTest(t, testCase(t, []resource.TestStep{
		{
			Config: cfg.schemaOnly().config(),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(schemaAddress, tfjsonpath.New("latest_version"), knownvalue.Int64Exact(1)),
			},
		},
		{
			Config:            cfg.config(),
			ConfigPlanChecks:  resource.ConfigPlanChecks{PreApply: plannedCreate},
			ConfigStateChecks: created,
		},
		{
			Config:            upgraded.config(),
			ConfigPlanChecks:  resource.ConfigPlanChecks{PreApply: plannedUpgrade},
			ConfigStateChecks: moved,
		},
		removeDatabases(t, upgraded, allRegions),
	}, checkSchemaGone(cfg.schema)))
}

// readyAt checks that the database at address is ready at version, in
// wave.
func readyAt(address string, version, wave int64) []statecheck.StateCheck {
	return []statecheck.StateCheck{
		statecheck.ExpectKnownValue(address, tfjsonpath.New("status"), knownvalue.StringExact(apiv1.DatabaseStatusReady)),
		statecheck.ExpectKnownValue(address, tfjsonpath.New("schema_version"), knownvalue.Int64Exact(version)),
		statecheck.ExpectKnownValue(address, tfjsonpath.New("applied_version"), knownvalue.Int64Exact(version)),
		statecheck.ExpectKnownValue(address, tfjsonpath.New("rollout_wave"), knownvalue.Int64Exact(wave)),
	}
}

// TestAccSchemaRollout_CanaryFailureHalts makes version 2 fail in the
// canary, westeurope, while the upgrades in northeurope and eastus wait on
// its gate in the same apply: all three fail, at once, with an error that
// names westeurope and the version; PostgreSQL shows every region still on
// version 1; and a new plan for version 2 is refused at plan time.
//
// The migration fails on data, as it would in production: it adds a NOT
// NULL column to a table that holds a row in westeurope only, which the
// dry run in a scratch database cannot see. To prove that the later waves
// were waiting when the canary failed, the test holds a lock on that table
// until both have parked on the gate; only then may the canary's migration
// run, and fail.
func TestAccSchemaRollout_CanaryFailureHalts(t *testing.T) {
	name := setup(t, "acc_halt").name
	cfg := rolloutConfig{
		schema:     daemontest.UniqueName("acc_halt_app"),
		migrations: []migration{{version: 1, up: "CREATE TABLE items (id bigint PRIMARY KEY)"}},
		waves:      canaryWaves,
		bakeTime:   "0s",
		database:   name,
		regions:    allRegions,
	}
	failing := cfg.withMigrations(cfg.migrations[0], migration{version: 2, up: "ALTER TABLE items ADD COLUMN price numeric NOT NULL"})
	later := []string{"northeurope", "eastus"}
	var hold *canaryHold

	resource.ParallelTest(t, testCase(t, []resource.TestStep{
		{Config: cfg.config()},
		{
			PreConfig: func() {
				require.NoError(t, adminExec("westeurope", name, "INSERT INTO items VALUES (1)"))
				hold = holdCanary(t, "westeurope", name, "items", later)
			},
			Config:      failing.config(),
			ExpectError: haltedUpdates(3, name, allRegions, cfg.schema, 2, "westeurope"),
		},
		{
			PreConfig: func() {
				require.NoError(t, hold.release(), "the upgrades of the later waves did not wait on the canary's gate")
				checkHalted(t, name, cfg.schema)
			},
			Config:      failing.config(),
			ExpectError: refusedRollout(name, "northeurope", cfg.schema, 2, "halted", "westeurope"),
		},
		removeDatabases(t, failing, allRegions),
	}, checkSchemaGone(cfg.schema)))
}

// checkHalted checks, after the failed apply of
// TestAccSchemaRollout_CanaryFailureHalts, that every region is still on
// version 1 in PostgreSQL, that the rollout of version 2 halted at
// westeurope, and that the upgrades of the later waves failed at once
// with an error that names westeurope and the version.
func checkHalted(t *testing.T, name, schema string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, checkLedgerVersions(name, allRegions, 1))
	for _, region := range allRegions {
		has, err := columnExists(region, name, "items", "price")
		require.NoError(t, err)
		require.False(t, has, "items.price exists in %s: the failed migration moved it", region)
	}

	s, err := apiSchema(ctx, schema)
	require.NoError(t, err)
	r, err := rolloutOf(s, 2)
	require.NoError(t, err)
	require.Equal(t, apiv1.RolloutHalted, r.State)
	require.NotNil(t, r.Halt)
	require.Equal(t, "westeurope", r.Halt.Region)
	require.Equal(t, apiv1.CheckMigration, r.Halt.Check)

	canary := lastOperation(t, "westeurope", name)
	require.Equal(t, apiv1.OperationFailed, canary.State)
	for _, region := range []string{"northeurope", "eastus"} {
		op := lastOperation(t, region, name)
		require.Equal(t, apiv1.OperationFailed, op.State, "the upgrade in %s", region)
		require.NotNil(t, op.Error, "the upgrade in %s", region)
		require.Equal(t, apiv1.CodeRolloutHalted, op.Error.Code, "the upgrade in %s", region)
		require.Equal(t, "westeurope", op.Error.Region, "the upgrade in %s names the region where the rollout halted", region)
		require.Contains(t, op.Error.Message, "version 2")
		// At once: a waiting upgrade looks at its gate every half second.
		require.WithinDuration(t, canary.UpdatedAt, op.UpdatedAt, 5*time.Second,
			"the upgrade in %s failed %s after the canary's; it should fail at once", region, op.UpdatedAt.Sub(canary.UpdatedAt))
		t.Logf("the upgrade in %s failed %s after the canary's", region, op.UpdatedAt.Sub(canary.UpdatedAt).Round(time.Millisecond))
	}
}

// TestAccSchemaRollout_RollbackRevertsMovedRegions runs a rollout with
// on_failure = "rollback" in which version 2 fails in a later wave: the
// canary moves, then runs version 2's down SQL and ends on version 1; the
// region of the last wave never moves.
//
// The waves are westeurope, then eastus; northeurope, which no wave names,
// forms the last wave. Version 2 creates a table that someone else
// already created in eastus's database, so it fails there alone. Each
// wave bakes a second before the next starts: without a bake time, eastus
// can fail while the canary's upgrade operation is still finishing, and
// the rollback skips a database with an operation in flight
// (ops.Manager.haltRollout), leaving it on version 2.
func TestAccSchemaRollout_RollbackRevertsMovedRegions(t *testing.T) {
	name := setup(t, "acc_rollback").name
	waves := [][]string{{"westeurope"}, {"eastus"}}
	cfg := rolloutConfig{
		schema:     daemontest.UniqueName("acc_rollback_app"),
		migrations: []migration{{version: 1, up: "CREATE TABLE items (id bigint PRIMARY KEY)", down: "DROP TABLE items"}},
		waves:      waves,
		bakeTime:   "1s",
		onFailure:  apiv1.OnFailureRollback,
		database:   name,
		regions:    allRegions,
	}
	failing := cfg.withMigrations(cfg.migrations[0], migration{version: 2,
		up: "CREATE TABLE clash (id bigint PRIMARY KEY)", down: "DROP TABLE clash"})
	wave := map[string]int64{"westeurope": 1, "eastus": 2, "northeurope": 3}
	var created []statecheck.StateCheck
	for region, w := range wave {
		created = append(created, statecheck.ExpectKnownValue(cfg.instanceAddress(region), tfjsonpath.New("rollout_wave"), knownvalue.Int64Exact(w)))
	}

	resource.ParallelTest(t, testCase(t, []resource.TestStep{
		{Config: cfg.config(), ConfigStateChecks: created},
		{
			PreConfig: func() {
				require.NoError(t, adminExec("eastus", name, "CREATE TABLE public.clash (id bigint PRIMARY KEY)"))
			},
			Config: failing.config(),
			// The canary's upgrade succeeds; eastus's fails on the table,
			// and northeurope's, waiting on eastus, fails at once.
			ExpectError: haltedUpdates(2, name, []string{"eastus", "northeurope"}, cfg.schema, 2, "eastus"),
		},
		{
			PreConfig:   func() { checkRolledBack(t, name, cfg.schema) },
			Config:      failing.config(),
			ExpectError: refusedRollout(name, "westeurope", cfg.schema, 2, "was rolled back", "eastus"),
		},
		removeDatabases(t, failing, allRegions),
	}, checkSchemaGone(cfg.schema)))
}

// checkRolledBack waits for the canary's rollback, then checks in
// PostgreSQL that every region is on version 1: westeurope ran version 2's
// down SQL, eastus kept only the foreign table that made version 2 fail,
// and northeurope never moved.
func checkRolledBack(t *testing.T, name, schema string) {
	t.Helper()
	ctx := context.Background()
	db, err := waitForDatabase(ctx, "westeurope", name, time.Minute, func(db apiv1.Database) bool {
		return db.Status == apiv1.DatabaseStatusRolledBack
	})
	require.NoError(t, err)
	require.EqualValues(t, 1, db.AppliedVersion)
	rollback := lastOperation(t, "westeurope", name)
	require.Equal(t, apiv1.OperationKindRollbackDatabase, rollback.Kind)
	require.Equal(t, apiv1.OperationSucceeded, rollback.State)

	require.NoError(t, checkLedgerVersions(name, allRegions, 1))
	for region, want := range map[string]bool{"westeurope": false, "eastus": true, "northeurope": false} {
		exists, owner, err := relationExists(region, name, "clash")
		require.NoError(t, err)
		require.Equal(t, want, exists, "table clash in %s", region)
		if exists {
			require.Equal(t, fleet.regions[region].SuperuserUser, owner, "the table clash in %s is the one the test made, not version 2's", region)
		}
		exists, _, err = relationExists(region, name, "items")
		require.NoError(t, err)
		require.True(t, exists, "table items of version 1 in %s", region)
	}

	s, err := apiSchema(ctx, schema)
	require.NoError(t, err)
	r, err := rolloutOf(s, 2)
	require.NoError(t, err)
	require.Equal(t, apiv1.RolloutRolledBack, r.State)
	require.NotNil(t, r.Halt)
	require.Equal(t, "eastus", r.Halt.Region)
}

// removeDatabases is a step that keeps cfg's schema and removes its
// databases from the configuration, and checks in PostgreSQL that they are
// gone. The for_each tests end with it: the legacy state that CheckDestroy
// gets cannot hold for_each instances.
func removeDatabases(t *testing.T, cfg rolloutConfig, regions []string) resource.TestStep {
	var destroys []plancheck.PlanCheck
	for _, region := range regions {
		destroys = append(destroys, plancheck.ExpectResourceAction(cfg.instanceAddress(region), plancheck.ResourceActionDestroy))
	}
	return resource.TestStep{
		Config:           cfg.schemaOnly().config(),
		ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: destroys},
		ConfigStateChecks: []statecheck.StateCheck{stateCheck(func(*tfjson.State) error {
			var errs []error
			for _, region := range regions {
				errs = append(errs, checkGone(t, dbInstance{address: cfg.instanceAddress(region), region: region, name: cfg.database}))
			}
			return errors.Join(errs...)
		})},
	}
}

// checkSchemaGone is a CheckDestroy that asks dbfleetd that the schema is
// gone.
func checkSchemaGone(name string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		var s apiv1.Schema
		err := apiGet(context.Background(), schemaPath(name), &s)
		if err == nil {
			return fmt.Errorf("dbfleetd still has schema %s after destroy", name)
		}
		if !strings.Contains(err.Error(), "404") {
			return err
		}
		return nil
	}
}

// lastOperation is the newest operation on the database name in region.
func lastOperation(t *testing.T, region, name string) apiv1.Operation {
	t.Helper()
	ops, err := apiOperations(context.Background(), region, name)
	require.NoError(t, err)
	require.NotEmpty(t, ops, "no operation on %s/%s", region, name)
	return ops[0]
}

// haltedUpdates matches count diagnostics, as Terraform renders them, of a
// failed update of the database name in one of regions that say that the
// rollout of version of schema halted (or was rolled back) because its
// migration failed in failedRegion.
func haltedUpdates(count int, name string, regions []string, schema string, version int64, failedRegion string) *regexp.Regexp {
	one := phrase(fmt.Sprintf(`dbfleet could not update database %q in region "`, name)) +
		`(?:` + strings.Join(regions, "|") + `)":[\s│]+` + phrase("operation") + `[\s│]+\S+[\s│]+` +
		phrase("ended failed. Error code: rollout_halted Message: the rollout of schema "+schema+
			fmt.Sprintf(" version %d", version)) +
		`[\s│]+(?:halted|was[\s│]+rolled[\s│]+back):[\s│]+` +
		phrase("check migration failed in region "+failedRegion)
	return regexp.MustCompile(fmt.Sprintf(`(?:%s[\s\S]*?){%d}`, one, count))
}

// refusedRollout matches the diagnostic of a plan that dbfleetd refused
// because the rollout of version of schema halted (verb "halted") or was
// rolled back when its migration failed in failedRegion: a plan after
// refresh, so that it sees the version the database is at. The framework
// reports a failed plan as "Error running pre-apply plan", so matching it
// proves that nothing was applied.
func refusedRollout(name, region, schema string, version int64, verb, failedRegion string) *regexp.Regexp {
	return regexp.MustCompile(`Error running pre-apply plan[\s\S]*` + phrase("Error: Rollout Halted") + `[\s\S]*?` +
		phrase(fmt.Sprintf("dbfleetd refuses to move database %q in region %q to version %d of schema %q: "+
			"dbfleet API answered 409 Conflict (rollout_halted): the rollout of schema %s version %d %s: "+
			"check migration failed in region %s", name, region, version, schema, schema, version, verb, failedRegion)))
}

// phrase matches s as Terraform renders it in a diagnostic: a space in s
// matches any line break with the box drawing character that starts the
// next line.
func phrase(s string) string {
	return strings.Join(strings.Fields(regexp.QuoteMeta(s)), `[\s│]+`)
}

// canaryHold holds a lock on a table of the canary's database that blocks
// the canary's migration until the upgrades of the later waves wait on its
// gate.
type canaryHold struct {
	cancel context.CancelFunc
	// done is closed once the lock is released; err says then whether a
	// waiter was not seen waiting.
	done chan struct{}
	err  error
}

// holdCanary locks table in database of region, in a transaction of the
// superuser that a migration altering the table must wait for, and
// releases it once dbfleetd reports the database waiting on its rollout
// gate in each of waiters, or after two minutes, or when the test ends.
func holdCanary(t *testing.T, region, database, table string, waiters []string) *canaryHold {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := adminConnect(ctx, region, database)
	require.NoError(t, err)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{table}.Sanitize()+" IN ACCESS SHARE MODE")
	require.NoError(t, err)

	h := &canaryHold{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		var errs []error
		for _, w := range waiters {
			_, err := waitForDatabase(ctx, w, database, 2*time.Minute, func(db apiv1.Database) bool {
				return db.Status == apiv1.DatabaseStatusWaiting
			})
			errs = append(errs, err)
		}
		closeCtx := context.WithoutCancel(ctx)
		_ = tx.Rollback(closeCtx)
		_ = conn.Close(closeCtx)
		h.err = errors.Join(errs...)
	}()
	t.Cleanup(func() {
		cancel()
		<-h.done
	})
	return h
}

// release waits until the lock is released and returns an error unless
// every waiter was seen waiting on the gate while the canary was held.
func (h *canaryHold) release() error {
	<-h.done
	return h.err
}
