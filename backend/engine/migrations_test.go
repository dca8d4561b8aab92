package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
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
	r := startRegion(t, devregions.ServerBuild{}, devregions.AdminSuperuser)
	f, err := engine.NewFleet([]engine.RegionConfig{{Name: r.Name, AdminDSN: r.AdminDSN()}}, engine.Options{})
	require.NoError(t, err)
	t.Cleanup(f.Close)
	const database, owner = "twice", "twice_owner"
	require.NoError(t, f.RoleEnsure(ctx, r.Name, owner, "pw-twice"))
	require.NoError(t, f.DatabaseEnsure(ctx, r.Name, database, owner))
	o := engine.Owner{Region: r.Name, Database: database, Role: owner, Password: "pw-twice"}

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
