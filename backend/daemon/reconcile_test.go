package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// reconcileInterval is the reconcile interval of these tests' dbfleetd.
const reconcileInterval = 300 * time.Millisecond

// healDeadline is how long a test waits for a repair. The design bounds
// it to the interval plus its 10% jitter plus one tick (a quarter
// interval), 1.35 intervals, so two intervals hold; the deadline leaves
// room for a machine busy with other suites, and each test logs the time
// the repair took.
const healDeadline = 10 * reconcileInterval

// startDeadline bounds the first check after dbfleetd starts: River elects
// the leader, whose periodic jobs then start, a few seconds after start.
const startDeadline = 30 * time.Second

// reconcileNode is a dbfleetd with a short reconcile interval whose state
// directory outlives it, so that a test can restart it.
type reconcileNode struct {
	*testBundle
	dir  string
	stop func()
}

// startReconciling runs a dbfleetd reconciling every reconcileInterval
// against regions, on state directory dir (a new one when empty), stopped
// when the test ends or by stop.
func startReconciling(t *testing.T, regions *daemontest.Fleet, dir string, edits ...func(*daemon.Config)) *reconcileNode {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	options := append([]func(*daemon.Config){func(cfg *daemon.Config) {
		cfg.ReconcileInterval = reconcileInterval
	}}, edits...)
	b, stop := startDaemon(t, regions, dir, options...)
	return &reconcileNode{testBundle: b, dir: dir, stop: stop}
}

// reconcileFixture is a schema of two migrations and a database running
// it with one parameter, created through the API and checked once by the
// reconciler.
func reconcileFixture(t *testing.T, n *reconcileNode, spec apiv1.DatabaseSpec) (apiv1.Schema, apiv1.Database) {
	t.Helper()
	schema := n.putSchema(t, daemontest.UniqueName("app"), apiv1.SchemaSpec{Migrations: migrations(
		"CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL)",
		"CREATE INDEX items_label ON items (label);\nCREATE VIEW labels AS SELECT label FROM items",
	)})
	spec.Schema, spec.SkipFinalBackup = schema.Name, true
	spec.DeletionProtection = new(false)
	if spec.Parameters == nil {
		spec.Parameters = map[string]string{"statement_timeout": "5s", "search_path": "app, public"}
	}
	db := n.create(t, "westeurope", daemontest.UniqueName("healed"), spec)
	_, err := ownerConn(t, db).Exec(context.Background(), `INSERT INTO items VALUES (1, 'kept')`)
	require.NoError(t, err)
	db = n.waitDatabaseFor(t, db.Name, "the first check", startDeadline, func(db apiv1.Database) bool {
		return hasCondition(db, apiv1.ConditionReady, apiv1.ConditionTrue, apiv1.ReasonReconciled) &&
			hasCondition(db, apiv1.ConditionDrifted, apiv1.ConditionFalse, apiv1.ReasonInSync)
	})
	return schema, db
}

func hasCondition(db apiv1.Database, typ, status, reason string) bool {
	return slices.ContainsFunc(db.Conditions, func(c apiv1.Condition) bool {
		return c.Type == typ && c.Status == status && c.Reason == reason
	})
}

func conditionOf(t *testing.T, db apiv1.Database, typ string) apiv1.Condition {
	t.Helper()
	i := slices.IndexFunc(db.Conditions, func(c apiv1.Condition) bool { return c.Type == typ })
	require.GreaterOrEqual(t, i, 0, "no %s condition: %+v", typ, db.Conditions)
	return db.Conditions[i]
}

func (n *reconcileNode) database(t *testing.T, name string) apiv1.Database {
	t.Helper()
	resp := n.client.Do(t, http.MethodGet, "/v1/databases/westeurope/"+name, nil)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var db apiv1.Database
	resp.Decode(t, &db)
	return db
}

// waitDatabase polls the database until cond holds, for healDeadline.
func (n *reconcileNode) waitDatabase(t *testing.T, name, what string, cond func(apiv1.Database) bool) apiv1.Database {
	t.Helper()
	return n.waitDatabaseFor(t, name, what, healDeadline, cond)
}

func (n *reconcileNode) waitDatabaseFor(t *testing.T, name, what string, deadline time.Duration, cond func(apiv1.Database) bool) apiv1.Database {
	t.Helper()
	var db apiv1.Database
	waitWithin(t, what, deadline, func() bool {
		db = n.database(t, name)
		return cond(db)
	})
	return db
}

// waitHealed polls cond until it holds, failing the test after healDeadline,
// and logs how long it took.
func waitHealed(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, what, healDeadline, cond)
}

func waitWithin(t *testing.T, what string, deadline time.Duration, cond func() bool) {
	t.Helper()
	begin := time.Now()
	for time.Since(begin) < deadline {
		if cond() {
			t.Logf("%s after %s (%.1f reconcile intervals)", what, time.Since(begin).Round(time.Millisecond),
				float64(time.Since(begin))/float64(reconcileInterval))
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, deadline)
}

func (n *reconcileNode) events(t *testing.T, name string) []apiv1.Event {
	t.Helper()
	resp := n.client.Do(t, http.MethodGet, "/v1/databases/westeurope/"+name+"/events", nil)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var list apiv1.EventList
	resp.Decode(t, &list)
	return list.Events
}

// eventReasons lists the events' type:reason, oldest first.
func eventReasons(events []apiv1.Event) []string {
	var out []string
	for _, e := range slices.Backward(events) {
		out = append(out, e.Type+":"+e.Reason)
	}
	return out
}

func databaseSettings(t *testing.T, admin *pgxpool.Pool, database string) []string {
	t.Helper()
	var setconfig []string
	require.NoError(t, admin.QueryRow(context.Background(), `SELECT coalesce(s.setconfig, '{}') FROM pg_database d
		LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0 WHERE d.datname = $1`, database).Scan(&setconfig))
	slices.Sort(setconfig)
	return setconfig
}

func adminExec(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), sql)
	require.NoError(t, err, sql)
}

func TestReconcileRecreatesDroppedOwnerRole(t *testing.T) {
	t.Parallel()
	n := startReconciling(t, fleet, "")
	_, db := reconcileFixture(t, n, apiv1.DatabaseSpec{})
	admin := fleet.Admin(t, "westeurope")
	inDB := fleet.AdminDB(t, "westeurope", db.Name)

	// What a DBA does to drop a role that owns things, as the admin role
	// (a managed server's DBA is that role; dbfleet takes back a database
	// its admin owns, not one the superuser does).
	adminExec(t, inDB, fmt.Sprintf("REASSIGN OWNED BY %s TO %s", db.Owner, fleet.Region(t, "westeurope").AdminUser))
	adminExec(t, inDB, fmt.Sprintf("DROP OWNED BY %s", db.Owner))
	adminExec(t, admin, "DROP ROLE "+db.Owner)
	require.False(t, daemontest.RoleExists(t, admin, db.Owner))

	healed := n.waitDatabase(t, db.Name, "owner role recreated", func(db apiv1.Database) bool {
		return hasCondition(db, apiv1.ConditionDrifted, apiv1.ConditionFalse, apiv1.ReasonHealed)
	})
	require.True(t, daemontest.RoleExists(t, admin, db.Owner))
	var dbOwner string
	require.NoError(t, admin.QueryRow(context.Background(),
		`SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1`, db.Name).Scan(&dbOwner))
	require.Equal(t, db.Owner, dbOwner, "the database is the owner's again")
	var owners []string
	rows, err := inDB.Query(context.Background(), `SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class
		WHERE relnamespace IN ('public'::regnamespace, 'dbfleet'::regnamespace)`)
	require.NoError(t, err)
	for rows.Next() {
		var o string
		require.NoError(t, rows.Scan(&o))
		owners = append(owners, o)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{db.Owner}, owners, "tables, index, view and ledger are the owner's again")

	conn := ownerConn(t, db) // with the stored password
	var label string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT label FROM items WHERE id = 1`).Scan(&label))
	require.Equal(t, "kept", label)
	_, err = conn.Exec(context.Background(), `ALTER TABLE items ADD COLUMN note text`)
	require.NoError(t, err, "the owner can migrate its tables again")

	drifted := conditionOf(t, healed, apiv1.ConditionDrifted)
	require.Contains(t, drifted.Message, "recreated owner role "+db.Owner)
	require.Equal(t, healed.Generation, drifted.ObservedGeneration)
	require.False(t, drifted.LastTransitionTime.IsZero())
	require.True(t, hasCondition(healed, apiv1.ConditionReady, apiv1.ConditionTrue, apiv1.ReasonReconciled))
	require.Subset(t, eventReasons(n.events(t, db.Name)), []string{
		"finding:" + apiv1.ReasonOwnerRoleMissing, "finding:" + apiv1.ReasonOwnershipChanged,
		"repair:OwnerRoleRecreated", "repair:OwnershipRestored",
	})
	require.Contains(t, n.logs.String(), `"reason":"OwnerRoleMissing"`)
	require.NotContains(t, n.logs.String(), db.Password)
	metrics := n.client.Do(t, http.MethodGet, "/metrics", nil).Body
	require.Equal(t, 1.0, metricValue(t, metrics, "dbfleet_reconcile_findings_total", `check="owner_role"`))
	require.Equal(t, 1.0, metricValue(t, metrics, "dbfleet_reconcile_repairs_total", `check="owner_role"`))
}

func TestReconcileRebuildsDroppedLedgerWithoutRunningMigrations(t *testing.T) {
	t.Parallel()
	n := startReconciling(t, fleet, "")
	schema, db := reconcileFixture(t, n, apiv1.DatabaseSpec{})
	inDB := fleet.AdminDB(t, "westeurope", db.Name)

	adminExec(t, inDB, "DROP SCHEMA dbfleet CASCADE")

	healed := n.waitDatabase(t, db.Name, "ledger rebuilt", func(db apiv1.Database) bool {
		return hasCondition(db, apiv1.ConditionDrifted, apiv1.ConditionFalse, apiv1.ReasonHealed)
	})
	rows, err := inDB.Query(context.Background(), `SELECT version, checksum, operation_id FROM dbfleet.migrations ORDER BY version`)
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var v int64
		var sum, op string
		require.NoError(t, rows.Scan(&v, &sum, &op))
		got = append(got, fmt.Sprintf("%d %s %s", v, sum, op))
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{
		fmt.Sprintf("1 %s dbfleet-reconciler", schema.Migrations[0].Checksum),
		fmt.Sprintf("2 %s dbfleet-reconciler", schema.Migrations[1].Checksum),
	}, got, "every applied version, with the schema's checksums")
	require.EqualValues(t, 1, countRows(t, inDB, "items"), "no migration ran again: the data is as it was")
	var tableOwner string
	require.NoError(t, inDB.QueryRow(context.Background(), `SELECT tableowner FROM pg_tables WHERE schemaname = 'dbfleet'`).Scan(&tableOwner))
	require.Equal(t, db.Owner, tableOwner, "the owner keeps its ledger")

	require.Contains(t, conditionOf(t, healed, apiv1.ConditionDrifted).Message, "without running any migration")
	require.Subset(t, eventReasons(n.events(t, db.Name)), []string{"finding:" + apiv1.ReasonLedgerMissing, "repair:LedgerRebuilt"})

	// The backend applies the next version on the rebuilt ledger as usual.
	n.putSchema(t, schema.Name, apiv1.SchemaSpec{Migrations: append(migrations(
		"CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL)",
		"CREATE INDEX items_label ON items (label);\nCREATE VIEW labels AS SELECT label FROM items",
	), apiv1.Migration{Version: 3, Up: "ALTER TABLE items ADD COLUMN price numeric"})})
	upgraded := n.create(t, "westeurope", db.Name, apiv1.DatabaseSpec{Schema: schema.Name, SkipFinalBackup: true,
		DeletionProtection: new(false), Parameters: db.Parameters})
	require.EqualValues(t, 3, upgraded.AppliedVersion)
}

func TestReconcileRestoresDeletedAndCorruptedLedgerRows(t *testing.T) {
	t.Parallel()
	n := startReconciling(t, fleet, "")
	schema, db := reconcileFixture(t, n, apiv1.DatabaseSpec{})
	inDB := fleet.AdminDB(t, "westeurope", db.Name)
	before := fleet.Ledger(t, "westeurope", db.Name)

	adminExec(t, inDB, "DELETE FROM dbfleet.migrations WHERE version = 2")
	adminExec(t, inDB, "UPDATE dbfleet.migrations SET checksum = 'tampered' WHERE version = 1")

	healed := n.waitDatabase(t, db.Name, "ledger rows restored", func(db apiv1.Database) bool {
		return hasCondition(db, apiv1.ConditionDrifted, apiv1.ConditionFalse, apiv1.ReasonHealed)
	})
	after := fleet.Ledger(t, "westeurope", db.Name)
	require.Len(t, after, 2)
	require.Equal(t, before[1], after[1], "the surviving row keeps when it was applied")
	var checksum string
	require.NoError(t, inDB.QueryRow(context.Background(), `SELECT checksum FROM dbfleet.migrations WHERE version = 1`).Scan(&checksum))
	require.Equal(t, schema.Migrations[0].Checksum, checksum)
	require.EqualValues(t, 1, countRows(t, inDB, "items"))

	message := conditionOf(t, healed, apiv1.ConditionDrifted).Message
	require.Contains(t, message, "recorded version(s) 2")
	require.Contains(t, message, "corrected the checksums of version(s) 1")
	events := n.events(t, db.Name)
	require.Subset(t, eventReasons(events), []string{"finding:" + apiv1.ReasonLedgerMismatch, "repair:LedgerRebuilt"})
	finding := events[slices.IndexFunc(events, func(e apiv1.Event) bool { return e.Reason == apiv1.ReasonLedgerMismatch })]
	require.Contains(t, finding.Message, "lacks version(s) 2")
	require.Contains(t, finding.Message, "has other checksums than schema "+schema.Name+" for version(s) 1")

	// A ledger whose columns were changed is set aside, not dropped.
	adminExec(t, inDB, "ALTER TABLE dbfleet.migrations RENAME COLUMN checksum TO sum")
	n.waitDatabase(t, db.Name, "corrupt ledger set aside and rebuilt", func(db apiv1.Database) bool {
		return strings.Contains(conditionOf(t, db, apiv1.ConditionDrifted).Message, "set the corrupt ledger aside")
	})
	require.Len(t, fleet.Ledger(t, "westeurope", db.Name), 2)
	var setAside int
	require.NoError(t, inDB.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_tables WHERE schemaname = 'dbfleet' AND tablename LIKE 'migrations_corrupt_%'`).Scan(&setAside))
	require.Equal(t, 1, setAside)
}

func TestReconcileDoesNotMakeUpTheLedgerOfAnEmptiedDatabase(t *testing.T) {
	t.Parallel()
	n := startReconciling(t, fleet, "")
	_, db := reconcileFixture(t, n, apiv1.DatabaseSpec{})
	inDB := fleet.AdminDB(t, "westeurope", db.Name)

	// Everything the migrations made is gone, and the ledger with it.
	adminExec(t, inDB, "DROP TABLE items CASCADE")
	adminExec(t, inDB, "DROP SCHEMA dbfleet CASCADE")

	drifted := n.waitDatabase(t, db.Name, "unverifiable ledger reported", func(db apiv1.Database) bool {
		return hasCondition(db, apiv1.ConditionDrifted, apiv1.ConditionTrue, apiv1.ReasonLedgerUnverifiable)
	})
	require.Contains(t, conditionOf(t, drifted, apiv1.ConditionDrifted).Message, "the ledger is not rebuilt")
	time.Sleep(2 * reconcileInterval)
	var ledger *string
	require.NoError(t, inDB.QueryRow(context.Background(), `SELECT to_regclass('dbfleet.migrations')::text`).Scan(&ledger))
	require.Nil(t, ledger, "no ledger claims migrations that left no trace")
	require.Equal(t, []string{"finding:" + apiv1.ReasonLedgerUnverifiable}, eventReasons(n.events(t, db.Name)))
}

func TestReconcileReappliesChangedParameters(t *testing.T) {
	t.Parallel()
	n := startReconciling(t, fleet, "")
	_, db := reconcileFixture(t, n, apiv1.DatabaseSpec{})
	admin := fleet.Admin(t, "westeurope")
	want := databaseSettings(t, admin, db.Name)
	require.Equal(t, []string{"search_path=app, public", "statement_timeout=5s"}, want)

	adminExec(t, admin, fmt.Sprintf("ALTER DATABASE %s SET statement_timeout = '1min'", db.Name))
	adminExec(t, admin, fmt.Sprintf("ALTER DATABASE %s SET work_mem = '8MB'", db.Name))

	waitHealed(t, "parameters re-applied", func() bool { return slices.Equal(want, databaseSettings(t, admin, db.Name)) })
	healed := n.waitDatabase(t, db.Name, "condition says so", func(db apiv1.Database) bool {
		return hasCondition(db, apiv1.ConditionDrifted, apiv1.ConditionFalse, apiv1.ReasonHealed)
	})
	require.Contains(t, conditionOf(t, healed, apiv1.ConditionDrifted).Message, "re-applied the spec's parameters")
	events := n.events(t, db.Name)
	require.Subset(t, eventReasons(events), []string{"finding:" + apiv1.ReasonParametersDrifted, "repair:ParametersReapplied"})
	finding := events[slices.IndexFunc(events, func(e apiv1.Event) bool { return e.Reason == apiv1.ReasonParametersDrifted })]
	require.Contains(t, finding.Message, `statement_timeout is "1min" (want "5s")`)
	require.Contains(t, finding.Message, `work_mem is set to "8MB" (want it unset)`)
}

func TestReconcileReportPolicyRepairsNothing(t *testing.T) {
	t.Parallel()
	n := startReconciling(t, fleet, "")
	_, db := reconcileFixture(t, n, apiv1.DatabaseSpec{DriftPolicy: apiv1.DriftPolicyReport})
	require.Equal(t, apiv1.DriftPolicyReport, db.DriftPolicy)
	admin := fleet.Admin(t, "westeurope")
	inDB := fleet.AdminDB(t, "westeurope", db.Name)

	adminExec(t, admin, fmt.Sprintf("ALTER DATABASE %s SET statement_timeout = '1min'", db.Name))
	adminExec(t, inDB, "DELETE FROM dbfleet.migrations WHERE version = 2")

	drifted := n.waitDatabase(t, db.Name, "drift reported", func(db apiv1.Database) bool {
		c := conditionOf(t, db, apiv1.ConditionDrifted)
		return c.Status == apiv1.ConditionTrue && strings.Contains(c.Message, "statement_timeout") && strings.Contains(c.Message, "lacks version(s) 2")
	})
	c := conditionOf(t, drifted, apiv1.ConditionDrifted)
	require.Equal(t, apiv1.ReasonLedgerMismatch, c.Reason, "the worst finding names the condition")
	require.True(t, hasCondition(drifted, apiv1.ConditionReady, apiv1.ConditionTrue, apiv1.ReasonReconciled), "drift alone leaves it usable")

	time.Sleep(4 * reconcileInterval) // several more passes
	require.Contains(t, databaseSettings(t, admin, db.Name), "statement_timeout=1min", "nothing repaired")
	require.Len(t, fleet.Ledger(t, "westeurope", db.Name), 1, "nothing repaired")
	require.Equal(t, []string{"finding:" + apiv1.ReasonLedgerMismatch, "finding:" + apiv1.ReasonParametersDrifted},
		sortedCopy(eventReasons(n.events(t, db.Name))), "each finding recorded once, however many passes see it")
	again := n.database(t, db.Name)
	require.Equal(t, c.LastTransitionTime, conditionOf(t, again, apiv1.ConditionDrifted).LastTransitionTime)
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestReconcileReportsDroppedDatabaseAndNeverRecreatesIt(t *testing.T) {
	t.Parallel()
	n := startReconciling(t, fleet, "")
	_, db := reconcileFixture(t, n, apiv1.DatabaseSpec{})
	admin := fleet.Admin(t, "westeurope")
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+db.Owner) })

	adminExec(t, admin, fmt.Sprintf("DROP DATABASE %s WITH (FORCE)", db.Name))

	missing := n.waitDatabase(t, db.Name, "dropped database reported", func(db apiv1.Database) bool {
		return hasCondition(db, apiv1.ConditionDrifted, apiv1.ConditionTrue, apiv1.ReasonDatabaseMissing)
	})
	require.True(t, hasCondition(missing, apiv1.ConditionReady, apiv1.ConditionFalse, apiv1.ReasonDatabaseMissing))
	require.Contains(t, conditionOf(t, missing, apiv1.ConditionDrifted).Message, "never recreates a dropped database empty")
	time.Sleep(4 * reconcileInterval)
	require.False(t, daemontest.DatabaseExists(t, admin, db.Name), "not recreated empty")
	require.Equal(t, []string{"finding:" + apiv1.ReasonDatabaseMissing}, eventReasons(n.events(t, db.Name)))
}

func TestReconcileSkipsStoppedRegionThenHealsIt(t *testing.T) {
	t.Parallel()
	regions, err := daemontest.StartFleet("westeurope")
	require.NoError(t, err)
	t.Cleanup(regions.Stop)
	n := startReconciling(t, regions, "")
	_, db := reconcileFixture(t, n, apiv1.DatabaseSpec{})
	admin := regions.Admin(t, "westeurope")
	want := databaseSettings(t, admin, db.Name)

	// Drift made while no dbfleetd runs, then the region stops: the
	// reconciler can see the drift only once the region is back.
	n.stop()
	adminExec(t, admin, fmt.Sprintf("ALTER DATABASE %s SET statement_timeout = '1min'", db.Name))
	admin.Close()
	ctx := context.Background()
	require.NoError(t, regions.StopRegion(ctx, "westeurope"))
	t.Cleanup(func() { _ = regions.StartRegion(context.Background(), "westeurope") })
	n = startReconciling(t, regions, n.dir)

	down := n.waitDatabaseFor(t, db.Name, "region marked unavailable (after a restart)", startDeadline, func(db apiv1.Database) bool {
		return hasCondition(db, apiv1.ConditionReady, apiv1.ConditionFalse, apiv1.ReasonRegionUnavailable)
	})
	require.True(t, hasCondition(down, apiv1.ConditionDrifted, apiv1.ConditionFalse, apiv1.ReasonInSync), "what was known stands")
	time.Sleep(4 * reconcileInterval) // retried with backoff meanwhile
	require.Equal(t, []string{"error:" + apiv1.ReasonRegionUnavailable}, eventReasons(n.events(t, db.Name)), "recorded once")
	metrics := n.client.Do(t, http.MethodGet, "/metrics", nil).Body
	require.Contains(t, string(metrics), `dbfleet_reconcile_region_up{region="westeurope"} 0`)
	require.Contains(t, n.logs.String(), "Found region unavailable")

	require.NoError(t, regions.StartRegion(ctx, "westeurope"))
	admin = regions.Admin(t, "westeurope")
	waitHealed(t, "drift healed once the region is back", func() bool { return slices.Equal(want, databaseSettings(t, admin, db.Name)) })
	back := n.waitDatabase(t, db.Name, "ready again", func(db apiv1.Database) bool {
		return hasCondition(db, apiv1.ConditionReady, apiv1.ConditionTrue, apiv1.ReasonReconciled) &&
			hasCondition(db, apiv1.ConditionDrifted, apiv1.ConditionFalse, apiv1.ReasonHealed)
	})
	require.Equal(t, back.Generation, conditionOf(t, back, apiv1.ConditionReady).ObservedGeneration)
	require.Equal(t, []string{"error:" + apiv1.ReasonRegionUnavailable, "finding:" + apiv1.ReasonParametersDrifted, "repair:ParametersReapplied"},
		eventReasons(n.events(t, db.Name)))
	metrics = n.client.Do(t, http.MethodGet, "/metrics", nil).Body
	require.Contains(t, string(metrics), `dbfleet_reconcile_region_up{region="westeurope"} 1`)
	require.Contains(t, n.logs.String(), "Found region available again")
}

func TestReconcileDriftPolicyAndEventsOverTheAPI(t *testing.T) {
	t.Parallel()
	n := startReconciling(t, fleet, "")
	name := daemontest.UniqueName("policy")
	bad := n.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, apiv1.DatabaseSpec{DriftPolicy: "ignore"})
	require.Equal(t, http.StatusBadRequest, bad.Status)
	require.Contains(t, string(bad.Body), "drift_policy")
	var badErr apiv1.ErrorResponse
	bad.Decode(t, &badErr)
	require.Equal(t, "drift_policy", badErr.Error.Details["field"])

	db := n.create(t, "westeurope", name, apiv1.DatabaseSpec{SkipFinalBackup: true, DeletionProtection: new(false)})
	require.Equal(t, apiv1.DriftPolicyHeal, db.DriftPolicy, "heal by default")
	report := n.create(t, "westeurope", name, apiv1.DatabaseSpec{SkipFinalBackup: true, DeletionProtection: new(false), DriftPolicy: apiv1.DriftPolicyReport})
	require.Equal(t, apiv1.DriftPolicyReport, report.DriftPolicy)
	require.Greater(t, report.Generation, db.Generation, "the drift policy is part of the spec")
	var plan apiv1.DatabasePlan
	n.client.Do(t, http.MethodPost, "/v1/databases/westeurope/"+name+":plan", apiv1.DatabaseSpec{SkipFinalBackup: true,
		DeletionProtection: new(false), DriftPolicy: apiv1.DriftPolicyHeal}).Decode(t, &plan)
	require.Equal(t, []string{"update settings"}, plan.Actions)
	checked := n.waitDatabaseFor(t, name, "conditions for the new generation", startDeadline, func(d apiv1.Database) bool {
		return len(d.Conditions) == 2 && d.Conditions[0].ObservedGeneration == report.Generation
	})
	require.Equal(t, []string{apiv1.ConditionReady, apiv1.ConditionDrifted}, []string{checked.Conditions[0].Type, checked.Conditions[1].Type})

	var list apiv1.DatabaseList
	n.client.Do(t, http.MethodGet, "/v1/databases", nil).Decode(t, &list)
	require.Len(t, list.Databases, 1)
	require.Len(t, list.Databases[0].Conditions, 2, "listings carry conditions too")

	require.Empty(t, n.events(t, name), "nothing happened to it")
	missing := n.client.Do(t, http.MethodGet, "/v1/databases/westeurope/"+daemontest.UniqueName("nope")+"/events", nil)
	require.Equal(t, http.StatusNotFound, missing.Status)
	badLimit := n.client.Do(t, http.MethodGet, "/v1/databases/westeurope/"+name+"/events?limit=0", nil)
	require.Equal(t, http.StatusBadRequest, badLimit.Status)
}

func TestOperationWaitsWhileTheReconcilerRepairs(t *testing.T) {
	t.Parallel()
	// No reconciler of its own: the test holds the claim one would.
	n := startReconciling(t, fleet, "", func(cfg *daemon.Config) { cfg.ReconcileInterval = -1 })
	name := daemontest.UniqueName("claimed")
	n.create(t, "westeurope", name, apiv1.DatabaseSpec{SkipFinalBackup: true, DeletionProtection: new(false)})
	admin := fleet.Admin(t, "westeurope")

	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(n.dir, "state.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	claimed := time.Now().UTC()
	until := claimed.Add(2 * time.Second)
	require.NoError(t, st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.ReconcileStatePut(ctx, &store.ReconcileState{Region: "westeurope", Name: name, Generation: 1,
			CheckedAt: claimed, NextCheckAt: claimed, ClaimedUntil: until})
	}))

	op := n.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, apiv1.DatabaseSpec{SkipFinalBackup: true,
		DeletionProtection: new(false), Parameters: map[string]string{"work_mem": "8MB"}}).Operation(t)
	time.Sleep(time.Until(until.Add(-500 * time.Millisecond)))
	var during apiv1.Operation
	n.client.Do(t, http.MethodGet, "/v1/operations/"+op.ID, nil).Decode(t, &during)
	require.False(t, during.Done, "the operation waits for the claim: %+v", during)
	require.Empty(t, databaseSettings(t, admin, name), "and changed nothing yet")

	done := n.client.Wait(t, op.ID, time.Minute)
	require.Equal(t, apiv1.OperationSucceeded, done.State)
	require.Equal(t, []string{"work_mem=8MB"}, databaseSettings(t, admin, name))
}
