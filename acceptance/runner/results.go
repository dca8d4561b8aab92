package runner

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// Outcomes of a scenario run.
const (
	OutcomePassed = "passed"
	OutcomeFailed = "failed"
)

// Resource kinds a run records.
const (
	KindDatabase = "database"
	KindSchema   = "schema"
)

// resultsMigrations are the results store's schema, in order; the store's
// user_version is how many have run. Append only.
var resultsMigrations = []string{
	`CREATE TABLE runs (
		run_id      TEXT PRIMARY KEY,
		env         TEXT NOT NULL,
		endpoint    TEXT NOT NULL,
		prefix      TEXT NOT NULL,
		host        TEXT NOT NULL,
		pid         INTEGER NOT NULL,
		started_at  INTEGER NOT NULL,
		lease_until INTEGER NOT NULL,
		ended_at    INTEGER
	);
	CREATE TABLE scenario_runs (
		id            INTEGER PRIMARY KEY,
		run_id        TEXT NOT NULL REFERENCES runs (run_id),
		iteration     INTEGER NOT NULL,
		env           TEXT NOT NULL,
		scenario      TEXT NOT NULL,
		via           TEXT NOT NULL,
		region        TEXT NOT NULL,
		started_at    INTEGER NOT NULL,
		duration_ns   INTEGER NOT NULL,
		outcome       TEXT NOT NULL CHECK (outcome IN ('passed', 'failed')),
		error         TEXT NOT NULL,
		step          TEXT NOT NULL,
		error_region  TEXT NOT NULL,
		operation_ids TEXT NOT NULL,
		request_ids   TEXT NOT NULL
	);
	CREATE INDEX scenario_runs_env_started ON scenario_runs (env, started_at);
	CREATE TABLE resources (
		run_id     TEXT NOT NULL,
		kind       TEXT NOT NULL CHECK (kind IN ('database', 'schema')),
		region     TEXT NOT NULL,
		name       TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		removed_at INTEGER,
		PRIMARY KEY (kind, region, name)
	);`,
}

// Results is the results store: runs with their leases, every scenario run,
// and the resources runs created. Several processes may share its file.
type Results struct {
	db *sql.DB
}

// OpenResults opens, creating it if needed, the SQLite results store at path
// and brings its schema up to date.
func OpenResults(ctx context.Context, path string) (*Results, error) {
	query := url.Values{"_txlock": {"immediate"}}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)"} {
		query.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+query.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening results store %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	r := &Results{db: db}
	if err := r.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrating results store %s: %w", path, err)
	}
	return r, nil
}

// Close closes the store.
func (r *Results) Close() error { return r.db.Close() }

func (r *Results) migrate(ctx context.Context) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if version > len(resultsMigrations) {
		return fmt.Errorf("schema version %d is newer than this runner knows (%d): use a newer dbfleet-runner", version, len(resultsMigrations))
	}
	for i := version; i < len(resultsMigrations); i++ {
		if _, err := tx.ExecContext(ctx, resultsMigrations[i]); err != nil {
			return fmt.Errorf("running migration %d: %w", i+1, err)
		}
	}
	// PRAGMA takes no parameters; the value is an integer this code made.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(resultsMigrations))); err != nil {
		return fmt.Errorf("recording the schema version: %w", err)
	}
	return tx.Commit()
}

// RunRecord is one runner process's run: what it runs against and its lease.
type RunRecord struct {
	ID       string
	Env      string
	Endpoint string
	Prefix   string
	Host     string
	PID      int
	Started  time.Time
	// LeaseUntil is when the run counts as dead unless it renews the lease.
	LeaseUntil time.Time
	// Ended is when the run ended; zero while it runs.
	Ended time.Time
}

// RunInsert records a run that starts.
func (r *Results) RunInsert(ctx context.Context, run *RunRecord) error {
	_, err := r.db.ExecContext(ctx, `INSERT INTO runs (run_id, env, endpoint, prefix, host, pid, started_at, lease_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		run.ID, run.Env, run.Endpoint, run.Prefix, run.Host, run.PID, run.Started.UnixNano(), run.LeaseUntil.UnixNano())
	if err != nil {
		return fmt.Errorf("recording run %s: %w", run.ID, err)
	}
	return nil
}

// RunRenewLease extends a running run's lease to until.
func (r *Results) RunRenewLease(ctx context.Context, runID string, until time.Time) error {
	if _, err := r.db.ExecContext(ctx, `UPDATE runs SET lease_until = ? WHERE run_id = ? AND ended_at IS NULL`, until.UnixNano(), runID); err != nil {
		return fmt.Errorf("renewing the lease of run %s: %w", runID, err)
	}
	return nil
}

// RunEnd records that a run ended.
func (r *Results) RunEnd(ctx context.Context, runID string, ended time.Time) error {
	if _, err := r.db.ExecContext(ctx, `UPDATE runs SET ended_at = ? WHERE run_id = ?`, ended.UnixNano(), runID); err != nil {
		return fmt.Errorf("recording the end of run %s: %w", runID, err)
	}
	return nil
}

// errRunNotFound: the store does not know the run.
var errRunNotFound = errors.New("run not found")

// RunGet returns the run runID, or an error matching errRunNotFound.
func (r *Results) RunGet(ctx context.Context, runID string) (*RunRecord, error) {
	var run RunRecord
	var started, lease int64
	var ended sql.NullInt64
	err := r.db.QueryRowContext(ctx, `SELECT run_id, env, endpoint, prefix, host, pid, started_at, lease_until, ended_at FROM runs WHERE run_id = ?`, runID).
		Scan(&run.ID, &run.Env, &run.Endpoint, &run.Prefix, &run.Host, &run.PID, &started, &lease, &ended)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("reading run %s: %w", runID, errRunNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading run %s: %w", runID, err)
	}
	run.Started, run.LeaseUntil = time.Unix(0, started), time.Unix(0, lease)
	if ended.Valid {
		run.Ended = time.Unix(0, ended.Int64)
	}
	return &run, nil
}

// Resource is a database or schema a run created (or was about to create).
type Resource struct {
	RunID string
	Kind  string
	// Region is the database's region; empty for a schema.
	Region  string
	Name    string
	Created time.Time
}

// ResourceInsert records a resource before the run asks for it, so that a
// run killed in between still leaves a trace for the sweeper.
func (r *Results) ResourceInsert(ctx context.Context, res Resource) error {
	_, err := r.db.ExecContext(ctx, `INSERT INTO resources (run_id, kind, region, name, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, region, name) DO UPDATE SET run_id = excluded.run_id, created_at = excluded.created_at, removed_at = NULL`,
		res.RunID, res.Kind, res.Region, res.Name, res.Created.UnixNano())
	if err != nil {
		return fmt.Errorf("recording %s %s: %w", res.Kind, res.Name, err)
	}
	return nil
}

// ResourceRemoved records that a resource is gone.
func (r *Results) ResourceRemoved(ctx context.Context, kind, region, name string, at time.Time) error {
	_, err := r.db.ExecContext(ctx, `UPDATE resources SET removed_at = ? WHERE kind = ? AND region = ? AND name = ?`, at.UnixNano(), kind, region, name)
	if err != nil {
		return fmt.Errorf("recording the removal of %s %s: %w", kind, name, err)
	}
	return nil
}

// ResourceListPresent returns the resources of kind not recorded as removed.
func (r *Results) ResourceListPresent(ctx context.Context, kind string) ([]Resource, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT run_id, kind, region, name, created_at FROM resources WHERE kind = ? AND removed_at IS NULL ORDER BY created_at`, kind)
	if err != nil {
		return nil, fmt.Errorf("listing %ss: %w", kind, err)
	}
	defer rows.Close()
	var out []Resource
	for rows.Next() {
		var res Resource
		var created int64
		if err := rows.Scan(&res.RunID, &res.Kind, &res.Region, &res.Name, &created); err != nil {
			return nil, fmt.Errorf("listing %ss: %w", kind, err)
		}
		res.Created = time.Unix(0, created)
		out = append(out, res)
	}
	return out, rows.Err()
}

// Result is one scenario run.
type Result struct {
	RunID     string
	Iteration int
	Env       string
	Scenario  string
	// Via is how the scenario drives dbfleet: ViaTerraform or ViaAPI.
	Via string
	// Region is the region a per-region scenario ran in, or AllRegions.
	Region   string
	Start    time.Time
	Duration time.Duration
	Outcome  string
	// Error, Step and ErrorRegion say what failed, in which step and in
	// which region; empty when the scenario passed.
	Error        string
	Step         string
	ErrorRegion  string
	OperationIDs []string
	RequestIDs   []string
}

// ResultInsert records a scenario run.
func (r *Results) ResultInsert(ctx context.Context, res *Result) error {
	ops, err := json.Marshal(nonNil(res.OperationIDs))
	if err != nil {
		return err
	}
	reqs, err := json.Marshal(nonNil(res.RequestIDs))
	if err != nil {
		return err
	}
	_, err = r.db.ExecContext(ctx, `INSERT INTO scenario_runs (run_id, iteration, env, scenario, via, region, started_at, duration_ns,
			outcome, error, step, error_region, operation_ids, request_ids)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		res.RunID, res.Iteration, res.Env, res.Scenario, res.Via, res.Region, res.Start.UnixNano(), int64(res.Duration),
		res.Outcome, res.Error, res.Step, res.ErrorRegion, string(ops), string(reqs))
	if err != nil {
		return fmt.Errorf("recording scenario %s of run %s: %w", res.Scenario, res.RunID, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ResultListParams selects scenario runs; zero fields select everything.
type ResultListParams struct {
	Env   string
	RunID string
	Since time.Time
}

// ResultList returns the scenario runs params select, oldest first.
func (r *Results) ResultList(ctx context.Context, params *ResultListParams) ([]Result, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT run_id, iteration, env, scenario, via, region, started_at, duration_ns, outcome,
			error, step, error_region, operation_ids, request_ids
		FROM scenario_runs
		WHERE (? = '' OR env = ?) AND (? = '' OR run_id = ?) AND started_at >= ?
		ORDER BY started_at, id`,
		params.Env, params.Env, params.RunID, params.RunID, params.Since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("listing scenario runs: %w", err)
	}
	defer rows.Close()
	var out []Result
	for rows.Next() {
		var res Result
		var start, dur int64
		var ops, reqs string
		if err := rows.Scan(&res.RunID, &res.Iteration, &res.Env, &res.Scenario, &res.Via, &res.Region, &start, &dur, &res.Outcome,
			&res.Error, &res.Step, &res.ErrorRegion, &ops, &reqs); err != nil {
			return nil, fmt.Errorf("listing scenario runs: %w", err)
		}
		res.Start, res.Duration = time.Unix(0, start), time.Duration(dur)
		if err := errors.Join(json.Unmarshal([]byte(ops), &res.OperationIDs), json.Unmarshal([]byte(reqs), &res.RequestIDs)); err != nil {
			return nil, fmt.Errorf("decoding the ids of a scenario run of %s: %w", res.RunID, err)
		}
		out = append(out, res)
	}
	return out, rows.Err()
}
