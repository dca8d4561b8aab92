package apiv1

import "time"

// Rollout failure policies.
const (
	OnFailureHalt     = "halt"
	OnFailureRollback = "rollback"
)

// Rollout states of one schema version.
const (
	RolloutInProgress = "in_progress"
	RolloutCompleted  = "completed"
	RolloutHalted     = "halted"
	RolloutRolledBack = "rolled_back"
)

// Health checks a rollout gate can run after a region moves to a version.
const (
	CheckMigration     = "migration"
	CheckConnectable   = "connectable"
	CheckLedgerVersion = "ledger_version"
	// CheckReplication: every replica's subscription still streams and
	// catches up after the source moved.
	CheckReplication       = "replication"
	CheckMaxReplicationLag = "max_replication_lag"
	CheckReplicaConsistent = "replica_consistent"
)

// Error codes of schemas and rollouts.
const (
	CodeRolloutHalted       = "rollout_halted"
	CodePublishedVersion    = "published_version_changed"
	CodeMigrationInvalid    = "migration_invalid"
	CodeDowngradeImpossible = "downgrade_impossible"
)

// Migration is one versioned step of a schema.
type Migration struct {
	// Version orders migrations; versions are positive and strictly increasing.
	Version int64  `json:"version"`
	Up      string `json:"up"`
	// Down undoes Up; optional, but a downgrade or rollback past a version
	// needs it.
	Down string `json:"down,omitempty"`
	// Checksum is the SHA-256 of Up, hex; set by the server.
	Checksum string `json:"checksum,omitempty"`
}

// HealthChecks says what "healthy" means for a rollout gate.
type HealthChecks struct {
	// Connectable: the owner can connect to the database. Default true.
	Connectable *bool `json:"connectable,omitempty"`
	// LedgerVersion: the ledger records the version. Always checked.
	LedgerVersion *bool `json:"ledger_version,omitempty"`
	// MaxReplicationLag bounds each replica's lag after its source moved,
	// as a Go duration; empty for no bound.
	MaxReplicationLag string `json:"max_replication_lag,omitempty"`
	// ReplicaConsistent: each replica matches its source after the source
	// moved (a consistency check).
	ReplicaConsistent bool `json:"replica_consistent,omitempty"`
}

// RolloutPolicy is how a new schema version reaches the fleet.
type RolloutPolicy struct {
	// Waves are ordered lists of regions; the first is the canary. Regions of
	// the backend that no wave names form a last wave.
	Waves [][]string `json:"waves,omitempty"`
	// WaveSize derives waves of this many regions from the backend's region
	// list, in its order, when Waves is empty.
	WaveSize int `json:"wave_size,omitempty"`
	// BakeTime is how long a wave must stay healthy on a version before the
	// next wave may start, as a Go duration ("30s", "10m"). Default "0s".
	BakeTime string `json:"bake_time,omitempty"`
	// OnFailure is "halt" (default) or "rollback".
	OnFailure    string        `json:"on_failure,omitempty"`
	HealthChecks *HealthChecks `json:"health_checks,omitempty"`
}

// SchemaSpec is the body of PUT /v1/schemas/{name} and of :validate.
type SchemaSpec struct {
	Migrations []Migration    `json:"migrations"`
	Rollout    *RolloutPolicy `json:"rollout,omitempty"`
}

// Schema is a named, append-only list of migrations and its rollout policy.
type Schema struct {
	Name          string        `json:"name"`
	Migrations    []Migration   `json:"migrations"`
	Rollout       RolloutPolicy `json:"rollout"`
	LatestVersion int64         `json:"latest_version"`
	// Checksum covers every version and its checksum.
	Checksum string `json:"checksum"`
	// Waves are the resolved waves, regions in order.
	Waves     [][]string `json:"waves"`
	Rollouts  []Rollout  `json:"rollouts"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Rollout is the state of one schema version across the fleet.
type Rollout struct {
	Version int64  `json:"version"`
	State   string `json:"state"`
	// Halt says where and why a halted (or rolled back) rollout stopped.
	Halt      *RolloutHalt `json:"halt,omitempty"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// RolloutHalt names the region, database and check that stopped a rollout.
type RolloutHalt struct {
	Region   string `json:"region"`
	Database string `json:"database"`
	Check    string `json:"check"`
	Message  string `json:"message"`
}

// SchemaValidation is the answer of POST /v1/schemas/{name}:validate.
type SchemaValidation struct {
	Valid  bool             `json:"valid"`
	Region string           `json:"region,omitempty"`
	Errors []MigrationError `json:"errors,omitempty"`
}

// MigrationError locates a problem in one migration.
type MigrationError struct {
	Version int64 `json:"version"`
	// Line is the 1-based line of the SQL where PostgreSQL reported the
	// error; 0 when it did not say.
	Line    int    `json:"line,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// DatabasePlan is the answer of POST /v1/databases/{region}/{name}:plan:
// what a PUT of the same spec would do. It changes nothing.
type DatabasePlan struct {
	// Actions are the steps the operation would run, in order.
	Actions        []string `json:"actions"`
	CurrentVersion int64    `json:"current_version"`
	TargetVersion  int64    `json:"target_version"`
	// Wave is the 1-based rollout wave of the region; Waves the count.
	Wave  int `json:"wave"`
	Waves int `json:"waves"`
	// Gate says what the upgrade would wait for; empty when nothing.
	Gate string `json:"gate,omitempty"`
}
