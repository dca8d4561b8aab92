package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// TestMigrationRunTwiceRunsOnce runs one migration, then its revert, from
// several connections at once, as a step run twice does (a partitioned
// node and the node that took its job over): the SQL, which fails when run
// a second time, runs once, the ledger records the version once, and the
// revert runs its down SQL once.
func TestMigrationRunTwiceRunsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	t.Parallel()
	ctx := context.Background()
	f, _, o := ownedDatabase(t, "twice")

	const runs = 4
	conns := make([]*engine.OwnerConn, runs)
	for i := range conns {
		conn, err := f.OpenOwner(ctx, o)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close(context.Background()) })
		_, err = conn.Ledger(ctx)
		require.NoError(t, err)
		conns[i] = conn
	}
	each := func(run func(c *engine.OwnerConn) error) {
		t.Helper()
		errs := make(chan error, runs)
		for _, c := range conns {
			go func() { errs <- run(c) }()
		}
		for range runs {
			require.NoError(t, <-errs)
		}
	}
	mig := engine.Migration{Version: 1, SQL: "CREATE TABLE public.items (id int PRIMARY KEY)", Checksum: "c1"}
	each(func(c *engine.OwnerConn) error { return c.MigrationApply(ctx, mig, "op-1") })
	ledger, err := conns[0].Ledger(ctx)
	require.NoError(t, err)
	require.Equal(t, map[int64]string{1: "c1"}, ledger, "one ledger row")
	has, err := conns[0].LedgerHas(ctx, 1)
	require.NoError(t, err)
	require.True(t, has)

	each(func(c *engine.OwnerConn) error { return c.MigrationRevert(ctx, 1, "DROP TABLE public.items") })
	ledger, err = conns[0].Ledger(ctx)
	require.NoError(t, err)
	require.Empty(t, ledger, "the revert removed the row")
}

// TestMigrationCutOffIsNoMigrationError tells a migration that failed on
// its own (its statement_timeout cancelled it: 57014, a MigrationError that
// halts the rollout) from one whose run was cut off because the operation
// was cancelled or reached its deadline (the same 57014 from the server,
// but not the migration's fault). Neither leaves a ledger row.
func TestMigrationCutOffIsNoMigrationError(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	t.Parallel()
	ctx := context.Background()
	f, _, o := ownedDatabase(t, "cutoff")
	conn, err := f.OpenOwner(ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Ledger(ctx)
	require.NoError(t, err)

	var migErr *engine.MigrationError
	own := engine.Migration{Version: 1, SQL: "SET LOCAL statement_timeout = '100ms';\nSELECT pg_catalog.pg_sleep(5)", Checksum: "c1"}
	err = conn.MigrationApply(ctx, own, "op-own")
	require.ErrorAs(t, err, &migErr, "a migration its own timeout stopped failed")
	require.Equal(t, "57014", migErr.Code)

	cutCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = conn.MigrationApply(cutCtx, engine.Migration{Version: 1, SQL: "SELECT pg_catalog.pg_sleep(5)", Checksum: "c1"}, "op-cut")
	require.Error(t, err)
	require.NotErrorAs(t, err, &migErr, "a run cut off by its context is not the migration's failure")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// The cut-off run's connection is gone with its transaction; a new one
	// finds the ledger empty.
	check, err := f.OpenOwner(ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { check.Close(context.Background()) })
	ledger, err := check.Ledger(ctx)
	require.NoError(t, err)
	require.Empty(t, ledger)
}
