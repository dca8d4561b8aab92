package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// foreignRole is what must not change about a role dbfleet did not create:
// its password hash, attributes and memberships.
const foreignRole = `SELECT concat_ws(' ', rolpassword, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolcanlogin,
	(SELECT string_agg(roleid::regrole::text, ',' ORDER BY roleid::regrole::text) FROM pg_auth_members WHERE member = a.oid))
	FROM pg_authid a WHERE rolname = $1`

func superuser(t *testing.T, region string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), fleet.Region(t, region).SuperuserDSN())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func scanOne(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) string {
	t.Helper()
	var s string
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&s), sql)
	return s
}

// TestNameTakenIsRefusedAndLeftAlone makes, as the superuser, a database
// with data owned by its own role and a lone role, as a server's other
// users would. PUT and :plan of the databases whose names dbfleet would
// need refuse with 409 name_taken naming them, and record nothing; their
// roles keep their passwords and attributes. A database of dbfleet's
// replaced behind its back by someone else's is left alone by the delete,
// which still drops dbfleet's own role.
func TestNameTakenIsRefusedAndLeftAlone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := superuser(t, "westeurope")
	hr, pay := daemontest.UniqueName("hr"), daemontest.UniqueName("pay")
	for _, stmt := range []string{
		fmt.Sprintf(`CREATE ROLE %s_owner LOGIN PASSWORD 'hr-secret'`, hr),
		fmt.Sprintf(`CREATE DATABASE %s OWNER %s_owner`, hr, hr),
		fmt.Sprintf(`CREATE ROLE %s_owner LOGIN CREATEDB PASSWORD 'pay-secret'`, pay),
	} {
		adminExec(t, su, stmt)
	}
	t.Cleanup(func() {
		for _, stmt := range []string{"DROP DATABASE IF EXISTS " + hr, "DROP ROLE IF EXISTS " + hr + "_owner", "DROP ROLE IF EXISTS " + pay + "_owner"} {
			_, _ = su.Exec(context.Background(), stmt)
		}
	})
	before := map[string]string{}
	for _, role := range []string{hr + "_owner", pay + "_owner"} {
		before[role] = scanOne(t, su, foreignRole, role)
	}
	spec := apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true}

	for _, tc := range []struct {
		name, database, names string
	}{
		{"Database", hr, fmt.Sprintf("database %s already exists in region westeurope, owned by %s_owner", hr, hr)},
		{"Role", pay, fmt.Sprintf("role %s_owner already exists in region westeurope", pay)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/v1/databases/westeurope/" + tc.database + ":plan", "/v1/databases/westeurope/" + tc.database} {
				method := http.MethodPut
				if strings.HasSuffix(path, ":plan") {
					method = http.MethodPost
				}
				resp := b.client.Do(t, method, path, spec)
				require.Equal(t, http.StatusConflict, resp.Status, "%s %s: %s", method, path, resp.Body)
				require.Equal(t, apiv1.CodeNameTaken, resp.ErrorCode(t))
				require.Contains(t, string(resp.Body), tc.names)
			}
			require.Equal(t, http.StatusNotFound, b.client.Do(t, http.MethodGet, "/v1/databases/westeurope/"+tc.database, nil).Status,
				"nothing recorded")
		})
	}
	for role, record := range before {
		require.Equal(t, record, scanOne(t, su, foreignRole, role), "role %s unchanged", role)
	}
	require.Equal(t, hr+"_owner", scanOne(t, su, `SELECT datdba::regrole::text FROM pg_database WHERE datname = $1`, hr))

	t.Run("DeleteLeavesAReplacedDatabase", func(t *testing.T) {
		name := daemontest.UniqueName("gone")
		b.create(t, "westeurope", name, apiv1.DatabaseSpec{DeletionProtection: new(false)})
		adminExec(t, su, fmt.Sprintf(`DROP DATABASE %s WITH (FORCE)`, name))
		adminExec(t, su, fmt.Sprintf(`CREATE DATABASE %s OWNER %s_owner`, name, hr))
		t.Cleanup(func() { _, _ = su.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name) })

		op := b.client.Do(t, http.MethodDelete, "/v1/databases/westeurope/"+name, nil).Operation(t)
		done := b.client.Wait(t, op.ID, time.Minute)
		require.Equal(t, apiv1.OperationSucceeded, done.State, "%+v", done)
		require.Equal(t, hr+"_owner", scanOne(t, su, `SELECT datdba::regrole::text FROM pg_database WHERE datname = $1`, name),
			"the other database of that name is still there")
		require.False(t, daemontest.RoleExists(t, su, name+"_owner"), "dbfleet's own role is dropped")
		require.False(t, daemontest.RoleExists(t, su, engine.ReplicationRoleName(name)))
		require.Contains(t, b.logs.String(), "Left alone an object dbfleet did not create")
	})
}

// TestOlderDatabasesAreMarkedAtStart takes the mark off a database's owner
// role, as a dbfleetd older than the marker left it, and restarts
// dbfleetd on the same state: at start it marks the role again, from its
// store's record that it made the database, and a delete then drops both.
func TestOlderDatabasesAreMarkedAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, stop := startDaemon(t, fleet, dir)
	name := daemontest.UniqueName("older")
	db := b.create(t, "westeurope", name, apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true})
	stop()

	su := superuser(t, "westeurope")
	marked := `SELECT count(*)::text FROM pg_auth_members WHERE roleid = 'dbfleet_managed'::regrole AND member = $1::regrole`
	grantor := scanOne(t, su, `SELECT grantor::regrole::text FROM pg_auth_members WHERE roleid = 'dbfleet_managed'::regrole AND member = $1::regrole`, db.Owner)
	adminExec(t, su, fmt.Sprintf(`REVOKE dbfleet_managed FROM %s GRANTED BY %s`, db.Owner, grantor))
	require.Equal(t, "0", scanOne(t, su, marked, db.Owner))

	b, _ = startDaemon(t, fleet, dir)
	require.Eventually(t, func() bool { return scanOne(t, su, marked, db.Owner) == "1" }, 30*time.Second, 100*time.Millisecond,
		"the owner role is marked again")
	op := b.client.Do(t, http.MethodDelete, "/v1/databases/westeurope/"+name, nil).Operation(t)
	done := b.client.Wait(t, op.ID, time.Minute)
	require.Equal(t, apiv1.OperationSucceeded, done.State, "%+v", done)
	require.False(t, daemontest.DatabaseExists(t, su, name))
	require.False(t, daemontest.RoleExists(t, su, db.Owner))
}
