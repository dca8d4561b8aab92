package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds each dialect's migrations, migrations/<dialect>/NNNN_name.sql.
// Both dialects have the same versions and the same tables.
//
//go:embed migrations
var migrationFiles embed.FS

// transactor is the part of a Store that applyMigrations needs.
type transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
}

// applyMigrations applies, each in its own transaction, the dialect's
// migrations that the store has not applied yet.
func applyMigrations(ctx context.Context, s transactor, dialect string) error {
	err := s.InTx(ctx, func(ctx context.Context, tx Tx) error {
		q := tx.(*storeTx).q //nolint:forcetypeassert // InTx of the stores passes a *storeTx.
		_, err := q.exec(ctx, `CREATE TABLE IF NOT EXISTS dbfleet_migrations (
			version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	names, err := fs.Glob(migrationFiles, "migrations/"+dialect+"/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := name[strings.LastIndex(name, "/")+1:]
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: file name must start with a version number: %w", base, err)
		}
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", base, err)
		}
		err = s.InTx(ctx, func(ctx context.Context, tx Tx) error {
			q := tx.(*storeTx).q //nolint:forcetypeassert // InTx of the stores passes a *storeTx.
			var applied int
			if err := q.queryRow(ctx, `SELECT count(*) FROM dbfleet_migrations WHERE version = ?`, version).Scan(&applied); err != nil {
				return err
			}
			if applied > 0 {
				return nil
			}
			if _, err := q.exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := q.exec(ctx, `INSERT INTO dbfleet_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("apply store migration %s: %w", base, err)
		}
	}
	return nil
}
