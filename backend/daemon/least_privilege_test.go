package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

// TestMigrationsRunWithLeastPrivilege applies migrations that reach beyond
// their database. Each must fail its operation with PostgreSQL's own
// refusal in the error, leave no trace in the region, and never be recorded
// as applied: migrations run as the database's owner, which may not create
// roles or databases, change the server, run programs or read its files.
func TestMigrationsRunWithLeastPrivilege(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := fleet.Admin(t, "westeurope")
	suffix := daemontest.UniqueName("x")
	marker := filepath.Join(os.TempDir(), "dbfleet-pwned-"+suffix)
	adminUser := fleet.Region(t, "westeurope").AdminUser

	for _, tc := range []struct {
		name, sql, want string
	}{
		{"CreateRole", "CREATE ROLE evil_" + suffix + " LOGIN", "permission denied to create role"},
		{"CreateSuperuser", "CREATE ROLE evil_" + suffix + " SUPERUSER", "must be superuser to create superusers"},
		// A migration runs in a transaction, which refuses these first;
		// TestOwnerRoleHasNoPowerBeyondItsDatabase shows the owner may not
		// run them outside one either.
		{"CreateDatabase", "CREATE DATABASE evil_" + suffix, "cannot run inside a transaction block"},
		{"AlterSystem", "ALTER SYSTEM SET work_mem = '1GB'", "cannot run inside a transaction block"},
		{"CopyToProgram", "COPY (SELECT 1) TO PROGRAM 'touch " + marker + "'", "pg_execute_server_program"},
		{"CopyFromServerFile", "CREATE TABLE stolen (line text);\nCOPY stolen FROM '/etc/passwd'", "pg_read_server_files"},
		{"ReadServerFile", "SELECT pg_read_file('/etc/passwd')", "permission denied for function pg_read_file"},
		{"GrantItselfCreateRole", "ALTER ROLE CURRENT_USER CREATEROLE", "permission denied"},
		{"BecomeTheAdmin", fmt.Sprintf("SET ROLE %q", adminUser), "permission denied to set role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			schema := daemontest.UniqueName("evil")
			name := daemontest.UniqueName("victim")
			b.putSchema(t, schema, apiv1.SchemaSpec{Migrations: migrations(tc.sql)})
			op := b.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name,
				apiv1.DatabaseSpec{Schema: schema, DeletionProtection: new(false), SkipFinalBackup: true}).Operation(t)
			done := b.client.Wait(t, op.ID, time.Minute)
			require.Equal(t, apiv1.OperationFailed, done.State, "%+v", done)
			require.NotNil(t, done.Error)
			require.Contains(t, done.Error.Message, tc.want, "the error says what PostgreSQL refused")
			require.Empty(t, fleet.Ledger(t, "westeurope", name), "nothing recorded as applied")

			var db apiv1.Database
			b.client.Do(t, http.MethodGet, "/v1/databases/westeurope/"+name, nil).Decode(t, &db)
			require.Zero(t, db.AppliedVersion)
		})
	}
	t.Run("ValidateRunsAsAnOwnerToo", func(t *testing.T) {
		t.Parallel()
		resp := b.client.Do(t, http.MethodPost, "/v1/schemas/"+daemontest.UniqueName("evil")+":validate",
			apiv1.SchemaSpec{Migrations: migrations("COPY (SELECT 1) TO PROGRAM 'touch " + marker + "'")})
		require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
		var v apiv1.SchemaValidation
		resp.Decode(t, &v)
		require.False(t, v.Valid)
		require.Len(t, v.Errors, 1)
		require.Contains(t, v.Errors[0].Message, "pg_execute_server_program")
	})
	t.Cleanup(func() {
		require.False(t, daemontest.RoleExists(t, admin, "evil_"+suffix), "no role was created")
		require.False(t, daemontest.DatabaseExists(t, admin, "evil_"+suffix), "no database was created")
		_, err := os.Stat(marker)
		require.ErrorIs(t, err, os.ErrNotExist, "no program ran")
		var autoConf int
		require.NoError(t, admin.QueryRow(context.Background(),
			`SELECT count(*) FROM pg_file_settings WHERE name = 'work_mem' AND sourcefile LIKE '%postgresql.auto.conf'`).Scan(&autoConf))
		require.Zero(t, autoConf, "the server's configuration is untouched")
	})
}

// TestOwnerRoleHasNoPowerBeyondItsDatabase uses an owner's own connection,
// outside any transaction: it may not create databases or change the
// server, and it may not connect to another dbfleet database.
func TestOwnerRoleHasNoPowerBeyondItsDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	spec := apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true}
	mine := b.create(t, "eastus", daemontest.UniqueName("mine"), spec)
	theirs := b.create(t, "eastus", daemontest.UniqueName("theirs"), spec)
	conn := ownerConn(t, mine)
	for stmt, want := range map[string]string{
		"CREATE DATABASE " + mine.Name + "_evil": "permission denied to create database",
		"ALTER SYSTEM SET work_mem = '1GB'":      "permission denied to set parameter",
		"CREATE ROLE " + mine.Name + "_evil":     "permission denied to create role",
	} {
		_, err := conn.Exec(ctx, stmt)
		require.ErrorContains(t, err, want, stmt)
	}
	_, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
		mine.Host, mine.Port, mine.Owner, mine.Password, theirs.Name))
	require.ErrorContains(t, err, "permission denied for database")
}
