package store

import "time"

// Condition is one aspect of a database's observed state (Ready, Synced,
// Drifted), after the Kubernetes convention.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// ObservedGeneration is the spec generation the condition was set for.
	ObservedGeneration int64 `json:"observed_generation"`
	// LastTransitionTime is when Status or Reason last changed.
	LastTransitionTime time.Time `json:"last_transition_time"`
}

// DatabaseEvent records one thing the reconciler found, repaired or failed
// at on a database.
type DatabaseEvent struct {
	// ID orders events; it is assigned by DatabaseEventInsert.
	ID     int64
	Region string
	Name   string
	Time   time.Time
	// Type is "finding", "repair" or "error".
	Type    string
	Reason  string
	Message string
}

// DatabaseEventsKept is how many events DatabaseEventInsert keeps per
// database; older ones are dropped.
const DatabaseEventsKept = 200

// DatabaseEventListParams selects one database's events, newest first.
type DatabaseEventListParams struct {
	Region string
	Name   string
	// Limit caps the rows returned; 0 means 100.
	Limit int
}

// ReconcileState is the reconciler's bookkeeping for one database.
type ReconcileState struct {
	Region string
	Name   string
	// Generation is the spec generation last checked; a newer one makes
	// the database due at once.
	Generation  int64
	CheckedAt   time.Time
	NextCheckAt time.Time
	// Failures counts consecutive passes that could not check or repair the
	// database; it sets the retry backoff.
	Failures int
	// Findings are the keys of the drift and errors present after the last
	// check, so that a finding that persists is recorded once.
	Findings []string
	// ClaimedUntil, when in the future, says the reconciler is repairing
	// the database: an operation on it waits until then.
	ClaimedUntil time.Time
}

// Key returns the state's database key.
func (s *ReconcileState) Key() DatabaseKey { return DatabaseKey{Region: s.Region, Name: s.Name} }
