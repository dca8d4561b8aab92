package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// readOnlyCustomMethods are POST custom methods that change nothing, so
// they are not audited as mutations. (:validate is audited: it runs the
// caller's SQL, if only in a scratch database.)
var readOnlyCustomMethods = map[string]bool{"wait": true, "plan": true}

// auditWriteTimeout bounds the write of one audit entry.
const auditWriteTimeout = 5 * time.Second

// maxAuditField caps what of a request's path goes into the audit log.
const maxAuditField = 256

// audit records an authenticated route's request in the audit log when it
// is a mutation (whatever its result) or failed authentication or
// authorization. Requests refused by a rate limit are not recorded: the
// limit exists so that a flood cannot fill the log.
func (s *Server) audit(r *http.Request, status int) {
	if status == 0 {
		status = http.StatusOK // a handler that wrote nothing
	}
	if status == http.StatusTooManyRequests {
		return
	}
	authFailure := status == http.StatusUnauthorized || status == http.StatusForbidden
	if !authFailure && !isMutation(r) {
		return
	}
	entry := &store.AuditEntry{
		Time:       time.Now().UTC().Truncate(time.Microsecond),
		Principal:  store.AuditAnonymous,
		Action:     auditAction(r),
		Target:     auditTarget(r),
		Status:     status,
		RequestID:  requestIDFrom(r.Context()),
		RemoteAddr: r.RemoteAddr,
	}
	if p := principalFrom(r.Context()); p != nil {
		entry.Principal = p.Name
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditWriteTimeout)
	defer cancel()
	if err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.AuditInsert(ctx, entry) }); err != nil {
		s.logger.Error().Str("requestId", entry.RequestID).Str("action", entry.Action).Err(err).Msg("Failed to write audit entry")
	}
}

func isMutation(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return !readOnlyCustomMethods[customMethod(r.URL.Path)]
}

// customMethod returns the AIP-136 custom method of a path
// ("/v1/operations/op-1:cancel" → "cancel"), or "".
func customMethod(path string) string {
	last := path[strings.LastIndex(path, "/")+1:]
	_, method, _ := strings.Cut(last, ":")
	return method
}

// auditAction is the method and the route that served the request, with
// its custom method: "POST /v1/operations/{id}:cancel".
func auditAction(r *http.Request) string {
	route := r.Pattern
	if _, path, ok := strings.Cut(route, " "); ok {
		route = path
	}
	if route == "" || route == "/" {
		route = "(no route)"
	}
	if m := customMethod(r.URL.Path); m != "" {
		route += ":" + m
	}
	return truncate(r.Method+" "+route, maxAuditField)
}

// auditTarget is the resource the request named: its path below /v1/,
// without a custom method ("databases/westeurope/orders").
func auditTarget(r *http.Request) string {
	target := strings.TrimPrefix(r.URL.Path, "/v1/")
	last := strings.LastIndex(target, "/") + 1
	if name, _, ok := strings.Cut(target[last:], ":"); ok {
		target = target[:last] + name
	}
	return truncate(target, maxAuditField)
}

// maxAuditLimit caps one page of GET /v1/audit.
const maxAuditLimit = 1000

func (s *Server) auditList(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "limit", "before")
	if err != nil {
		return err
	}
	params := &store.AuditListParams{Limit: 100}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxAuditLimit {
			return fieldError("limit", "limit must be an integer from 1 to "+strconv.Itoa(maxAuditLimit))
		}
		params.Limit = n
	}
	if q.Has("before") {
		id, err := strconv.ParseInt(q.Get("before"), 10, 64)
		if err != nil || id < 1 {
			return fieldError("before", "before must be the positive id of an audit entry")
		}
		params.BeforeID = id
	}
	entries, err := s.store.AuditList(r.Context(), params)
	if err != nil {
		return err
	}
	out := apiv1.AuditList{Entries: make([]apiv1.AuditEntry, 0, len(entries))}
	for _, e := range entries {
		out.Entries = append(out.Entries, apiv1.AuditEntry{
			ID: e.ID, Time: e.Time, Principal: e.Principal, Action: e.Action, Target: e.Target,
			Status: e.Status, RequestID: e.RequestID, RemoteAddr: e.RemoteAddr,
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
