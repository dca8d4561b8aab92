package engine

import (
	"context"
	"fmt"
)

// RoleEnsure creates a login role with the given password, or resets the
// password and attributes of the role if it exists. The role gets no
// privileges beyond logging in.
func (f *Fleet) RoleEnsure(ctx context.Context, regionName, role, password string) error {
	return f.roleEnsure(ctx, regionName, role, password, "NOREPLICATION")
}

// roleEnsure is RoleEnsure with the role's REPLICATION attribute.
func (f *Fleet) roleEnsure(ctx context.Context, regionName, role, password, replication string) error {
	if err := ValidateIdentifier("role", role); err != nil {
		return err
	}
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return err
	}
	verifier, err := scramVerifier(password)
	if err != nil {
		return fmt.Errorf("ensure role %s in %s: %w", role, regionName, err)
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return fmt.Errorf("look up role %s in %s: %w", role, regionName, err)
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	// Utility statements take no bind parameters; the verifier is base64
	// and '$'/':' only, quoted as a literal.
	stmt := fmt.Sprintf("%s ROLE %s WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE %s PASSWORD %s",
		verb, quoteIdentifier(role), replication, quoteLiteral(verifier))
	if _, err := pool.Exec(ctx, stmt); err != nil {
		if verb == "CREATE" && createdConcurrently(err) {
			// Created by a concurrent run of the same step: converge with ALTER.
			return f.roleEnsure(ctx, regionName, role, password, replication)
		}
		return fmt.Errorf("%s role %s in %s: %w", verb, role, regionName, err)
	}
	return nil
}

// RoleDrop drops a role if it exists.
func (f *Fleet) RoleDrop(ctx context.Context, regionName, role string) error {
	if err := ValidateIdentifier("role", role); err != nil {
		return err
	}
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf("DROP ROLE IF EXISTS %s", quoteIdentifier(role))); err != nil {
		return fmt.Errorf("drop role %s in %s: %w", role, regionName, err)
	}
	return nil
}
