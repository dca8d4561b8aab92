package engine

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
)

// TestAdminSessionPinned checks on a real server that the startup packet's settings win over
// what a database's owner sets for the database and for itself: the admin's session keeps
// pg_catalog first, acts as itself, writes, and has no tenant timeout, while the owner's own
// session keeps the owner's settings.
func TestAdminSessionPinned(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	ctx := context.Background()
	f, r, o := ownedDatabase(t, "pinned")

	owner, err := f.connectOwner(ctx, o)
	require.NoError(t, err)
	for _, stmt := range []string{
		"ALTER DATABASE pinned SET search_path = public, pg_catalog",
		"ALTER DATABASE pinned SET role = pinned_owner",
		"ALTER DATABASE pinned SET default_transaction_read_only = on",
		"ALTER DATABASE pinned SET lock_timeout = '12345ms'",
		"ALTER ROLE pinned_owner SET statement_timeout = '12345ms'",
	} {
		_, err := owner.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, owner.Close(ctx))

	const settings = `SELECT current_user::text, pg_catalog.current_setting('search_path'),
		pg_catalog.current_setting('default_transaction_read_only'), pg_catalog.current_setting('lock_timeout'),
		pg_catalog.current_setting('statement_timeout')`
	read := func(conn *pgx.Conn) []string {
		t.Helper()
		got := make([]string, 5)
		require.NoError(t, conn.QueryRow(ctx, settings, pgx.QueryExecModeSimpleProtocol).Scan(&got[0], &got[1], &got[2], &got[3], &got[4]))
		return got
	}
	admin, err := f.connectAdmin(ctx, r.Name, o.Database)
	require.NoError(t, err)
	defer admin.Close(ctx)
	require.Equal(t, []string{r.AdminUser, "pg_catalog, pg_temp", "off", "0", "0"}, read(admin))

	pool, err := f.pool(ctx, r.Name)
	require.NoError(t, err)
	var path string
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_catalog.current_setting('search_path')`).Scan(&path))
	require.Equal(t, "pg_catalog, pg_temp", path)

	// The owner's session keeps what the owner chose.
	owner, err = f.connectOwner(ctx, o)
	require.NoError(t, err)
	defer owner.Close(ctx)
	require.Equal(t, []string{o.Role, "public, pg_catalog", "on", "12345ms", "12345ms"}, read(owner))
}

// TestPooledReadsOutliveEndedSessions ends every pooled admin session on a
// real server, as a restart or failover does, and checks that each pooled
// read answers at once: the sessions were idle under a second, so the pool
// hands them out unpinged.
func TestPooledReadsOutliveEndedSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	ctx := context.Background()
	dir := t.TempDir()
	regions, err := devregions.Start(ctx, devregions.Options{DataDir: dir, Names: []string{"westeurope"}, Logger: zerolog.Nop()})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = regions.Stop(context.Background())
		_ = devregions.RemoveClusters(dir, "westeurope")
	})
	r := regions.Regions()[0]
	f, err := NewFleet([]RegionConfig{{Name: r.Name, AdminDSN: r.AdminDSN()}}, Options{})
	require.NoError(t, err)
	t.Cleanup(f.Close)
	killer, err := pgx.Connect(ctx, r.SuperuserDSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = killer.Close(context.Background()) })

	reads := []struct {
		name string
		read func() error
	}{
		{"current WAL position", func() error { _, err := f.CurrentLSN(ctx, r.Name); return err }},
		{"health", func() error { _, err := f.RegionHealth(ctx, r.Name); return err }},
		{"capabilities", func() error { _, err := f.probeCapabilities(ctx, r.Name); return err }},
		{"catalog", func() error {
			_, err := f.CatalogInspect(ctx, r.Name, []CatalogQuery{{Database: "postgres", Owner: r.AdminUser}})
			return err
		}},
		{"name check", func() error { return f.NameCheck(ctx, r.Name, "nosuchdb", "nosuchrole") }},
	}
	for _, tc := range reads {
		t.Run(tc.name, func(t *testing.T) {
			// Two sessions in the pool, both to be ended.
			pool, err := f.pool(ctx, r.Name)
			require.NoError(t, err)
			a, err := pool.Acquire(ctx)
			require.NoError(t, err)
			b, err := pool.Acquire(ctx)
			require.NoError(t, err)
			a.Release()
			b.Release()
			require.NoError(t, tc.read())

			var ended int
			require.NoError(t, killer.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))
				FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`, r.AdminUser).Scan(&ended))
			require.GreaterOrEqual(t, ended, 2)
			require.NoError(t, tc.read())
		})
	}
}

// TestEndedContextCancelsTheStatementOnTheServer ends the context of a
// long statement on each kind of connection dbfleetd opens (the admin pool,
// an admin connection, an owner's) and checks that PostgreSQL itself
// cancelled it (SQLSTATE 57014) and that no backend runs it any more: pgx
// alone would close its socket and leave the statement running.
func TestEndedContextCancelsTheStatementOnTheServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	ctx := context.Background()
	f, r, o := ownedDatabase(t, "sleepy")
	watcher, err := pgx.Connect(ctx, r.SuperuserDSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = watcher.Close(context.Background()) })

	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, sql string) error
	}{
		{"AdminPool", func(ctx context.Context, sql string) error {
			pool, err := f.pool(ctx, r.Name)
			require.NoError(t, err)
			_, err = pool.Exec(ctx, sql)
			return err
		}},
		{"AdminConnection", func(ctx context.Context, sql string) error {
			conn, err := f.connectAdmin(ctx, r.Name, o.Database)
			require.NoError(t, err)
			defer conn.Close(context.Background())
			_, err = conn.Exec(ctx, sql)
			return err
		}},
		{"OwnerConnection", func(ctx context.Context, sql string) error {
			conn, err := f.connectOwner(ctx, o)
			require.NoError(t, err)
			defer conn.Close(context.Background())
			_, err = conn.Exec(ctx, sql)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A comment tells this case's statement from the others'.
			sql := "SELECT pg_catalog.pg_sleep(60) -- " + tc.name
			runCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			started := time.Now()
			err := tc.run(runCtx, sql)
			require.Less(t, time.Since(started), 3*time.Second, "the statement returned soon after its context ended")
			require.Equal(t, "57014", sqlStateOf(err), "the server cancelled the statement (query_canceled): %v", err)

			var running int
			require.NoError(t, watcher.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_stat_activity
				WHERE query = $1 AND state = 'active'`, sql).Scan(&running))
			require.Zero(t, running, "no backend runs the statement any more")
		})
	}
}

// ownedDatabase starts a region (westeurope) and a fleet on it, and makes
// database name there, owned by the role name_owner with password pw-name.
func ownedDatabase(t *testing.T, name string) (*Fleet, devregions.Region, Owner) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	regions, err := devregions.Start(ctx, devregions.Options{DataDir: dir, Names: []string{"westeurope"}, Logger: zerolog.Nop()})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, regions.Stop(context.Background()))
		require.NoError(t, devregions.RemoveClusters(dir, "westeurope"))
	})
	r := regions.Regions()[0]
	f, err := NewFleet([]RegionConfig{{Name: r.Name, AdminDSN: r.AdminDSN()}}, Options{})
	require.NoError(t, err)
	t.Cleanup(f.Close)
	o := Owner{Region: r.Name, Database: name, Role: name + "_owner", Password: "pw-" + name}
	require.NoError(t, f.RoleEnsure(ctx, r.Name, o.Role, o.Password))
	require.NoError(t, f.DatabaseEnsure(ctx, r.Name, o.Database, o.Role))
	return f, r, o
}
