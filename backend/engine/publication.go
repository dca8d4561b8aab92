package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
)

// publicationName is the publication on a source database; one per
// database, so the name can be fixed.
const publicationName = "dbfleet_pub"

// ReplicationRoleName is the role a database's replicas connect as.
func ReplicationRoleName(database string) string { return shortName(database, "_repl") }

// shortName appends suffix to base, shortening base with a hash of it
// where the result would pass PostgreSQL's 63 bytes.
func shortName(base, suffix string) string {
	if len(base)+len(suffix) <= 63 {
		return base + suffix
	}
	sum := sha256.Sum256([]byte(base))
	keep := 63 - len(suffix) - 9
	return base[:keep] + "_" + hex.EncodeToString(sum[:4]) + suffix
}

// PublicationEnsure makes a source database publishable: a replication role
// with the least rights it needs (REPLICATION, CONNECT, SELECT on the
// application's tables) and a publication of exactly the application's
// tables, never the dbfleet ledger. Run it again after a migration adds or
// drops tables: the publication lists tables (FOR TABLE, which any admin
// may publish as a member of the tables' owner; FOR TABLES IN SCHEMA needs a
// superuser), so new ones flow only once it ran. With no tables yet the
// publication is empty.
//
// Before PostgreSQL 16 only a superuser may create a role with
// REPLICATION; a region that cannot publish is a *MissingError.
func (f *Fleet) PublicationEnsure(ctx context.Context, region, database, owner, replPassword string) error {
	_, st, err := f.databaseOf(ctx, region, database)
	if err != nil {
		return err
	}
	if err := st.ours(region, database); err != nil {
		return err
	}
	caps, err := f.RegionCapabilities(ctx, region)
	if err != nil {
		return err
	}
	if missing := caps.MissingForPublishing(); len(missing) > 0 {
		return &MissingError{Region: region, Action: "publish " + database + " to replicas", Missing: missing}
	}
	role := ReplicationRoleName(database)
	conn, err := f.connectAdmin(ctx, region, database)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// The replica creates of one source publish it at once: they take
		// turns, so that each reads the publication the last one left and
		// none changes a catalog row (the replication role's, the
		// database's ACL) another is changing ("tuple concurrently updated").
		if _, err := tx.Exec(ctx, `SELECT pg_catalog.pg_advisory_xact_lock($1)`, publishLockKey); err != nil {
			return fmt.Errorf("wait for other publishers: %w", err)
		}
		if err := f.roleEnsure(ctx, region, role, replPassword, true); err != nil {
			return err
		}
		failpoint.At(failpoint.PublicationRoleEnsured)
		stmts, err := publishStatements(ctx, conn, database, owner, role, caps.Major())
		if err != nil {
			return err
		}
		if err := execAll(ctx, tx, stmts); err != nil {
			return err
		}
		failpoint.At(failpoint.PublicationUncommitted)
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish %s in %s: %w", database, region, err)
	}
	return nil
}

// publishLockKey is the advisory lock, in the source database, that its
// publishers take turns on.
const publishLockKey int64 = 0x64626670756231 // "dbfpub1"

// publishStatements are what gives the replication role read access to the
// application's schemas and makes the publication list its tables.
func publishStatements(ctx context.Context, conn *pgx.Conn, database, owner, role string, major int) ([]string, error) {
	schemas, err := applicationSchemas(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	r := quoteIdentifier(role)
	stmts := []string{fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", quoteIdentifier(database), r)}
	for _, s := range schemas {
		q := quoteIdentifier(s)
		stmts = append(stmts,
			fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s", q, r),
			fmt.Sprintf("GRANT SELECT ON ALL TABLES IN SCHEMA %s TO %s", q, r),
			fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s GRANT SELECT ON TABLES TO %s", quoteIdentifier(owner), q, r))
	}
	publish, err := publicationChange(ctx, conn, major)
	if err != nil {
		return nil, fmt.Errorf("read publication: %w", err)
	}
	return append(stmts, publish...), nil
}

// publicationChange returns the statements that make the publication list
// exactly the application's tables: none when it does already.
func publicationChange(ctx context.Context, conn *pgx.Conn, major int) ([]string, error) {
	tables, err := applicationTables(ctx, conn)
	if err != nil {
		return nil, err
	}
	create := "CREATE PUBLICATION " + publicationName
	if len(tables) > 0 {
		create += " FOR TABLE " + strings.Join(tables, ", ")
	}
	var oid uint32
	var allTables bool
	err = conn.QueryRow(ctx, `SELECT oid, puballtables FROM pg_catalog.pg_publication WHERE pubname OPERATOR(pg_catalog.=) $1`,
		publicationName).Scan(&oid, &allTables)
	if errors.Is(err, pgx.ErrNoRows) {
		return []string{create}, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, `SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname)
		FROM pg_catalog.pg_publication_rel p JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.prrelid
		JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		WHERE p.prpubid OPERATOR(pg_catalog.=) $1`, oid)
	if err != nil {
		return nil, err
	}
	current, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	bySchema := false
	if major >= 15 {
		// A publication of schemas, as dbfleet made them before it listed
		// tables.
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_publication_namespace
			WHERE pnpubid OPERATOR(pg_catalog.=) $1)`, oid).Scan(&bySchema)
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(current)
	switch {
	case !allTables && !bySchema && slices.Equal(current, tables):
		return nil, nil
	case len(tables) > 0 && !allTables:
		return []string{fmt.Sprintf("ALTER PUBLICATION %s SET TABLE %s", publicationName, strings.Join(tables, ", "))}, nil
	}
	// SET TABLE takes at least one table and cannot undo FOR ALL TABLES:
	// such a publication is made anew, in the same transaction, so no
	// subscriber sees it missing.
	return []string{"DROP PUBLICATION " + publicationName, create}, nil
}

// applicationTables lists, quoted and sorted, the tables a database's
// application owns that logical replication can carry: permanent tables
// and partitioned tables (whose partitions go with them) outside
// PostgreSQL's schemas and dbfleet's ledger.
func applicationTables(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname)
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog."char"[]) AND c.relpersistence OPERATOR(pg_catalog.=) 'p'
		AND NOT c.relispartition
		AND n.nspname OPERATOR(pg_catalog.<>) ALL ('{dbfleet,information_schema}'::pg_catalog.name[])
		AND NOT pg_catalog.starts_with(n.nspname::pg_catalog.text, 'pg_')`)
	if err != nil {
		return nil, err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	slices.Sort(tables)
	return tables, nil
}

// applicationSchemas lists the schemas a database's application owns: all
// but PostgreSQL's own and dbfleet's ledger.
func applicationSchemas(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT nspname::pg_catalog.text FROM pg_catalog.pg_namespace
		WHERE nspname OPERATOR(pg_catalog.<>) ALL ('{dbfleet,information_schema}'::pg_catalog.name[])
		AND NOT pg_catalog.starts_with(nspname::pg_catalog.text, 'pg_') ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
