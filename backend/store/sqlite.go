package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLite is the Store on a SQLite file, for a single dbfleetd node.
//
// SQLite allows one writer at a time, so writes (and River, which writes on
// every fetch) share a pool of one connection, while reads use a separate
// pool that WAL mode lets run beside the writer.
type SQLite struct {
	queries
	write *sql.DB
	read  *sql.DB
	jobs  *river.Client[*sql.Tx]
	box   SecretBox
}

var _ Store = (*SQLite)(nil)

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

	box := opts.secretBox()
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
	s.queries = queries{q: sqlQuerier{read}, box: box}

	jobs, err := river.NewClient(riversqlite.New(write), opts.riverConfig())
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
	return applyMigrations(ctx, s, "sqlite")
}

// InTx implements Store.
func (s *SQLite) InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error {
	sqlTx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &storeTx{
		queries: queries{q: sqlQuerier{sqlTx}, box: s.box},
		insertJob: func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
			_, err := s.jobs.InsertTx(ctx, sqlTx, args, opts)
			return err
		},
	}
	if err := fn(ctx, tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	tx.beforeCommit()
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

// WatchOperationsFinished implements Store.
func (s *SQLite) WatchOperationsFinished(ctx context.Context, _ func(string)) error {
	<-ctx.Done()
	return nil
}

// NodeID implements Store.
func (s *SQLite) NodeID() string { return s.jobs.ID() }

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
