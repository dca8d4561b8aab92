// Package apiv1 holds the wire types of dbfleetd's HTTP API (v1). It has no
// dependencies beyond the standard library so that both the backend and the
// Terraform provider's client can import it.
package apiv1

import "time"

// Operation states, after Google AIP-151.
const (
	OperationPending   = "pending"
	OperationRunning   = "running"
	OperationSucceeded = "succeeded"
	OperationFailed    = "failed"
	OperationCancelled = "cancelled"
)

// Operation kinds.
const (
	OperationKindApplyDatabase  = "apply_database"
	OperationKindDeleteDatabase = "delete_database"
	// OperationKindRollbackDatabase runs down migrations after a rollout
	// with on_failure = "rollback" halted.
	OperationKindRollbackDatabase = "rollback_database"
	// OperationKindVerifyDatabase compares a replica with its source.
	OperationKindVerifyDatabase = "verify_database"
)

// Database statuses.
const (
	DatabaseStatusProvisioning = "provisioning"
	DatabaseStatusReady        = "ready"
	DatabaseStatusDeleting     = "deleting"
	DatabaseStatusFailed       = "failed"
	// DatabaseStatusWaiting: an upgrade waits on its rollout gate.
	DatabaseStatusWaiting = "waiting"
	// DatabaseStatusRolledBack: a rollout rolled the database back.
	DatabaseStatusRolledBack = "rolled_back"
)

// Error codes carried in Error.Code and OperationError.Code. They are stable:
// clients branch on them.
const (
	CodeInvalidArgument     = "invalid_argument"
	CodeUnauthenticated     = "unauthenticated"
	CodePermissionDenied    = "permission_denied"
	CodeNotFound            = "not_found"
	CodeConflict            = "conflict"
	CodeOperationInProgress = "operation_in_progress"
	CodeDeletionProtected   = "deletion_protected"
	CodePreconditionFailed  = "precondition_failed"
	CodeIdempotencyMismatch = "idempotency_key_reused"
	CodeIdempotencyInFlight = "idempotency_key_in_flight"
	CodeRateLimited         = "rate_limited"
	CodeRegionUnavailable   = "region_unavailable"
	CodeInternal            = "internal"
	CodeStepFailed          = "step_failed"
	// CodeCheckFailed: a consistency check could not run (a region did
	// not answer, the replica did not catch up).
	CodeCheckFailed = "check_failed"
	// CodeDeadlineExceeded: a step still failed transiently (a region that
	// did not answer) once the operation's deadline had passed.
	CodeDeadlineExceeded = "deadline_exceeded"
	// CodeFailedPrecondition: a region cannot do what the request needs
	// (its admin role lacks a right, its server a setting, or no pg_dump
	// can back it up); the details name the region, the action and what is
	// missing.
	CodeFailedPrecondition = "failed_precondition"
	// CodeNameTaken: a region already has a database or role of the name
	// that dbfleet did not create; the details name it.
	CodeNameTaken = "name_taken"
)

// Header names used by the API.
const (
	HeaderIdempotencyKey    = "Idempotency-Key"
	HeaderOperationLocation = "Operation-Location"
	HeaderRequestID         = "X-Request-Id"
)

// ErrorResponse is the body of every non-2xx answer.
type ErrorResponse struct {
	Error Error `json:"error"`
}

// Error describes what went wrong in a request.
type Error struct {
	Code      string            `json:"code"`
	Message   string            `json:"message"`
	Details   map[string]string `json:"details,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

// Operation is a long-running operation (AIP-151).
type Operation struct {
	ID        string          `json:"id"`
	Kind      string          `json:"kind"`
	Target    string          `json:"target"`
	Done      bool            `json:"done"`
	State     string          `json:"state"`
	Progress  string          `json:"progress"`
	Error     *OperationError `json:"error,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// OperationError says why an operation failed, where, and at which step.
type OperationError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Region  string `json:"region,omitempty"`
	Step    string `json:"step,omitempty"`
}

// OperationList is the answer of GET /v1/operations.
type OperationList struct {
	Operations []Operation `json:"operations"`
}

// DatabaseSpec is the desired state of a regional database, the body of
// PUT /v1/databases/{region}/{name}.
type DatabaseSpec struct {
	// DeletionProtection refuses DELETE while true. Defaults to true when omitted.
	DeletionProtection *bool `json:"deletion_protection,omitempty"`
	// SkipFinalBackup skips the pg_dump taken before a database is dropped.
	SkipFinalBackup bool `json:"skip_final_backup"`
	// Schema names the schema whose migrations the database runs; empty for
	// none.
	Schema string `json:"schema,omitempty"`
	// SchemaVersion is the version to run; 0 means the schema's latest.
	SchemaVersion int64 `json:"schema_version,omitempty"`
	// Parameters are database-level settings from an allow-list
	// (statement_timeout, work_mem, search_path, ...).
	Parameters map[string]string `json:"parameters,omitempty"`
	// ReplicaOf makes the database a logical replica of the same-named
	// database in that region.
	ReplicaOf string `json:"replica_of,omitempty"`
	// DriftPolicy is what the reconciler does when the region differs from
	// this spec: "heal" (the default when empty) repairs, "report" only
	// records an event and a Drifted condition.
	DriftPolicy string `json:"drift_policy,omitempty"`
}

// Database is a regional database: its spec and what the backend observed.
type Database struct {
	Region             string            `json:"region"`
	Name               string            `json:"name"`
	DeletionProtection bool              `json:"deletion_protection"`
	SkipFinalBackup    bool              `json:"skip_final_backup"`
	Schema             string            `json:"schema,omitempty"`
	SchemaVersion      int64             `json:"schema_version,omitempty"`
	Parameters         map[string]string `json:"parameters,omitempty"`
	// AppliedVersion is the schema version the database's ledger is at.
	AppliedVersion int64 `json:"applied_version"`
	// RolloutWave is the 1-based rollout wave of the region for the schema;
	// 0 without a schema.
	RolloutWave int    `json:"rollout_wave,omitempty"`
	ReplicaOf   string `json:"replica_of,omitempty"`
	// Replication and Consistency are set for replicas.
	Replication *ReplicationStatus `json:"replication,omitempty"`
	Consistency *ConsistencyCheck  `json:"consistency,omitempty"`

	Status             string `json:"status"`
	Host               string `json:"host"`
	Port               int    `json:"port"`
	Owner              string `json:"owner"`
	Password           string `json:"password,omitempty"`
	Generation         int64  `json:"generation"`
	ObservedGeneration int64  `json:"observed_generation"`
	// OperationID is the operation currently changing the database, if any.
	OperationID string    `json:"operation_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// DriftPolicy is "heal" or "report".
	DriftPolicy string `json:"drift_policy"`
	// Conditions are what the reconciler last observed (Ready, Synced,
	// Drifted); empty until it first checked the database.
	Conditions []Condition `json:"conditions,omitempty"`
}

// DatabaseList is the answer of GET /v1/databases.
type DatabaseList struct {
	Databases []Database `json:"databases"`
}

// Region is a PostgreSQL server the backend administers.
type Region struct {
	Name           string            `json:"name"`
	Healthy        bool              `json:"healthy"`
	Error          string            `json:"error,omitempty"`
	ServerVersion  string            `json:"server_version,omitempty"`
	DatabasesCount int               `json:"databases_count"`
	Labels         map[string]string `json:"labels,omitempty"`
	// Capabilities is what the region's server and admin role can do; nil
	// while the region does not answer.
	Capabilities *RegionCapabilities `json:"capabilities,omitempty"`
}

// RegionList is the answer of GET /v1/regions.
type RegionList struct {
	Regions []Region `json:"regions"`
}
