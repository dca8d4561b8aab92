package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// exerciseIdempotency covers an idempotent request's answer, committed with
// the operation it answers for.
func exerciseIdempotency(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	request := func(hash string) *store.IdempotentRequest {
		return &store.IdempotentRequest{Principal: "dev", Key: "k", RequestHash: hash,
			Answer: func(op *store.Operation) (*store.IdempotencyKey, error) {
				return &store.IdempotencyKey{Status: 202, Headers: map[string]string{}, Body: []byte(op.ID)}, nil
			}}
	}
	// start inserts a database's operation the way the operations manager
	// does, for an idempotent request when req is set.
	start := func(ctx context.Context, s store.Store, req *store.IdempotentRequest, opID string, fail error) error {
		if req != nil {
			ctx = store.WithIdempotentRequest(ctx, req)
		}
		return s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			if err := tx.Lock(ctx, "database/westeurope/orders"); err != nil {
				return err
			}
			db := &store.Database{Region: "westeurope", Name: "orders", Owner: "o", Password: "pw", Status: "provisioning",
				OperationID: opID, CreatedAt: now, UpdatedAt: now}
			if err := tx.DatabasePut(ctx, db); err != nil {
				return err
			}
			op := &store.Operation{ID: opID, Kind: "apply_database", Region: "westeurope", Database: "orders", State: "pending",
				CreatedAt: now, UpdatedAt: now}
			if err := tx.OperationInsert(ctx, op); err != nil {
				return err
			}
			return fail
		})
	}
	operations := func(ctx context.Context, t *testing.T, s store.Store) []string {
		ops, err := s.OperationList(ctx, &store.OperationListParams{Region: "westeurope", Database: "orders"})
		require.NoError(t, err)
		var ids []string
		for _, op := range ops {
			ids = append(ids, op.ID)
		}
		return ids
	}

	t.Run("IdempotencyAnswerCommitsWithItsOperation", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		boom := errors.New("boom")
		require.ErrorIs(t, start(ctx, s, request("h"), "op-rolled-back", boom), boom)
		_, err := s.IdempotencyKeyGet(ctx, "dev", "k")
		require.ErrorIs(t, err, store.ErrNotFound, "a rolled-back operation leaves its key free")

		require.NoError(t, start(ctx, s, request("h"), "op-1", nil))
		got, err := s.IdempotencyKeyGet(ctx, "dev", "k")
		require.NoError(t, err)
		require.Equal(t, store.IdempotencyCompleted, got.State)
		require.Equal(t, 202, got.Status)
		require.Equal(t, "op-1", string(got.Body))
		require.Equal(t, "h", got.RequestHash)

		err = start(ctx, s, request("h"), "op-2", nil)
		require.ErrorIs(t, err, store.ErrIdempotencyKeyAnswered)
		require.Equal(t, []string{"op-1"}, operations(ctx, t, s), "the second attempt rolled back")

		require.NoError(t, start(ctx, s, nil, "op-3", nil), "a request without a key records none")
	})

	t.Run("IdempotencyAnswerRacesHaveOneWinner", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		var won, lost atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				err := start(ctx, s, request("h"), fmt.Sprintf("op-%d", i), nil)
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, store.ErrIdempotencyKeyAnswered):
					lost.Add(1)
				default:
					t.Errorf("start: %v", err)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), won.Load())
		require.Equal(t, int32(7), lost.Load())
		require.Len(t, operations(ctx, t, s), 1, "one operation for one key")
	})

	t.Run("IdempotencyKeyRecordReplacesOnlyDeadRecords", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		record := func(k store.IdempotencyKey) bool {
			var recorded bool
			require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				var err error
				recorded, err = tx.IdempotencyKeyRecord(ctx, &k)
				return err
			}))
			return recorded
		}
		answer := store.IdempotencyKey{Principal: "dev", Key: "k", RequestHash: "h", State: store.IdempotencyCompleted,
			Status: 200, Headers: map[string]string{}, CreatedAt: now, LockedUntil: now}
		require.True(t, record(answer))
		second := answer
		second.Status = 409
		require.False(t, record(second), "a live answer stays")

		later := answer
		later.CreatedAt = now.Add(store.IdempotencyAnswerKept + time.Minute)
		later.Status = 201
		require.True(t, record(later), "an expired answer is replaced")

		// A record left in flight by an earlier version answers nothing.
		legacy := answer
		legacy.Key, legacy.State, legacy.LockedUntil = "legacy", store.IdempotencyInFlight, now.Add(time.Hour)
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.IdempotencyKeyPut(ctx, &legacy) }))
		fresh := answer
		fresh.Key = "legacy"
		require.True(t, record(fresh))
		got, err := s.IdempotencyKeyGet(ctx, "dev", "legacy")
		require.NoError(t, err)
		require.Equal(t, store.IdempotencyCompleted, got.State)
	})
}
