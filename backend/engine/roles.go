package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
)

// execQuerier is a pool, connection or transaction.
type execQuerier interface {
	querier
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// execAll runs statements in order, stopping at the first that fails.
func execAll(ctx context.Context, q execQuerier, stmts []string) error {
	for _, stmt := range stmts {
		if _, err := q.Exec(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// RoleEnsure creates a login role with the given password, marked as
// dbfleet's (MarkerRole), or resets the password and attributes of the role
// if it exists and is dbfleet's. The role gets no privileges beyond logging
// in. A role of that name that dbfleet did not create is left as it is: the
// error is a *NameTakenError.
func (f *Fleet) RoleEnsure(ctx context.Context, regionName, role, password string) error {
	return f.roleEnsure(ctx, regionName, role, password, false)
}

// roleEnsure is RoleEnsure with the role's REPLICATION attribute.
func (f *Fleet) roleEnsure(ctx context.Context, regionName, role, password string, replication bool) error {
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
	a, err := adminSessionOf(ctx, pool)
	if err != nil {
		return fmt.Errorf("look up admin role in %s: %w", regionName, err)
	}
	if err := f.markerEnsure(ctx, regionName, pool); err != nil {
		return err
	}
	st, err := roleStateOf(ctx, pool, role)
	if err != nil {
		return fmt.Errorf("look up role %s in %s: %w", role, regionName, err)
	}
	if err := st.ours(regionName, role); err != nil {
		return err
	}
	// Utility statements take no bind parameters; the verifier is base64
	// and '$'/':' only, quoted as a literal.
	passwordClause := "PASSWORD " + quoteLiteral(verifier)
	var stmts []string
	verb := "CREATE"
	if st.exists {
		verb = "ALTER"
		// Only what differs: a CREATEROLE admin may not even name SUPERUSER
		// or REPLICATION in ALTER ROLE before PostgreSQL 16.
		stmts = append(stmts, fmt.Sprintf("ALTER ROLE %s WITH LOGIN %s %s", quoteIdentifier(role),
			strings.Join(st.attributeChanges(replication), " "), passwordClause))
		stmts = append(stmts, markStatements(a, role)[1:]...)
	} else {
		stmts = append(stmts, fmt.Sprintf("CREATE ROLE %s WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS %s %s",
			quoteIdentifier(role), replicationClause(replication), passwordClause))
		stmts = append(stmts, markStatements(a, role)...)
	}
	// One transaction: a role dbfleet creates is never left unmarked, which
	// would make it look like someone else's.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := execAll(ctx, tx, stmts); err != nil {
			return err
		}
		failpoint.At(failpoint.RoleUncommitted)
		return nil
	})
	if err != nil {
		if verb == "CREATE" && createdConcurrently(err) {
			// Created by a concurrent run of the same step: converge with ALTER.
			return f.roleEnsure(ctx, regionName, role, password, replication)
		}
		return fmt.Errorf("%s role %s in %s: %w", verb, role, regionName, err)
	}
	return nil
}

func replicationClause(replication bool) string {
	if replication {
		return "REPLICATION"
	}
	return "NOREPLICATION"
}

// attributeChanges are the clauses that give an existing role the
// attributes dbfleet's roles have, for those it does not have.
func (st roleState) attributeChanges(replication bool) []string {
	var out []string
	for _, c := range []struct {
		has  bool
		want bool
		name string
	}{
		{st.super, false, "SUPERUSER"},
		{st.createDB, false, "CREATEDB"},
		{st.createRole, false, "CREATEROLE"},
		{st.bypassRLS, false, "BYPASSRLS"},
		{st.replication, replication, "REPLICATION"},
	} {
		switch {
		case c.has == c.want:
		case c.want:
			out = append(out, c.name)
		default:
			out = append(out, "NO"+c.name)
		}
	}
	return out
}

// RoleDrop drops a role dbfleet made, if it exists. A role of that name
// that dbfleet did not make is left as it is: the error is a
// *NameTakenError, for the caller to report or pass over.
func (f *Fleet) RoleDrop(ctx context.Context, regionName, role string) error {
	if err := ValidateIdentifier("role", role); err != nil {
		return err
	}
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return err
	}
	st, err := roleStateOf(ctx, pool, role)
	if err != nil {
		return fmt.Errorf("look up role %s in %s: %w", role, regionName, err)
	}
	if !st.exists {
		return nil
	}
	if err := st.ours(regionName, role); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf("DROP ROLE IF EXISTS %s", quoteIdentifier(role))); err != nil {
		return fmt.Errorf("drop role %s in %s: %w", role, regionName, err)
	}
	return nil
}
