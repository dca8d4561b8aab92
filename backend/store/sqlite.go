package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLite is the Store on a SQLite file, for a single dbfleetd node.
//
// SQLite allows one writer at a time, so writes (and River, which writes on
// every fetch) share a pool of one connection, while reads use a separate
// pool that WAL mode lets run beside the writer.
type SQLite struct {
	sqliteQueries
	write *sql.DB
	read  *sql.DB
	jobs  *river.Client[*sql.Tx]
	box   SecretBox
}

// plainBox stores secrets as they are, for tests.
type plainBox struct{}

func (plainBox) Seal(s string) (string, error) { return s, nil }
func (plainBox) Open(s string) (string, error) { return s, nil }

var _ Store = (*SQLite)(nil)

// Options configure a store.
type Options struct {
	// River configures the job client; nil, or one without Workers, gives an
	// insert-only store.
	River *river.Config
	// Secrets encrypts database passwords; nil stores them as they are.
	Secrets SecretBox
}

// OpenSQLite opens (creating if needed) the SQLite store at path and applies
// River's and dbfleet's migrations.
func OpenSQLite(ctx context.Context, path string, opts Options) (*SQLite, error) {
	pragmas := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "foreign_keys(1)"} {
		pragmas.Add("_pragma", p)
	}
	writeQuery := url.Values{"_txlock": {"immediate"}}
	for k, v := range pragmas {
		writeQuery[k] = v
	}
	write, err := sql.Open("sqlite", "file:"+path+"?"+writeQuery.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)

	box := opts.Secrets
	if box == nil {
		box = plainBox{}
	}
	s := &SQLite{write: write, box: box}
	if err := s.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}

	readQuery := url.Values{"_pragma": append(pragmas["_pragma"], "query_only(1)")}
	read, err := sql.Open("sqlite", "file:"+path+"?"+readQuery.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite store %s for reads: %w", path, err)
	}
	read.SetMaxOpenConns(4)
	s.read = read
	s.sqliteQueries = sqliteQueries{q: read, box: box}

	riverConfig := opts.River
	if riverConfig == nil {
		riverConfig = &river.Config{}
	}
	jobs, err := river.NewClient(riversqlite.New(write), riverConfig)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("create job client: %w", err)
	}
	s.jobs = jobs
	return s, nil
}

func (s *SQLite) migrate(ctx context.Context) error {
	migrator, err := rivermigrate.New(riversqlite.New(s.write), nil)
	if err != nil {
		return fmt.Errorf("create river migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("apply river migrations: %w", err)
	}

	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS dbfleet_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	names, err := fs.Glob(sqliteMigrations, "migrations/sqlite/*.sql")
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
		body, err := sqliteMigrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", base, err)
		}
		err = s.InTx(ctx, func(ctx context.Context, tx Tx) error {
			sqlTx := tx.(*sqliteTx).tx //nolint:forcetypeassert // InTx of the SQLite store passes its own Tx.
			var applied int
			if err := sqlTx.QueryRowContext(ctx, `SELECT count(*) FROM dbfleet_migrations WHERE version = ?`, version).Scan(&applied); err != nil {
				return err
			}
			if applied > 0 {
				return nil
			}
			if _, err := sqlTx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := sqlTx.ExecContext(ctx, `INSERT INTO dbfleet_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("apply store migration %s: %w", base, err)
		}
	}
	return nil
}

// InTx implements Store.
func (s *SQLite) InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error {
	sqlTx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(ctx, &sqliteTx{sqliteQueries: sqliteQueries{q: sqlTx, box: s.box}, tx: sqlTx, jobs: s.jobs}); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// JobsStart implements Store.
func (s *SQLite) JobsStart(ctx context.Context) error { return s.jobs.Start(ctx) }

// JobsStop implements Store.
func (s *SQLite) JobsStop(ctx context.Context) error { return s.jobs.Stop(ctx) }

// JobsRequeueOrphans implements Store. A SQLite store has exactly one node, so
// every job still marked running at start belonged to a process that died.
func (s *SQLite) JobsRequeueOrphans(ctx context.Context) (int, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running'`)
	if err != nil {
		return 0, fmt.Errorf("requeue orphaned jobs: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Ping implements Store.
func (s *SQLite) Ping(ctx context.Context) error { return s.write.PingContext(ctx) }

// Close implements Store.
func (s *SQLite) Close() error {
	var errs []error
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	errs = append(errs, s.write.Close())
	return errors.Join(errs...)
}

type sqliteTx struct {
	sqliteQueries
	tx   *sql.Tx
	jobs *river.Client[*sql.Tx]
}

func (t *sqliteTx) JobInsert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if _, err := t.jobs.InsertTx(ctx, t.tx, args, opts); err != nil {
		return fmt.Errorf("insert %s job: %w", args.Kind(), err)
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type sqliteQueries struct {
	q   querier
	box SecretBox
}

const databaseColumns = `region, name, owner, password, deletion_protection, skip_final_backup, status,
	generation, observed_generation, operation_id, created_at, updated_at,
	schema_name, schema_version, applied_version, parameters, replica_of, drift_policy`

func (q sqliteQueries) scanDatabase(row interface{ Scan(...any) error }) (*Database, error) {
	var d Database
	var created, updated int64
	var sealed, params, conditions string
	err := row.Scan(&d.Region, &d.Name, &d.Owner, &sealed, &d.DeletionProtection, &d.SkipFinalBackup, &d.Status,
		&d.Generation, &d.ObservedGeneration, &d.OperationID, &created, &updated,
		&d.Schema, &d.SchemaVersion, &d.AppliedVersion, &params, &d.ReplicaOf, &d.DriftPolicy, &conditions)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if d.Password, err = q.box.Open(sealed); err != nil {
		return nil, fmt.Errorf("decrypt password of %s/%s: %w", d.Region, d.Name, err)
	}
	if err := json.Unmarshal([]byte(params), &d.Parameters); err != nil {
		return nil, fmt.Errorf("decode parameters of %s/%s: %w", d.Region, d.Name, err)
	}
	if err := decodeConditions(conditions, &d); err != nil {
		return nil, err
	}
	d.CreatedAt, d.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return &d, nil
}

func (q sqliteQueries) DatabaseGet(ctx context.Context, key DatabaseKey) (*Database, error) {
	d, err := q.scanDatabase(q.q.QueryRowContext(ctx, `SELECT `+databaseSelectColumns+` FROM databases WHERE region = ? AND name = ?`, key.Region, key.Name))
	if err != nil {
		return nil, fmt.Errorf("get database %s/%s: %w", key.Region, key.Name, err)
	}
	return d, nil
}

func (q sqliteQueries) DatabaseList(ctx context.Context, params *DatabaseListParams) ([]*Database, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+databaseSelectColumns+` FROM databases
		WHERE (? = '' OR region = ?) AND (? = '' OR schema_name = ?) AND (? = '' OR name = ?) ORDER BY region, name`,
		params.Region, params.Region, params.Schema, params.Schema, params.Name, params.Name)
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	defer rows.Close()
	var out []*Database
	for rows.Next() {
		d, err := q.scanDatabase(rows)
		if err != nil {
			return nil, fmt.Errorf("list databases: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (q sqliteQueries) DatabaseCountByRegion(ctx context.Context) (map[string]int, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT region, count(*) FROM databases GROUP BY region`)
	if err != nil {
		return nil, fmt.Errorf("count databases by region: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var region string
		var n int
		if err := rows.Scan(&region, &n); err != nil {
			return nil, fmt.Errorf("count databases by region: %w", err)
		}
		counts[region] = n
	}
	return counts, rows.Err()
}

func (q sqliteQueries) DatabasePut(ctx context.Context, d *Database) error {
	sealed, err := q.box.Seal(d.Password)
	if err != nil {
		return fmt.Errorf("encrypt password of %s/%s: %w", d.Region, d.Name, err)
	}
	params, err := json.Marshal(d.Parameters)
	if err != nil {
		return fmt.Errorf("encode parameters of %s/%s: %w", d.Region, d.Name, err)
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO databases (`+databaseColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (region, name) DO UPDATE SET owner = excluded.owner, password = excluded.password,
			deletion_protection = excluded.deletion_protection, skip_final_backup = excluded.skip_final_backup,
			status = excluded.status, generation = excluded.generation, observed_generation = excluded.observed_generation,
			operation_id = excluded.operation_id, updated_at = excluded.updated_at,
			schema_name = excluded.schema_name, schema_version = excluded.schema_version,
			applied_version = excluded.applied_version, parameters = excluded.parameters, replica_of = excluded.replica_of,
			drift_policy = excluded.drift_policy`,
		d.Region, d.Name, d.Owner, sealed, d.DeletionProtection, d.SkipFinalBackup, d.Status,
		d.Generation, d.ObservedGeneration, d.OperationID, d.CreatedAt.UnixMicro(), d.UpdatedAt.UnixMicro(),
		d.Schema, d.SchemaVersion, d.AppliedVersion, string(params), d.ReplicaOf, d.DriftPolicy)
	if err != nil {
		return fmt.Errorf("put database %s/%s: %w", d.Region, d.Name, err)
	}
	return nil
}

func (q sqliteQueries) DatabaseDelete(ctx context.Context, key DatabaseKey) error {
	for _, stmt := range []string{
		`DELETE FROM databases WHERE region = ? AND name = ?`,
		`DELETE FROM database_migrations WHERE region = ? AND name = ?`,
		`DELETE FROM replication WHERE region = ? AND name = ?`,
		`DELETE FROM database_events WHERE region = ? AND name = ?`,
		`DELETE FROM reconcile_state WHERE region = ? AND name = ?`,
	} {
		if _, err := q.q.ExecContext(ctx, stmt, key.Region, key.Name); err != nil {
			return fmt.Errorf("delete database %s/%s: %w", key.Region, key.Name, err)
		}
	}
	return nil
}

const operationColumns = `id, kind, region, database, state, step, progress, error, generation, request_id,
	cancel_requested, created_at, updated_at`

func scanOperation(row interface{ Scan(...any) error }) (*Operation, error) {
	var o Operation
	var errJSON sql.NullString
	var created, updated int64
	err := row.Scan(&o.ID, &o.Kind, &o.Region, &o.Database, &o.State, &o.Step, &o.Progress, &errJSON, &o.Generation,
		&o.RequestID, &o.CancelRequested, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if errJSON.Valid && errJSON.String != "" {
		o.Error = &OperationError{}
		if err := json.Unmarshal([]byte(errJSON.String), o.Error); err != nil {
			return nil, fmt.Errorf("decode error of operation %s: %w", o.ID, err)
		}
	}
	o.CreatedAt, o.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return &o, nil
}

func operationErrorColumn(e *OperationError) (sql.NullString, error) {
	if e == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(e)
	return sql.NullString{String: string(b), Valid: true}, err
}

func (q sqliteQueries) OperationGet(ctx context.Context, id string) (*Operation, error) {
	o, err := scanOperation(q.q.QueryRowContext(ctx, `SELECT `+operationColumns+` FROM operations WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("get operation %s: %w", id, err)
	}
	return o, nil
}

func (q sqliteQueries) OperationList(ctx context.Context, params *OperationListParams) ([]*Operation, error) {
	limit := params.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.q.QueryContext(ctx, `SELECT `+operationColumns+` FROM operations
		WHERE (? = '' OR region = ?) AND (? = '' OR database = ?) ORDER BY created_at DESC, id DESC LIMIT ?`,
		params.Region, params.Region, params.Database, params.Database, limit)
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	defer rows.Close()
	var out []*Operation
	for rows.Next() {
		o, err := scanOperation(rows)
		if err != nil {
			return nil, fmt.Errorf("list operations: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

func (q sqliteQueries) OperationInsert(ctx context.Context, o *Operation) error {
	errCol, err := operationErrorColumn(o.Error)
	if err != nil {
		return fmt.Errorf("insert operation %s: %w", o.ID, err)
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO operations (`+operationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.Kind, o.Region, o.Database, o.State, o.Step, o.Progress, errCol, o.Generation, o.RequestID,
		o.CancelRequested, o.CreatedAt.UnixMicro(), o.UpdatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("insert operation %s: %w", o.ID, err)
	}
	return nil
}

func (q sqliteQueries) OperationUpdate(ctx context.Context, o *Operation) error {
	errCol, err := operationErrorColumn(o.Error)
	if err != nil {
		return fmt.Errorf("update operation %s: %w", o.ID, err)
	}
	res, err := q.q.ExecContext(ctx, `UPDATE operations SET state = ?, step = ?, progress = ?, error = ?,
		cancel_requested = ?, updated_at = ? WHERE id = ?`,
		o.State, o.Step, o.Progress, errCol, o.CancelRequested, o.UpdatedAt.UnixMicro(), o.ID)
	if err != nil {
		return fmt.Errorf("update operation %s: %w", o.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update operation %s: %w", o.ID, ErrNotFound)
	}
	return nil
}

func (q sqliteQueries) IdempotencyKeyGet(ctx context.Context, principal, key string) (*IdempotencyKey, error) {
	var k IdempotencyKey
	var headers string
	var created, locked int64
	err := q.q.QueryRowContext(ctx, `SELECT principal, key, request_hash, state, status, headers, body, created_at, locked_until
		FROM idempotency_keys WHERE principal = ? AND key = ?`, principal, key).
		Scan(&k.Principal, &k.Key, &k.RequestHash, &k.State, &k.Status, &headers, &k.Body, &created, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get idempotency key: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get idempotency key: %w", err)
	}
	if err := json.Unmarshal([]byte(headers), &k.Headers); err != nil {
		return nil, fmt.Errorf("decode idempotency key headers: %w", err)
	}
	k.CreatedAt, k.LockedUntil = time.UnixMicro(created).UTC(), time.UnixMicro(locked).UTC()
	return &k, nil
}

func (q sqliteQueries) IdempotencyKeyPut(ctx context.Context, k *IdempotencyKey) error {
	headers, err := json.Marshal(k.Headers)
	if err != nil {
		return fmt.Errorf("encode idempotency key headers: %w", err)
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO idempotency_keys (principal, key, request_hash, state, status, headers, body, created_at, locked_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (principal, key) DO UPDATE SET request_hash = excluded.request_hash, state = excluded.state,
			status = excluded.status, headers = excluded.headers, body = excluded.body,
			created_at = excluded.created_at, locked_until = excluded.locked_until`,
		k.Principal, k.Key, k.RequestHash, k.State, k.Status, string(headers), k.Body, k.CreatedAt.UnixMicro(), k.LockedUntil.UnixMicro())
	if err != nil {
		return fmt.Errorf("put idempotency key: %w", err)
	}
	return nil
}

func (q sqliteQueries) IdempotencyKeyDelete(ctx context.Context, principal, key string) error {
	if _, err := q.q.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE principal = ? AND key = ?`, principal, key); err != nil {
		return fmt.Errorf("delete idempotency key: %w", err)
	}
	return nil
}

func (q sqliteQueries) TokenGetByHash(ctx context.Context, hash string) (*Token, error) {
	var t Token
	var created int64
	err := q.q.QueryRowContext(ctx, `SELECT name, hash, scope, created_at FROM api_tokens WHERE hash = ?`, hash).
		Scan(&t.Name, &t.Hash, &t.Scope, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get token: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get token: %w", err)
	}
	t.CreatedAt = time.UnixMicro(created).UTC()
	return &t, nil
}

func (q sqliteQueries) TokenPut(ctx context.Context, t *Token) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO api_tokens (name, hash, scope, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, scope = excluded.scope`,
		t.Name, t.Hash, t.Scope, t.CreatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("put token %s: %w", t.Name, err)
	}
	return nil
}
