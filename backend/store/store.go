// Package store owns dbfleetd's persistent state: regional databases' desired
// spec and observed status, operations, idempotency keys and API tokens, and
// the durable job queue (River) whose jobs are inserted in the same
// transaction as the rows they act on.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
)

// Options configure a store.
type Options struct {
	// River configures the job client; nil, or one without Workers, gives an
	// insert-only store.
	River *river.Config
	// Secrets encrypts database passwords; nil stores them as they are.
	Secrets SecretBox
}

func (o Options) riverConfig() *river.Config {
	if o.River == nil {
		return &river.Config{}
	}
	return o.River
}

// plainBox stores secrets as they are, for tests.
type plainBox struct{}

func (plainBox) Seal(s string) (string, error) { return s, nil }
func (plainBox) Open(s string) (string, error) { return s, nil }

func (o Options) secretBox() SecretBox {
	if o.Secrets == nil {
		return plainBox{}
	}
	return o.Secrets
}

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// ErrOperationFinished is returned by a change to an operation that has
// finished: its outcome is never overwritten.
var ErrOperationFinished = errors.New("operation already finished")

// Store is dbfleetd's state store. Reads outside a transaction go through the
// embedded Queries; every write runs in InTx.
type Store interface {
	Queries

	// InTx runs fn in one transaction; fn's error rolls it back.
	InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// JobsStart starts working queued jobs; JobsStop stops and waits for
	// running jobs to return.
	JobsStart(ctx context.Context) error
	JobsStop(ctx context.Context) error
	// JobsRequeueOrphans makes jobs left running by a previous process of a
	// single-node store available again, so that work resumes at once instead
	// of after River's rescue window. It returns how many it re-queued.
	JobsRequeueOrphans(ctx context.Context) (int, error)
	// WatchOperationsFinished calls fn with the ID of every operation that
	// any node of the store finishes, until ctx ends. On a single-node store
	// it only waits: the node's own process knows what it finished.
	WatchOperationsFinished(ctx context.Context, fn func(operationID string)) error
	// NodeID names this process among the nodes working the store's jobs
	// (River's client ID, which River records on the jobs it runs).
	NodeID() string
	// Ping tells whether the store is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// Tx is a store transaction.
type Tx interface {
	Queries

	// Lock holds a lock on name until the transaction ends, so that
	// transactions that read something to change it (a database, a schema)
	// take turns, on any number of nodes. It waits for a holder to finish.
	Lock(ctx context.Context, name string) error
	DatabasePut(ctx context.Context, db *Database) error
	DatabaseDelete(ctx context.Context, key DatabaseKey) error
	OperationInsert(ctx context.Context, op *Operation) error
	// OperationUpdate writes an unfinished operation's state, step,
	// progress and error; an operation that has finished is left as it is
	// (ErrOperationFinished). It never writes CancelRequested, which only
	// OperationRequestCancel sets, so a worker's copy cannot undo a cancel.
	OperationUpdate(ctx context.Context, op *Operation) error
	// OperationRequestCancel records that an unfinished operation is to stop
	// (ErrOperationFinished when it has finished).
	OperationRequestCancel(ctx context.Context, id string, at time.Time) error
	// OperationFinished tells every node, once the transaction commits,
	// that the operation finished, so that waits on it end at once.
	OperationFinished(ctx context.Context, id string) error
	IdempotencyKeyPut(ctx context.Context, key *IdempotencyKey) error
	// IdempotencyKeyClaim records key unless its key has a record, and
	// tells whether it did. Of claims racing for one key, on any number of
	// nodes, exactly one wins; the others wait for its transaction and then
	// find its record.
	IdempotencyKeyClaim(ctx context.Context, key *IdempotencyKey) (bool, error)
	// IdempotencyKeyReplace overwrites the record of key's key with key if
	// the record is still prev (same state, creation and lock), and tells
	// whether it did: of nodes replacing one stale record, one wins.
	IdempotencyKeyReplace(ctx context.Context, key, prev *IdempotencyKey) (bool, error)
	// IdempotencyKeyRecord records key's answer unless its key has a live
	// one (IdempotencyKeyLive at key.CreatedAt), replacing a record that no
	// longer answers, and tells whether it did. Of requests racing to
	// answer one key, on any number of nodes, one wins.
	IdempotencyKeyRecord(ctx context.Context, key *IdempotencyKey) (bool, error)
	IdempotencyKeyDelete(ctx context.Context, principal, key string) error
	// IdempotencyKeysDeleteBefore forgets the keys made before t and returns
	// how many.
	IdempotencyKeysDeleteBefore(ctx context.Context, t time.Time) (int64, error)
	TokenPut(ctx context.Context, token *Token) error
	// TokenDelete removes a token; ErrNotFound when there is none.
	TokenDelete(ctx context.Context, name string) error
	// AuditInsert appends an entry to the audit log and sets its ID.
	AuditInsert(ctx context.Context, entry *AuditEntry) error
	// AuditDeleteBefore drops the audit entries older than t and returns
	// how many.
	AuditDeleteBefore(ctx context.Context, t time.Time) (int64, error)
	SchemaPut(ctx context.Context, schema *Schema) error
	SchemaDelete(ctx context.Context, name string) error
	RolloutPut(ctx context.Context, rollout *Rollout) error
	RolloutDelete(ctx context.Context, schema string, version int64) error
	DatabaseMigrationPut(ctx context.Context, m *DatabaseMigration) error
	DatabaseMigrationDelete(ctx context.Context, region, name string, version int64) error
	ReplicationPut(ctx context.Context, r *Replication) error
	// DatabaseConditionsPut replaces a database's conditions; ErrNotFound
	// when there is no database.
	DatabaseConditionsPut(ctx context.Context, key DatabaseKey, conditions []Condition) error
	// DatabaseEventInsert appends an event, sets its ID and drops the
	// database's events beyond DatabaseEventsKept.
	DatabaseEventInsert(ctx context.Context, event *DatabaseEvent) error
	ReconcileStatePut(ctx context.Context, state *ReconcileState) error
	// LagSampleInsert appends a replica's lag sample and drops its samples
	// older than LagSamplesKept.
	LagSampleInsert(ctx context.Context, sample *LagSample) error
	// OperationStepStart records a step's start; a step already recorded
	// keeps its first start.
	OperationStepStart(ctx context.Context, step *OperationStep) error
	// JobInsert enqueues a job that becomes visible when the transaction
	// commits.
	JobInsert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error
}

// Queries are the reads available both in and outside a transaction.
type Queries interface {
	DatabaseGet(ctx context.Context, key DatabaseKey) (*Database, error)
	DatabaseList(ctx context.Context, params *DatabaseListParams) ([]*Database, error)
	DatabaseCountByRegion(ctx context.Context) (map[string]int, error)
	OperationGet(ctx context.Context, id string) (*Operation, error)
	OperationList(ctx context.Context, params *OperationListParams) ([]*Operation, error)
	IdempotencyKeyGet(ctx context.Context, principal, key string) (*IdempotencyKey, error)
	TokenGetByHash(ctx context.Context, hash string) (*Token, error)
	// TokenList returns every token by name, hashes included.
	TokenList(ctx context.Context) ([]*Token, error)
	AuditList(ctx context.Context, params *AuditListParams) ([]*AuditEntry, error)
	SchemaGet(ctx context.Context, name string) (*Schema, error)
	RolloutList(ctx context.Context, schema string) ([]*Rollout, error)
	// DatabaseMigrationList returns when each database of a schema reached
	// a version.
	DatabaseMigrationList(ctx context.Context, schema string, version int64) ([]*DatabaseMigration, error)
	// ReplicationGet returns a database's replication record; a database
	// without one gets an empty record, not ErrNotFound.
	ReplicationGet(ctx context.Context, key DatabaseKey) (*Replication, error)
	DatabaseEventList(ctx context.Context, params *DatabaseEventListParams) ([]*DatabaseEvent, error)
	ReconcileStateGet(ctx context.Context, key DatabaseKey) (*ReconcileState, error)
	ReconcileStateList(ctx context.Context) ([]*ReconcileState, error)
	LagSampleList(ctx context.Context, params *LagSampleListParams) ([]*LagSample, error)
	// OperationStepList returns an operation's steps in the order they
	// started.
	OperationStepList(ctx context.Context, operationID string) ([]*OperationStep, error)
}

// DatabaseKey identifies a regional database.
type DatabaseKey struct {
	Region string
	Name   string
}

// Database is a regional database's desired spec and observed status.
type Database struct {
	Region             string
	Name               string
	Owner              string
	Password           string
	DeletionProtection bool
	SkipFinalBackup    bool
	// Schema names the schema the database runs, or is empty.
	Schema string
	// SchemaVersion is the desired version; AppliedVersion the one its
	// ledger is at.
	SchemaVersion  int64
	AppliedVersion int64
	// CheckPendingVersion is the version whose migration an operation is
	// applying or applied and whose rollout health check has not passed
	// yet (0: none): recorded before the migration runs, cleared when the
	// check passed or halted the rollout, so a resumed operation runs the
	// check it missed.
	CheckPendingVersion int64
	// RevertPendingVersion is the version whose down migration an
	// operation runs (0: none): recorded before the down SQL, cleared with
	// the store's record of the revert. A ledger without it then means the
	// revert took effect, not that the ledger lost it.
	RevertPendingVersion int64
	Parameters           map[string]string
	// ReplicaOf names the region of the same-named database this one
	// replicates, or is empty.
	ReplicaOf string
	Status    string
	// Generation counts changes of the spec; ObservedGeneration is the
	// generation the backend last brought the region to.
	Generation         int64
	ObservedGeneration int64
	// OperationID is the operation changing the database now, or empty.
	OperationID string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// DriftPolicy is "heal" (repair drift; also when empty) or "report".
	DriftPolicy string
	// Conditions are what the reconciler last observed. DatabasePut does
	// not write them; DatabaseConditionsPut does.
	Conditions []Condition
}

// Key returns the database's key.
func (d *Database) Key() DatabaseKey { return DatabaseKey{Region: d.Region, Name: d.Name} }

// DatabaseLockName is the name of the lock (Tx.Lock) that a transaction
// changing a database's row takes first, whatever package it is in, so
// that the writers of one database take turns on a PostgreSQL store.
func DatabaseLockName(key DatabaseKey) string { return "databases/" + key.Region + "/" + key.Name }

// DatabaseListParams filters DatabaseList. Zero values match everything.
type DatabaseListParams struct {
	Region string
	Schema string
	// Name matches the databases of that name in every region.
	Name string
}

// Operation is a durable long-running operation on a database.
type Operation struct {
	ID       string
	Kind     string
	Region   string
	Database string
	State    string
	// Step is the step running now or last run.
	Step     string
	Progress string
	Error    *OperationError
	// Generation is the database spec generation the operation applies.
	Generation      int64
	RequestID       string
	CancelRequested bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// OperationError records why an operation failed, where and at which step.
type OperationError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Region  string `json:"region,omitempty"`
	Step    string `json:"step,omitempty"`
}

// OperationListParams filters OperationList, newest first.
type OperationListParams struct {
	Region   string
	Database string
	// Limit caps the rows returned; 0 means 100.
	Limit int
}

// Idempotency key states. Only earlier versions wrote IdempotencyInFlight;
// such a record answers nothing (IdempotencyKeyLive).
const (
	IdempotencyInFlight  = "in_flight"
	IdempotencyCompleted = "completed"
)

// IdempotencyKey records the first answer to a mutating request made with an
// Idempotency-Key, so that a retry gets the same answer.
type IdempotencyKey struct {
	Principal   string
	Key         string
	RequestHash string
	State       string
	Status      int
	Headers     map[string]string
	Body        []byte
	CreatedAt   time.Time
	// LockedUntil is when an in-flight record of an earlier version stopped
	// holding its key. Keys are no longer held while a request runs (an
	// answer is written with the effect it answers for), so a new record
	// has LockedUntil = CreatedAt.
	LockedUntil time.Time
}

// Token is an API token; only its hash is stored.
type Token struct {
	Name      string
	Hash      string
	Scope     string
	CreatedAt time.Time
}
