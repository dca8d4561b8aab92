package reconcile

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// severity orders drift reasons, worst first: the Drifted condition names
// the worst of several findings.
var severity = []string{
	apiv1.ReasonDatabaseMissing,
	apiv1.ReasonOwnerRoleMissing,
	apiv1.ReasonOwnerLoginFailed,
	apiv1.ReasonOwnershipChanged,
	apiv1.ReasonLedgerUnverifiable,
	apiv1.ReasonLedgerMissing,
	apiv1.ReasonLedgerMismatch,
	apiv1.ReasonLedgerUnexpected,
	apiv1.ReasonParametersDrifted,
}

// conditionOrder is the order conditions are listed in.
var conditionOrder = []string{apiv1.ConditionReady, apiv1.ConditionSynced, apiv1.ConditionDrifted}

// conditionsAfter returns the database's conditions after an outcome, and
// whether they changed. Ready says whether the database is usable: it
// exists, its owner can log in, its region answers. Drifted says whether
// the region differs from the spec. Synced belongs to replication and is
// left as it is.
func conditionsAfter(current []store.Condition, o *outcome, now time.Time) ([]store.Condition, bool) {
	next := slices.Clone(current)
	changed := false
	set := func(typ, status, reason, message string) {
		var c bool
		next, c = setCondition(next, store.Condition{Type: typ, Status: status, Reason: reason, Message: message,
			ObservedGeneration: o.db.Generation}, now)
		changed = changed || c
	}

	switch {
	case o.regionErr != nil:
		set(apiv1.ConditionReady, apiv1.ConditionFalse, apiv1.ReasonRegionUnavailable, fmt.Sprintf(
			"region %s did not answer (%v); its databases are left alone until it does", o.db.Region, o.regionErr))
	case o.notReady != nil:
		set(apiv1.ConditionReady, apiv1.ConditionFalse, o.notReady.reason, o.notReady.message)
	case o.err != nil:
		set(apiv1.ConditionReady, apiv1.ConditionFalse, apiv1.ReasonReconcileFailed, fmt.Sprintf(
			"the %s check failed and is retried with backoff: %v", o.errCheck, o.err))
	default:
		set(apiv1.ConditionReady, apiv1.ConditionTrue, apiv1.ReasonReconciled,
			"the database exists, its owner can log in and its region answers")
	}

	if o.synced != nil {
		set(apiv1.ConditionSynced, o.synced.Status, o.synced.Reason, o.synced.Message)
	}

	drifted := findCondition(next, apiv1.ConditionDrifted)
	switch {
	case o.regionErr != nil:
		// Not checked: what was known stands.
	case len(o.unresolved) > 0:
		worst := slices.MinFunc(o.unresolved, func(a, b finding) int { return rank(a.reason) - rank(b.reason) })
		var messages []string
		for _, f := range o.unresolved {
			messages = append(messages, f.message)
		}
		set(apiv1.ConditionDrifted, apiv1.ConditionTrue, worst.reason, strings.Join(messages, "; "))
	case len(o.repairs) > 0:
		var messages []string
		for _, r := range o.repairs {
			messages = append(messages, r.message)
		}
		set(apiv1.ConditionDrifted, apiv1.ConditionFalse, apiv1.ReasonHealed, "repaired drift: "+strings.Join(messages, "; "))
	case o.err != nil:
		// Not fully checked.
	case drifted == nil || drifted.Status == apiv1.ConditionTrue:
		set(apiv1.ConditionDrifted, apiv1.ConditionFalse, apiv1.ReasonInSync, "the region matches the spec")
	default:
		// Still in sync: keep saying how it got there (Healed, say).
		set(apiv1.ConditionDrifted, drifted.Status, drifted.Reason, drifted.Message)
	}
	return next, changed
}

func rank(reason string) int {
	if i := slices.Index(severity, reason); i >= 0 {
		return i
	}
	return len(severity)
}

func findCondition(conditions []store.Condition, typ string) *store.Condition {
	for i := range conditions {
		if conditions[i].Type == typ {
			return &conditions[i]
		}
	}
	return nil
}

// setCondition sets c in conditions. LastTransitionTime moves to now when
// the status or the reason changes; a new message or generation alone
// keeps it.
func setCondition(conditions []store.Condition, c store.Condition, now time.Time) ([]store.Condition, bool) {
	existing := findCondition(conditions, c.Type)
	if existing == nil {
		c.LastTransitionTime = now
		conditions = append(conditions, c)
		slices.SortStableFunc(conditions, func(a, b store.Condition) int {
			return slices.Index(conditionOrder, a.Type) - slices.Index(conditionOrder, b.Type)
		})
		return conditions, true
	}
	if existing.Status != c.Status || existing.Reason != c.Reason {
		c.LastTransitionTime = now
		*existing = c
		return conditions, true
	}
	if existing.Message != c.Message || existing.ObservedGeneration != c.ObservedGeneration {
		existing.Message, existing.ObservedGeneration = c.Message, c.ObservedGeneration
		return conditions, true
	}
	return conditions, false
}
