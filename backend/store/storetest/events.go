package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// exerciseReconcile covers what the reconciler keeps: drift policies,
// conditions, events and per-database reconcile state.
func exerciseReconcile(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	put := func(t *testing.T, ctx context.Context, s store.Store, fn func(ctx context.Context, tx store.Tx) error) {
		t.Helper()
		require.NoError(t, s.InTx(ctx, fn))
	}

	t.Run("ConditionsSurviveDatabasePut", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		db := &store.Database{Region: "westeurope", Name: "orders", Owner: "orders_owner", Status: "ready",
			Generation: 1, ObservedGeneration: 1, CreatedAt: now, UpdatedAt: now, DriftPolicy: "report"}
		put(t, ctx, s, func(ctx context.Context, tx store.Tx) error { return tx.DatabasePut(ctx, db) })
		got, err := s.DatabaseGet(ctx, db.Key())
		require.NoError(t, err)
		require.Equal(t, "report", got.DriftPolicy)
		require.Nil(t, got.Conditions, "a new database has no conditions")

		conditions := []store.Condition{
			{Type: "Ready", Status: "True", Reason: "Reconciled", Message: "ok", ObservedGeneration: 1, LastTransitionTime: now},
			{Type: "Drifted", Status: "True", Reason: "ParametersDrifted", Message: "work_mem is 1MB", ObservedGeneration: 1, LastTransitionTime: now},
		}
		put(t, ctx, s, func(ctx context.Context, tx store.Tx) error {
			return tx.DatabaseConditionsPut(ctx, db.Key(), conditions)
		})

		// An operation writing back the spec it read before keeps them.
		db.Status = "failed"
		put(t, ctx, s, func(ctx context.Context, tx store.Tx) error { return tx.DatabasePut(ctx, db) })
		got, err = s.DatabaseGet(ctx, db.Key())
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(conditions, got.Conditions), "(-want +got)")
		list, err := s.DatabaseList(ctx, &store.DatabaseListParams{})
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(conditions, list[0].Conditions), "(-want +got)")

		err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.DatabaseConditionsPut(ctx, store.DatabaseKey{Region: "westeurope", Name: "missing"}, conditions)
		})
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("EventsNewestFirstPrunedAndDeletedWithTheDatabase", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		db := &store.Database{Region: "westeurope", Name: "orders", Status: "ready", CreatedAt: now, UpdatedAt: now}
		other := &store.Database{Region: "eastus", Name: "orders", Status: "ready", CreatedAt: now, UpdatedAt: now}
		put(t, ctx, s, func(ctx context.Context, tx store.Tx) error {
			require.NoError(t, tx.DatabasePut(ctx, db))
			return tx.DatabasePut(ctx, other)
		})
		first := &store.DatabaseEvent{Region: "westeurope", Name: "orders", Time: now, Type: "finding", Reason: "OwnerRoleMissing", Message: "gone"}
		put(t, ctx, s, func(ctx context.Context, tx store.Tx) error {
			require.NoError(t, tx.DatabaseEventInsert(ctx, first))
			return tx.DatabaseEventInsert(ctx, &store.DatabaseEvent{Region: "eastus", Name: "orders", Time: now, Type: "repair", Reason: "x", Message: "y"})
		})
		require.NotZero(t, first.ID)
		events, err := s.DatabaseEventList(ctx, &store.DatabaseEventListParams{Region: "westeurope", Name: "orders"})
		require.NoError(t, err)
		require.Empty(t, cmp.Diff([]*store.DatabaseEvent{first}, events), "only the database's own (-want +got)")

		put(t, ctx, s, func(ctx context.Context, tx store.Tx) error {
			for i := range store.DatabaseEventsKept + 5 {
				e := &store.DatabaseEvent{Region: "westeurope", Name: "orders", Time: now.Add(time.Duration(i) * time.Second),
					Type: "repair", Reason: "LedgerRebuilt", Message: fmt.Sprint(i)}
				if err := tx.DatabaseEventInsert(ctx, e); err != nil {
					return err
				}
			}
			return nil
		})
		events, err = s.DatabaseEventList(ctx, &store.DatabaseEventListParams{Region: "westeurope", Name: "orders", Limit: 1000})
		require.NoError(t, err)
		require.Len(t, events, store.DatabaseEventsKept, "older events are dropped")
		require.Equal(t, fmt.Sprint(store.DatabaseEventsKept+4), events[0].Message, "newest first")
		limited, err := s.DatabaseEventList(ctx, &store.DatabaseEventListParams{Region: "westeurope", Name: "orders", Limit: 3})
		require.NoError(t, err)
		require.Len(t, limited, 3)

		put(t, ctx, s, func(ctx context.Context, tx store.Tx) error { return tx.DatabaseDelete(ctx, db.Key()) })
		events, err = s.DatabaseEventList(ctx, &store.DatabaseEventListParams{Region: "westeurope", Name: "orders"})
		require.NoError(t, err)
		require.Empty(t, events, "a recreated database starts without the old one's events")
	})

	t.Run("ReconcileState", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		_, err := s.ReconcileStateGet(ctx, store.DatabaseKey{Region: "westeurope", Name: "orders"})
		require.ErrorIs(t, err, store.ErrNotFound)

		state := &store.ReconcileState{Region: "westeurope", Name: "orders", Generation: 2, CheckedAt: now,
			NextCheckAt: now.Add(30 * time.Second), Failures: 3, Findings: []string{"ledger:LedgerMissing"}, ClaimedUntil: now.Add(time.Minute)}
		clean := &store.ReconcileState{Region: "eastus", Name: "orders", Generation: 1, CheckedAt: now, NextCheckAt: now}
		put(t, ctx, s, func(ctx context.Context, tx store.Tx) error {
			require.NoError(t, tx.ReconcileStatePut(ctx, state))
			return tx.ReconcileStatePut(ctx, clean)
		})
		got, err := s.ReconcileStateGet(ctx, state.Key())
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(state, got), "(-want +got)")

		state.Failures, state.Findings, state.ClaimedUntil = 0, nil, time.Time{}
		put(t, ctx, s, func(ctx context.Context, tx store.Tx) error { return tx.ReconcileStatePut(ctx, state) })
		all, err := s.ReconcileStateList(ctx)
		require.NoError(t, err)
		require.Empty(t, cmp.Diff([]*store.ReconcileState{clean, state}, all), "sorted by region (-want +got)")

		db := &store.Database{Region: "westeurope", Name: "orders", Status: "ready", CreatedAt: now, UpdatedAt: now}
		put(t, ctx, s, func(ctx context.Context, tx store.Tx) error {
			require.NoError(t, tx.DatabasePut(ctx, db))
			return tx.DatabaseDelete(ctx, db.Key())
		})
		_, err = s.ReconcileStateGet(ctx, state.Key())
		require.ErrorIs(t, err, store.ErrNotFound, "deleted with its database")
	})
}
