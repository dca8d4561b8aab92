package ops

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on; the API maps each to a status.
var (
	// ErrInvalidArgument marks a request the caller must change.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrDeletionProtected refuses to delete a protected database.
	ErrDeletionProtected = errors.New("deletion protection is on")
	// ErrPreconditionFailed is a failed If-Match.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrOperationDone refuses to cancel a finished operation.
	ErrOperationDone = errors.New("operation already finished")
)

// OperationInProgressError refuses a mutation while another operation runs on
// the same database.
type OperationInProgressError struct {
	OperationID string
	Target      string
}

func (e *OperationInProgressError) Error() string {
	return fmt.Sprintf("operation %s is still running on %s; wait for it to finish (POST /v1/operations/%s:wait) and try again",
		e.OperationID, e.Target, e.OperationID)
}

func invalidArgument(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}
