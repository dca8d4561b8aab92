package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/reconcile"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// TestRepairClaimWaitsForAnOperationStart: on a PostgreSQL store that
// nodes share, a pass claiming a database for repair while a request (on
// another node) is starting an operation on it waits for that start, sees
// its operation and gives way. Without the database's lock the claim read
// the database before the start committed and both went ahead: a repair
// and an operation on one database at once.
func TestRepairClaimWaitsForAnOperationStart(t *testing.T) {
	t.Parallel()
	st := daemontest.StartStore(t)
	r := reconcile.New(reconcile.Config{Store: st, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry()})
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	db := &store.Database{Region: "westeurope", Name: "drifted", Owner: "drifted_owner", Status: apiv1.DatabaseStatusReady,
		Generation: 1, ObservedGeneration: 1, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DatabasePut(ctx, db) }))

	commit := daemontest.HoldOperationStart(t, st, db.Key(), "op-starting")
	claimed := make(chan error, 1)
	go func() { claimed <- r.ClaimForRepair(ctx, db) }()
	select {
	case err := <-claimed:
		t.Fatalf("the pass claimed the database (%v) while an operation was starting on it", err)
	case <-time.After(time.Second):
	}
	commit()
	require.ErrorIs(t, <-claimed, reconcile.ErrRaced, "the claim gives way to the operation")
	_, err := st.ReconcileStateGet(ctx, db.Key())
	require.ErrorIs(t, err, store.ErrNotFound, "nothing claimed")
}
