package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

// TestCancelledCreateLeavesAStatusToActOn cancels a create while it waits
// in ensure_database: the database is left failed, not provisioning for
// ever, and the next apply finishes it. (Found by hand beside the runner.)
func TestCancelledCreateLeavesAStatusToActOn(t *testing.T) {
	b := setup(t)
	admin := fleet.Admin(t, "eastus")
	name := daemontest.UniqueName("cancelled")
	path := "/v1/databases/eastus/" + name
	spec := apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true}

	release := fleet.LockDatabaseCatalog(t, "eastus")

	op := b.client.Do(t, http.MethodPut, path, spec).Operation(t)
	require.Equal(t, http.StatusOK, b.client.Do(t, http.MethodPost, "/v1/operations/"+op.ID+":cancel", nil).Status)
	release()
	require.Equal(t, apiv1.OperationCancelled, b.client.Wait(t, op.ID, time.Minute).State)

	var db apiv1.Database
	b.client.Do(t, http.MethodGet, path, nil).Decode(t, &db)
	require.Equal(t, apiv1.DatabaseStatusFailed, db.Status, "a create cancelled half-way is failed until applied again")

	again := b.client.Do(t, http.MethodPut, path, spec).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, again.ID, time.Minute).State)
	b.client.Do(t, http.MethodGet, path, nil).Decode(t, &db)
	require.Equal(t, apiv1.DatabaseStatusReady, db.Status)
	require.True(t, daemontest.DatabaseExists(t, admin, name))
}

// cancelNodes are the dbfleetd nodes of a cancel test: the operation runs
// on one; the cancel is asked of cancelVia, on the PostgreSQL store the
// other node, so that the cancel crosses nodes.
type cancelNodes struct {
	nodes []*testBundle
}

// startCancelNodes starts one dbfleetd on a SQLite store, or two on a new
// PostgreSQL store (in the westeurope region; the tests' databases are in
// eastus).
func startCancelNodes(t *testing.T, postgresStore bool) *cancelNodes {
	t.Helper()
	if !postgresStore {
		return &cancelNodes{nodes: []*testBundle{setup(t)}}
	}
	name := daemontest.UniqueName("cancel_state")
	_, err := fleet.Admin(t, "westeurope").Exec(context.Background(), "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = fleet.Admin(t, "westeurope").Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(fleet.Region(t, "westeurope").AdminDSN())
	require.NoError(t, err)
	u.Path = "/" + name
	withStore := func(cfg *daemon.Config) { cfg.Store = u.String() }
	var nodes []*testBundle
	for range 2 {
		b, _ := startDaemon(t, fleet, t.TempDir(), withStore)
		nodes = append(nodes, b)
	}
	return &cancelNodes{nodes: nodes}
}

// cancelVia is the node to cancel an operation through: with two nodes,
// the one that is not running it.
func (c *cancelNodes) cancelVia(t *testing.T, operationID string) *testBundle {
	t.Helper()
	if len(c.nodes) == 1 {
		return c.nodes[0]
	}
	var idle []*testBundle
	for _, b := range c.nodes {
		if logLines(b.logs.String(), operationID, `"message":"Ran step"`) == 0 {
			idle = append(idle, b)
		}
	}
	require.Len(t, idle, 1, "one node runs the operation, the other does not")
	return idle[0]
}

// TestCancelStopsTheRunningStatement cancels creates while a migration
// runs, on one node with a SQLite store and across two nodes of a
// PostgreSQL store: a 60 s migration is cancelled on the server within
// seconds and its transaction rolled back, and a create of 20 migrations
// cancelled during its third does not succeed.
func TestCancelStopsTheRunningStatement(t *testing.T) {
	t.Parallel()
	for _, store := range []struct {
		name     string
		postgres bool
	}{{"SQLiteStore", false}, {"PostgreSQLStoreOtherNode", true}} {
		t.Run(store.name, func(t *testing.T) {
			t.Parallel()
			nodes := startCancelNodes(t, store.postgres)
			t.Run("LongMigration", func(t *testing.T) {
				cancelDuringStatement(t, nodes)
			})
			t.Run("ThirdOfTwentyMigrations", func(t *testing.T) {
				cancelThirdOfTwenty(t, nodes)
			})
		})
	}
}

func cancelDuringStatement(t *testing.T, nodes *cancelNodes) {
	admin := fleet.Admin(t, "eastus")
	b := nodes.nodes[0]
	schema := daemontest.UniqueName("sleepy")
	name := daemontest.UniqueName("sleepy")
	const sleep = `SELECT pg_catalog.pg_sleep(60)`
	b.putSchema(t, schema, apiv1.SchemaSpec{Migrations: migrations(sleep)})
	op := b.client.Do(t, http.MethodPut, "/v1/databases/eastus/"+name, apiv1.DatabaseSpec{Schema: schema, SkipFinalBackup: true}).Operation(t)
	awaitRunning(t, admin, name, sleep)

	via := nodes.cancelVia(t, op.ID)
	asked := time.Now()
	require.Equal(t, http.StatusOK, via.client.Do(t, http.MethodPost, "/v1/operations/"+op.ID+":cancel", nil).Status)
	done := b.client.Wait(t, op.ID, time.Minute)
	took := time.Since(asked)
	t.Logf("the cancel ended the operation %s after it was asked", took.Round(time.Millisecond))
	require.Equal(t, apiv1.OperationCancelled, done.State, "operation: %+v", done)
	require.Less(t, took, 5*time.Second, "the cancel reached the running statement")
	requireStatementGone(t, admin, name, sleep)
	require.Empty(t, fleet.Ledger(t, "eastus", name), "the cancelled migration rolled back")

	var db apiv1.Database
	b.client.Do(t, http.MethodGet, "/v1/databases/eastus/"+name, nil).Decode(t, &db)
	require.Equal(t, apiv1.DatabaseStatusFailed, db.Status, "a create cancelled half-way is failed until applied again")
	require.Zero(t, db.AppliedVersion)
}

func cancelThirdOfTwenty(t *testing.T, nodes *cancelNodes) {
	admin := fleet.Admin(t, "eastus")
	b := nodes.nodes[0]
	schema := daemontest.UniqueName("twenty")
	name := daemontest.UniqueName("twenty")
	var sqls []string
	for v := 1; v <= 20; v++ {
		sqls = append(sqls, fmt.Sprintf("SELECT pg_catalog.pg_sleep(0.3) -- version %d", v))
	}
	b.putSchema(t, schema, apiv1.SchemaSpec{Migrations: migrations(sqls...)})
	op := b.client.Do(t, http.MethodPut, "/v1/databases/eastus/"+name, apiv1.DatabaseSpec{Schema: schema, SkipFinalBackup: true}).Operation(t)
	awaitRunning(t, admin, name, sqls[2])

	via := nodes.cancelVia(t, op.ID)
	require.Equal(t, http.StatusOK, via.client.Do(t, http.MethodPost, "/v1/operations/"+op.ID+":cancel", nil).Status)
	done := b.client.Wait(t, op.ID, time.Minute)
	require.Equal(t, apiv1.OperationCancelled, done.State, "operation: %+v", done)
	ledger := fleet.Ledger(t, "eastus", name)
	t.Logf("the cancelled create had run %d of 20 migrations", len(ledger))
	require.GreaterOrEqual(t, len(ledger), 2)
	require.Less(t, len(ledger), 20)
	for v := range ledger {
		require.LessOrEqual(t, v, int64(len(ledger)), "the ledger holds the first versions only")
	}
	var db apiv1.Database
	b.client.Do(t, http.MethodGet, "/v1/databases/eastus/"+name, nil).Decode(t, &db)
	require.Equal(t, apiv1.DatabaseStatusFailed, db.Status)
	require.EqualValues(t, len(ledger), db.AppliedVersion, "the store agrees with the ledger")
}

// TestCancelPastTheDropFinishesTheDelete cancels a delete once it dropped
// the database, while it waits to drop the owner role (CREATE and DROP ROLE
// are held up by a lock on pg_authid): the drop cannot be undone, so the
// delete finishes and succeeds rather than end cancelled with a record
// saying ready for a database that is gone. Not parallel: the lock holds up
// every role change in the region.
func TestCancelPastTheDropFinishesTheDelete(t *testing.T) {
	b := setup(t)
	admin := fleet.Admin(t, "eastus")
	name := daemontest.UniqueName("dropped")
	path := "/v1/databases/eastus/" + name
	db := b.create(t, "eastus", name, apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true})

	release := lockRoles(t, "eastus")
	op := b.client.Do(t, http.MethodDelete, path, nil).Operation(t)
	require.Eventually(t, func() bool { return !daemontest.DatabaseExists(t, admin, name) }, time.Minute, 20*time.Millisecond)
	require.Equal(t, http.StatusOK, b.client.Do(t, http.MethodPost, "/v1/operations/"+op.ID+":cancel", nil).Status)
	time.Sleep(2 * time.Second) // twice the time a cancel takes to reach a step
	release()

	done := b.client.Wait(t, op.ID, time.Minute)
	require.Equal(t, apiv1.OperationSucceeded, done.State, "operation: %+v", done)
	require.Equal(t, http.StatusNotFound, b.client.Do(t, http.MethodGet, path, nil).Status)
	require.False(t, daemontest.RoleExists(t, admin, db.Owner))
}

// TestCancelNeverStopsARotation cancels a password rotation while its
// ALTER ROLE waits on a lock: the store holds the new password from the
// rotation's start, so the rotation runs to its end and the stored
// password is the one that logs in.
func TestCancelNeverStopsARotation(t *testing.T) {
	b := setup(t)
	name := daemontest.UniqueName("rotated")
	path := "/v1/databases/eastus/" + name
	b.create(t, "eastus", name, apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true})

	release := lockRoles(t, "eastus")
	op := b.client.Do(t, http.MethodPost, path+":rotate_password", nil).Operation(t)
	require.Equal(t, http.StatusOK, b.client.Do(t, http.MethodPost, "/v1/operations/"+op.ID+":cancel", nil).Status)
	time.Sleep(2 * time.Second) // twice the time a cancel takes to reach a step
	release()

	done := b.client.Wait(t, op.ID, time.Minute)
	require.Equal(t, apiv1.OperationSucceeded, done.State, "operation: %+v", done)
	var db apiv1.Database
	b.client.Do(t, http.MethodGet, path, nil).Decode(t, &db)
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
		db.Host, db.Port, db.Owner, db.Password, db.Name))
	require.NoError(t, err, "the stored password logs in")
	require.NoError(t, conn.Close(context.Background()))
}

// lockRoles holds a lock on a region's pg_authid that stops every CREATE,
// ALTER and DROP ROLE until release (or the test's end).
func lockRoles(t *testing.T, region string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, fleet.Region(t, region).SuperuserDSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `LOCK TABLE pg_catalog.pg_authid IN SHARE ROW EXCLUSIVE MODE`)
	require.NoError(t, err)
	release = func() { _ = tx.Rollback(context.Background()) }
	t.Cleanup(release)
	return release
}

// TestCancelAtShutdownHandsTheStepBack stops dbfleetd while a create
// waits in ensure_database past the shutdown's grace (CREATE DATABASE held
// up by a lock on pg_database): the statement is cancelled on the server,
// which answers query_canceled, and the operation is handed back, not
// failed, for the next start, which finishes it. Not parallel: the lock
// holds up every CREATE DATABASE in the region.
func TestCancelAtShutdownHandsTheStepBack(t *testing.T) {
	dir := t.TempDir()
	admin := fleet.Admin(t, "eastus")
	name := daemontest.UniqueName("handback")
	creating := func() int {
		var n int
		require.NoError(t, admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_catalog.pg_stat_activity
			WHERE state = 'active' AND query LIKE 'CREATE DATABASE%' AND strpos(query, $1) > 0`, name).Scan(&n))
		return n
	}
	release := fleet.LockDatabaseCatalog(t, "eastus")
	b, stop := startDaemon(t, fleet, dir)
	op := b.client.Do(t, http.MethodPut, "/v1/databases/eastus/"+name, apiv1.DatabaseSpec{SkipFinalBackup: true}).Operation(t)
	require.Eventually(t, func() bool { return creating() > 0 }, time.Minute, 20*time.Millisecond)
	stop()
	require.Zero(t, creating(), "the shutdown cancelled CREATE DATABASE on the server")
	require.Equal(t, 1, logLines(b.logs.String(), op.ID, `"step":"ensure_database"`, `"message":"Handing back operation at shutdown"`))
	release()

	again, _ := startDaemon(t, fleet, dir)
	done := again.client.Wait(t, op.ID, time.Minute)
	require.Equal(t, apiv1.OperationSucceeded, done.State, "the next start finished the operation: %+v", done)
	require.True(t, daemontest.DatabaseExists(t, admin, name))
}
