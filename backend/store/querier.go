package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier runs the store's SQL, written once with ? placeholders and the
// syntax SQLite and PostgreSQL share (ON CONFLICT, RETURNING), on either
// dialect: database/sql for SQLite, pgx for PostgreSQL, so that PostgreSQL
// transactions are pgx transactions River can insert jobs into.
type querier interface {
	// exec runs a statement and returns how many rows it changed.
	exec(ctx context.Context, query string, args ...any) (int64, error)
	query(ctx context.Context, query string, args ...any) (rows, error)
	// queryRow's Scan returns errNoRows when there is no row.
	queryRow(ctx context.Context, query string, args ...any) row
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type row interface {
	Scan(dest ...any) error
}

// errNoRows is what a row's Scan returns when the query matched nothing, in
// either dialect.
var errNoRows = errors.New("no rows")

// sqlQuerier runs queries through database/sql (*sql.DB or *sql.Tx).
type sqlQuerier struct {
	db interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (q sqlQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	r, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (q sqlQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return sqlRow{q.db.QueryRowContext(ctx, query, args...)}
}

type sqlRows struct{ *sql.Rows }

// Close ignores the error that database/sql's Close reports: Err already
// carries any error of the iteration.
func (r sqlRows) Close() { _ = r.Rows.Close() }

type sqlRow struct{ *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	if err := r.Row.Scan(dest...); errors.Is(err, sql.ErrNoRows) {
		return errNoRows
	} else if err != nil {
		return err
	}
	return nil
}

// pgxQuerier runs queries through pgx (a pool or a transaction), numbering
// the placeholders as PostgreSQL wants them.
type pgxQuerier struct {
	db interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
}

func (q pgxQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.db.Exec(ctx, numberPlaceholders(query), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (q pgxQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	return q.db.Query(ctx, numberPlaceholders(query), args...)
}

func (q pgxQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return pgxRow{q.db.QueryRow(ctx, numberPlaceholders(query), args...)}
}

type pgxRow struct{ pgx.Row }

func (r pgxRow) Scan(dest ...any) error {
	if err := r.Row.Scan(dest...); errors.Is(err, pgx.ErrNoRows) {
		return errNoRows
	} else if err != nil {
		return err
	}
	return nil
}

// numberPlaceholders turns each ? into $1, $2, …. The store's SQL has no ?
// inside literals, so every ? is a placeholder.
func numberPlaceholders(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
