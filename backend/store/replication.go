package store

import "time"

// Replication is the replication record of a database: for a source, the
// password its replicas connect with; for a replica, what its subscription
// last reported and its last consistency check.
type Replication struct {
	Region string
	Name   string
	// Password is the source's replication role's password (encrypted at
	// rest like owner passwords).
	Password    string
	Status      ReplicationStatus
	Consistency ConsistencyCheck
}

// ReplicationStatus is what a replica's subscription reported last.
type ReplicationStatus struct {
	State      string            `json:"state,omitempty"`
	Tables     map[string]string `json:"tables,omitempty"`
	LagBytes   int64             `json:"lag_bytes"`
	LagSeconds float64           `json:"lag_seconds"`
	Error      string            `json:"error,omitempty"`
	ObservedAt time.Time         `json:"observed_at"`
}

// ConsistencyCheck is the result of comparing a replica with its source.
type ConsistencyCheck struct {
	CheckedAt time.Time `json:"checked_at"`
	// Result is "consistent", "inconsistent" or "failed".
	Result string       `json:"result,omitempty"`
	Error  string       `json:"error,omitempty"`
	Tables []TableCheck `json:"tables,omitempty"`
}

// TableCheck is one table's comparison.
type TableCheck struct {
	Table       string `json:"table"`
	Consistent  bool   `json:"consistent"`
	SourceRows  int64  `json:"source_rows"`
	ReplicaRows int64  `json:"replica_rows"`
	// DifferingRanges are primary key ranges [from, to) whose rows differ;
	// an empty bound is open.
	DifferingRanges []KeyRange `json:"differing_ranges,omitempty"`
	Error           string     `json:"error,omitempty"`
}

// KeyRange is a range of primary key values, [From, To).
type KeyRange struct {
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}
