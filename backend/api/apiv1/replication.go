package apiv1

import "time"

// ReplicationStatus is what a replica's subscription last reported.
type ReplicationStatus struct {
	// State is "streaming", "stopped" (no apply worker: the source is
	// unreachable or applying a change failed), "disabled", "missing" or
	// "unknown" (the replica's region did not answer).
	State string `json:"state"`
	// Tables maps each subscribed table to init, copying, synced or ready.
	Tables     map[string]string `json:"tables,omitempty"`
	LagBytes   int64             `json:"lag_bytes"`
	LagSeconds float64           `json:"lag_seconds"`
	Error      string            `json:"error,omitempty"`
	ObservedAt time.Time         `json:"observed_at"`
}

// ConsistencyCheck is the last comparison of a replica with its source.
type ConsistencyCheck struct {
	CheckedAt time.Time `json:"checked_at"`
	// Result is "consistent", "inconsistent" or "failed".
	Result string       `json:"result"`
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
