package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

func (s *Server) operationGet(w http.ResponseWriter, r *http.Request) error {
	op, err := s.store.OperationGet(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("operation %s does not exist: %w", r.PathValue("id"), err)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireOperation(op))
	return nil
}

// operationList answers GET /v1/operations?target=databases/{region}/{name}.
func (s *Server) operationList(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "target")
	if err != nil {
		return err
	}
	params := &store.OperationListParams{}
	if q.Has("target") {
		if params.Region, params.Database, err = parseTarget(q.Get("target")); err != nil {
			return err
		}
	}
	list, err := s.store.OperationList(r.Context(), params)
	if err != nil {
		return err
	}
	out := apiv1.OperationList{Operations: make([]apiv1.Operation, 0, len(list))}
	for _, op := range list {
		out.Operations = append(out.Operations, wireOperation(op))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// operationWait long-polls: it answers when the operation is done or when
// ?timeout= (default 30 s, capped) passes, whichever comes first.
func (s *Server) operationWait(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "timeout")
	if err != nil {
		return err
	}
	timeout := 30 * time.Second
	if q.Has("timeout") {
		d, err := time.ParseDuration(q.Get("timeout"))
		if err != nil || d < 0 {
			return fieldError("timeout", fmt.Sprintf("timeout %s is not a duration such as 30s", apiv1.Quote(q.Get("timeout"))))
		}
		timeout = min(d, s.maxWait)
	}
	op, err := s.operations.OperationWait(r.Context(), r.PathValue("id"), timeout)
	if err != nil {
		return err
	}
	if !wireOperation(op).Done {
		w.Header().Set("Retry-After", "0")
	}
	writeJSON(w, http.StatusOK, wireOperation(op))
	return nil
}

func (s *Server) operationCancel(w http.ResponseWriter, r *http.Request) error {
	op, err := s.operations.OperationCancel(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireOperation(op))
	return nil
}
