package devregions_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
)

// connectAs connects to the region's postgres database with dsn and closes it when the test ends.
func connectAs(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// adminRole is what the catalog says of a region's admin role.
type adminRole struct {
	OID                                                  uint32
	Super, CreateDB, CreateRole, Replication, Login, RLS bool
	MemberOf                                             []string
}

func readAdminRole(t *testing.T, superuser *pgx.Conn, name string) adminRole {
	t.Helper()
	var r adminRole
	require.NoError(t, superuser.QueryRow(context.Background(), `
		SELECT r.oid, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolcanlogin, r.rolbypassrls,
		       coalesce((SELECT array_agg(g.rolname::text ORDER BY g.rolname)
		                 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), '{}')
		FROM pg_roles r WHERE r.rolname = $1`, name).
		Scan(&r.OID, &r.Super, &r.CreateDB, &r.CreateRole, &r.Replication, &r.Login, &r.RLS, &r.MemberOf))
	return r
}

// TestManagedAdmin starts a managed region on every build DBFLEET_PG_VERSIONS lists (make test
// lists 14 to 18) and checks, as the superuser, that its admin has what managed services give and
// nothing more.
func TestManagedAdmin(t *testing.T) {
	t.Parallel()
	builds, err := devregions.ServerBuilds()
	require.NoError(t, err)
	for _, b := range builds {
		t.Run(b.Name(), func(t *testing.T) {
			t.Parallel()
			opts := devregions.Options{DataDir: newDataDir(t), Names: []string{"westeurope"}, BinDir: b.BinDir, Admin: devregions.AdminManaged}
			f := startFleetWith(t, opts)
			r := regionByName(t, f, "westeurope")
			require.Equal(t, devregions.AdminManaged, r.AdminKind)
			require.Equal(t, "dbfleet_admin", r.AdminUser)
			require.Equal(t, "dbfleet_superuser", r.SuperuserUser)
			require.NotEqual(t, r.AdminPassword, r.SuperuserPassword)

			superuser := connectAs(t, r.SuperuserDSN())
			versionNum, err := strconv.Atoi(queryString(t, superuser, "SHOW server_version_num"))
			require.NoError(t, err)
			if b.Major != 0 {
				require.Equal(t, b.Major, versionNum/10000, "the fleet runs the build's server")
			}
			role := readAdminRole(t, superuser, r.AdminUser)

			t.Run("RoomForReplicas", func(t *testing.T) {
				require.Equal(t, "64", queryString(t, superuser, "SHOW max_replication_slots"))
				if versionNum >= 180000 {
					require.Equal(t, "64", queryString(t, superuser, "SHOW max_active_replication_origins"))
				}
			})

			t.Run("HasManagedServiceRights", func(t *testing.T) {
				want := []string{"pg_monitor"}
				if versionNum >= 160000 {
					want = []string{"pg_create_subscription", "pg_monitor"}
				}
				require.Equal(t, adminRole{OID: role.OID, CreateDB: true, CreateRole: true, Replication: true, Login: true, MemberOf: want}, role)
			})

			t.Run("TCPDemandsPassword", func(t *testing.T) {
				// PostgreSQL 16+ refuses a non-superuser's subscription to a server that asks for
				// no password (password_required), so every host rule must ask for one.
				var methods []string
				require.NoError(t, superuser.QueryRow(context.Background(),
					`SELECT array_agg(DISTINCT auth_method) FROM pg_hba_file_rules WHERE type LIKE 'host%'`).Scan(&methods))
				require.Equal(t, []string{"scram-sha-256"}, methods)
				wrong := r
				wrong.AdminPassword = "not-" + r.AdminPassword
				_, err := pgx.Connect(context.Background(), wrong.AdminDSN())
				require.ErrorContains(t, err, "password authentication failed")
			})

			admin := connectAs(t, r.AdminDSN())
			require.Equal(t, r.AdminUser, queryString(t, admin, "SELECT current_user"))

			t.Run("CannotDoWhatNeedsSuperuser", func(t *testing.T) {
				for name, sql := range map[string]string{
					"AlterSystem":     "ALTER SYSTEM SET work_mem = '8MB'",
					"CreateSuperuser": "CREATE ROLE dbfleet_test_super SUPERUSER",
					"CopyToProgram":   "COPY (SELECT 1) TO PROGRAM 'true'",
					"ReadServerFile":  "SELECT pg_read_file('postgresql.conf')",
				} {
					_, err := admin.Exec(context.Background(), sql)
					var pgErr *pgconn.PgError
					require.True(t, errors.As(err, &pgErr), "%s: %v", name, err)
					require.Equal(t, "42501", pgErr.Code, "%s: insufficient_privilege, got %v", name, err)
				}
			})

			t.Run("CanCreateRolesAndDatabases", func(t *testing.T) {
				_, err := admin.Exec(context.Background(), "CREATE ROLE dbfleet_test_owner LOGIN")
				require.NoError(t, err)
				_, err = admin.Exec(context.Background(), "CREATE DATABASE dbfleet_test_db")
				require.NoError(t, err)
			})

			// Read again: on 16+ the roles the admin created are now among its memberships.
			role = readAdminRole(t, superuser, r.AdminUser)
			superuser.Close(context.Background())
			admin.Close(context.Background())
			require.NoError(t, f.Stop(context.Background()))

			t.Run("RestartReusesRole", func(t *testing.T) {
				again := regionByName(t, startFleetWith(t, opts), "westeurope")
				require.Equal(t, r, again)
				require.Equal(t, role, readAdminRole(t, connectAs(t, again.SuperuserDSN()), again.AdminUser))
				require.Equal(t, r.AdminUser, queryString(t, connectAs(t, again.AdminDSN()), "SELECT current_user"))
			})

			t.Run("RefusesOtherAdminKind", func(t *testing.T) {
				other := opts
				other.Admin = devregions.AdminSuperuser
				_, err := devregions.Start(context.Background(), other)
				require.ErrorContains(t, err, "created with a managed admin, not superuser")
			})
		})
	}
}

func TestParseServerBuilds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		list    string
		want    []devregions.ServerBuild
		wantErr string
	}{
		{name: "Unset", list: "", want: []devregions.ServerBuild{{}}},
		{name: "Sorted", list: "18=/pg/18/bin, 14=/pg/14/bin,", want: []devregions.ServerBuild{{Major: 14, BinDir: "/pg/14/bin"}, {Major: 18, BinDir: "/pg/18/bin"}}},
		{name: "NoDir", list: "14=", wantErr: `entry "14=" is not <major>=<bin dir>`},
		{name: "NoMajor", list: "/pg/14/bin", wantErr: `entry "/pg/14/bin" is not`},
		{name: "Twice", list: "14=/a,14=/b", wantErr: "major 14 is listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := devregions.ParseServerBuilds(tt.list)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
