// Package ops owns dbfleetd's durable operations: it records each change a
// client asks for as an operation and a River job in one transaction, runs
// the operation's steps against the regions, and lets clients wait for it.
package ops

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// Regions is what operations need of the regions' PostgreSQL servers.
type Regions interface {
	Has(name string) bool
	Names() []string
	Endpoint(name string) (host string, port int, err error)
	RoleEnsure(ctx context.Context, region, role, password string) error
	DatabaseEnsure(ctx context.Context, region, name, owner string) error
	DatabaseDump(ctx context.Context, o engine.Owner, path string) error
	RegionCapabilities(ctx context.Context, region string) (*engine.Capabilities, error)
	DatabaseExists(ctx context.Context, region, name string) (bool, error)
	DatabaseDrop(ctx context.Context, region, name string) error
	RoleDrop(ctx context.Context, region, role string) error
	ParametersApply(ctx context.Context, region, database string, params map[string]string) error
	OpenOwner(ctx context.Context, o engine.Owner) (*engine.OwnerConn, error)
	ValidateMigrations(ctx context.Context, region string, migrations []engine.Migration) (*engine.MigrationError, error)
	PublicationEnsure(ctx context.Context, region, database, owner, replPassword string) error
	// NameCheck returns an *engine.NameTakenError when a database or role
	// of these names exists that dbfleet did not make; it changes nothing.
	NameCheck(ctx context.Context, region, database, ownerRole string) error
	MarkLegacy(ctx context.Context, region, database, owner, replRole string) (bool, error)
	SubscriptionEnsure(ctx context.Context, region, database string, src engine.Source) error
	SubscriptionDrop(ctx context.Context, region, database string) error
	ReplicationStatusOf(ctx context.Context, region, database string, src engine.Source) (*engine.ReplicationStatus, error)
	AwaitReplica(ctx context.Context, region, database string, src engine.Source, timeout time.Duration) error
	CompareReplica(ctx context.Context, src, replica engine.Owner, chunkRows int) ([]engine.TableComparison, error)
}

// Config holds a Manager's dependencies.
type Config struct {
	Store   store.Store
	Regions Regions
	Logger  zerolog.Logger
	// BackupDir receives the final pg_dump of deleted databases.
	BackupDir string
	// Registerer receives the operation metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// VerifyInterval is how often each replica's consistency is checked on
	// a schedule; 0 means 10 minutes.
	VerifyInterval time.Duration
	// OperationDeadline is how long an operation may take, counted from its
	// creation (or, for an upgrade that waited on its rollout gate, from
	// its last look at the gate): a step still running then is cancelled,
	// its statement cancelled on the server, and the operation fails with
	// deadline_exceeded; a step failing transiently is retried until then.
	// No other limit applies to a step. 0 means DefaultOperationDeadline.
	OperationDeadline time.Duration
	// OperationDeadlines overrides OperationDeadline for the operations of
	// some kinds (apiv1.OperationKind*); see CheckOperationDeadlines.
	OperationDeadlines map[string]time.Duration
	// CancelPoll is how often a running step looks for a cancel of its
	// operation (asked on any node); 0 means DefaultCancelPoll.
	CancelPoll time.Duration
}

// Manager starts, runs and reports operations.
type Manager struct {
	store     store.Store
	regions   Regions
	logger    zerolog.Logger
	backupDir string
	now       func() time.Time
	waiters   *waiters
	metrics   *metrics
	// validations spares repeated dry runs of the same migrations.
	validations *validations
	// verifyInterval: see Config.VerifyInterval.
	verifyInterval time.Duration
	// operationDeadline, operationDeadlines: see Config.
	operationDeadline  time.Duration
	operationDeadlines map[string]time.Duration
	// cancelPoll: see Config.CancelPoll.
	cancelPoll time.Duration
	// draining is set when the node shuts down: running operations stop
	// after their current step.
	draining atomic.Bool
}

// Drain makes running operations hand their job back after the step they
// are running, for another node or the next start to go on with.
func (m *Manager) Drain() { m.draining.Store(true) }

// NewManager returns a Manager. Call RegisterWorkers before the store's job
// client starts.
func NewManager(cfg Config) *Manager {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Manager{
		store:       cfg.Store,
		regions:     cfg.Regions,
		logger:      cfg.Logger,
		backupDir:   cfg.BackupDir,
		now:         func() time.Time { return now().UTC().Truncate(time.Microsecond) },
		waiters:     newWaiters(),
		metrics:     newMetrics(cfg.Registerer),
		validations: newValidations(now),

		verifyInterval:     cmp.Or(cfg.VerifyInterval, 10*time.Minute),
		operationDeadline:  cmp.Or(cfg.OperationDeadline, DefaultOperationDeadline),
		operationDeadlines: maps.Clone(cfg.OperationDeadlines),
		cancelPoll:         cmp.Or(cfg.CancelPoll, DefaultCancelPoll),
	}
}

// DatabaseApplyParams is a request to create or change a regional database.
type DatabaseApplyParams struct {
	Region string
	Name   string
	// DeletionProtection keeps its current value when nil (true for a new
	// database).
	DeletionProtection *bool
	SkipFinalBackup    bool
	// Schema names the schema to run, SchemaVersion its version (0: the
	// latest).
	Schema        string
	SchemaVersion int64
	Parameters    map[string]string
	// ReplicaOf makes the database a replica of the same-named database in
	// that region.
	ReplicaOf string
	// DriftPolicy is what the reconciler does about drift: "heal" (also
	// when empty) or "report".
	DriftPolicy string
	RequestID   string
	// Precondition, when set, is checked against the current database (nil
	// when there is none) inside the transaction that starts the operation.
	Precondition func(current *store.Database) error
}

// DatabaseApply records the desired spec of a database and starts the
// operation that brings the region to it.
func (m *Manager) DatabaseApply(ctx context.Context, params *DatabaseApplyParams) (*store.Operation, error) {
	if err := m.validateTarget(params.Region, params.Name); err != nil {
		return nil, err
	}
	if err := m.checkApply(ctx, params); err != nil {
		return nil, err
	}
	var op *store.Operation
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		current, err := databaseForUpdate(ctx, tx, store.DatabaseKey{Region: params.Region, Name: params.Name})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := checkPrecondition(params.Precondition, current); err != nil {
			return err
		}
		plan, err := m.planApply(ctx, tx, current, params)
		if err != nil {
			return err
		}
		now := m.now()
		db := current
		if db == nil {
			password, err := generatePassword()
			if err != nil {
				return err
			}
			db = &store.Database{
				Region: params.Region, Name: params.Name,
				Owner: OwnerRoleName(params.Name), Password: password,
				DeletionProtection: true,
				Status:             apiv1.DatabaseStatusProvisioning,
				CreatedAt:          now,
			}
		} else if db.OperationID != "" {
			return &OperationInProgressError{OperationID: db.OperationID, Target: Target(db.Region, db.Name)}
		}
		next := *db
		if params.DeletionProtection != nil {
			next.DeletionProtection = *params.DeletionProtection
		}
		next.SkipFinalBackup = params.SkipFinalBackup
		next.Schema, next.SchemaVersion, next.Parameters = params.Schema, plan.TargetVersion, params.Parameters
		next.ReplicaOf = params.ReplicaOf
		next.DriftPolicy = cmp.Or(params.DriftPolicy, apiv1.DriftPolicyHeal)
		if current == nil || specChanged(current, &next) {
			next.Generation++
		}
		op = m.newOperation(apiv1.OperationKindApplyDatabase, &next, params.RequestID)
		next.OperationID = op.ID
		next.UpdatedAt = now
		return m.startOperation(ctx, tx, &next, op)
	})
	if err != nil {
		return nil, err
	}
	m.logStarted(op)
	return op, nil
}

// DatabaseDeleteParams is a request to delete a regional database.
type DatabaseDeleteParams struct {
	Region       string
	Name         string
	RequestID    string
	Precondition func(current *store.Database) error
}

// DatabaseDelete starts the operation that backs up (unless the database
// skips its final backup) and drops a database. It refuses while deletion
// protection is on.
func (m *Manager) DatabaseDelete(ctx context.Context, params *DatabaseDeleteParams) (*store.Operation, error) {
	if err := m.validateTarget(params.Region, params.Name); err != nil {
		return nil, err
	}
	if err := m.checkDelete(ctx, store.DatabaseKey{Region: params.Region, Name: params.Name}); err != nil {
		return nil, err
	}
	var op *store.Operation
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		db, err := databaseForUpdate(ctx, tx, store.DatabaseKey{Region: params.Region, Name: params.Name})
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("database %s does not exist in region %s: %w", params.Name, params.Region, err)
		}
		if err != nil {
			return err
		}
		if err := checkPrecondition(params.Precondition, db); err != nil {
			return err
		}
		if db.OperationID != "" {
			return &OperationInProgressError{OperationID: db.OperationID, Target: Target(db.Region, db.Name)}
		}
		if replicas, err := replicasOf(ctx, tx, db); err != nil {
			return err
		} else if len(replicas) > 0 {
			return fmt.Errorf("%w: %s in %s has replicas (in %s first); delete them before their source",
				ErrInUse, db.Name, db.Region, replicas[0].Region)
		}
		if db.DeletionProtection {
			return fmt.Errorf("%w for database %s in %s: set deletion_protection = false and apply, then delete it",
				ErrDeletionProtected, db.Name, db.Region)
		}
		op = m.newOperation(apiv1.OperationKindDeleteDatabase, db, params.RequestID)
		db.OperationID = op.ID
		db.Status = apiv1.DatabaseStatusDeleting
		db.UpdatedAt = op.CreatedAt
		return m.startOperation(ctx, tx, db, op)
	})
	if err != nil {
		return nil, err
	}
	m.logStarted(op)
	return op, nil
}

// OperationWait returns the operation once it is done, or when timeout
// passes, whichever comes first.
func (m *Manager) OperationWait(ctx context.Context, id string, timeout time.Duration) (*store.Operation, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Operations finished by this process, or announced by another node of
	// the store, wake the wait at once; the poll catches an announcement
	// lost while the store was unreachable.
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		done, unsubscribe := m.waiters.subscribe(id)
		op, err := m.store.OperationGet(ctx, id)
		if err != nil {
			unsubscribe()
			if ctx.Err() != nil && op == nil && !errors.Is(err, store.ErrNotFound) {
				// The timeout ended the read: answer with the last state.
				return m.store.OperationGet(context.WithoutCancel(ctx), id)
			}
			return nil, err
		}
		if operationDone(op.State) {
			unsubscribe()
			return op, nil
		}
		select {
		case <-done:
		case <-poll.C:
		case <-ctx.Done():
			unsubscribe()
			return op, nil
		}
		unsubscribe()
	}
}

// WatchOperationsFinished ends this node's waits on the operations that
// other nodes of the store finish, until ctx ends.
func (m *Manager) WatchOperationsFinished(ctx context.Context) error {
	return m.store.WatchOperationsFinished(ctx, m.waiters.notify)
}

// OperationCancel asks for an operation to stop. An operation that has not
// started is cancelled at once; a running one stops within about
// Config.CancelPoll, its running statement cancelled on the server. One
// past its point of no return (pastNoReturn: a password rotation, a delete
// that dropped the database) runs to its end.
func (m *Manager) OperationCancel(ctx context.Context, id string) (*store.Operation, error) {
	var op *store.Operation
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		op, err = tx.OperationGet(ctx, id)
		if err != nil {
			return err
		}
		if operationDone(op.State) {
			return fmt.Errorf("%w: operation %s is %s", ErrOperationDone, id, op.State)
		}
		op.CancelRequested = true
		op.UpdatedAt = m.now()
		if err := tx.OperationRequestCancel(ctx, id, op.UpdatedAt); err != nil {
			return err
		}
		if op.State == apiv1.OperationPending && !pastNoReturn(op.Kind, nil, 0) {
			return m.finishTx(ctx, tx, op, apiv1.OperationCancelled, nil)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if operationDone(op.State) {
		m.finished(op)
	}
	return op, nil
}

func (m *Manager) validateTarget(region, name string) error {
	if err := engine.ValidateIdentifier("region", region); err != nil {
		return invalidArgument("region", "%s", err)
	}
	if !m.regions.Has(region) {
		return invalidArgument("region", "region %s is not configured; configured regions: %v", region, m.regions.Names())
	}
	if err := engine.ValidateIdentifier("database", name); err != nil {
		return invalidArgument("name", "%s", err)
	}
	return nil
}

func specChanged(a, b *store.Database) bool {
	return a.DeletionProtection != b.DeletionProtection || a.SkipFinalBackup != b.SkipFinalBackup ||
		a.Schema != b.Schema || a.SchemaVersion != b.SchemaVersion || !maps.Equal(a.Parameters, b.Parameters) ||
		a.ReplicaOf != b.ReplicaOf || cmp.Or(a.DriftPolicy, apiv1.DriftPolicyHeal) != b.DriftPolicy
}

func checkPrecondition(check func(*store.Database) error, current *store.Database) error {
	if check == nil {
		return nil
	}
	return check(current)
}

func (m *Manager) newOperation(kind string, db *store.Database, requestID string) *store.Operation {
	now := m.now()
	return &store.Operation{
		ID:   "op-" + uuid.NewString(),
		Kind: kind, Region: db.Region, Database: db.Name,
		State:      apiv1.OperationPending,
		Progress:   "queued",
		Generation: db.Generation,
		RequestID:  requestID,
		CreatedAt:  now, UpdatedAt: now,
	}
}

// startOperation writes the database, the operation and its job in one
// transaction: the job runs only if both rows exist, and both exist only if
// the job does.
func (m *Manager) startOperation(ctx context.Context, tx store.Tx, db *store.Database, op *store.Operation) error {
	if err := tx.DatabasePut(ctx, db); err != nil {
		return err
	}
	if err := tx.OperationInsert(ctx, op); err != nil {
		return err
	}
	return tx.JobInsert(ctx, OperationArgs{OperationID: op.ID}, nil)
}

func (m *Manager) logStarted(op *store.Operation) {
	m.metrics.started(op.Kind)
	m.logger.Info().Str("operationId", op.ID).Str("kind", op.Kind).Str("region", op.Region).
		Str("database", op.Database).Str("requestId", op.RequestID).Msg("Started operation")
}

// Target names the resource an operation acts on.
func Target(region, name string) string { return "databases/" + region + "/" + name }

// OwnerRoleName is the role that owns a database: "<name>_owner", shortened
// with a hash of the name where that would pass PostgreSQL's 63 bytes.
func OwnerRoleName(database string) string {
	const suffix = "_owner"
	if len(database)+len(suffix) <= 63 {
		return database + suffix
	}
	sum := sha256.Sum256([]byte(database))
	return database[:48] + "_" + hex.EncodeToString(sum[:4]) + suffix
}

const passwordAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// generatePassword returns 32 random alphanumerics (about 190 bits).
func generatePassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	for i := range b {
		b[i] = passwordAlphabet[int(b[i])%len(passwordAlphabet)]
	}
	return string(b), nil
}

func operationDone(state string) bool {
	switch state {
	case apiv1.OperationSucceeded, apiv1.OperationFailed, apiv1.OperationCancelled:
		return true
	}
	return false
}

// JobLimits are the job system's time limits. They bound the background
// jobs (the replication monitor, retention, legacy marking, reconcile
// passes); an operation's job has none: its operation's deadline bounds
// it, and a node that dies running it is found by the store (the
// PostgreSQL store's node heartbeats, the SQLite store's start).
type JobLimits struct {
	// JobTimeout cancels a background job running longer; 0 means
	// DefaultJobTimeout.
	JobTimeout time.Duration
	// RescueStuckJobsAfter retries a background job found running longer,
	// as stuck; at least JobTimeout; 0 means JobTimeout plus a minute.
	RescueStuckJobsAfter time.Duration
}

// DefaultJobTimeout is JobLimits.JobTimeout's default.
const DefaultJobTimeout = 10 * time.Minute

// RiverConfig returns the job client configuration dbfleetd's operations
// need, working the jobs of workers with up to maxWorkers at once and logging
// River's own warnings to logger.
func RiverConfig(workers *river.Workers, maxWorkers int, limits JobLimits, logger *slog.Logger) *river.Config {
	jobTimeout := cmp.Or(limits.JobTimeout, DefaultJobTimeout)
	return &river.Config{
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
		Workers: workers,
		// The operation worker overrides both (operationWorker.Timeout).
		JobTimeout:           jobTimeout,
		RescueStuckJobsAfter: max(cmp.Or(limits.RescueStuckJobsAfter, jobTimeout+time.Minute), jobTimeout),
		// A stopping node gives running steps this long to finish, then
		// cancels them; a cancelled step hands its job back (snoozes it
		// with no delay) for another node or the next start.
		SoftStopTimeout: StepStopGrace,
		// River enqueues periodic jobs on the elected leader only.
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(monitorInterval),
				func() (river.JobArgs, *river.InsertOpts) { return ReplicationMonitorArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(retentionInterval),
				func() (river.JobArgs, *river.InsertOpts) { return RetentionArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(legacyMarkInterval),
				func() (river.JobArgs, *river.InsertOpts) { return LegacyMarkArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
		},
		FetchCooldown:     10 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		RetryPolicy:       retryPolicy{},
		Logger:            logger,
	}
}

// StepStopGrace is how long a stopping node lets running steps finish
// before it cancels them.
const StepStopGrace = 10 * time.Second

// retryPolicy retries a failed step quickly at first, then every 30 s.
type retryPolicy struct{}

func (retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	delay := time.Duration(1<<min(job.Attempt, 5)) * 500 * time.Millisecond
	return time.Now().Add(min(delay, 30*time.Second))
}
