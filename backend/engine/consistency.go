package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// TableComparison is one published table compared between a source and a
// replica.
type TableComparison struct {
	Table       string
	SourceRows  int64
	ReplicaRows int64
	// Differing are the chunks, as primary key ranges [From, To), whose
	// rows differ; an empty bound is open.
	Differing []KeyRange
	// Problem says why the table cannot be compared (no primary key).
	Problem string
}

// KeyRange is a range of primary key values, [From, To).
type KeyRange struct{ From, To string }

// Consistent tells whether the table matched.
func (t *TableComparison) Consistent() bool { return t.Problem == "" && len(t.Differing) == 0 }

type chunkSum struct {
	rows int64
	hash string
}

// CompareReplica compares every table a source publishes with the replica:
// row counts and checksums per chunk of about chunkRows rows by primary key,
// computed in one pass per table on each side. It reads the tables over each
// side's owner login, never the admin's: reading a tenant's rows casts and
// formats its types, which can run its code (casts, domain checks, RLS
// policies).
func (f *Fleet) CompareReplica(ctx context.Context, src, replica Owner, chunkRows int) ([]TableComparison, error) {
	srcConn, err := f.connectCompare(ctx, src)
	if err != nil {
		return nil, err
	}
	defer srcConn.Close(context.WithoutCancel(ctx))
	repConn, err := f.connectCompare(ctx, replica)
	if err != nil {
		return nil, err
	}
	defer repConn.Close(context.WithoutCancel(ctx))

	rows, err := srcConn.Query(ctx, `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), c.oid
		FROM pg_catalog.pg_publication_tables t
		JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) t.schemaname
		JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid AND c.relname OPERATOR(pg_catalog.=) t.tablename
		WHERE t.pubname OPERATOR(pg_catalog.=) $1 ORDER BY 1`, publicationName)
	if err != nil {
		return nil, fmt.Errorf("list published tables of %s in %s: %w", src.Database, src.Region, err)
	}
	type table struct {
		name string
		oid  uint32
	}
	var tables []table
	var t table
	if _, err := pgx.ForEachRow(rows, []any{&t.name, &t.oid}, func() error { tables = append(tables, t); return nil }); err != nil {
		return nil, fmt.Errorf("list published tables of %s in %s: %w", src.Database, src.Region, err)
	}
	var out []TableComparison
	for _, t := range tables {
		cmp, err := compareTable(ctx, srcConn, repConn, t.name, t.oid, chunkRows)
		if err != nil {
			return nil, fmt.Errorf("compare %s of %s between %s and %s: %w", t.name, src.Database, src.Region, replica.Region, err)
		}
		out = append(out, *cmp)
	}
	return out, nil
}

// compareSessionSettings are the settings of a comparing session: both
// sides render rows to text alike, whatever each owner set for their
// sessions, and resolve dbfleet's calls in PostgreSQL's catalog.
var compareSessionSettings = map[string]string{
	"search_path":        "pg_catalog, pg_temp",
	"DateStyle":          "ISO, MDY",
	"IntervalStyle":      "postgres",
	"TimeZone":           "UTC",
	"extra_float_digits": "3",
	"bytea_output":       "hex",
	"xmloption":          "content",
}

// connectCompare connects to a database as its owner for a comparison.
func (f *Fleet) connectCompare(ctx context.Context, o Owner) (*pgx.Conn, error) {
	cfg, err := f.ownerConfig(o)
	if err != nil {
		return nil, err
	}
	for name, value := range compareSessionSettings {
		cfg.RuntimeParams[name] = value
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, ownerConnectError(fmt.Errorf("connect to %s in %s as %s: %w", o.Database, o.Region, o.Role, err))
	}
	return conn, nil
}

func compareTable(ctx context.Context, srcConn, repConn *pgx.Conn, table string, oid uint32, chunkRows int) (*TableComparison, error) {
	out := &TableComparison{Table: table}
	rows, err := srcConn.Query(ctx, `SELECT pg_catalog.quote_ident(a.attname::pg_catalog.text), pg_catalog.format_type(a.atttypid, a.atttypmod)
		FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid
			AND a.attnum OPERATOR(pg_catalog.=) ANY (i.indkey::pg_catalog.int2[])
		WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisprimary
		ORDER BY pg_catalog.array_position(i.indkey::pg_catalog.int2[], a.attnum)`, oid)
	if err != nil {
		return nil, err
	}
	var keys, types []string
	var key, typ string
	if _, err := pgx.ForEachRow(rows, []any{&key, &typ}, func() error {
		keys, types = append(keys, key), append(types, typ)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		out.Problem = "the table has no primary key: logical replication needs a replica identity to replicate updates and deletes, and the check needs a key to compare by; add a primary key"
		return out, nil
	}
	order := strings.Join(keys, ", ")
	hash := fmt.Sprintf("pg_catalog.count(*), coalesce(pg_catalog.md5(pg_catalog.string_agg(pg_catalog.md5(t::pg_catalog.text), '' ORDER BY %s)), '')", order)

	var bounds []string
	var query string
	if len(keys) == 1 {
		// Chunk starts, every chunkRows rows, read from the source; both
		// sides bucket their rows by them in one scan.
		err := srcConn.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(pg_catalog.array_agg(k::pg_catalog.text ORDER BY k), '{}') FROM (
			SELECT %[1]s AS k, pg_catalog.row_number() OVER (ORDER BY %[1]s) AS n FROM %[2]s) s
			WHERE n OPERATOR(pg_catalog.%%) $1 OPERATOR(pg_catalog.=) 1`, keys[0], table), chunkRows).Scan(&bounds)
		if err != nil {
			return nil, err
		}
		query = fmt.Sprintf(`SELECT pg_catalog.width_bucket(%s, $1::pg_catalog.text[]::%s[]), %s FROM %s t GROUP BY 1`, keys[0], types[0], hash, table)
	} else {
		// A composite key is compared as one chunk.
		query = fmt.Sprintf(`SELECT 0, %s FROM %s t`, hash, table)
	}
	var srcSums, repSums map[int]chunkSum
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { srcSums, err = chunkSums(gctx, srcConn, query, bounds, len(keys)); return err })
	g.Go(func() (err error) { repSums, err = chunkSums(gctx, repConn, query, bounds, len(keys)); return err })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	for chunk := range srcSums {
		seen[chunk] = true
	}
	for chunk := range repSums {
		seen[chunk] = true
	}
	for _, chunk := range slices.Sorted(maps.Keys(seen)) {
		s, r := srcSums[chunk], repSums[chunk]
		out.SourceRows += s.rows
		out.ReplicaRows += r.rows
		if s != r {
			out.Differing = append(out.Differing, chunkRange(bounds, chunk))
		}
	}
	return out, nil
}

func chunkSums(ctx context.Context, conn *pgx.Conn, query string, bounds []string, keys int) (map[int]chunkSum, error) {
	var args []any
	if keys == 1 {
		args = append(args, bounds)
	}
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	sums := map[int]chunkSum{}
	var chunk int
	var s chunkSum
	_, err = pgx.ForEachRow(rows, []any{&chunk, &s.rows, &s.hash}, func() error {
		sums[chunk] = s
		return nil
	})
	return sums, err
}

// chunkRange is the key range of a width_bucket chunk: bucket i holds keys
// in [bounds[i-1], bounds[i]).
func chunkRange(bounds []string, chunk int) KeyRange {
	var r KeyRange
	if chunk >= 1 && chunk <= len(bounds) {
		r.From = bounds[chunk-1]
	}
	if chunk >= 0 && chunk < len(bounds) {
		r.To = bounds[chunk]
	}
	return r
}
