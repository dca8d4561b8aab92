package ops

import (
	"errors"
	"fmt"
	"net"
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

// deadline is when op stops retrying steps that fail transiently.
func (m *Manager) deadline(op *store.Operation) time.Time {
	return op.CreatedAt.Add(m.operationDeadline)
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

// deadlineError is how an operation fails when a step still failed
// transiently once its deadline had passed.
func (m *Manager) deadlineError(op *store.Operation, stepName string, cause error) *store.OperationError {
	what := "kept failing"
	if unreachable(cause) {
		what = "could not reach the region"
	}
	return &store.OperationError{
		Code: apiv1.CodeDeadlineExceeded,
		Message: fmt.Sprintf("step %s in region %s %s until the operation's deadline (%s after it started) passed: %v; "+
			"once the region answers again, apply again to finish the database, or delete it",
			stepName, op.Region, what, m.operationDeadline, cause),
		Region: op.Region,
		Step:   stepName,
	}
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
