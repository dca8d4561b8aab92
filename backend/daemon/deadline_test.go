package daemon_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
)

// runningStatements counts the backends of a database that are running a
// statement of this text (pg_stat_activity holds a statement's whole text,
// comments included).
func runningStatements(t *testing.T, admin *pgxpool.Pool, database, sql string) int {
	t.Helper()
	return backendsOf(t, admin, database, sql, "active")
}

// backendsOf counts the backends of a database whose last statement is sql
// and whose state is one of states (any when none is given).
func backendsOf(t *testing.T, admin *pgxpool.Pool, database, sql string, states ...string) int {
	t.Helper()
	var n int
	require.NoError(t, admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_catalog.pg_stat_activity
		WHERE datname = $1 AND query = $2 AND (cardinality($3::text[]) = 0 OR state = ANY ($3))
		AND pid <> pg_catalog.pg_backend_pid()`, database, sql, states).Scan(&n))
	return n
}

// requireStatementGone checks that PostgreSQL no longer runs sql in the
// database, and that the session that ran it ends (its client closed it:
// a rolled-back migration's session waits a moment for the close).
func requireStatementGone(t *testing.T, admin *pgxpool.Pool, database, sql string) {
	t.Helper()
	require.Zero(t, runningStatements(t, admin, database, sql), "PostgreSQL no longer runs the statement")
	require.Eventually(t, func() bool { return backendsOf(t, admin, database, sql) == 0 }, 5*time.Second, 20*time.Millisecond,
		"the session that ran the statement ends")
}

// awaitRunning waits until a backend of the database runs sql.
func awaitRunning(t *testing.T, admin *pgxpool.Pool, database, sql string) {
	t.Helper()
	require.Eventually(t, func() bool { return runningStatements(t, admin, database, sql) > 0 }, time.Minute, 20*time.Millisecond,
		"a backend of %s runs %q", database, sql)
}

// logLines counts the log lines of a dbfleetd that hold every one of parts.
func logLines(logs string, parts ...string) int {
	n := 0
	for line := range strings.Lines(logs) {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// TestDeadlineNotJobTimeoutBoundsALongStep runs a migration far longer than
// the job system's limits (scaled down from 10 and 11 minutes to 1 and 2
// seconds) and past a run of River's stuck-job rescuer (every 30 s): the
// step is neither cancelled nor rescued and run again; the migration runs
// exactly once (a sequence, which no rollback undoes, counts its runs).
func TestDeadlineNotJobTimeoutBoundsALongStep(t *testing.T) {
	t.Parallel()
	b := setupOn(t, fleet, func(cfg *daemon.Config) {
		cfg.JobLimits = ops.JobLimits{JobTimeout: time.Second, RescueStuckJobsAfter: 2 * time.Second}
	})
	schema := daemontest.UniqueName("long")
	name := daemontest.UniqueName("long")
	b.putSchema(t, schema, apiv1.SchemaSpec{Migrations: migrations(
		`CREATE SEQUENCE public.runs`,
		`SELECT pg_catalog.nextval('public.runs'); SELECT pg_catalog.pg_sleep(34)`,
	)})
	started := time.Now()
	op := b.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, apiv1.DatabaseSpec{Schema: schema, SkipFinalBackup: true}).Operation(t)
	done := b.client.Wait(t, op.ID, 3*time.Minute)
	require.Equal(t, apiv1.OperationSucceeded, done.State, "operation: %+v", done)
	t.Logf("the create with a 34 s migration took %s", time.Since(started).Round(time.Millisecond))

	ledger := fleet.Ledger(t, "westeurope", name)
	require.Len(t, ledger, 2)
	require.Contains(t, ledger, int64(2))
	var runs int64
	require.NoError(t, fleet.AdminDB(t, "westeurope", name).QueryRow(context.Background(),
		`SELECT last_value FROM public.runs`).Scan(&runs))
	require.EqualValues(t, 1, runs, "the long migration ran once")
	logs := b.logs.String()
	require.Equal(t, 1, logLines(logs, op.ID, `"step":"migrate"`, `"message":"Ran step"`), "the migrate step ran once")
	require.Zero(t, logLines(logs, op.ID, `"attempt":2`), "the operation's job ran in one attempt")
}

// TestDeadlineCancelsTheStepOnTheServer gives upgrades a 2 s deadline and
// a migration of 30 s: the operation fails with deadline_exceeded within
// seconds, PostgreSQL no longer runs the statement, the ledger lacks the
// version, and an apply under a longer deadline (dbfleetd restarted with
// it) finishes the database.
func TestDeadlineCancelsTheStepOnTheServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	admin := fleet.Admin(t, "westeurope")
	schema := daemontest.UniqueName("deadline")
	name := daemontest.UniqueName("deadline")
	path := "/v1/databases/westeurope/" + name
	const sleep = `SELECT pg_catalog.pg_sleep(30)`

	first, stop := startDaemon(t, fleet, dir)
	first.putSchema(t, schema, apiv1.SchemaSpec{Migrations: migrations(`CREATE TABLE public.items (id int)`, sleep)})
	first.create(t, "westeurope", name, apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 1, SkipFinalBackup: true})
	stop()

	short, stop := startDaemon(t, fleet, dir, func(cfg *daemon.Config) {
		cfg.OperationDeadlines = map[string]time.Duration{apiv1.OperationKindApplyDatabase: 2 * time.Second}
	})
	started := time.Now()
	op := short.client.Do(t, http.MethodPut, path, apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2, SkipFinalBackup: true}).Operation(t)
	awaitRunning(t, admin, name, sleep)
	done := short.client.Wait(t, op.ID, time.Minute)
	took := time.Since(started)
	t.Logf("the upgrade failed %s after it was asked for", took.Round(time.Millisecond))
	require.Equal(t, apiv1.OperationFailed, done.State)
	require.NotNil(t, done.Error)
	require.Equal(t, apiv1.CodeDeadlineExceeded, done.Error.Code, "error: %+v", done.Error)
	require.Equal(t, "migrate", done.Error.Step)
	require.Contains(t, done.Error.Message, "operation_deadlines.apply_database")
	require.Less(t, took, 8*time.Second, "the deadline ended the operation within seconds")
	requireStatementGone(t, admin, name, sleep)
	require.NotContains(t, fleet.Ledger(t, "westeurope", name), int64(2), "the cancelled migration rolled back")
	var db apiv1.Database
	short.client.Do(t, http.MethodGet, path, nil).Decode(t, &db)
	require.Equal(t, apiv1.DatabaseStatusFailed, db.Status)
	require.EqualValues(t, 1, db.AppliedVersion)
	stop()

	long, _ := startDaemon(t, fleet, dir, func(cfg *daemon.Config) {
		cfg.OperationDeadlines = map[string]time.Duration{apiv1.OperationKindApplyDatabase: 2 * time.Minute}
	})
	again := long.client.Do(t, http.MethodPut, path, apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2, SkipFinalBackup: true}).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, long.client.Wait(t, again.ID, 2*time.Minute).State)
	require.Contains(t, fleet.Ledger(t, "westeurope", name), int64(2))
	long.client.Do(t, http.MethodGet, path, nil).Decode(t, &db)
	require.Equal(t, apiv1.DatabaseStatusReady, db.Status)
}

// TestDeadlineConfigurationRefused checks that dbfleetd refuses to start
// with a deadline for an unknown kind or one that is not positive.
func TestDeadlineConfigurationRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		deadlines map[string]time.Duration
		want      string
	}{
		{"UnknownKind", map[string]time.Duration{"apply": time.Hour}, `operation_deadlines: "apply" is not an operation kind`},
		{"NotPositive", map[string]time.Duration{apiv1.OperationKindDeleteDatabase: 0}, "operation_deadlines.delete_database: 0s is not a positive duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := daemon.Run(context.Background(), daemon.Config{Store: t.TempDir() + "/state.db", OperationDeadlines: tc.deadlines})
			require.ErrorContains(t, err, tc.want)
		})
	}
}
