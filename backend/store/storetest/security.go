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

// exerciseSecurity covers tokens and the audit log.
func exerciseSecurity(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)

	t.Run("TokenListAndDelete", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		ci := &store.Token{Name: "ci", Hash: "h-ci", Scope: "write", CreatedAt: now}
		audit := &store.Token{Name: "auditor", Hash: "h-auditor", Scope: "read", CreatedAt: now}
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			require.NoError(t, tx.TokenPut(ctx, ci))
			return tx.TokenPut(ctx, audit)
		}))
		list, err := s.TokenList(ctx)
		require.NoError(t, err)
		require.Empty(t, cmp.Diff([]*store.Token{audit, ci}, list), "sorted by name (-want +got)")

		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.TokenDelete(ctx, "ci") }))
		_, err = s.TokenGetByHash(ctx, "h-ci")
		require.ErrorIs(t, err, store.ErrNotFound, "a deleted token no longer authenticates")
		err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.TokenDelete(ctx, "ci") })
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("AuditInsertList", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		var entries []*store.AuditEntry
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			for i := range 5 {
				e := &store.AuditEntry{Time: now.Add(time.Duration(i) * time.Second), Principal: "ci",
					Action: "PUT /v1/databases/{region}/{name}", Target: fmt.Sprintf("databases/westeurope/db%d", i),
					Status: 202, RequestID: fmt.Sprintf("req-%d", i), RemoteAddr: "127.0.0.1:5000"}
				if err := tx.AuditInsert(ctx, e); err != nil {
					return err
				}
				require.NotZero(t, e.ID)
				entries = append(entries, e)
			}
			return nil
		}))
		got, err := s.AuditList(ctx, &store.AuditListParams{Limit: 2})
		require.NoError(t, err)
		require.Empty(t, cmp.Diff([]*store.AuditEntry{entries[4], entries[3]}, got), "newest first (-want +got)")
		older, err := s.AuditList(ctx, &store.AuditListParams{BeforeID: entries[3].ID})
		require.NoError(t, err)
		require.Len(t, older, 3)
		require.Equal(t, entries[2].ID, older[0].ID)
	})

	t.Run("RetentionDeletesOnlyOlderRows", func(t *testing.T) {
		t.Parallel()
		ctx, s := open(t, newStore)
		cutoff := now.Add(-time.Hour)
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			for i, at := range []time.Time{cutoff.Add(-time.Minute), cutoff.Add(time.Minute)} {
				key := &store.IdempotencyKey{Principal: "ci", Key: fmt.Sprintf("k%d", i), RequestHash: "h",
					State: store.IdempotencyCompleted, Headers: map[string]string{}, CreatedAt: at, LockedUntil: at}
				if err := tx.IdempotencyKeyPut(ctx, key); err != nil {
					return err
				}
				if err := tx.AuditInsert(ctx, &store.AuditEntry{Time: at, Principal: "ci", Action: "PUT",
					Target: fmt.Sprintf("t%d", i), Status: 202}); err != nil {
					return err
				}
			}
			return nil
		}))
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			keys, err := tx.IdempotencyKeysDeleteBefore(ctx, cutoff)
			require.NoError(t, err)
			require.Equal(t, int64(1), keys)
			entries, err := tx.AuditDeleteBefore(ctx, cutoff)
			require.NoError(t, err)
			require.Equal(t, int64(1), entries)
			return nil
		}))
		_, err := s.IdempotencyKeyGet(ctx, "ci", "k0")
		require.ErrorIs(t, err, store.ErrNotFound, "the older key is gone")
		_, err = s.IdempotencyKeyGet(ctx, "ci", "k1")
		require.NoError(t, err, "the newer key stays")
		left, err := s.AuditList(ctx, &store.AuditListParams{})
		require.NoError(t, err)
		require.Len(t, left, 1)
		require.Equal(t, "t1", left[0].Target)
	})
}
