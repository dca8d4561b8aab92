package store

import "time"

// Schema is a named, append-only list of migrations and its rollout policy.
type Schema struct {
	Name       string
	Migrations []Migration
	Rollout    RolloutPolicy
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Migration is one version of a schema.
type Migration struct {
	Version  int64
	Up       string
	Down     string
	Checksum string
}

// RolloutPolicy is how a schema's versions reach the fleet.
type RolloutPolicy struct {
	Waves     [][]string    `json:"waves,omitempty"`
	WaveSize  int           `json:"wave_size,omitempty"`
	BakeTime  time.Duration `json:"bake_time"`
	OnFailure string        `json:"on_failure"`
	// SkipConnectableCheck turns off the gate's connectable check.
	SkipConnectableCheck bool `json:"skip_connectable_check,omitempty"`
	// MaxReplicationLag bounds each replica's lag after its source moved;
	// 0 for none.
	MaxReplicationLag time.Duration `json:"max_replication_lag,omitempty"`
	// ReplicaConsistent requires each replica to match its source after
	// the source moved.
	ReplicaConsistent bool `json:"replica_consistent,omitempty"`
}

// Rollout records a schema version's rollout that stopped: halted, or
// rolled back. Versions without a row are in progress or complete.
type Rollout struct {
	Schema    string
	Version   int64
	State     string
	Halt      RolloutHalt
	UpdatedAt time.Time
}

// RolloutHalt says where and why a rollout stopped.
type RolloutHalt struct {
	Region   string `json:"region"`
	Database string `json:"database"`
	Check    string `json:"check"`
	Message  string `json:"message"`
}

// DatabaseMigration records when a database reached a version.
type DatabaseMigration struct {
	Region    string
	Name      string
	Version   int64
	AppliedAt time.Time
}

// SecretBox encrypts secrets (database passwords) before they are stored
// and decrypts them when read.
type SecretBox interface {
	Seal(plaintext string) (string, error)
	Open(ciphertext string) (string, error)
}
