package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// httpError is an error with the status and code it answers with.
type httpError struct {
	status  int
	code    string
	message string
	details map[string]string
}

func (e *httpError) Error() string { return e.message }

func badRequest(message string) error {
	return &httpError{status: http.StatusBadRequest, code: apiv1.CodeInvalidArgument, message: message}
}

// errorTable maps the sentinel errors of the layers below to statuses and
// codes; the first match wins.
var errorTable = []struct {
	target error
	status int
	code   string
}{
	{store.ErrNotFound, http.StatusNotFound, apiv1.CodeNotFound},
	{ops.ErrInvalidArgument, http.StatusBadRequest, apiv1.CodeInvalidArgument},
	{ops.ErrDeletionProtected, http.StatusConflict, apiv1.CodeDeletionProtected},
	{ops.ErrPreconditionFailed, http.StatusPreconditionFailed, apiv1.CodePreconditionFailed},
	{ops.ErrOperationDone, http.StatusConflict, apiv1.CodeConflict},
	{ops.ErrRolloutHalted, http.StatusConflict, apiv1.CodeRolloutHalted},
	{ops.ErrDowngradeImpossible, http.StatusBadRequest, apiv1.CodeDowngradeImpossible},
	{ops.ErrPublishedVersionChanged, http.StatusConflict, apiv1.CodePublishedVersion},
	{ops.ErrInUse, http.StatusConflict, apiv1.CodeConflict},
}

// toHTTPError turns any error into the status, code and message a client
// gets. Faults become a 500 whose message hides their internals.
func toHTTPError(err error) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var inProgress *ops.OperationInProgressError
	if errors.As(err, &inProgress) {
		return &httpError{status: http.StatusConflict, code: apiv1.CodeOperationInProgress, message: inProgress.Error(),
			details: map[string]string{"operation_id": inProgress.OperationID}}
	}
	if he := regionRefusal(err); he != nil {
		return he
	}
	for _, row := range errorTable {
		if errors.Is(err, row.target) {
			return &httpError{status: row.status, code: row.code, message: err.Error(), details: errorDetails(err)}
		}
	}
	return &httpError{status: http.StatusInternalServerError, code: apiv1.CodeInternal,
		message: "internal error; the server log has the cause under this request id"}
}

func writeError(w http.ResponseWriter, requestID string, he *httpError) {
	writeJSON(w, he.status, apiv1.ErrorResponse{Error: apiv1.Error{
		Code: he.code, Message: he.message, Details: he.details, RequestID: requestID,
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// errorDetails says, where it can, which field of the request is at fault
// and which rollout stopped, so clients can point at the right attribute.
func errorDetails(err error) map[string]string {
	var field *ops.FieldError
	var halted *ops.RolloutHaltedError
	switch {
	case errors.As(err, &field):
		return map[string]string{"field": field.Field}
	case errors.As(err, &halted):
		return map[string]string{"field": "schema_version", "schema": halted.Schema, "version": strconv.FormatInt(halted.Version, 10),
			"region": halted.Halt.Region, "database": halted.Halt.Database, "check": halted.Halt.Check}
	case errors.Is(err, ops.ErrDowngradeImpossible):
		return map[string]string{"field": "schema_version"}
	}
	return nil
}

// regionRefusal is the answer to a request a region cannot carry out: 409 failed_precondition
// naming the region, the action and what it lacks, or 409 name_taken naming what has the name.
// Both carry the request field at fault, for clients to point at. Nil for other errors.
func regionRefusal(err error) *httpError {
	var missing *engine.MissingError
	var taken *engine.NameTakenError
	switch {
	case errors.As(err, &missing):
		field := "region"
		var pre *ops.PreconditionError
		if errors.As(err, &pre) {
			field = pre.Field
		}
		return &httpError{status: http.StatusConflict, code: apiv1.CodeFailedPrecondition, message: err.Error(),
			details: map[string]string{apiv1.DetailField: field, apiv1.DetailRegion: missing.Region,
				apiv1.DetailAction: missing.Action, apiv1.DetailMissing: strings.Join(missing.Missing, "; ")}}
	case errors.As(err, &taken):
		return &httpError{status: http.StatusConflict, code: apiv1.CodeNameTaken, message: err.Error(),
			details: map[string]string{apiv1.DetailField: "name", apiv1.DetailRegion: taken.Region,
				apiv1.DetailObject: taken.Kind + " " + taken.Name}}
	}
	return nil
}
