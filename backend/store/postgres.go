package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

const (
	// nodeHeartbeat is how often a node of a PostgreSQL store says it is
	// alive; a node silent for nodeTimeout is gone, and its running jobs
	// are handed to the other nodes.
	nodeHeartbeat = time.Second
	nodeTimeout   = 5 * time.Second
	// operationFinishedChannel is the NOTIFY channel on which nodes
	// announce the operations they finish.
	operationFinishedChannel = "dbfleet_operation_finished"
	// migrationLock serialises the migrations of nodes starting together.
	migrationLock = 0x64626672 // "dbfr"
	// defaultMaxConns leaves room beside River's listener and producer for
	// the workers' writes and the API's reads.
	defaultMaxConns = 20
)

// Postgres is the Store on a PostgreSQL database that several dbfleetd
// nodes share. River spreads jobs across the nodes and wakes them with
// LISTEN/NOTIFY; each node heartbeats, and the running jobs (and the
// leadership) of a node that stops heartbeating pass to the others within
// seconds instead of after River's rescue window and leadership term.
type Postgres struct {
	queries
	pool *pgxpool.Pool
	jobs *river.Client[pgx.Tx]
	box  SecretBox

	stopHeartbeat context.CancelFunc
	heartbeatDone sync.WaitGroup
}

var _ Store = (*Postgres)(nil)

// IsPostgresDSN tells whether a store location names a PostgreSQL database
// rather than a SQLite file.
func IsPostgresDSN(location string) bool {
	return strings.HasPrefix(location, "postgres://") || strings.HasPrefix(location, "postgresql://")
}

// OpenPostgres connects to the PostgreSQL store at dsn and applies River's
// and dbfleet's migrations. Nodes opening the same store at once apply
// them one after another.
func OpenPostgres(ctx context.Context, dsn string, opts Options) (*Postgres, error) {
	config, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse postgres store address: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		config.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres store: %w", err)
	}
	box := opts.secretBox()
	s := &Postgres{queries: queries{q: pgxQuerier{pool}, box: box}, pool: pool, box: box}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	jobs, err := river.NewClient(riverpgxv5.New(pool), opts.riverConfig())
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("create job client: %w", err)
	}
	s.jobs = jobs
	return s, nil
}

func (s *Postgres) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect to postgres store: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("lock store migrations: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) }()

	migrator, err := rivermigrate.New(riverpgxv5.New(s.pool), nil)
	if err != nil {
		return fmt.Errorf("create river migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("apply river migrations: %w", err)
	}
	return applyMigrations(ctx, s, "postgres")
}

// InTx implements Store.
func (s *Postgres) InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error {
	pgTx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	q := pgxQuerier{pgTx}
	tx := &storeTx{
		queries: queries{q: q, box: s.box},
		insertJob: func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
			_, err := s.jobs.InsertTx(ctx, pgTx, args, opts)
			return err
		},
		finished: func(ctx context.Context, id string) error {
			_, err := q.exec(ctx, `SELECT pg_notify(?, ?)`, operationFinishedChannel, id)
			return err
		},
		// READ COMMITTED lets two transactions read the same row and both
		// write; an advisory lock makes them take turns, and the second
		// reads what the first committed.
		lock: func(ctx context.Context, name string) error {
			_, err := q.exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, name)
			return err
		},
	}
	if err := fn(ctx, tx); err != nil {
		_ = pgTx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	tx.beforeCommit()
	if err := pgTx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// JobsStart implements Store. The node announces itself before River
// fetches its first job, so that no job it runs looks orphaned.
func (s *Postgres) JobsStart(ctx context.Context) error {
	if err := s.heartbeat(ctx); err != nil {
		return err
	}
	hbCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopHeartbeat = cancel
	s.heartbeatDone.Add(1)
	go func() {
		defer s.heartbeatDone.Done()
		ticker := time.NewTicker(nodeHeartbeat)
		defer ticker.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-ticker.C:
			}
			// A missed beat is retried on the next tick; nodeTimeout
			// spans several of them.
			if s.heartbeat(hbCtx) == nil {
				_, _ = s.JobsRequeueOrphans(hbCtx)
			}
		}
	}()
	return s.jobs.Start(ctx)
}

func (s *Postgres) heartbeat(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO dbfleet_nodes (id, started_at, heartbeat_at) VALUES ($1, now(), now())
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`, s.jobs.ID())
	if err != nil {
		return fmt.Errorf("record heartbeat of node %s: %w", s.jobs.ID(), err)
	}
	return nil
}

// JobsStop implements Store: River stops fetching and waits for the
// running jobs to return; the node then leaves the store's node list.
func (s *Postgres) JobsStop(ctx context.Context) error {
	err := s.jobs.Stop(ctx)
	if s.stopHeartbeat != nil {
		s.stopHeartbeat()
		s.heartbeatDone.Wait()
	}
	if err == nil {
		if _, delErr := s.pool.Exec(context.WithoutCancel(ctx), `DELETE FROM dbfleet_nodes WHERE id = $1`, s.jobs.ID()); delErr != nil {
			err = fmt.Errorf("remove node %s: %w", s.jobs.ID(), delErr)
		}
	}
	return err
}

// JobsRequeueOrphans implements Store: it makes available again the jobs
// running on nodes that have not heartbeated for nodeTimeout, and ends the
// leadership of such a node so that another is elected at once rather than
// when River's leadership term runs out (15 s). Right after the store itself
// restarted every node looks silent, so nothing happens until the store has
// been up long enough for live nodes to beat.
func (s *Postgres) JobsRequeueOrphans(ctx context.Context) (int, error) {
	timeout := nodeTimeout.Seconds()
	tag, err := s.pool.Exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = now()
		WHERE state = 'running'
		  AND pg_postmaster_start_time() < now() - 2 * make_interval(secs => $1)
		  AND NOT EXISTS (SELECT 1 FROM dbfleet_nodes n
		      WHERE n.id = river_job.attempted_by[cardinality(river_job.attempted_by)]
		        AND n.heartbeat_at > now() - make_interval(secs => $1))`, timeout)
	if err != nil {
		return 0, fmt.Errorf("requeue jobs of stopped nodes: %w", err)
	}
	// The same delete and notification as River's own resignation, which
	// wakes the other nodes' electors.
	if _, err := s.pool.Exec(ctx, `WITH stopped AS (
			DELETE FROM river_leader
			WHERE pg_postmaster_start_time() < now() - 2 * make_interval(secs => $1)
			  AND NOT EXISTS (SELECT 1 FROM dbfleet_nodes n
			      WHERE n.id = river_leader.leader_id AND n.heartbeat_at > now() - make_interval(secs => $1))
			RETURNING leader_id)
		SELECT pg_notify(current_schema() || '.river_leadership',
			json_build_object('leader_id', leader_id, 'action', 'resigned')::text) FROM stopped`, timeout); err != nil {
		return 0, fmt.Errorf("end leadership of a stopped node: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM dbfleet_nodes WHERE heartbeat_at < now() - interval '1 hour'`); err != nil {
		return 0, fmt.Errorf("forget stopped nodes: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// NodeID implements Store.
func (s *Postgres) NodeID() string { return s.jobs.ID() }

// WatchOperationsFinished implements Store with LISTEN on a connection of
// its own, reconnecting after a lost connection (a restarted store).
func (s *Postgres) WatchOperationsFinished(ctx context.Context, fn func(string)) error {
	for {
		// It returns when the connection is lost; the poll in the waits
		// covers the gap until it is back.
		_ = s.listenOperationsFinished(ctx, fn)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (s *Postgres) listenOperationsFinished(ctx context.Context, fn func(string)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection is closed rather than returned: it is still LISTENing.
	defer func() {
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+operationFinishedChannel); err != nil {
		return err
	}
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Payload)
	}
}

// Ping implements Store.
func (s *Postgres) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Close implements Store.
func (s *Postgres) Close() error {
	s.pool.Close()
	return nil
}

// Open opens the store at location: a postgres:// URL names a PostgreSQL
// store that several nodes may share, anything else a SQLite file.
func Open(ctx context.Context, location string, opts Options) (Store, error) {
	if IsPostgresDSN(location) {
		return OpenPostgres(ctx, location, opts)
	}
	if location == "" {
		return nil, errors.New("open state store: no location given")
	}
	return OpenSQLite(ctx, location, opts)
}
