package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// maxEvents caps the limit of GET .../events.
const maxEvents = store.DatabaseEventsKept

// databaseEvents answers GET /v1/databases/{region}/{name}/events: what the
// reconciler found, repaired and failed at on the database, newest first,
// from the store.
func (s *Server) databaseEvents(w http.ResponseWriter, r *http.Request) error {
	key, err := databaseKey(r)
	if err != nil {
		return err
	}
	q, err := queryParams(r, "limit")
	if err != nil {
		return err
	}
	limit := 100
	if q.Has("limit") {
		if limit, err = strconv.Atoi(q.Get("limit")); err != nil || limit < 1 || limit > maxEvents {
			return fieldError("limit", fmt.Sprintf("limit must be an integer from 1 to %d", maxEvents))
		}
	}
	if _, err := s.store.DatabaseGet(r.Context(), key); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("database %s does not exist in region %s: %w", key.Name, key.Region, err)
	} else if err != nil {
		return err
	}
	events, err := s.store.DatabaseEventList(r.Context(), &store.DatabaseEventListParams{Region: key.Region, Name: key.Name, Limit: limit})
	if err != nil {
		return err
	}
	out := apiv1.EventList{Events: make([]apiv1.Event, 0, len(events))}
	for _, e := range events {
		out.Events = append(out.Events, apiv1.Event{Time: e.Time, Type: e.Type, Reason: e.Reason, Message: e.Message})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func wireConditions(conditions []store.Condition) []apiv1.Condition {
	if len(conditions) == 0 {
		return nil
	}
	out := make([]apiv1.Condition, len(conditions))
	for i, c := range conditions {
		out[i] = apiv1.Condition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message,
			ObservedGeneration: c.ObservedGeneration, LastTransitionTime: c.LastTransitionTime}
	}
	return out
}
