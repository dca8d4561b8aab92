// Package storetest is the conformance suite every store.Store
// implementation must pass.
package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// NoopArgs is a job kind for the suite's job insertions.
type NoopArgs struct{}

// Kind implements river.JobArgs.
func (NoopArgs) Kind() string { return "storetest_noop" }

// open makes a store for one subtest, closed when it ends.
func open(t *testing.T, newStore func(t *testing.T) store.Store) (context.Context, store.Store) {
	t.Helper()
	s := newStore(t)
	t.Cleanup(func() { _ = s.Close() })
	return context.Background(), s
}

// Exercise runs the suite. newStore returns a new, empty store whose job
// client can insert NoopArgs jobs; it is closed by the suite.
func Exercise(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)

	t.Run("DatabasePutGetListDelete", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		db := &store.Database{Region: "westeurope", Name: "orders", Owner: "orders_owner", Password: "pw",
			DeletionProtection: true, Status: "provisioning", Generation: 1, OperationID: "op-1", CreatedAt: now, UpdatedAt: now,
			Schema: "app", SchemaVersion: 3, AppliedVersion: 2, Parameters: map[string]string{"work_mem": "64MB"}}
		other := &store.Database{Region: "eastus", Name: "orders", Owner: "orders_owner", Password: "pw2", Status: "ready",
			Generation: 2, ObservedGeneration: 2, CreatedAt: now, UpdatedAt: now}
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			require.NoError(t, tx.DatabasePut(ctx, db))
			return tx.DatabasePut(ctx, other)
		}))

		got, err := s.DatabaseGet(ctx, db.Key())
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(db, got), "(-want +got)")

		db.Status, db.OperationID, db.ObservedGeneration = "ready", "", 1
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DatabasePut(ctx, db) }))
		got, err = s.DatabaseGet(ctx, db.Key())
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(db, got), "(-want +got)")

		all, err := s.DatabaseList(ctx, &store.DatabaseListParams{})
		require.NoError(t, err)
		require.Len(t, all, 2)
		require.Equal(t, "eastus", all[0].Region, "sorted by region")
		west, err := s.DatabaseList(ctx, &store.DatabaseListParams{Region: "westeurope"})
		require.NoError(t, err)
		require.Len(t, west, 1)
		named, err := s.DatabaseList(ctx, &store.DatabaseListParams{Name: "orders"})
		require.NoError(t, err)
		require.Len(t, named, 2, "a name matches in every region")
		none, err := s.DatabaseList(ctx, &store.DatabaseListParams{Name: "payments"})
		require.NoError(t, err)
		require.Empty(t, none)

		counts, err := s.DatabaseCountByRegion(ctx)
		require.NoError(t, err)
		require.Equal(t, map[string]int{"westeurope": 1, "eastus": 1}, counts)

		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DatabaseDelete(ctx, db.Key()) }))
		_, err = s.DatabaseGet(ctx, db.Key())
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("DatabaseIntentsKeptUntilCleared", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		db := &store.Database{Region: "westeurope", Name: "intents", Owner: "intents_owner", Password: "pw", Status: "provisioning",
			Generation: 1, CreatedAt: now, UpdatedAt: now, Schema: "app", SchemaVersion: 3, AppliedVersion: 2,
			CheckPendingVersion: 3, RevertPendingVersion: 2}
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DatabasePut(ctx, db) }))
		got, err := s.DatabaseGet(ctx, db.Key())
		require.NoError(t, err)
		require.Equal(t, int64(3), got.CheckPendingVersion, "the pending health check is kept")
		require.Equal(t, int64(2), got.RevertPendingVersion, "the pending revert is kept")
		// A write of another field from a read copy keeps them.
		got.Status = "waiting"
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DatabasePut(ctx, got) }))
		again, err := s.DatabaseGet(ctx, db.Key())
		require.NoError(t, err)
		require.Equal(t, [2]int64{3, 2}, [2]int64{again.CheckPendingVersion, again.RevertPendingVersion})
		again.CheckPendingVersion, again.RevertPendingVersion = 0, 0
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DatabasePut(ctx, again) }))
		cleared, err := s.DatabaseGet(ctx, db.Key())
		require.NoError(t, err)
		require.Zero(t, cleared.CheckPendingVersion)
		require.Zero(t, cleared.RevertPendingVersion)
	})

	t.Run("OperationInsertUpdateList", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		ops := []*store.Operation{
			{ID: "op-a", Kind: "apply_database", Region: "westeurope", Database: "orders", State: "pending", Generation: 1, CreatedAt: now, UpdatedAt: now},
			{ID: "op-b", Kind: "delete_database", Region: "westeurope", Database: "orders", State: "pending", Generation: 1, CreatedAt: now.Add(time.Second), UpdatedAt: now},
			{ID: "op-c", Kind: "apply_database", Region: "eastus", Database: "orders", State: "pending", CreatedAt: now, UpdatedAt: now},
		}
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			for _, op := range ops {
				if err := tx.OperationInsert(ctx, op); err != nil {
					return err
				}
			}
			return nil
		}))
		ops[0].State, ops[0].Step, ops[0].Progress = "failed", "ensure_role", "failed at step ensure_role"
		ops[0].Error = &store.OperationError{Code: "step_failed", Message: "boom", Region: "westeurope", Step: "ensure_role"}
		ops[0].UpdatedAt = now.Add(2 * time.Second)
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.OperationUpdate(ctx, ops[0]) }))

		got, err := s.OperationGet(ctx, "op-a")
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(ops[0], got), "(-want +got)")

		list, err := s.OperationList(ctx, &store.OperationListParams{Region: "westeurope", Database: "orders"})
		require.NoError(t, err)
		require.Equal(t, []string{"op-b", "op-a"}, []string{list[0].ID, list[1].ID}, "newest first")

		_, err = s.OperationGet(ctx, "op-missing")
		require.ErrorIs(t, err, store.ErrNotFound)
		err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.OperationUpdate(ctx, &store.Operation{ID: "op-missing", UpdatedAt: now})
		})
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("CancelsAndOutcomesAreNeverOverwritten", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		now := time.UnixMicro(1_700_000_000_000_000).UTC()
		op := &store.Operation{ID: "op-cancel", Kind: "apply_database", Region: "westeurope", Database: "orders",
			State: "running", Step: "apply_migrations", CreatedAt: now, UpdatedAt: now}
		inTx := func(fn func(tx store.Tx) error) error {
			return s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return fn(tx) })
		}
		require.NoError(t, inTx(func(tx store.Tx) error { return tx.OperationInsert(ctx, op) }))
		require.NoError(t, inTx(func(tx store.Tx) error { return tx.OperationRequestCancel(ctx, op.ID, now) }))

		// A worker's copy, read before the cancel, records its progress.
		stale := *op
		stale.Progress = "migration 3 of 20"
		require.NoError(t, inTx(func(tx store.Tx) error { return tx.OperationUpdate(ctx, &stale) }))
		got, err := s.OperationGet(ctx, op.ID)
		require.NoError(t, err)
		require.True(t, got.CancelRequested, "the worker's copy does not undo the cancel")
		require.Equal(t, "migration 3 of 20", got.Progress)

		done := *got
		done.State, done.Progress = "cancelled", "cancelled"
		require.NoError(t, inTx(func(tx store.Tx) error { return tx.OperationUpdate(ctx, &done) }))
		stale.State, stale.Progress = "succeeded", "done"
		require.ErrorIs(t, inTx(func(tx store.Tx) error { return tx.OperationUpdate(ctx, &stale) }), store.ErrOperationFinished)
		require.ErrorIs(t, inTx(func(tx store.Tx) error { return tx.OperationRequestCancel(ctx, op.ID, now) }), store.ErrOperationFinished)
		require.ErrorIs(t, inTx(func(tx store.Tx) error { return tx.OperationRequestCancel(ctx, "op-missing", now) }), store.ErrNotFound)
		got, err = s.OperationGet(ctx, op.ID)
		require.NoError(t, err)
		require.Equal(t, "cancelled", got.State, "an outcome is never overwritten")
	})

	t.Run("RollbackDiscardsRowsAndJobs", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		boom := errors.New("boom")
		err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			require.NoError(t, tx.OperationInsert(ctx, &store.Operation{ID: "op-x", Kind: "apply_database", State: "pending", CreatedAt: now, UpdatedAt: now}))
			require.NoError(t, tx.JobInsert(ctx, NoopArgs{}, nil))
			return boom
		})
		require.ErrorIs(t, err, boom)
		_, err = s.OperationGet(ctx, "op-x")
		require.ErrorIs(t, err, store.ErrNotFound)
		n, err := s.JobsRequeueOrphans(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
	})

	t.Run("IdempotencyKeys", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		key := &store.IdempotencyKey{Principal: "dev", Key: "k1", RequestHash: "h1", State: store.IdempotencyInFlight,
			Headers: map[string]string{}, CreatedAt: now, LockedUntil: now.Add(time.Minute)}
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.IdempotencyKeyPut(ctx, key) }))
		key.State, key.Status, key.Body = store.IdempotencyCompleted, 202, []byte(`{"id":"op-1"}`)
		key.Headers = map[string]string{"Operation-Location": "/v1/operations/op-1"}
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.IdempotencyKeyPut(ctx, key) }))
		got, err := s.IdempotencyKeyGet(ctx, "dev", "k1")
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(key, got), "(-want +got)")

		_, err = s.IdempotencyKeyGet(ctx, "other", "k1")
		require.ErrorIs(t, err, store.ErrNotFound, "keys are per principal")
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.IdempotencyKeyDelete(ctx, "dev", "k1") }))
		_, err = s.IdempotencyKeyGet(ctx, "dev", "k1")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("IdempotencyKeyClaimAndReplaceHaveOneWinner", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		claim := func(k *store.IdempotencyKey) bool {
			var won bool
			require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				var err error
				won, err = tx.IdempotencyKeyClaim(ctx, k)
				return err
			}))
			return won
		}
		first := &store.IdempotencyKey{Principal: "dev", Key: "k", RequestHash: "h", State: store.IdempotencyInFlight,
			Headers: map[string]string{}, CreatedAt: now, LockedUntil: now.Add(time.Minute)}
		var winners atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				k := *first
				if claim(&k) {
					winners.Add(1)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), winners.Load(), "one of the racing claims wins")
		require.False(t, claim(first), "a claimed key cannot be claimed again")

		later := *first
		later.CreatedAt, later.LockedUntil = now.Add(time.Hour), now.Add(time.Hour+time.Minute)
		replace := func(prev *store.IdempotencyKey) bool {
			var won bool
			require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				var err error
				won, err = tx.IdempotencyKeyReplace(ctx, &later, prev)
				return err
			}))
			return won
		}
		stale := *first
		stale.LockedUntil = now.Add(time.Second)
		require.False(t, replace(&stale), "a record that changed since it was read is not replaced")
		require.True(t, replace(first))
		require.False(t, replace(first), "the second of two replacements of one record loses")
		got, err := s.IdempotencyKeyGet(ctx, "dev", "k")
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(&later, got), "(-want +got)")
	})

	t.Run("Tokens", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		tok := &store.Token{Name: "ci", Hash: "abc", Scope: "write", CreatedAt: now}
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.TokenPut(ctx, tok) }))
		got, err := s.TokenGetByHash(ctx, "abc")
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(tok, got), "(-want +got)")
		_, err = s.TokenGetByHash(ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("SchemasRolloutsAndVersions", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		schema := &store.Schema{Name: "app", CreatedAt: now, UpdatedAt: now,
			Migrations: []store.Migration{{Version: 1, Up: "CREATE TABLE a (id int)", Down: "DROP TABLE a", Checksum: "c1"}, {Version: 2, Up: "SELECT 1", Checksum: "c2"}},
			Rollout:    store.RolloutPolicy{Waves: [][]string{{"westeurope"}, {"eastus"}}, BakeTime: 30 * time.Second, OnFailure: "halt"}}
		put := func(fn func(ctx context.Context, tx store.Tx) error) { require.NoError(t, s.InTx(ctx, fn)) }
		put(func(ctx context.Context, tx store.Tx) error { return tx.SchemaPut(ctx, schema) })
		got, err := s.SchemaGet(ctx, "app")
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(schema, got), "(-want +got)")

		schema.Migrations = schema.Migrations[:1]
		put(func(ctx context.Context, tx store.Tx) error { return tx.SchemaPut(ctx, schema) })
		got, err = s.SchemaGet(ctx, "app")
		require.NoError(t, err)
		require.Len(t, got.Migrations, 1, "a put replaces the migrations")

		halt := &store.Rollout{Schema: "app", Version: 2, State: "halted", UpdatedAt: now,
			Halt: store.RolloutHalt{Region: "westeurope", Database: "orders", Check: "migration", Message: "syntax error"}}
		put(func(ctx context.Context, tx store.Tx) error { return tx.RolloutPut(ctx, halt) })
		rollouts, err := s.RolloutList(ctx, "app")
		require.NoError(t, err)
		require.Len(t, rollouts, 1)
		require.Empty(t, cmp.Diff(halt, rollouts[0]), "(-want +got)")
		put(func(ctx context.Context, tx store.Tx) error { return tx.RolloutDelete(ctx, "app", 2) })
		rollouts, err = s.RolloutList(ctx, "app")
		require.NoError(t, err)
		require.Empty(t, rollouts)

		db := &store.Database{Region: "westeurope", Name: "orders", Schema: "app", Status: "ready", CreatedAt: now, UpdatedAt: now}
		other := &store.Database{Region: "eastus", Name: "billing", Schema: "other", Status: "ready", CreatedAt: now, UpdatedAt: now}
		put(func(ctx context.Context, tx store.Tx) error {
			require.NoError(t, tx.DatabasePut(ctx, db))
			require.NoError(t, tx.DatabasePut(ctx, other))
			for _, m := range []*store.DatabaseMigration{
				{Region: "westeurope", Name: "orders", Version: 1, AppliedAt: now},
				{Region: "eastus", Name: "billing", Version: 1, AppliedAt: now},
			} {
				require.NoError(t, tx.DatabaseMigrationPut(ctx, m))
			}
			// Recording the same version again keeps the first time.
			return tx.DatabaseMigrationPut(ctx, &store.DatabaseMigration{Region: "westeurope", Name: "orders", Version: 1, AppliedAt: now.Add(time.Hour)})
		})
		versions, err := s.DatabaseMigrationList(ctx, "app", 1)
		require.NoError(t, err)
		require.Len(t, versions, 1, "only databases of the schema")
		require.Equal(t, now, versions[0].AppliedAt)
		bySchema, err := s.DatabaseList(ctx, &store.DatabaseListParams{Schema: "app"})
		require.NoError(t, err)
		require.Len(t, bySchema, 1)

		put(func(ctx context.Context, tx store.Tx) error {
			return tx.DatabaseMigrationDelete(ctx, "westeurope", "orders", 1)
		})
		versions, err = s.DatabaseMigrationList(ctx, "app", 1)
		require.NoError(t, err)
		require.Empty(t, versions)

		put(func(ctx context.Context, tx store.Tx) error { return tx.SchemaDelete(ctx, "app") })
		_, err = s.SchemaGet(ctx, "app")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	exerciseSecurity(t, newStore)
	exerciseReconcile(t, newStore)
	exerciseHistory(t, newStore)
	exerciseIdempotency(t, newStore)

	t.Run("JobInsertCommitsWithTransaction", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.JobInsert(ctx, NoopArgs{}, &river.InsertOpts{})
		}))
		require.NoError(t, s.Ping(ctx))
	})
}
