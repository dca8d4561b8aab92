package enginetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// roleState is what a role may do: its attributes and the roles it is a member of.
type roleState struct {
	Exists                                              bool
	Super, CreateRole, CreateDB, Replication, BypassRLS bool
	MemberOf                                            []string
}

const roleStateQuery = `SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
	coalesce((SELECT pg_catalog.array_agg(DISTINCT g.rolname::pg_catalog.text ORDER BY g.rolname::pg_catalog.text)
		FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
		WHERE m.member OPERATOR(pg_catalog.=) r.oid), '{}')
FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1`

func snapshotRole(t *testing.T, ctx context.Context, pool *pgxpool.Pool, role string) roleState {
	t.Helper()
	s := roleState{Exists: true}
	err := pool.QueryRow(ctx, roleStateQuery, role).Scan(&s.Super, &s.CreateRole, &s.CreateDB, &s.Replication, &s.BypassRLS, &s.MemberOf)
	if errors.Is(err, pgx.ErrNoRows) {
		return roleState{}
	}
	require.NoError(t, err, "snapshot role %s", role)
	return s
}

// tracker follows the roles dbfleet made for one vector (the owner in both regions, the
// replication role in the source's) and the evidence its payloads left.
type tracker struct {
	e    *env
	last map[string]roleState // by region/role
}

func newTracker(e *env) *tracker { return &tracker{e: e, last: map[string]roleState{}} }

// check fails the test when, after path, a payload ran as the admin or a superuser, or a
// tracked role has an attribute or a membership it must not have or did not have before.
func (tr *tracker) check(path string) {
	e := tr.e
	t := e.t
	t.Helper()
	roles := map[string][]string{
		e.target.Replica: {e.owner},
		e.target.Source:  {e.owner, engine.ReplicationRoleName(e.db)},
	}
	for region, names := range roles {
		for _, role := range names {
			got := snapshotRole(t, e.ctx, e.super[region], role)
			key := region + "/" + role
			if prev, ok := tr.last[key]; ok && prev.Exists && got.Exists {
				require.Equalf(t, prev, got, "role %s in %s changed in path %s (vector %s)", role, region, path, e.vector.Name)
			}
			if got.Exists {
				require.Falsef(t, got.Super || got.CreateRole || got.CreateDB || got.BypassRLS,
					"role %s in %s has %+v after path %s (vector %s)", role, region, got, path, e.vector.Name)
				require.Equalf(t, role != e.owner, got.Replication,
					"role %s in %s: REPLICATION after path %s (vector %s)", role, region, path, e.vector.Name)
				for _, g := range got.MemberOf {
					require.Falsef(t, g == e.target.Admin || slices.Contains(forbiddenGroups, g),
						"role %s in %s is a member of %s after path %s (vector %s)", role, region, g, path, e.vector.Name)
				}
			}
			tr.last[key] = got
		}
	}
	for region := range e.super {
		for _, db := range append([]string{e.db}, e.vector.outsideDatabases()...) {
			who := tr.evidence(region, db)
			require.Emptyf(t, who, "in %s of %s, planted code ran as the admin, a superuser or a replication role during path %s (vector %s)", db, region, path, e.vector.Name)
		}
	}
}

// forbiddenGroups are the predefined roles a payload tries to grant the owner.
var forbiddenGroups = []string{"pg_read_server_files", "pg_write_server_files", "pg_execute_server_program"}

// evidence returns the privileged roles a payload recorded as current_user in a database: the
// admin, a superuser, or a role with REPLICATION (the replication role reads the source for the
// initial copy). It connects to that database as the superuser; a missing database or
// evidence table has none.
func (tr *tracker) evidence(region, db string) []string {
	e := tr.e
	conn, err := e.superConn(region, db)
	if err != nil {
		require.Containsf(e.t, err.Error(), "does not exist", "read evidence in %s of %s", db, region)
		return nil
	}
	defer conn.Close(context.WithoutCancel(e.ctx))
	rows, err := conn.Query(e.ctx, `SELECT pg_catalog.format('%s as %s (session %s)', v.vector, v.who, v.sess)
		FROM public.dbfleet_evidence v LEFT JOIN pg_catalog.pg_roles r ON r.rolname OPERATOR(pg_catalog.=) v.who
		WHERE v.who OPERATOR(pg_catalog.=) $1 OR r.rolsuper OR r.rolreplication`, e.target.Admin)
	if err != nil {
		require.Containsf(e.t, err.Error(), "does not exist", "read evidence in %s of %s", db, region)
		return nil
	}
	who, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(e.t, err, fmt.Sprintf("read evidence in %s of %s", db, region))
	return who
}

// superConn connects to a database of a region as its superuser, pinned like an admin session
// so that the database's settings (a role, a search_path) do not apply.
func (e *env) superConn(region, db string) (*pgx.Conn, error) {
	cfg := e.super[region].Config().ConnConfig.Copy()
	cfg.Database = db
	cfg.RuntimeParams["role"] = "none"
	cfg.RuntimeParams["search_path"] = "pg_catalog, pg_temp"
	return pgx.ConnectConfig(e.ctx, cfg)
}
