package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// TestManagedAdminDropsWhileAutovacuumRuns drops, as a managed admin, a
// database an autovacuum worker is vacuuming, on every build
// DBFLEET_PG_VERSIONS lists: DROP DATABASE ... WITH (FORCE) refuses it, since
// the worker runs as no role the admin may signal.
func TestManagedAdminDropsWhileAutovacuumRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL clusters")
	}
	t.Parallel()
	builds, err := devregions.ServerBuilds()
	require.NoError(t, err)
	for _, b := range builds {
		t.Run(b.Name(), func(t *testing.T) {
			t.Parallel()
			dropWhileAutovacuumRuns(t, startRegion(t, b, devregions.AdminManaged))
		})
	}
}

func dropWhileAutovacuumRuns(t *testing.T, r devregions.Region) {
	ctx := context.Background()
	super, err := pgx.Connect(ctx, r.SuperuserDSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = super.Close(context.Background()) })
	_, err = super.Exec(ctx, "ALTER SYSTEM SET autovacuum_naptime = 1")
	require.NoError(t, err)
	_, err = super.Exec(ctx, "SELECT pg_reload_conf()")
	require.NoError(t, err)

	f, err := engine.NewFleet([]engine.RegionConfig{{Name: r.Name, AdminDSN: r.AdminDSN()}}, engine.Options{})
	require.NoError(t, err)
	t.Cleanup(f.Close)
	const database = "vacuumed"
	require.NoError(t, f.RoleEnsure(ctx, r.Name, "vacuumed_owner", "pw-vacuumed"))
	require.NoError(t, f.DatabaseEnsure(ctx, r.Name, database, "vacuumed_owner"))
	cfg, err := pgx.ParseConfig(r.SuperuserDSN())
	require.NoError(t, err)
	cfg.Database = database
	tenant, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	// Dead rows, and a vacuum of them slowed to a crawl, so the worker is
	// still there when the drop comes.
	for _, stmt := range []string{
		`CREATE TABLE t (id int, pad text) WITH (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0,
			autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)`,
		"INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g",
		"DELETE FROM t",
	} {
		_, err := tenant.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, tenant.Close(ctx))
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, super.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'autovacuum worker' AND datname = $1`, database).Scan(&n))
		return n > 0
	}, time.Minute, 100*time.Millisecond, "an autovacuum worker vacuums the database")

	admin, err := pgx.Connect(ctx, r.AdminDSN())
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "DROP DATABASE vacuumed WITH (FORCE)")
	require.ErrorContains(t, err, "SQLSTATE 42501", "FORCE cannot end the worker")
	require.NoError(t, admin.Close(ctx))

	require.NoError(t, f.DatabaseDrop(ctx, r.Name, database))
	exists, err := f.DatabaseExists(ctx, r.Name, database)
	require.NoError(t, err)
	require.False(t, exists)
}
