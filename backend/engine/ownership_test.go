package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

const region = "westeurope"

// privRegion is one dev region with a managed-like admin, the engine
// driven as that admin and as the cluster's superuser, and the superuser's
// own pool to look at what the engine did.
type privRegion struct {
	region  devregions.Region
	major   int
	su      *pgxpool.Pool
	managed *engine.Fleet
	super   *engine.Fleet
}

func startPrivRegion(t *testing.T, build devregions.ServerBuild) *privRegion {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	fleet, err := devregions.Start(ctx, devregions.Options{
		DataDir: dir, Names: []string{region}, BinDir: build.BinDir, Admin: devregions.AdminManaged, Logger: zerolog.Nop(),
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = fleet.Stop(stopCtx)
		_ = devregions.RemoveClusters(dir, region)
	})
	r := fleet.Regions()[0]
	p := &privRegion{region: r, su: newPool(t, r.SuperuserDSN()), managed: newFleet(t, r.AdminDSN()), super: newFleet(t, r.SuperuserDSN())}
	require.NoError(t, p.su.QueryRow(ctx, `SELECT current_setting('server_version_num')::int / 10000`).Scan(&p.major))
	return p
}

func newPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func newFleet(t *testing.T, dsn string) *engine.Fleet {
	t.Helper()
	f, err := engine.NewFleet([]engine.RegionConfig{{Name: region, AdminDSN: dsn}}, engine.Options{})
	require.NoError(t, err)
	t.Cleanup(f.Close)
	return f
}

// TestConformanceOwnership runs, on every PostgreSQL build of
// DBFLEET_PG_VERSIONS, the life of a database under a managed-like admin
// and under a superuser, and what dbfleet does with a database and roles it
// did not create.
func TestConformanceOwnership(t *testing.T) {
	builds, err := devregions.ServerBuilds()
	require.NoError(t, err)
	for _, build := range builds {
		t.Run(build.Name(), func(t *testing.T) {
			t.Parallel()
			p := startPrivRegion(t, build)
			foreign := p.plantForeign(t)
			// The managed admin goes first: it creates the marker, as it would
			// on a managed server.
			for _, admin := range []struct {
				name, dsn string
				fleet     *engine.Fleet
			}{{"managed", p.region.AdminDSN(), p.managed}, {"superuser", p.region.SuperuserDSN(), p.super}} {
				t.Run(admin.name, func(t *testing.T) {
					t.Run("Lifecycle", func(t *testing.T) { p.lifecycle(t, admin.fleet, admin.name, admin.name == "managed") })
					t.Run("LeavesForeignObjects", func(t *testing.T) { p.leavesForeign(t, admin.fleet, foreign) })
					t.Run("AdminsOwnDatabase", func(t *testing.T) { p.adminsOwnDatabase(t, admin.fleet, admin.dsn, admin.name) })
				})
			}
			if p.major >= 16 {
				// createrole_self_grant gives the admin more of each role it
				// creates; dbfleet neither needs nor minds it.
				t.Run("SelfGrant", func(t *testing.T) {
					p.exec(t, "postgres", fmt.Sprintf(`ALTER ROLE %s SET createrole_self_grant = 'set, inherit'`, p.region.AdminUser))
					defer p.exec(t, "postgres", fmt.Sprintf(`ALTER ROLE %s RESET createrole_self_grant`, p.region.AdminUser))
					p.lifecycle(t, newFleet(t, p.region.AdminDSN()), "selfgrant", true)
				})
			}
			t.Run("MarksLegacy", func(t *testing.T) { p.marksLegacy(t, p.super) })
			t.Run("RefusesForeignMarker", func(t *testing.T) { p.refusesForeignMarker(t) })
		})
	}
}

// connect connects to a database as the superuser, closed when the test
// ends.
func (p *privRegion) connect(t *testing.T, database string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(p.region.SuperuserDSN())
	require.NoError(t, err)
	cfg.Database = database
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func (p *privRegion) exec(t *testing.T, database string, stmts ...string) {
	t.Helper()
	conn := p.connect(t, database)
	for _, stmt := range stmts {
		_, err := conn.Exec(context.Background(), stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, conn.Close(context.Background()))
}

func (p *privRegion) query(t *testing.T, database, sql string, args ...any) []string {
	t.Helper()
	conn := p.connect(t, database)
	rows, err := conn.Query(context.Background(), sql, args...)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NoError(t, conn.Close(context.Background()))
	return out
}

// roleRecord is what must not change about a role dbfleet did not make.
const roleRecord = `SELECT concat_ws(' ', rolpassword, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolcanlogin,
	(SELECT string_agg(roleid::regrole::text, ',' ORDER BY roleid::regrole::text) FROM pg_auth_members WHERE member = a.oid))
	FROM pg_authid a WHERE rolname = $1`

// foreignObjects are a database with data and its owner, and a lone role,
// made by the superuser as a server's other users would.
type foreignObjects struct {
	roles map[string]string // role: roleRecord
}

func (p *privRegion) plantForeign(t *testing.T) foreignObjects {
	t.Helper()
	p.exec(t, "postgres",
		`CREATE ROLE hr_owner LOGIN PASSWORD 'hr-secret'`,
		`CREATE DATABASE hr OWNER hr_owner`,
		`CREATE ROLE pay_owner LOGIN CREATEDB PASSWORD 'pay-secret'`)
	p.exec(t, "hr", `CREATE TABLE public.staff (id int PRIMARY KEY, name text)`, `INSERT INTO public.staff VALUES (1, 'ada')`,
		`ALTER TABLE public.staff OWNER TO hr_owner`)
	// Something planted in template1, which no database dbfleet makes may
	// hold.
	p.exec(t, "template1", `CREATE TABLE public.planted_in_template1 (x int)`)
	f := foreignObjects{roles: map[string]string{}}
	for _, role := range []string{"hr_owner", "pay_owner"} {
		f.roles[role] = p.query(t, "postgres", roleRecord, role)[0]
	}
	return f
}

// lifecycle creates, validates, migrates, publishes, re-owns, sets
// parameters of and drops a database as the given admin, checking after
// each step what PostgreSQL says.
func (p *privRegion) lifecycle(t *testing.T, f *engine.Fleet, prefix string, managed bool) {
	ctx := context.Background()
	db := prefix + "_orders"
	owner, owner2 := db+"_owner", db+"_owner2"
	repl := engine.ReplicationRoleName(db)

	require.NoError(t, f.NameCheck(ctx, region, db, owner))
	require.NoError(t, f.RoleEnsure(ctx, region, owner, "first-password"))
	require.NoError(t, f.RoleEnsure(ctx, region, owner2, "other-password"))
	require.NoError(t, f.DatabaseEnsure(ctx, region, db, owner))
	require.NoError(t, f.DatabaseEnsure(ctx, region, db, owner), "converges")
	require.NoError(t, f.NameCheck(ctx, region, db, owner), "dbfleet's own names are free to it")
	require.Equal(t, []string{owner}, p.query(t, "postgres", `SELECT datdba::regrole::text FROM pg_database WHERE datname = $1`, db))
	require.Empty(t, p.query(t, db, `SELECT relname::text FROM pg_class WHERE relname = 'planted_in_template1'`), "copied from template0")
	p.requireOnlyMarked(t, owner)

	// Validation makes and drops a scratch database and role.
	migErr, err := f.ValidateMigrations(ctx, region, []engine.Migration{{Version: 1, SQL: `CREATE TABLE t (id int)`}})
	require.NoError(t, err)
	require.Nil(t, migErr)
	migErr, err = f.ValidateMigrations(ctx, region, []engine.Migration{{Version: 1, SQL: "CREATE TABLE t (id int);\nSELECT nope"}})
	require.NoError(t, err)
	require.NotNil(t, migErr)
	require.Empty(t, p.query(t, "postgres", `SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'dbfleet\_scratch\_%'
		UNION ALL SELECT datname::text FROM pg_database WHERE datname LIKE 'dbfleet\_scratch\_%'`))

	// Publishing before any table: an empty publication.
	publishable := !managed || p.major >= 16
	err = f.PublicationEnsure(ctx, region, db, owner, "repl-password")
	if !publishable {
		var missing *engine.MissingError
		require.ErrorAs(t, err, &missing)
		require.Contains(t, err.Error(), "superuser")
	} else {
		require.NoError(t, err)
		require.Equal(t, []string{"dbfleet_pub f"}, p.query(t, db, `SELECT concat_ws(' ', pubname, puballtables) FROM pg_publication`))
		require.Empty(t, p.publishedTables(t, db))
		p.requireOnlyMarked(t, repl)
	}

	// Migrations run as the owner.
	o := engine.Owner{Region: region, Database: db, Role: owner, Password: "first-password"}
	conn, err := f.OpenOwner(ctx, o)
	require.NoError(t, err)
	_, err = conn.Ledger(ctx)
	require.NoError(t, err)
	require.NoError(t, conn.MigrationApply(ctx, engine.Migration{Version: 1, Checksum: "c1",
		SQL: "CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY); CREATE UNLOGGED TABLE app.cache (k text)"}, "op-1"))
	if publishable {
		require.NoError(t, f.PublicationEnsure(ctx, region, db, owner, "repl-password"))
		require.Equal(t, []string{"app.items"}, p.publishedTables(t, db))
	}
	require.NoError(t, conn.MigrationApply(ctx, engine.Migration{Version: 2, Checksum: "c2",
		SQL: "CREATE TABLE public.orders (id int PRIMARY KEY); CREATE TABLE app.parts (id int) PARTITION BY RANGE (id); " +
			"CREATE TABLE app.parts_1 PARTITION OF app.parts FOR VALUES FROM (0) TO (100)"}, "op-2"))
	require.NoError(t, conn.Close(ctx))
	if publishable {
		require.NoError(t, f.PublicationEnsure(ctx, region, db, owner, "repl-password"), "refreshed after a migration")
		require.Equal(t, []string{"app.items", "app.parts_1", "public.orders"}, p.publishedTables(t, db), "never dbfleet.migrations")
	}

	// Parameters, a new password, a new owner and back.
	require.NoError(t, f.ParametersApply(ctx, region, db, map[string]string{"work_mem": "8MB"}))
	require.Equal(t, []string{"work_mem=8MB"}, p.query(t, "postgres", `SELECT unnest(setconfig) FROM pg_db_role_setting s
		JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = $1 AND s.setrole = 0`, db))
	require.NoError(t, f.ParametersApply(ctx, region, db, nil))
	require.NoError(t, f.RoleEnsure(ctx, region, owner, "second-password"))
	o.Password = "second-password"
	conn, err = f.OpenOwner(ctx, o)
	require.NoError(t, err, "the new password works")
	require.NoError(t, conn.Close(ctx))
	require.NoError(t, f.DatabaseOwnerSet(ctx, region, db, owner2))
	require.NoError(t, f.DatabaseEnsure(ctx, region, db, owner), "a database given to another role of dbfleet's is re-owned")
	require.Equal(t, []string{owner}, p.query(t, "postgres", `SELECT datdba::regrole::text FROM pg_database WHERE datname = $1`, db))
	p.requireOnlyMarked(t, owner)

	// Delete.
	require.NoError(t, f.DatabaseDrop(ctx, region, db))
	for _, role := range []string{owner, owner2, repl} {
		require.NoError(t, f.RoleDrop(ctx, region, role))
	}
	require.NoError(t, f.DatabaseDrop(ctx, region, db), "gone already")
	require.Empty(t, p.query(t, "postgres", `SELECT rolname::text FROM pg_roles WHERE rolname = ANY ($1)
		UNION ALL SELECT datname::text FROM pg_database WHERE datname = $2`, []string{owner, owner2, repl}, db))
}

// requireOnlyMarked checks that a role dbfleet made has no attribute beyond
// LOGIN (and REPLICATION for a replication role) and is a member of the
// marker alone, as a label only from 16.
func (p *privRegion) requireOnlyMarked(t *testing.T, role string) {
	t.Helper()
	require.Equal(t, []string{"f f f f"}, p.query(t, "postgres",
		`SELECT concat_ws(' ', rolsuper, rolcreatedb, rolcreaterole, rolbypassrls) FROM pg_roles WHERE rolname = $1`, role))
	want := "dbfleet_managed"
	memberships := `SELECT m.roleid::regrole::text FROM pg_auth_members m WHERE m.member = $1::regrole`
	if p.major >= 16 {
		want += " f f f"
		memberships = `SELECT concat_ws(' ', m.roleid::regrole, m.admin_option, m.inherit_option, m.set_option)
			FROM pg_auth_members m WHERE m.member = $1::regrole`
	}
	require.Equal(t, []string{want}, p.query(t, "postgres", memberships, role))
}

func (p *privRegion) publishedTables(t *testing.T, db string) []string {
	t.Helper()
	return p.query(t, db, `SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = 'dbfleet_pub' ORDER BY 1`)
}

// leavesForeign checks that every path refuses or passes over a database
// and roles dbfleet did not make, and changes nothing of theirs.
func (p *privRegion) leavesForeign(t *testing.T, f *engine.Fleet, foreign foreignObjects) {
	ctx := context.Background()
	requireTaken := func(t *testing.T, err error, kind, name, owner string) {
		t.Helper()
		var taken *engine.NameTakenError
		require.ErrorAs(t, err, &taken)
		require.Equal(t, engine.NameTakenError{Kind: kind, Name: name, Region: region, Owner: owner}, *taken)
		require.Contains(t, err.Error(), name)
	}
	cases := []struct {
		name        string
		call        func() error
		kind, taken string
		owner       string
	}{
		{"NameCheckDatabase", func() error { return f.NameCheck(ctx, region, "hr", "hr_owner") }, "database", "hr", "hr_owner"},
		{"NameCheckRole", func() error { return f.NameCheck(ctx, region, "pay", "pay_owner") }, "role", "pay_owner", ""},
		{"RoleEnsureHR", func() error { return f.RoleEnsure(ctx, region, "hr_owner", "stolen") }, "role", "hr_owner", ""},
		{"RoleEnsurePay", func() error { return f.RoleEnsure(ctx, region, "pay_owner", "stolen") }, "role", "pay_owner", ""},
		{"DatabaseEnsure", func() error { return f.DatabaseEnsure(ctx, region, "hr", "hr_owner") }, "database", "hr", "hr_owner"},
		{"DatabaseEnsureOwnedByForeignRole", func() error { return f.DatabaseEnsure(ctx, region, "pay", "pay_owner") }, "role", "pay_owner", ""},
		{"DatabaseOwnerSet", func() error { return f.DatabaseOwnerSet(ctx, region, "hr", "hr_owner") }, "database", "hr", "hr_owner"},
		{"ParametersApply", func() error { return f.ParametersApply(ctx, region, "hr", map[string]string{"work_mem": "1MB"}) }, "database", "hr", "hr_owner"},
		{"PublicationEnsure", func() error { return f.PublicationEnsure(ctx, region, "hr", "hr_owner", "x") }, "database", "hr", "hr_owner"},
		{"DatabaseDrop", func() error { return f.DatabaseDrop(ctx, region, "hr") }, "database", "hr", "hr_owner"},
		{"RoleDropHR", func() error { return f.RoleDrop(ctx, region, "hr_owner") }, "role", "hr_owner", ""},
		{"RoleDropPay", func() error { return f.RoleDrop(ctx, region, "pay_owner") }, "role", "pay_owner", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { requireTaken(t, c.call(), c.kind, c.taken, c.owner) })
	}
	require.NoError(t, f.NameCheck(ctx, region, "fresh", "fresh_owner"))
	for role, record := range foreign.roles {
		require.Equal(t, []string{record}, p.query(t, "postgres", roleRecord, role), "role %s unchanged", role)
	}
	require.Equal(t, []string{"hr_owner"}, p.query(t, "postgres", `SELECT datdba::regrole::text FROM pg_database WHERE datname = 'hr'`))
	require.Equal(t, []string{"ada"}, p.query(t, "hr", `SELECT name FROM public.staff`))
	require.Empty(t, p.query(t, "hr", `SELECT unnest(setconfig) FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = 'hr')`))
	require.Empty(t, p.query(t, "postgres", `SELECT datname::text FROM pg_database WHERE datname = 'pay'`))
}

// adminsOwnDatabase checks that a database the admin role made by hand is
// not dbfleet's to take, but that the reconciler's repair gives one back
// that a DBA handed to the admin (REASSIGN OWNED BY ... TO CURRENT_USER).
func (p *privRegion) adminsOwnDatabase(t *testing.T, f *engine.Fleet, dsn, prefix string) {
	ctx := context.Background()
	db, owner := prefix+"_by_hand", prefix+"_by_hand_owner"
	admin := newPool(t, dsn)
	_, err := admin.Exec(ctx, "CREATE DATABASE "+db)
	require.NoError(t, err)
	require.NoError(t, f.RoleEnsure(ctx, region, owner, "pw"))
	var taken *engine.NameTakenError
	require.ErrorAs(t, f.DatabaseEnsure(ctx, region, db, owner), &taken)
	require.ErrorAs(t, f.NameCheck(ctx, region, db, owner), &taken)
	require.ErrorAs(t, f.DatabaseDrop(ctx, region, db), &taken)
	require.NoError(t, f.DatabaseOwnerSet(ctx, region, db, owner))
	require.Equal(t, []string{owner}, p.query(t, "postgres", `SELECT datdba::regrole::text FROM pg_database WHERE datname = $1`, db))
	require.NoError(t, f.DatabaseDrop(ctx, region, db))
	require.NoError(t, f.RoleDrop(ctx, region, owner))
}

// marksLegacy checks that a database and role made as dbfleet made them
// before the marker (with a superuser admin: nothing else worked then) are
// marked, and that dbfleet then manages them.
func (p *privRegion) marksLegacy(t *testing.T, f *engine.Fleet) {
	ctx := context.Background()
	db, owner := "legacy", "legacy_owner"
	p.exec(t, "postgres", `CREATE ROLE legacy_owner LOGIN PASSWORD 'old'`, `CREATE DATABASE legacy OWNER legacy_owner`)
	var taken *engine.NameTakenError
	require.ErrorAs(t, f.RoleEnsure(ctx, region, owner, "new"), &taken, "unmarked until marked")

	marked, err := f.MarkLegacy(ctx, region, db, "someone_else", "")
	require.NoError(t, err)
	require.False(t, marked, "the record's owner does not own the database")
	marked, err = f.MarkLegacy(ctx, region, "pay", "pay_owner", "")
	require.NoError(t, err)
	require.False(t, marked, "no database pay: a lone role is never marked")
	marked, err = f.MarkLegacy(ctx, region, db, owner, engine.ReplicationRoleName(db))
	require.NoError(t, err)
	require.True(t, marked)
	marked, err = f.MarkLegacy(ctx, region, db, owner, "")
	require.NoError(t, err)
	require.False(t, marked, "once")
	p.requireOnlyMarked(t, owner)

	require.NoError(t, f.RoleEnsure(ctx, region, owner, "new"))
	require.NoError(t, f.DatabaseEnsure(ctx, region, db, owner))
	require.NoError(t, f.DatabaseDrop(ctx, region, db))
	require.NoError(t, f.RoleDrop(ctx, region, owner))
}

// refusesForeignMarker checks that a role of the marker's name that is not
// usable as dbfleet's marker stops dbfleet from creating anything, naming
// the role, and that the superuser admin goes on where only the managed
// admin lost its right to grant the marker.
func (p *privRegion) refusesForeignMarker(t *testing.T) {
	ctx := context.Background()
	requireMarkerTaken := func(t *testing.T, err error) {
		t.Helper()
		var taken *engine.NameTakenError
		require.ErrorAs(t, err, &taken)
		require.Equal(t, engine.MarkerRole, taken.Name)
		require.NotEmpty(t, taken.Reason)
	}
	p.exec(t, "postgres", `ALTER ROLE dbfleet_managed LOGIN`)
	for _, f := range []*engine.Fleet{p.managed, p.super} {
		requireMarkerTaken(t, f.NameCheck(ctx, region, "fresh", "fresh_owner"))
		requireMarkerTaken(t, f.RoleEnsure(ctx, region, "fresh_owner", "pw"))
	}
	p.exec(t, "postgres", `ALTER ROLE dbfleet_managed NOLOGIN`)
	if p.major < 16 {
		return
	}
	// From 16 only a role with ADMIN OPTION may grant the marker: one made
	// by another role is not this admin's to use.
	p.exec(t, "postgres", fmt.Sprintf(`REVOKE ADMIN OPTION FOR dbfleet_managed FROM %s`, p.region.AdminUser))
	defer p.exec(t, "postgres", fmt.Sprintf(`GRANT dbfleet_managed TO %s WITH ADMIN OPTION`, p.region.AdminUser))
	requireMarkerTaken(t, p.managed.RoleEnsure(ctx, region, "fresh_owner", "pw"))
	require.NoError(t, p.super.NameCheck(ctx, region, "fresh", "fresh_owner"))
	require.NoError(t, p.super.RoleEnsure(ctx, region, "fresh_owner", "pw"))
	require.NoError(t, p.super.RoleDrop(ctx, region, "fresh_owner"))
}
