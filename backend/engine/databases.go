package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
)

// DatabaseEnsure creates a database owned by owner, or gives an existing
// database of dbfleet's to owner. PUBLIC loses its default right to
// connect.
//
// A database is dbfleet's when its owner is a role dbfleet made
// (MarkerRole); then a changed owner is drift to repair. A database that
// exists with any other owner is someone else's: it is left as it is, and
// the error is a *NameTakenError. owner must be a role dbfleet made
// (RoleEnsure).
//
// The database is copied from template0, never template1: whatever anyone
// planted in template1 stays out of it.
func (f *Fleet) DatabaseEnsure(ctx context.Context, regionName, name, owner string) error {
	if err := ValidateIdentifier("database", name); err != nil {
		return err
	}
	pool, st, err := f.databaseOf(ctx, regionName, name)
	if err != nil {
		return err
	}
	if err := st.ours(regionName, name); err != nil {
		return err
	}
	if err := ownerOurs(ctx, pool, regionName, owner); err != nil {
		return err
	}
	if !st.exists {
		_, err := pool.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s TEMPLATE template0", quoteIdentifier(name), quoteIdentifier(owner)))
		if err != nil && !createdConcurrently(err) {
			return fmt.Errorf("create database %s in %s: %w", name, regionName, err)
		}
		if err != nil {
			// Made meanwhile, by this step run again or by someone else:
			// look again before touching it.
			return f.DatabaseEnsure(ctx, regionName, name, owner)
		}
		failpoint.At(failpoint.DatabaseCreated)
	}
	if err := configureDatabase(ctx, pool, name, owner); err != nil {
		return fmt.Errorf("configure database %s in %s: %w", name, regionName, err)
	}
	return nil
}

// ownerOurs checks that a database's future owner is a role dbfleet made.
func ownerOurs(ctx context.Context, q querier, region, owner string) error {
	if err := ValidateIdentifier("role", owner); err != nil {
		return err
	}
	st, err := roleStateOf(ctx, q, owner)
	if err != nil {
		return fmt.Errorf("look up role %s in %s: %w", owner, region, err)
	}
	if !st.exists {
		return fmt.Errorf("role %s does not exist in %s; create it before its database", owner, region)
	}
	return st.ours(region, owner)
}

// configureDatabase gives a database of dbfleet's to owner and takes
// PUBLIC's default right to connect.
func configureDatabase(ctx context.Context, q execQuerier, name, owner string) error {
	return execAll(ctx, q, []string{
		fmt.Sprintf("ALTER DATABASE %s OWNER TO %s", quoteIdentifier(name), quoteIdentifier(owner)),
		fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC", quoteIdentifier(name)),
	})
}

// DatabaseOwner returns the owner of a database, or "" when it does not
// exist.
func (f *Fleet) DatabaseOwner(ctx context.Context, regionName, name string) (string, error) {
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return "", err
	}
	var owner string
	err = pool.QueryRow(ctx, `SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database
		WHERE datname OPERATOR(pg_catalog.=) $1`, name).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up owner of %s in %s: %w", name, regionName, err)
	}
	return owner, nil
}

// DatabaseExists tells whether a database exists in a region.
func (f *Fleet) DatabaseExists(ctx context.Context, regionName, name string) (bool, error) {
	_, st, err := f.databaseOf(ctx, regionName, name)
	if err != nil {
		return false, err
	}
	return st.exists, nil
}

// DatabaseDrop drops a database of dbfleet's if it exists, disconnecting
// its sessions. A database of that name that dbfleet did not make is left
// as it is: the error is a *NameTakenError, for the caller to report or
// pass over.
func (f *Fleet) DatabaseDrop(ctx context.Context, regionName, name string) error {
	if err := ValidateIdentifier("database", name); err != nil {
		return err
	}
	pool, st, err := f.databaseOf(ctx, regionName, name)
	if err != nil {
		return err
	}
	if !st.exists {
		return nil
	}
	if err := st.ours(regionName, name); err != nil {
		return err
	}
	_, err = pool.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", quoteIdentifier(name)))
	if sqlStateOf(err) == "42501" { // insufficient_privilege
		err = dropEndingSessions(ctx, pool, name)
	}
	if err != nil {
		return fmt.Errorf("drop database %s in %s: %w", name, regionName, err)
	}
	return nil
}

// dropEndingSessions drops a database without FORCE, once FORCE was
// refused: FORCE insists on signalling every session, and an admin that is
// no superuser may not signal an autovacuum worker (it runs as no role), so a database being vacuumed could
// not be dropped. It ends the sessions the admin may end (those of roles it
// has the rights of), then drops; a plain DROP DATABASE stops autovacuum
// workers itself. A session the admin may not end, a superuser's, makes the
// drop fail with "being accessed by other users" (55006), which is retried.
func dropEndingSessions(ctx context.Context, pool *pgxpool.Pool, name string) error {
	_, err := pool.Exec(ctx, `SELECT pg_catalog.pg_terminate_backend(a.pid, 5000) FROM pg_catalog.pg_stat_activity a
		WHERE a.datname OPERATOR(pg_catalog.=) $1 AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
			AND a.usesysid IS NOT NULL AND pg_catalog.pg_has_role(a.usesysid, 'USAGE')
			AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) a.usesysid)`, name)
	if err != nil {
		return fmt.Errorf("end the sessions of %s: %w", name, err)
	}
	_, err = pool.Exec(ctx, "DROP DATABASE IF EXISTS "+quoteIdentifier(name))
	return err
}

// DatabaseOwnerSet gives an existing database of dbfleet's to owner (a role
// dbfleet made) and takes PUBLIC's default right to connect, like
// DatabaseEnsure, but never creates it: a database dropped meanwhile stays
// dropped (ErrDatabaseMissing). It is the reconciler's repair of a database
// dbfleetd's store says it made, so it also takes back a database the admin
// role itself owns, as a DBA leaves it who dropped the owner role after
// REASSIGN OWNED BY ... TO CURRENT_USER (DatabaseEnsure does not: a
// database the admin made by hand is not dbfleet's to take). Any other
// owner's database is a *NameTakenError.
func (f *Fleet) DatabaseOwnerSet(ctx context.Context, region, database, owner string) error {
	if err := ValidateIdentifier("database", database); err != nil {
		return err
	}
	pool, st, err := f.databaseOf(ctx, region, database)
	if err != nil {
		return err
	}
	if !st.exists {
		return fmt.Errorf("give database %s in %s to %s: %w", database, region, owner, ErrDatabaseMissing)
	}
	if !st.byAdmin {
		if err := st.ours(region, database); err != nil {
			return err
		}
	}
	if err := ownerOurs(ctx, pool, region, owner); err != nil {
		return err
	}
	if err := configureDatabase(ctx, pool, database, owner); err != nil {
		if sqlStateOf(err) == "3D000" {
			return fmt.Errorf("give database %s in %s to %s: %w", database, region, owner, ErrDatabaseMissing)
		}
		return fmt.Errorf("give database %s in %s to %s: %w", database, region, owner, err)
	}
	return nil
}
