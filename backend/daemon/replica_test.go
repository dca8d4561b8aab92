package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

const itemsTable = "CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL)"

// replicaFixture makes a schema, its source database in westeurope and a
// replica in eastus, and returns the source's owner pool.
func replicaFixture(t *testing.T, b *testBundle, f *daemontest.Fleet, policy *apiv1.RolloutPolicy) (schema, name string, source apiv1.Database) {
	t.Helper()
	schema = daemontest.UniqueName("app")
	name = daemontest.UniqueName("replicated")
	b.putSchema(t, schema, apiv1.SchemaSpec{Migrations: migrations(itemsTable), Rollout: policy})
	source = b.create(t, "westeurope", name, apiv1.DatabaseSpec{Schema: schema, SkipFinalBackup: true})
	replica := b.create(t, "eastus", name, apiv1.DatabaseSpec{Schema: schema, ReplicaOf: "westeurope", SkipFinalBackup: true})
	require.Equal(t, "westeurope", replica.ReplicaOf)
	return schema, name, source
}

func ownerPool(t *testing.T, db apiv1.Database) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
		db.Host, db.Port, db.Owner, db.Password, db.Name))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func countRows(t *testing.T, pool *pgxpool.Pool, table string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
	return n
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("never happened: %s", what)
}

func (b *testBundle) verify(t *testing.T, region, name string) (apiv1.Operation, apiv1.Database) {
	t.Helper()
	op := b.client.Do(t, http.MethodPost, "/v1/databases/"+region+"/"+name+":verify", nil).Operation(t)
	done := b.client.Wait(t, op.ID, time.Minute)
	var db apiv1.Database
	b.client.Do(t, http.MethodGet, "/v1/databases/"+region+"/"+name, nil).Decode(t, &db)
	return done, db
}

func TestReplicaFollowsItsSourceAndVerifiesConsistent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, name, source := replicaFixture(t, b, fleet, nil)
	src := ownerPool(t, source)
	_, err := src.Exec(context.Background(), `INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 25000) g`)
	require.NoError(t, err)
	replica := fleet.AdminDB(t, "eastus", name)
	eventually(t, "rows reach the replica", func() bool { return countRows(t, replica, "items") == 25000 })

	op, db := b.verify(t, "eastus", name)
	require.Equal(t, apiv1.OperationSucceeded, op.State, "%+v", op.Error)
	require.NotNil(t, db.Consistency)
	require.Equal(t, "consistent", db.Consistency.Result)
	require.Len(t, db.Consistency.Tables, 1)
	require.EqualValues(t, 25000, db.Consistency.Tables[0].ReplicaRows)

	eventually(t, "the monitor reports the subscription streaming", func() bool {
		db = apiv1.Database{}
		b.client.Do(t, http.MethodGet, "/v1/databases/eastus/"+name, nil).Decode(t, &db)
		return db.Replication != nil && db.Replication.State == "streaming" && db.Replication.Tables["public.items"] == "ready"
	})
	metrics := b.client.Do(t, http.MethodGet, "/metrics", nil)
	require.Contains(t, string(metrics.Body), `dbfleet_replication_lag_bytes{database="`+name+`",region="eastus"}`)

	// A row changed on the replica alone is caught, with its key range.
	_, err = replica.Exec(context.Background(), `UPDATE items SET label = 'tampered' WHERE id = 17000`)
	require.NoError(t, err)
	op, db = b.verify(t, "eastus", name)
	require.Equal(t, apiv1.OperationSucceeded, op.State)
	require.Equal(t, "inconsistent", db.Consistency.Result)
	table := db.Consistency.Tables[0]
	require.False(t, table.Consistent)
	require.Equal(t, []apiv1.KeyRange{{From: "10001", To: "20001"}}, table.DifferingRanges)

	del := b.client.Do(t, http.MethodDelete, "/v1/databases/westeurope/"+name, nil)
	require.Equal(t, http.StatusConflict, del.Status, "a source with replicas is not deleted: %s", del.Body)
}

func TestConsistencyGateHaltsARolloutOnDivergence(t *testing.T) {
	t.Parallel()
	b := setup(t)
	policy := &apiv1.RolloutPolicy{HealthChecks: &apiv1.HealthChecks{ReplicaConsistent: true}}
	schema, name, source := replicaFixture(t, b, fleet, policy)
	_, err := ownerPool(t, source).Exec(context.Background(), `INSERT INTO items SELECT g, 'x' FROM generate_series(1, 100) g`)
	require.NoError(t, err)
	replica := fleet.AdminDB(t, "eastus", name)
	eventually(t, "rows reach the replica", func() bool { return countRows(t, replica, "items") == 100 })
	_, err = replica.Exec(context.Background(), `DELETE FROM items WHERE id = 5`)
	require.NoError(t, err)

	b.putSchema(t, schema, apiv1.SchemaSpec{Rollout: policy, Migrations: migrations(itemsTable, "CREATE TABLE notes (id bigint PRIMARY KEY)")})
	up := apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2, SkipFinalBackup: true}
	sourceOp := b.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, up).Operation(t)
	waiting := b.waitFor(t, sourceOp.ID, func(op apiv1.Operation) bool { return op.State == apiv1.OperationPending && op.Progress != "queued" })
	require.Contains(t, waiting.Progress, "replica eastus/"+name+" must run version 2 before its source")

	up.ReplicaOf = "westeurope"
	replicaOp := b.client.Do(t, http.MethodPut, "/v1/databases/eastus/"+name, up).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, replicaOp.ID, time.Minute).State)
	halted := b.client.Wait(t, sourceOp.ID, time.Minute)
	require.Equal(t, apiv1.OperationFailed, halted.State)
	require.Equal(t, apiv1.CodeRolloutHalted, halted.Error.Code)
	require.Contains(t, halted.Error.Message, apiv1.CheckReplicaConsistent)
	require.Contains(t, halted.Error.Message, "public.items")
}

func TestRapidWritesDuringAReplicatedUpgradeLoseNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	schema, name, source := replicaFixture(t, b, fleet, nil)
	src := ownerPool(t, source)
	ctx, stop := context.WithCancel(context.Background())
	var written atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			n := written.Load() + 1
			if _, err := src.Exec(ctx, `INSERT INTO items VALUES ($1, 'rapid')`, n); err == nil {
				written.Store(n)
			}
		}
	})
	time.Sleep(200 * time.Millisecond)
	b.putSchema(t, schema, apiv1.SchemaSpec{Migrations: migrations(itemsTable,
		"ALTER TABLE items ADD COLUMN note text; CREATE TABLE audit (id bigint PRIMARY KEY, at timestamptz)")})
	up := apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2, SkipFinalBackup: true, ReplicaOf: "westeurope"}
	replicaOp := b.client.Do(t, http.MethodPut, "/v1/databases/eastus/"+name, up).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, replicaOp.ID, time.Minute).State)
	up.ReplicaOf = ""
	sourceOp := b.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, up).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, sourceOp.ID, time.Minute).State)
	time.Sleep(200 * time.Millisecond)
	stop()
	wg.Wait()
	_, err := src.Exec(context.Background(), `INSERT INTO audit VALUES (1, now())`)
	require.NoError(t, err)

	replica := fleet.AdminDB(t, "eastus", name)
	// The source's count, not the writer's: the last insert may have
	// committed as its context was cancelled.
	total := countRows(t, src, "items")
	require.GreaterOrEqual(t, total, written.Load())
	require.Greater(t, total, int64(50), "the writer kept writing")
	eventually(t, "every row reaches the replica", func() bool {
		return countRows(t, replica, "items") == total && countRows(t, replica, "audit") == 1
	})
	op, db := b.verify(t, "eastus", name)
	require.Equal(t, apiv1.OperationSucceeded, op.State)
	require.Equal(t, "consistent", db.Consistency.Result, "%+v", db.Consistency)
}

func TestConsistencyIsCheckedOnASchedule(t *testing.T) {
	t.Parallel()
	b := setupOn(t, fleet, func(c *daemon.Config) { c.VerifyInterval = time.Second })
	_, name, _ := replicaFixture(t, b, fleet, nil)
	eventually(t, "a scheduled check records a result", func() bool {
		var db apiv1.Database
		b.client.Do(t, http.MethodGet, "/v1/databases/eastus/"+name, nil).Decode(t, &db)
		return db.Consistency != nil && db.Consistency.Result == "consistent"
	})
	var ops apiv1.OperationList
	b.client.Do(t, http.MethodGet, "/v1/operations?target=databases/eastus/"+name, nil).Decode(t, &ops)
	require.Equal(t, apiv1.OperationKindVerifyDatabase, ops.Operations[0].Kind)
	require.Contains(t, ops.Operations[0].Progress, "consistent", "a verify's progress keeps its result")
}

// TestCheckFailsClearlyWhileTheSourceIsDown runs on regions of its own: it
// stops the source's PostgreSQL.
func TestCheckFailsClearlyWhileTheSourceIsDown(t *testing.T) {
	t.Parallel()
	own, err := daemontest.StartFleet("westeurope", "eastus")
	require.NoError(t, err)
	t.Cleanup(own.Stop)
	b := setupOn(t, own)
	_, name, _ := replicaFixture(t, b, own, nil)

	require.NoError(t, own.StopRegion(context.Background(), "westeurope"))
	op, db := b.verify(t, "eastus", name)
	require.Equal(t, apiv1.OperationFailed, op.State)
	require.Equal(t, apiv1.CodeCheckFailed, op.Error.Code)
	require.Contains(t, op.Error.Message, "westeurope")
	require.Equal(t, "failed", db.Consistency.Result)

	require.NoError(t, own.StartRegion(context.Background(), "westeurope"))
	op, db = b.verify(t, "eastus", name)
	require.Equal(t, apiv1.OperationSucceeded, op.State, "%+v", op.Error)
	require.Equal(t, "consistent", db.Consistency.Result)
}

// condition returns a database's condition of a type, or the zero value.
func condition(db apiv1.Database, typ string) apiv1.Condition {
	for _, c := range db.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return apiv1.Condition{}
}

func TestReconcileResubscribesAReplica(t *testing.T) {
	t.Parallel()
	n := startReconciling(t, fleet, "")
	_, name, source := replicaFixture(t, n.testBundle, fleet, nil)
	src := ownerPool(t, source)
	_, err := src.Exec(context.Background(), `INSERT INTO items SELECT g, 'before' FROM generate_series(1, 500) g`)
	require.NoError(t, err)
	replica := fleet.AdminDB(t, "eastus", name)
	eventually(t, "rows reach the replica", func() bool { return countRows(t, replica, "items") == 500 })

	_, err = replica.Exec(context.Background(), "DROP SUBSCRIPTION "+engine.SubscriptionName(name, "eastus"))
	require.NoError(t, err)
	_, err = src.Exec(context.Background(), `INSERT INTO items SELECT g, 'after' FROM generate_series(501, 800) g`)
	require.NoError(t, err)

	eventually(t, "the reconciler resubscribes and the replica catches up", func() bool {
		return countRows(t, replica, "items") == 800
	})
	eventually(t, "Synced says streaming", func() bool {
		var db apiv1.Database
		n.client.Do(t, http.MethodGet, "/v1/databases/eastus/"+name, nil).Decode(t, &db)
		return condition(db, apiv1.ConditionSynced).Reason == apiv1.ReasonStreaming
	})
	var events apiv1.EventList
	n.client.Do(t, http.MethodGet, "/v1/databases/eastus/"+name+"/events", nil).Decode(t, &events)
	require.True(t, hasEvent(events, "Resubscribed"), "events: %+v", events)
	_, db := n.verify(t, "eastus", name)
	require.Equal(t, "consistent", db.Consistency.Result)
}

func TestReconcileRecreatesADroppedReplica(t *testing.T) {
	t.Parallel()
	n := startReconciling(t, fleet, "")
	_, name, source := replicaFixture(t, n.testBundle, fleet, nil)
	_, err := ownerPool(t, source).Exec(context.Background(), `INSERT INTO items SELECT g, 'kept' FROM generate_series(1, 300) g`)
	require.NoError(t, err)
	admin := fleet.Admin(t, "eastus")
	// One pool for the whole test: it reconnects once the database is back.
	replica := fleet.AdminDB(t, "eastus", name)
	eventually(t, "rows reach the replica", func() bool { return countRows(t, replica, "items") == 300 })

	// PostgreSQL refuses to drop a database with a subscription: the
	// subscription goes first, as an operator would do it. The reconciler
	// may resubscribe in between; then both go again.
	eventually(t, "the replica is dropped", func() bool {
		_, _ = replica.Exec(context.Background(), "DROP SUBSCRIPTION IF EXISTS "+engine.SubscriptionName(name, "eastus"))
		_, err := admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)")
		return err == nil
	})

	eventually(t, "the replica is made again and refilled from its source", func() bool {
		var n int64
		err := replica.QueryRow(context.Background(), `SELECT count(*) FROM items`).Scan(&n)
		return err == nil && n == 300
	})
	require.Contains(t, fleet.Ledger(t, "eastus", name), int64(1), "the replica ran its schema's migrations again")
	var events apiv1.EventList
	n.client.Do(t, http.MethodGet, "/v1/databases/eastus/"+name+"/events", nil).Decode(t, &events)
	require.True(t, hasEvent(events, "ReplicaRecreated"), "events: %+v", events)
}

func hasEvent(events apiv1.EventList, reason string) bool {
	for _, e := range events.Events {
		if e.Reason == reason {
			return true
		}
	}
	return false
}
