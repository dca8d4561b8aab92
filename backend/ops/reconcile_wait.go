package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// reconcileWait returns how long an operation should wait before its next
// step because the reconciler is repairing its database, or 0. The
// reconciler claims a database only while no operation is recorded on it,
// and an operation checks the claim before it changes anything, so the two
// never change a database at the same time.
func (m *Manager) reconcileWait(ctx context.Context, op *store.Operation) (time.Duration, error) {
	state, err := m.store.ReconcileStateGet(ctx, store.DatabaseKey{Region: op.Region, Name: op.Database})
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("check reconciler claim on %s for operation %s: %w", Target(op.Region, op.Database), op.ID, err)
	}
	if left := state.ClaimedUntil.Sub(m.now()); left > 0 {
		return min(left, 500*time.Millisecond), nil
	}
	return 0, nil
}
