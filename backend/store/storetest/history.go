package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// exerciseHistory covers what the dashboard charts and lists: replicas'
// lag samples and the starts of operations' steps.
func exerciseHistory(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)

	t.Run("LagSamplesSinceATimeOldestFirstPrunedPastTheirKeep", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		old := &store.LagSample{Region: "eastus", Name: "orders", Time: now.Add(-store.LagSamplesKept - 10*time.Minute), LagBytes: 9}
		recent := []*store.LagSample{
			{Region: "eastus", Name: "orders", Time: now.Add(-2 * time.Minute), LagBytes: 100, LagSeconds: 0.25},
			{Region: "eastus", Name: "orders", Time: now.Add(-time.Minute), LagBytes: 200, LagSeconds: 1.5},
		}
		other := &store.LagSample{Region: "westeurope", Name: "orders", Time: now, LagBytes: 1}
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			for _, sample := range append([]*store.LagSample{old}, append(recent, other)...) {
				if err := tx.LagSampleInsert(ctx, sample); err != nil {
					return err
				}
			}
			// The same time again replaces the first.
			return tx.LagSampleInsert(ctx, recent[1])
		}))
		got, err := s.LagSampleList(ctx, &store.LagSampleListParams{Region: "eastus", Name: "orders", Since: now.Add(-store.LagSamplesKept - time.Hour)})
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(recent, got), "(-want +got): the sample past LagSamplesKept is gone")
		got, err = s.LagSampleList(ctx, &store.LagSampleListParams{Region: "eastus", Name: "orders", Since: now.Add(-90 * time.Second)})
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(recent[1:], got), "(-want +got)")
	})

	t.Run("OperationStepsKeepTheirFirstStart", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		steps := []*store.OperationStep{
			{OperationID: "op-1", Step: "ensure_role", StartedAt: now},
			{OperationID: "op-1", Step: "migrate", StartedAt: now.Add(time.Second)},
		}
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			for _, step := range steps {
				if err := tx.OperationStepStart(ctx, step); err != nil {
					return err
				}
			}
			if err := tx.OperationStepStart(ctx, &store.OperationStep{OperationID: "op-2", Step: "verify", StartedAt: now}); err != nil {
				return err
			}
			// A retried step keeps its first start.
			return tx.OperationStepStart(ctx, &store.OperationStep{OperationID: "op-1", Step: "ensure_role", StartedAt: now.Add(time.Hour)})
		}))
		got, err := s.OperationStepList(ctx, "op-1")
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(steps, got), "(-want +got)")
		none, err := s.OperationStepList(ctx, "op-none")
		require.NoError(t, err)
		require.Empty(t, none)
	})
}
