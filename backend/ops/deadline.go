package ops

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// DefaultOperationDeadline is Config.OperationDeadline's default: long
// enough to ride out a region's restart or failover, short enough that a
// region gone for good fails the operation the same working session.
const DefaultOperationDeadline = 30 * time.Minute

// OperationKinds are the kinds of operation dbfleetd runs, the keys
// Config.OperationDeadlines may have.
func OperationKinds() []string {
	return []string{apiv1.OperationKindApplyDatabase, apiv1.OperationKindDeleteDatabase, apiv1.OperationKindRollbackDatabase,
		apiv1.OperationKindVerifyDatabase, apiv1.OperationKindRotatePassword}
}

// CheckOperationDeadlines refuses a default deadline that is negative (0
// is DefaultOperationDeadline) and per-kind deadlines that name an unknown
// kind or are not positive.
func CheckOperationDeadlines(deadline time.Duration, perKind map[string]time.Duration) error {
	if deadline < 0 {
		return fmt.Errorf("operation_deadline: %s is negative; give a positive duration such as 30m, or leave it out for %s",
			deadline, DefaultOperationDeadline)
	}
	kinds := OperationKinds()
	for _, kind := range slices.Sorted(maps.Keys(perKind)) {
		if !slices.Contains(kinds, kind) {
			return fmt.Errorf("operation_deadlines: %q is not an operation kind; the kinds are %s", kind, strings.Join(kinds, ", "))
		}
		if d := perKind[kind]; d <= 0 {
			return fmt.Errorf("operation_deadlines.%s: %s is not a positive duration; give one such as 2h, or leave the kind out for operation_deadline",
				kind, d)
		}
	}
	return nil
}

// deadlineOf is how long operations of a kind may take.
func (m *Manager) deadlineOf(kind string) time.Duration {
	if d, ok := m.operationDeadlines[kind]; ok {
		return d
	}
	return m.operationDeadline
}

// deadline is when op must be done: its deadline after its creation, or,
// for an operation parked on its rollout gate, after its last look at the
// gate (UpdatedAt), so that waiting for the waves before is not counted.
func (m *Manager) deadline(op *store.Operation) time.Time {
	since := op.CreatedAt
	if op.State == apiv1.OperationPending && op.Step != "" && op.UpdatedAt.After(since) {
		since = op.UpdatedAt
	}
	return since.Add(m.deadlineOf(op.Kind))
}

// retryProgress says, for the operation's progress, why a step is retried
// and until when: "region eastus unreachable; retrying step ensure_role
// (attempt 3, until 12:30:00Z): <cause>".
func retryProgress(region, stepName string, attempt int, deadline time.Time, cause error) string {
	what := "step " + stepName + " failed in region " + region
	if unreachable(cause) {
		what = "region " + region + " unreachable"
	}
	return fmt.Sprintf("%s; retrying step %s (attempt %d, until %s): %v",
		what, stepName, attempt, deadline.UTC().Format(time.RFC3339), cause)
}

// retryCause is the transient failure an operation's progress says its
// step is retried for (retryProgress), read back by the attempt that finds
// the deadline passed before it runs the step again.
type retryCause struct {
	unreachable bool
	msg         string
}

func (e *retryCause) Error() string { return e.msg }

// retryCauseOf reads the cause back from a retryProgress, or returns nil
// when progress is not one.
func retryCauseOf(progress, region string) error {
	head, rest, ok := strings.Cut(progress, "; retrying step ")
	if !ok {
		return nil
	}
	_, msg, ok := strings.Cut(rest, "): ")
	if !ok {
		return nil
	}
	return &retryCause{unreachable: head == "region "+region+" unreachable", msg: msg}
}

// deadlineError is how an operation fails when its deadline passed: a
// step still running then (cause nil), or still failing transiently.
func (m *Manager) deadlineError(op *store.Operation, stepName string, cause error) *store.OperationError {
	msg := fmt.Sprintf("step %s in region %s was still running when the operation's deadline (%s) passed; "+
		"it was cancelled (its statement too) and nothing of it was kept that applying again cannot finish. "+
		"run it again (apply or delete again; with a longer operation_deadlines.%s if the step needs that long)",
		stepName, op.Region, m.deadlineOf(op.Kind), op.Kind)
	if cause != nil {
		what := "kept failing"
		var retried *retryCause
		if errors.As(cause, &retried) && retried.unreachable || !errors.As(cause, &retried) && unreachable(cause) {
			what = "could not reach the region"
		}
		msg = fmt.Sprintf("step %s in region %s %s until the operation's deadline (%s after it started) passed: %v; "+
			"once the region answers again, apply again to finish the database, or delete it",
			stepName, op.Region, what, m.deadlineOf(op.Kind), cause)
	}
	return &store.OperationError{Code: apiv1.CodeDeadlineExceeded, Message: msg, Region: op.Region, Step: stepName}
}

// unreachable tells whether err says that the region's server could not be
// reached or was going away, rather than that a statement failed.
func unreachable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr)
}
