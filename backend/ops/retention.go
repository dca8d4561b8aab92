package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

const (
	// AuditRetention is how long the audit log keeps an entry.
	AuditRetention = 400 * 24 * time.Hour
	// retentionInterval is how often the leader forgets what is past its
	// retention.
	retentionInterval = time.Hour
)

// RetentionArgs is the leader's periodic job that forgets idempotency keys
// and audit entries past their retention.
type RetentionArgs struct{}

// Kind implements river.JobArgs.
func (RetentionArgs) Kind() string { return "dbfleet_retention" }

type retentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	m *Manager
}

func (w *retentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	return w.m.forgetExpired(ctx)
}

// forgetExpired deletes the idempotency keys and audit entries past their
// retention, in one transaction.
func (m *Manager) forgetExpired(ctx context.Context) error {
	now := m.now()
	var keys, entries int64
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		if keys, err = tx.IdempotencyKeysDeleteBefore(ctx, now.Add(-store.IdempotencyAnswerKept)); err != nil {
			return err
		}
		entries, err = tx.AuditDeleteBefore(ctx, now.Add(-AuditRetention))
		return err
	})
	if err != nil {
		return fmt.Errorf("apply retention: %w", err)
	}
	if keys > 0 || entries > 0 {
		m.logger.Info().Int64("idempotencyKeys", keys).Int64("auditEntries", entries).Msg("Forgot records past their retention")
	}
	return nil
}
