package ops

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// TestRetentionForgetsOnlyWhatIsPastIt runs the retention job on a real
// SQLite store with rows on both sides of each retention.
func TestRetentionForgetsOnlyWhatIsPastIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	m := NewManager(Config{Store: st, Logger: zerolog.Nop(), Now: func() time.Time { return now }})

	keyAges := map[string]time.Duration{"expired": store.IdempotencyAnswerKept + time.Minute, "kept": store.IdempotencyAnswerKept - time.Minute}
	auditAges := map[string]time.Duration{"expired": AuditRetention + time.Minute, "kept": AuditRetention - time.Minute}
	require.NoError(t, st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		for name, age := range keyAges {
			at := now.Add(-age)
			if err := tx.IdempotencyKeyPut(ctx, &store.IdempotencyKey{Principal: "ci", Key: name, RequestHash: "h",
				State: store.IdempotencyCompleted, Headers: map[string]string{}, CreatedAt: at, LockedUntil: at}); err != nil {
				return err
			}
		}
		for name, age := range auditAges {
			if err := tx.AuditInsert(ctx, &store.AuditEntry{Time: now.Add(-age), Principal: "ci", Action: "PUT", Target: name, Status: 202}); err != nil {
				return err
			}
		}
		return nil
	}))

	require.NoError(t, (&retentionWorker{m: m}).Work(ctx, &river.Job[RetentionArgs]{}))

	_, err = st.IdempotencyKeyGet(ctx, "ci", "expired")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.IdempotencyKeyGet(ctx, "ci", "kept")
	require.NoError(t, err)
	entries, err := st.AuditList(ctx, &store.AuditListParams{})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "kept", entries[0].Target)
}
