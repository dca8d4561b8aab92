package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ErrForeignDatabase refuses to manage a database dbfleet did not create.
var ErrForeignDatabase = errors.New("database not managed by dbfleet")

// DatabaseEnsure creates a database owned by owner, or gives an existing one
// to owner. PUBLIC loses its default right to connect.
//
// A database that exists with another owner was not made by dbfleet (it
// creates each database with its owner in one statement): it is refused
// with ErrForeignDatabase unless adopt is set, which re-owns a database
// dbfleet made and someone gave away since.
func (f *Fleet) DatabaseEnsure(ctx context.Context, regionName, name, owner string, adopt bool) error {
	if err := ValidateIdentifier("database", name); err != nil {
		return err
	}
	if err := ValidateIdentifier("role", owner); err != nil {
		return err
	}
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return err
	}
	var current string
	err = pool.QueryRow(ctx, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1`, name).Scan(&current)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		_, err := pool.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", quoteIdentifier(name), quoteIdentifier(owner)))
		if err != nil && !createdConcurrently(err) {
			return fmt.Errorf("create database %s in %s: %w", name, regionName, err)
		}
	case err != nil:
		return fmt.Errorf("look up database %s in %s: %w", name, regionName, err)
	case current != owner && !adopt:
		return fmt.Errorf("%w: database %s in %s exists, owned by %s; dbfleet does not take over databases it did not create: drop or rename it, or choose another name",
			ErrForeignDatabase, name, regionName, current)
	}
	for _, stmt := range []string{
		fmt.Sprintf("ALTER DATABASE %s OWNER TO %s", quoteIdentifier(name), quoteIdentifier(owner)),
		fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC", quoteIdentifier(name)),
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("configure database %s in %s: %w", name, regionName, err)
		}
	}
	return nil
}

// DatabaseOwner returns the owner of a database, or "" when it does not
// exist.
func (f *Fleet) DatabaseOwner(ctx context.Context, regionName, name string) (string, error) {
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return "", err
	}
	var owner string
	err = pool.QueryRow(ctx, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1`, name).Scan(&owner)
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
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return false, err
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return false, fmt.Errorf("look up database %s in %s: %w", name, regionName, err)
	}
	return exists, nil
}

// DatabaseDrop drops a database if it exists, disconnecting its sessions.
func (f *Fleet) DatabaseDrop(ctx context.Context, regionName, name string) error {
	if err := ValidateIdentifier("database", name); err != nil {
		return err
	}
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", quoteIdentifier(name))); err != nil {
		return fmt.Errorf("drop database %s in %s: %w", name, regionName, err)
	}
	return nil
}

// DatabaseOwnerSet gives an existing database to owner and takes PUBLIC's
// default right to connect, like DatabaseEnsure, but never creates it: a
// database dropped meanwhile stays dropped (ErrDatabaseMissing).
func (f *Fleet) DatabaseOwnerSet(ctx context.Context, region, database, owner string) error {
	if err := ValidateIdentifier("database", database); err != nil {
		return err
	}
	if err := ValidateIdentifier("role", owner); err != nil {
		return err
	}
	pool, err := f.pool(ctx, region)
	if err != nil {
		return err
	}
	for _, stmt := range []string{
		fmt.Sprintf("ALTER DATABASE %s OWNER TO %s", quoteIdentifier(database), quoteIdentifier(owner)),
		fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC", quoteIdentifier(database)),
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			if sqlStateOf(err) == "3D000" {
				return fmt.Errorf("give database %s in %s to %s: %w", database, region, owner, ErrDatabaseMissing)
			}
			return fmt.Errorf("give database %s in %s to %s: %w", database, region, owner, err)
		}
	}
	return nil
}
