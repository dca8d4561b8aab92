package apiv1

import (
	"fmt"
	"strings"
	"time"
)

// Drift policies: what the reconciler does when a database differs from its
// spec.
const (
	// DriftPolicyHeal repairs the drift (the default).
	DriftPolicyHeal = "heal"
	// DriftPolicyReport only records it: an event and a Drifted condition.
	DriftPolicyReport = "report"
)

// DriftPolicies lists the drift policies, the default first.
var DriftPolicies = []string{DriftPolicyHeal, DriftPolicyReport}

// ValidateDriftPolicy checks a drift policy; empty means the default.
func ValidateDriftPolicy(policy string) error {
	switch policy {
	case "", DriftPolicyHeal, DriftPolicyReport:
		return nil
	}
	return fmt.Errorf("drift_policy %s is not valid; use one of %s", Quote(policy), strings.Join(DriftPolicies, ", "))
}

// Condition types.
const (
	// ConditionReady: the database exists, its owner can log in and its
	// region answers.
	ConditionReady = "Ready"
	// ConditionSynced: a replica's subscription is streaming and caught up.
	ConditionSynced = "Synced"
	// ConditionDrifted: the region differs from the spec.
	ConditionDrifted = "Drifted"
)

// Condition statuses.
const (
	ConditionTrue  = "True"
	ConditionFalse = "False"
)

// Condition reasons. A reason is a stable CamelCase word clients may branch
// on; the message says the details.
const (
	// ReasonReconciled: Ready, the last check found the database at its spec
	// or brought it there.
	ReasonReconciled = "Reconciled"
	// ReasonInSync: not Drifted.
	ReasonInSync = "InSync"
	// ReasonHealed: not Drifted any more, because the reconciler repaired
	// what it found; the message says what.
	ReasonHealed = "Healed"
	// ReasonDatabaseMissing: the database is gone from its region. A
	// dropped database is never recreated empty.
	ReasonDatabaseMissing = "DatabaseMissing"
	// ReasonOwnerRoleMissing: the owner role is gone.
	ReasonOwnerRoleMissing = "OwnerRoleMissing"
	// ReasonOwnerLoginFailed: the owner cannot log in with its password.
	ReasonOwnerLoginFailed = "OwnerLoginFailed"
	// ReasonOwnershipChanged: another role owns the database, or objects
	// dbfleet's owner should own.
	ReasonOwnershipChanged = "OwnershipChanged"
	// ReasonLedgerMissing: the ledger table dbfleet.migrations is gone.
	ReasonLedgerMissing = "LedgerMissing"
	// ReasonLedgerMismatch: ledger rows are missing or have another checksum.
	ReasonLedgerMismatch = "LedgerMismatch"
	// ReasonLedgerUnexpected: the ledger records versions the backend did
	// not apply; they are never deleted.
	ReasonLedgerUnexpected = "LedgerUnexpected"
	// ReasonLedgerUnverifiable: the ledger is gone and the catalog does not
	// show that the migrations took effect, so it is not rebuilt.
	ReasonLedgerUnverifiable = "LedgerUnverifiable"
	// ReasonParametersDrifted: database-level settings differ from the spec.
	ReasonParametersDrifted = "ParametersDrifted"
	// ReasonRegionUnavailable: the region did not answer; its databases
	// are left alone until it does.
	ReasonRegionUnavailable = "RegionUnavailable"
	// ReasonSubscriptionMissing: a replica's subscription is gone; healing
	// resubscribes and copies the source's rows again.
	ReasonSubscriptionMissing = "SubscriptionMissing"
	// ReasonSubscriptionDisabled: a replica's subscription was disabled.
	ReasonSubscriptionDisabled = "SubscriptionDisabled"
	// Synced reasons.
	ReasonStreaming           = "Streaming"
	ReasonCatchingUp          = "CatchingUp"
	ReasonSourceUnavailable   = "SourceUnavailable"
	ReasonSubscriptionStopped = "SubscriptionStopped"
	ReasonMissingPrimaryKey   = "MissingPrimaryKey"
	// ReasonReconcileFailed: a check or repair failed; it is retried with
	// backoff.
	ReasonReconcileFailed = "ReconcileFailed"
)

// Event types.
const (
	EventFinding = "finding"
	EventRepair  = "repair"
	EventError   = "error"
)

// Condition is one aspect of a database's observed state.
type Condition struct {
	// Type is Ready, Synced or Drifted.
	Type string `json:"type"`
	// Status is "True" or "False".
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// ObservedGeneration is the spec generation the condition was set for.
	ObservedGeneration int64 `json:"observed_generation"`
	// LastTransitionTime is when Status or Reason last changed.
	LastTransitionTime time.Time `json:"last_transition_time"`
}

// Event is one thing the reconciler found, repaired or failed at.
type Event struct {
	Time time.Time `json:"time"`
	// Type is finding, repair or error.
	Type    string `json:"type"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// EventList is the answer of GET /v1/databases/{region}/{name}/events,
// newest first.
type EventList struct {
	Events []Event `json:"events"`
}
