package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
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
// application's tables) and a publication of every application schema,
// never the dbfleet ledger.
func (f *Fleet) PublicationEnsure(ctx context.Context, region, database, owner, replPassword string) error {
	role := ReplicationRoleName(database)
	if err := f.roleEnsure(ctx, region, role, replPassword, "REPLICATION"); err != nil {
		return err
	}
	conn, err := f.connectAdmin(ctx, region, database)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	schemas, err := applicationSchemas(ctx, conn)
	if err != nil {
		return fmt.Errorf("list schemas of %s in %s: %w", database, region, err)
	}
	stmts := []string{fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", quoteIdentifier(database), quoteIdentifier(role))}
	for _, s := range schemas {
		q := quoteIdentifier(s)
		stmts = append(stmts,
			fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s", q, quoteIdentifier(role)),
			fmt.Sprintf("GRANT SELECT ON ALL TABLES IN SCHEMA %s TO %s", q, quoteIdentifier(role)),
			fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s GRANT SELECT ON TABLES TO %s", quoteIdentifier(owner), q, quoteIdentifier(role)))
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, publicationName).Scan(&exists); err != nil {
		return fmt.Errorf("look up publication of %s in %s: %w", database, region, err)
	}
	quoted := make([]string, len(schemas))
	for i, s := range schemas {
		quoted[i] = quoteIdentifier(s)
	}
	switch {
	case !exists:
		stmts = append(stmts, fmt.Sprintf("CREATE PUBLICATION %s FOR TABLES IN SCHEMA %s", publicationName, strings.Join(quoted, ", ")))
	default:
		stmts = append(stmts, fmt.Sprintf("ALTER PUBLICATION %s SET TABLES IN SCHEMA %s", publicationName, strings.Join(quoted, ", ")))
	}
	for _, stmt := range stmts {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("publish %s in %s: %w", database, region, err)
		}
	}
	return nil
}

// applicationSchemas lists the schemas a database's application owns: all
// but PostgreSQL's own and dbfleet's ledger.
func applicationSchemas(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace
		WHERE nspname NOT IN ('dbfleet', 'information_schema') AND nspname NOT LIKE 'pg\_%' ORDER BY nspname`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
