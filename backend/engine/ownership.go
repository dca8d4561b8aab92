package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MarkerRole is the role that marks what dbfleet made in a region: every
// role dbfleet creates is a member of it, and a database is dbfleet's when
// its owner is such a member. dbfleet alters and drops nothing else.
//
// The mark lives in the region, not in dbfleetd's store or in a naming
// pattern, and no tenant can forge or remove it: a membership can only be
// granted or revoked by a role with ADMIN OPTION on the marker (or, before
// PostgreSQL 16, CREATEROLE), and tenants' roles have neither; a database's
// owner can only be set by a role with CREATEDB, which tenants lack.
//
// The marker is NOLOGIN and holds no privilege. From PostgreSQL 16 each
// membership is granted WITH INHERIT FALSE, SET FALSE: a label, through
// which a member gains nothing even if someone grants the marker rights.
// Before 16 a membership always lets the member use the marker's rights;
// dbfleet grants it none.
const MarkerRole = "dbfleet_managed"

// markerComment is written on the marker role when dbfleet creates it, for
// the operator who finds it.
const markerComment = "dbfleet: members are the roles dbfleet created; databases they own are dbfleet's"

// NameTakenError is an object in a region that has a name dbfleet needs and
// was not made by dbfleet. dbfleet neither takes over nor drops it.
type NameTakenError struct {
	// Kind is "database" or "role".
	Kind   string
	Name   string
	Region string
	// Owner is the owner of a database; empty for a role.
	Owner string
	// Reason says why a role of the marker's name is not dbfleet's marker;
	// empty otherwise.
	Reason string
}

func (e *NameTakenError) Error() string {
	switch {
	case e.Reason != "":
		return fmt.Sprintf("role %s exists in region %s but cannot be dbfleet's ownership marker: %s; "+
			"drop or rename it, or grant this admin role ADMIN OPTION on it if your team made it for dbfleet",
			e.Name, e.Region, e.Reason)
	case e.Kind == "database":
		return fmt.Sprintf("database %s already exists in region %s, owned by %s, and was not created by dbfleet; "+
			"dbfleet does not take over existing databases: choose another name, or drop or rename the existing database",
			e.Name, e.Region, e.Owner)
	default:
		return fmt.Sprintf("role %s already exists in region %s and was not created by dbfleet; "+
			"dbfleet does not take over existing roles: choose another database name, or drop or rename the role",
			e.Name, e.Region)
	}
}

// adminSession is what the region's admin role is, as its pool sees it.
type adminSession struct {
	superuser bool
	// versionNum is server_version_num, such as 160004.
	versionNum int
}

// grantsByOption tells whether the server takes INHERIT and SET options on
// a role grant and splits CREATEROLE's rights by ADMIN OPTION (16+).
func (a adminSession) grantsByOption() bool { return a.versionNum >= 160000 }

// querier is a pool, connection or transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func adminSessionOf(ctx context.Context, q querier) (adminSession, error) {
	var a adminSession
	err := q.QueryRow(ctx, `SELECT r.rolsuper, pg_catalog.current_setting('server_version_num')::pg_catalog.int4
		FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER`).Scan(&a.superuser, &a.versionNum)
	return a, err
}

// markerState is the marker role as found.
type markerState struct {
	exists bool
	// reason is why an existing role of the marker's name is not usable as
	// the marker; empty when it is.
	reason string
}

// markerQuery reads the role of the marker's name and whether this admin
// may grant it: a superuser may; from PostgreSQL 16 a CREATEROLE role may
// only with ADMIN OPTION, which the role that created it holds; before 16
// CREATEROLE may grant any role that is not a superuser.
const markerQuery = `SELECT r.rolcanlogin OR r.rolsuper OR r.rolcreatedb OR r.rolcreaterole OR r.rolreplication OR r.rolbypassrls,
	(SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER)
		OR pg_catalog.current_setting('server_version_num')::pg_catalog.int4 OPERATOR(pg_catalog.<) 160000
		OR EXISTS (SELECT FROM pg_catalog.pg_auth_members m
			WHERE m.roleid OPERATOR(pg_catalog.=) r.oid AND m.admin_option
			AND m.member OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER))
FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1`

func markerStateOf(ctx context.Context, q querier) (markerState, error) {
	var privileged, grantable bool
	err := q.QueryRow(ctx, markerQuery, MarkerRole).Scan(&privileged, &grantable)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return markerState{}, nil
	case err != nil:
		return markerState{}, err
	case privileged:
		return markerState{exists: true, reason: "it can log in or has a role attribute, which dbfleet's marker never has"}, nil
	case !grantable:
		return markerState{exists: true, reason: "this admin role has no ADMIN OPTION on it, so another role made it"}, nil
	}
	return markerState{exists: true}, nil
}

// markerEnsure creates the region's marker role once, or checks that the
// role of its name is one dbfleet can use: NOLOGIN, without attributes, and
// grantable by this admin. A role of that name someone else made is a
// NameTakenError: marking with it would let its maker decide what dbfleet
// owns.
func (f *Fleet) markerEnsure(ctx context.Context, region string, q execQuerier) error {
	st, err := markerStateOf(ctx, q)
	if err != nil {
		return fmt.Errorf("look up ownership marker %s in %s: %w", MarkerRole, region, err)
	}
	if st.exists {
		if st.reason != "" {
			return &NameTakenError{Kind: "role", Name: MarkerRole, Region: region, Reason: st.reason}
		}
		return nil
	}
	_, err = q.Exec(ctx, fmt.Sprintf("CREATE ROLE %s NOLOGIN NOINHERIT", quoteIdentifier(MarkerRole)))
	if err != nil && createdConcurrently(err) {
		return f.markerEnsure(ctx, region, q)
	}
	if err == nil {
		_, err = q.Exec(ctx, fmt.Sprintf("COMMENT ON ROLE %s IS %s", quoteIdentifier(MarkerRole), quoteLiteral(markerComment)))
	}
	if err != nil {
		return fmt.Errorf("create ownership marker %s in %s: %w", MarkerRole, region, err)
	}
	return nil
}

// markedBy is the SQL condition that the role of oid column is dbfleet's:
// a member of the marker ($2) without ADMIN OPTION, and not the admin
// itself. From PostgreSQL 16 the role that created the marker holds ADMIN
// OPTION on it, which makes it one of the marker's administrators, not one
// of what dbfleet made: a database the admin role owns is not dbfleet's.
func markedBy(column string) string {
	return `(` + column + ` OPERATOR(pg_catalog.<>) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER)
		AND EXISTS (SELECT FROM pg_catalog.pg_auth_members m
			JOIN pg_catalog.pg_roles k ON k.oid OPERATOR(pg_catalog.=) m.roleid
			WHERE m.member OPERATOR(pg_catalog.=) ` + column + ` AND NOT m.admin_option AND k.rolname OPERATOR(pg_catalog.=) $2))`
}

// roleState is a role as found, and whether it is dbfleet's.
type roleState struct {
	exists bool
	marked bool
	// The role's attributes.
	login, super, createDB, createRole, replication, bypassRLS bool
}

func roleStateOf(ctx context.Context, q querier, role string) (roleState, error) {
	st := roleState{exists: true}
	err := q.QueryRow(ctx, `SELECT `+markedBy("r.oid")+`,
		r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolbypassrls
		FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1`, role, MarkerRole).
		Scan(&st.marked, &st.login, &st.super, &st.createDB, &st.createRole, &st.replication, &st.bypassRLS)
	if errors.Is(err, pgx.ErrNoRows) {
		return roleState{}, nil
	}
	return st, err
}

// databaseState is a database as found, and whether it is dbfleet's.
type databaseState struct {
	exists bool
	owner  string
	marked bool
	// byAdmin: the admin role itself owns the database.
	byAdmin bool
}

func databaseStateOf(ctx context.Context, q querier, database string) (databaseState, error) {
	st := databaseState{exists: true}
	err := q.QueryRow(ctx, `SELECT o.rolname, `+markedBy("d.datdba")+`, o.rolname OPERATOR(pg_catalog.=) CURRENT_USER
		FROM pg_catalog.pg_database d JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) d.datdba
		WHERE d.datname OPERATOR(pg_catalog.=) $1`, database, MarkerRole).Scan(&st.owner, &st.marked, &st.byAdmin)
	if errors.Is(err, pgx.ErrNoRows) {
		return databaseState{}, nil
	}
	return st, err
}

// databaseOf connects to a region and looks a database up.
func (f *Fleet) databaseOf(ctx context.Context, region, name string) (*pgxpool.Pool, databaseState, error) {
	pool, err := f.pool(ctx, region)
	if err != nil {
		return nil, databaseState{}, err
	}
	st, err := databaseStateOf(ctx, pool, name)
	if err != nil {
		return nil, databaseState{}, fmt.Errorf("look up database %s in %s: %w", name, region, err)
	}
	return pool, st, nil
}

// ours returns a NameTakenError for a database that exists and is not
// dbfleet's, else nil.
func (st databaseState) ours(region, name string) error {
	if st.exists && !st.marked {
		return &NameTakenError{Kind: "database", Name: name, Region: region, Owner: st.owner}
	}
	return nil
}

// ours returns a NameTakenError for a role that exists and is not
// dbfleet's, else nil.
func (st roleState) ours(region, name string) error {
	if st.exists && !st.marked {
		return &NameTakenError{Kind: "role", Name: name, Region: region}
	}
	return nil
}

// NameCheck tells, changing nothing, whether dbfleet may create or manage a
// database and its owner role in a region: it returns a *NameTakenError
// naming the first that exists and was not made by dbfleet (or a role of
// the marker's name that is not dbfleet's marker), or nil.
func (f *Fleet) NameCheck(ctx context.Context, region, database, ownerRole string) error {
	return f.readPooled(ctx, region, func(pool *pgxpool.Pool) error {
		return nameCheck(ctx, pool, region, database, ownerRole)
	})
}

func nameCheck(ctx context.Context, pool *pgxpool.Pool, region, database, ownerRole string) error {
	mk, err := markerStateOf(ctx, pool)
	if err != nil {
		return fmt.Errorf("look up ownership marker %s in %s: %w", MarkerRole, region, err)
	}
	if mk.reason != "" {
		return &NameTakenError{Kind: "role", Name: MarkerRole, Region: region, Reason: mk.reason}
	}
	if database != "" {
		db, err := databaseStateOf(ctx, pool, database)
		if err != nil {
			return fmt.Errorf("look up database %s in %s: %w", database, region, err)
		}
		if err := db.ours(region, database); err != nil {
			return err
		}
	}
	if ownerRole != "" {
		role, err := roleStateOf(ctx, pool, ownerRole)
		if err != nil {
			return fmt.Errorf("look up role %s in %s: %w", ownerRole, region, err)
		}
		return role.ours(region, ownerRole)
	}
	return nil
}

// markStatements make role dbfleet's: a member of the marker (a label only,
// from 16) and, for an admin that is not a superuser, a role the admin is a
// member of, so that it may give the role a database (CREATE DATABASE ...
// OWNER and ALTER DATABASE ... OWNER TO need SET ROLE to the owner from 16,
// membership before) and act with the role's rights on what it owns
// (ALTER and DROP DATABASE, ALTER DATABASE ... SET, publishing its tables).
// The admin created role, so from 16 it holds ADMIN OPTION on it whatever
// createrole_self_grant says; it grants itself INHERIT and SET explicitly.
// The role itself is granted nothing.
func markStatements(a adminSession, role string) []string {
	r, mk := quoteIdentifier(role), quoteIdentifier(MarkerRole)
	if !a.grantsByOption() {
		stmts := []string{fmt.Sprintf("GRANT %s TO %s", mk, r)}
		if !a.superuser {
			stmts = append(stmts, fmt.Sprintf("GRANT %s TO CURRENT_USER", r))
		}
		return stmts
	}
	stmts := []string{fmt.Sprintf("GRANT %s TO %s WITH INHERIT FALSE, SET FALSE", mk, r)}
	if !a.superuser {
		stmts = append(stmts, fmt.Sprintf("GRANT %s TO CURRENT_USER WITH INHERIT TRUE, SET TRUE", r))
	}
	return stmts
}

// MarkLegacy marks a database and its owner role that a dbfleet older than
// the marker made, as dbfleetd's store records them: only when the role
// exists unmarked, is a plain login role (no superuser, CREATEDB, CREATEROLE
// or BYPASSRLS), and owns the database. When replRole is not empty, that
// role is marked too under the same conditions, REPLICATION allowed. It
// reports whether it marked anything.
func (f *Fleet) MarkLegacy(ctx context.Context, region, database, owner, replRole string) (bool, error) {
	pool, err := f.pool(ctx, region)
	if err != nil {
		return false, err
	}
	a, err := adminSessionOf(ctx, pool)
	if err != nil {
		return false, fmt.Errorf("look up admin role in %s: %w", region, err)
	}
	db, err := databaseStateOf(ctx, pool, database)
	if err != nil {
		return false, fmt.Errorf("look up database %s in %s: %w", database, region, err)
	}
	if !db.exists || db.marked || db.owner != owner {
		return false, nil
	}
	if err := f.markerEnsure(ctx, region, pool); err != nil {
		return false, err
	}
	marked := false
	for _, role := range []string{owner, replRole} {
		if role == "" {
			continue
		}
		st, err := roleStateOf(ctx, pool, role)
		if err != nil {
			return marked, fmt.Errorf("look up role %s in %s: %w", role, region, err)
		}
		if !st.exists || st.marked || !st.login || st.super || st.createDB || st.createRole || st.bypassRLS ||
			(st.replication && role == owner) {
			continue
		}
		if err := execAll(ctx, pool, markStatements(a, role)); err != nil {
			return marked, fmt.Errorf("mark role %s in %s as dbfleet's: %w", role, region, err)
		}
		marked = true
	}
	return marked, nil
}
