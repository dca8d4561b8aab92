package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
)

// Migration is one version of a schema as the engine runs it.
type Migration struct {
	Version  int64
	SQL      string
	Checksum string
}

// MigrationError is a migration PostgreSQL refused, located in its SQL.
type MigrationError struct {
	Version int64
	// Line is the 1-based line of the SQL PostgreSQL pointed at; 0 when it
	// did not say.
	Line int
	// Code is PostgreSQL's SQLSTATE.
	Code    string
	Message string
}

func (e *MigrationError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("migration %d, line %d: %s (SQLSTATE %s)", e.Version, e.Line, e.Message, e.Code)
	}
	return fmt.Sprintf("migration %d: %s (SQLSTATE %s)", e.Version, e.Message, e.Code)
}

// ledgerDDL creates the ledger dbfleet keeps inside every database.
const ledgerDDL = `CREATE SCHEMA IF NOT EXISTS dbfleet;
CREATE TABLE IF NOT EXISTS dbfleet.migrations (
    version      bigint      PRIMARY KEY,
    checksum     text        NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    operation_id text        NOT NULL
)`

// LedgerHas tells whether the ledger records a version.
func (c *OwnerConn) LedgerHas(ctx context.Context, version int64) (bool, error) {
	var has bool
	err := c.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dbfleet.migrations WHERE version = $1)`, version).Scan(&has)
	return has, err
}

// Ledger returns the versions the database's ledger records, with their
// checksums, creating the ledger first if it is missing.
func (c *OwnerConn) Ledger(ctx context.Context) (map[int64]string, error) {
	if _, err := c.conn.Exec(ctx, ledgerDDL); err != nil {
		return nil, fmt.Errorf("ensure ledger: %w", err)
	}
	rows, err := c.conn.Query(ctx, `SELECT version, checksum FROM dbfleet.migrations`)
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	ledger := map[int64]string{}
	var version int64
	var checksum string
	_, err = pgx.ForEachRow(rows, []any{&version, &checksum}, func() error {
		ledger[version] = checksum
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	return ledger, nil
}

// ledgerLockKey is the advisory lock, in a tenant database, that the
// runs of a migration or a revert there take turns on.
const ledgerLockKey int64 = 0x6462666c656467 // "dbfledg"

// ledgerTurn waits for the other runs changing the ledger of this database
// (a step run twice: a partitioned node's and its successor's) and tells
// whether the ledger records version once it is this run's turn.
func ledgerTurn(ctx context.Context, tx pgx.Tx, version int64) (bool, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_catalog.pg_advisory_xact_lock($1)`, ledgerLockKey); err != nil {
		return false, fmt.Errorf("wait for other runs on the ledger: %w", err)
	}
	var has bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dbfleet.migrations WHERE version OPERATOR(pg_catalog.=) $1)`, version).Scan(&has)
	if err != nil {
		return false, fmt.Errorf("look up version %d in the ledger: %w", version, err)
	}
	return has, nil
}

// MigrationApply runs one migration and records it in the ledger in the
// same transaction: either both happen or neither. A version the ledger
// already records (another run of the same step got there first) is not run
// again.
func (c *OwnerConn) MigrationApply(ctx context.Context, m Migration, operationID string) error {
	return pgx.BeginFunc(ctx, c.conn, func(tx pgx.Tx) error {
		if has, err := ledgerTurn(ctx, tx, m.Version); err != nil || has {
			return err
		}
		// The simple protocol lets a migration hold several statements.
		if _, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
			return locate(ctx, m.Version, m.SQL, err)
		}
		failpoint.At(failpoint.AtVersion(failpoint.MigrationSQLRan, m.Version))
		_, err := tx.Exec(ctx, `INSERT INTO dbfleet.migrations (version, checksum, operation_id) VALUES ($1, $2, $3)`,
			m.Version, m.Checksum, operationID)
		return err
	})
}

// MigrationRevert runs a migration's down SQL and removes it from the
// ledger in the same transaction. A version the ledger no longer records
// (it was reverted already) is not reverted again.
func (c *OwnerConn) MigrationRevert(ctx context.Context, version int64, downSQL string) error {
	return pgx.BeginFunc(ctx, c.conn, func(tx pgx.Tx) error {
		if has, err := ledgerTurn(ctx, tx, version); err != nil || !has {
			return err
		}
		if _, err := tx.Exec(ctx, downSQL, pgx.QueryExecModeSimpleProtocol); err != nil {
			return locate(ctx, version, downSQL, err)
		}
		failpoint.At(failpoint.AtVersion(failpoint.MigrationDownRan, version))
		_, err := tx.Exec(ctx, `DELETE FROM dbfleet.migrations WHERE version = $1`, version)
		return err
	})
}

// locate turns PostgreSQL's error on a migration into a MigrationError
// with the line of the SQL it points at. A statement cancelled because ctx
// ended (the operation was cancelled or reached its deadline) is not the
// migration's fault, so it is no MigrationError: that would halt the rollout.
func locate(ctx context.Context, version int64, sql string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("migration %d cut off: %w", version, errors.Join(context.Cause(ctx), err))
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	line := 0
	if pgErr.Position > 0 {
		// Position counts characters from 1.
		prefix := sql
		if n := int(pgErr.Position) - 1; n < utf8.RuneCountInString(sql) {
			prefix = string([]rune(sql)[:n])
		}
		line = strings.Count(prefix, "\n") + 1
	}
	return &MigrationError{Version: version, Line: line, Code: pgErr.Code, Message: pgErr.Message}
}

// ValidateMigrations runs migrations in a scratch database of a region, as
// a scratch owner with the rights a real owner has, and drops both after.
// It returns the first migration that fails, or nil.
func (f *Fleet) ValidateMigrations(ctx context.Context, region string, migrations []Migration) (*MigrationError, error) {
	suffix := strings.ToLower(rand.Text()[:12])
	o := Owner{Region: region, Database: "dbfleet_scratch_" + suffix, Role: "dbfleet_scratch_" + suffix, Password: rand.Text()}
	if err := f.RoleEnsure(ctx, region, o.Role, o.Password); err != nil {
		return nil, err
	}
	defer func() {
		cleanup := context.WithoutCancel(ctx)
		_ = f.DatabaseDrop(cleanup, region, o.Database)
		_ = f.RoleDrop(cleanup, region, o.Role)
	}()
	if err := f.DatabaseEnsure(ctx, region, o.Database, o.Role); err != nil {
		return nil, err
	}
	conn, err := f.connectOwner(ctx, o)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, m := range migrations {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol)
			return err
		})
		if err != nil {
			var migErr *MigrationError
			if errors.As(locate(ctx, m.Version, m.SQL, err), &migErr) {
				return migErr, nil
			}
			return nil, fmt.Errorf("validate migration %d in %s: %w", m.Version, region, err)
		}
	}
	return nil, nil
}
