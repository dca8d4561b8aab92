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

// FieldError is an invalid argument, with the field of the request at
// fault (a spec attribute such as "schema_version" or "rollout.waves").
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Message }

// Unwrap makes a FieldError an ErrInvalidArgument.
func (e *FieldError) Unwrap() error { return ErrInvalidArgument }

func invalidArgument(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}
