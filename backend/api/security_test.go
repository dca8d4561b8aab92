package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// fakeOperations answers the mutations the security tests send and counts
// those that reached it; any other method panics.
type fakeOperations struct {
	Operations
	reached atomic.Int64
	// holdWaits makes OperationWait last its whole timeout, like a wait
	// on an operation that does not finish.
	holdWaits bool
	// applyErr, when set, is DatabaseApply's answer.
	applyErr error
}

func (f *fakeOperations) op(region, name string) *store.Operation {
	f.reached.Add(1)
	now := time.Now().UTC()
	return &store.Operation{ID: "op-1", Kind: apiv1.OperationKindApplyDatabase, Region: region, Database: name,
		State: apiv1.OperationPending, CreatedAt: now, UpdatedAt: now}
}

func (f *fakeOperations) DatabaseApply(_ context.Context, p *ops.DatabaseApplyParams) (*store.Operation, error) {
	if f.applyErr != nil {
		f.reached.Add(1)
		return nil, f.applyErr
	}
	return f.op(p.Region, p.Name), nil
}

func (f *fakeOperations) DatabaseParametersCheck(context.Context, *ops.DatabaseApplyParams) error {
	return nil
}

func (f *fakeOperations) DatabaseDelete(_ context.Context, p *ops.DatabaseDeleteParams) (*store.Operation, error) {
	return f.op(p.Region, p.Name), nil
}

func (f *fakeOperations) OperationCancel(context.Context, string) (*store.Operation, error) {
	return f.op("westeurope", "orders"), nil
}

func (f *fakeOperations) OperationWait(ctx context.Context, _ string, timeout time.Duration) (*store.Operation, error) {
	if f.holdWaits {
		select {
		case <-time.After(timeout):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return f.op("westeurope", "orders"), nil
}

type fakeRegions struct{ Regions }

func (fakeRegions) Endpoint(string) (string, int, error) { return "127.0.0.1", 5432, nil }

// securityBundle is an API server on real SQLite with one token per scope.
type securityBundle struct {
	server *Server
	url    string
	store  store.Store
	ops    *fakeOperations
	tokens map[string]string
}

// openSQLite opens a state store of the test's own, closed when it ends.
func openSQLite(t *testing.T) store.Store {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "state.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func setupSecurity(t *testing.T, rateLimit RateLimit) *securityBundle {
	t.Helper()
	ctx := context.Background()
	st := openSQLite(t)
	b := &securityBundle{store: st, ops: &fakeOperations{}, tokens: map[string]string{}}
	for _, scope := range Scopes {
		_, token, err := TokenCreate(ctx, st, scope+"-token", scope)
		require.NoError(t, err)
		b.tokens[scope] = token
	}
	b.server = New(Config{Store: st, Operations: b.ops, Regions: fakeRegions{}, Logger: zerolog.Nop(),
		Registry: prometheus.NewRegistry(), RateLimit: rateLimit})
	srv := httptest.NewServer(b.server)
	t.Cleanup(srv.Close)
	b.url = srv.URL
	return b
}

type answer struct {
	status int
	header http.Header
	body   apiv1.ErrorResponse
	raw    []byte
}

// do sends a request with an Authorization header (none when empty).
func (b *securityBundle) do(t *testing.T, method, path, authorization string, headers ...string) answer {
	t.Helper()
	var body io.Reader
	if method == http.MethodPut {
		body = strings.NewReader(`{"skip_final_backup": true}`)
	}
	req, err := http.NewRequest(method, b.url+path, body)
	require.NoError(t, err)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if resp.StatusCode >= 400 {
		require.NoError(t, json.Unmarshal(raw, &a.body), "every error is JSON: %s", raw)
		require.NotEmpty(t, a.body.Error.Code)
	}
	return a
}

func bearer(token string) string { return "Bearer " + token }

func TestScopes(t *testing.T) {
	t.Parallel()
	b := setupSecurity(t, RateLimit{PerSecond: -1})
	const db = "/v1/databases/westeurope/orders"
	for _, tc := range []struct {
		scope, method, path string
		want                int
	}{
		{"read", http.MethodGet, "/v1/databases", http.StatusOK},
		{"read", http.MethodGet, "/v1/operations", http.StatusOK},
		{"read", http.MethodPut, db, http.StatusForbidden},
		{"read", http.MethodDelete, db, http.StatusForbidden},
		{"read", http.MethodPost, "/v1/operations/op-1:cancel", http.StatusForbidden},
		{"read", http.MethodPost, "/v1/operations/op-1:wait", http.StatusForbidden},
		{"read", http.MethodGet, "/v1/audit", http.StatusForbidden},
		{"write", http.MethodPut, db, http.StatusAccepted},
		{"write", http.MethodDelete, db, http.StatusAccepted},
		{"write", http.MethodPost, "/v1/operations/op-1:cancel", http.StatusOK},
		{"write", http.MethodGet, "/v1/audit", http.StatusForbidden},
		{"admin", http.MethodGet, "/v1/audit", http.StatusOK},
		{"admin", http.MethodPut, db, http.StatusAccepted},
	} {
		t.Run(tc.scope+" "+tc.method+" "+tc.path, func(t *testing.T) {
			before := b.ops.reached.Load()
			a := b.do(t, tc.method, tc.path, bearer(b.tokens[tc.scope]))
			require.Equal(t, tc.want, a.status, "%s", a.raw)
			if tc.want == http.StatusForbidden {
				require.Equal(t, apiv1.CodePermissionDenied, a.body.Error.Code)
				require.Contains(t, a.body.Error.Message, tc.scope+"-token has scope "+tc.scope)
				require.Equal(t, before, b.ops.reached.Load(), "a refused call never reaches the operations")
			}
		})
	}

	t.Run("Unauthenticated", func(t *testing.T) {
		for _, authorization := range []string{"", "Bearer ", "Bearer wrong", "Basic " + b.tokens["admin"],
			b.tokens["admin"], "Bearer " + b.tokens["admin"] + "x", "Bearer " + strings.Repeat("a", 5000)} {
			before := b.ops.reached.Load()
			a := b.do(t, http.MethodPut, db, authorization)
			require.Equal(t, http.StatusUnauthorized, a.status, "%q: %s", authorization, a.raw)
			require.Equal(t, apiv1.CodeUnauthenticated, a.body.Error.Code)
			require.Equal(t, before, b.ops.reached.Load())
		}
		require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/databases", "bearer "+b.tokens["read"]).status,
			"the scheme is case-insensitive (RFC 7235)")
	})
}

// looseStore finds a token for any hash, like a store whose lookup matched
// too much (a collation, a prefix index).
type looseStore struct {
	store.Store
	token *store.Token
}

func (s looseStore) TokenGetByHash(context.Context, string) (*store.Token, error) {
	return s.token, nil
}

func TestTokenHashIsComparedAfterLookup(t *testing.T) {
	t.Parallel()
	b := setupSecurity(t, RateLimit{PerSecond: -1})
	tokens, err := b.store.TokenList(context.Background())
	require.NoError(t, err)
	b.server.store = looseStore{Store: b.store, token: tokens[0]}
	a := b.do(t, http.MethodGet, "/v1/databases", bearer("dbf_not-the-token"))
	require.Equal(t, http.StatusUnauthorized, a.status, "a token whose hash differs never authenticates: %s", a.raw)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/databases", bearer(b.tokens[tokens[0].Scope])).status)
}

func TestRevokedTokenStopsAtOnce(t *testing.T) {
	t.Parallel()
	b := setupSecurity(t, RateLimit{PerSecond: -1})
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/databases", bearer(b.tokens["read"])).status)
	require.NoError(t, TokenRevoke(context.Background(), b.store, "read-token"))
	require.Equal(t, http.StatusUnauthorized, b.do(t, http.MethodGet, "/v1/databases", bearer(b.tokens["read"])).status)
	require.ErrorIs(t, TokenRevoke(context.Background(), b.store, "read-token"), store.ErrNotFound)
}

func TestAuditLog(t *testing.T) {
	t.Parallel()
	b := setupSecurity(t, RateLimit{PerSecond: -1})
	const db = "/v1/databases/westeurope/orders"
	put := b.do(t, http.MethodPut, db, bearer(b.tokens["write"]), apiv1.HeaderRequestID, "req-put")
	require.Equal(t, http.StatusAccepted, put.status)
	b.do(t, http.MethodGet, db, bearer(b.tokens["write"]))                            // a read: not audited
	b.do(t, http.MethodPost, "/v1/operations/op-1:wait", bearer(b.tokens["write"]))   // changes nothing: not audited
	b.do(t, http.MethodPost, "/v1/operations/op-1:cancel", bearer(b.tokens["write"])) // a mutation
	b.do(t, http.MethodPut, "/v1/databases/westeurope/Bad%20Name", bearer(b.tokens["write"]))
	b.do(t, http.MethodDelete, db, bearer(b.tokens["read"]), apiv1.HeaderRequestID, "req-403")
	b.do(t, http.MethodGet, "/v1/databases", bearer("dbf_stolen-or-guessed"), apiv1.HeaderRequestID, "req-401")

	resp := b.do(t, http.MethodGet, "/v1/audit?limit=10", bearer(b.tokens["admin"]))
	require.Equal(t, http.StatusOK, resp.status)
	var list apiv1.AuditList
	require.NoError(t, json.Unmarshal(resp.raw, &list))
	type row struct {
		principal, action, target string
		status                    int
	}
	var got []row
	for _, e := range list.Entries {
		got = append(got, row{e.Principal, e.Action, e.Target, e.Status})
		require.WithinDuration(t, time.Now(), e.Time, time.Minute)
		require.Regexp(t, `^127\.0\.0\.1:\d+$`, e.RemoteAddr)
		require.NotEmpty(t, e.RequestID)
	}
	require.Equal(t, []row{
		{"anonymous", "GET /v1/databases", "databases", http.StatusUnauthorized},
		{"read-token", "DELETE /v1/databases/{region}/{name}", "databases/westeurope/orders", http.StatusForbidden},
		{"write-token", "PUT /v1/databases/{region}/{name}", "databases/westeurope/Bad Name", http.StatusBadRequest},
		{"write-token", "POST /v1/operations/{id}:cancel", "operations/op-1", http.StatusOK},
		{"write-token", "PUT /v1/databases/{region}/{name}", "databases/westeurope/orders", http.StatusAccepted},
	}, got, "newest first")
	require.Equal(t, "req-401", list.Entries[0].RequestID)
	require.Equal(t, "req-403", list.Entries[1].RequestID)
	require.Equal(t, "req-put", list.Entries[4].RequestID)

	older := b.do(t, http.MethodGet, "/v1/audit?limit=2&before="+jsonNumber(list.Entries[1].ID), bearer(b.tokens["admin"]))
	var page apiv1.AuditList
	require.NoError(t, json.Unmarshal(older.raw, &page))
	require.Len(t, page.Entries, 2)
	require.Equal(t, list.Entries[2].ID, page.Entries[0].ID)
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "before=-1"} {
		require.Equal(t, http.StatusBadRequest, b.do(t, http.MethodGet, "/v1/audit?"+bad, bearer(b.tokens["admin"])).status, bad)
	}
}

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestRateLimit(t *testing.T) {
	t.Parallel()
	b := setupSecurity(t, RateLimit{PerSecond: 0.5, Burst: 2})
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b.server.tokenLimits.now = clock
	b.server.authFailureLimits.now = clock
	read := bearer(b.tokens["read"])

	for range 2 {
		require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/databases", read).status, "the burst")
	}
	limited := b.do(t, http.MethodGet, "/v1/databases", read)
	require.Equal(t, http.StatusTooManyRequests, limited.status)
	require.Equal(t, apiv1.CodeRateLimited, limited.body.Error.Code)
	require.Equal(t, "2", limited.header.Get("Retry-After"), "whole seconds, rounded up: one request per 2 s")
	require.Equal(t, limited.header.Get(apiv1.HeaderRequestID), limited.body.Error.RequestID)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/databases", bearer(b.tokens["write"])).status,
		"each token has its own bucket")

	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/databases", read).status, "refused requests cost nothing")

	t.Run("BadTokensPerAddress", func(t *testing.T) {
		var statuses []int
		for range 25 {
			statuses = append(statuses, b.do(t, http.MethodGet, "/v1/databases", bearer("dbf_guess")).status)
		}
		require.Equal(t, http.StatusTooManyRequests, statuses[len(statuses)-1], "guessing is throttled: %v", statuses)
		var list apiv1.AuditList
		require.NoError(t, json.Unmarshal(b.do(t, http.MethodGet, "/v1/audit?limit=1000", bearer(b.tokens["admin"])).raw, &list))
		anonymous := 0
		for _, e := range list.Entries {
			if e.Principal == store.AuditAnonymous {
				anonymous++
			}
		}
		require.Equal(t, authFailureLimit.Burst, anonymous, "a flood of bad tokens writes no more audit rows than the burst")
	})
}

func TestRequestIDInEveryError(t *testing.T) {
	t.Parallel()
	b := setupSecurity(t, RateLimit{PerSecond: -1})
	for _, tc := range []struct {
		name, method, path, authorization string
	}{
		{"Unauthenticated", http.MethodGet, "/v1/databases", ""},
		{"Forbidden", http.MethodPut, "/v1/databases/westeurope/orders", bearer(b.tokens["read"])},
		{"BadInput", http.MethodGet, "/v1/databases/westeurope/NO", bearer(b.tokens["read"])},
		{"NotFound", http.MethodGet, "/v1/databases/westeurope/orders", bearer(b.tokens["read"])},
		{"NoRoute", http.MethodGet, "/v2/nothing", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := b.do(t, tc.method, tc.path, tc.authorization)
			require.GreaterOrEqual(t, a.status, 400)
			id := a.header.Get(apiv1.HeaderRequestID)
			require.NotEmpty(t, id)
			require.Equal(t, id, a.body.Error.RequestID, "the body names the request id the header does")

			mine := b.do(t, tc.method, tc.path, tc.authorization, apiv1.HeaderRequestID, "my-trace.42")
			require.Equal(t, "my-trace.42", mine.header.Get(apiv1.HeaderRequestID), "a client's id is echoed")
			require.Equal(t, "my-trace.42", mine.body.Error.RequestID)

			bad := b.do(t, tc.method, tc.path, tc.authorization, apiv1.HeaderRequestID, "has spaces\tand tabs")
			require.NotEqual(t, "has spaces\tand tabs", bad.header.Get(apiv1.HeaderRequestID), "an unsafe id is replaced")
			require.Equal(t, bad.header.Get(apiv1.HeaderRequestID), bad.body.Error.RequestID)
		})
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })

	name, token, err := TokenCreate(ctx, st, "", "write")
	require.NoError(t, err)
	require.Regexp(t, `^dbf_[0-9a-f]{48}$`, token, "192 random bits")
	require.Regexp(t, `^write-[0-9a-f]{8}$`, name)
	_, other, err := TokenCreate(ctx, st, "ci", "read")
	require.NoError(t, err)
	require.NotEqual(t, token, other)

	list, err := st.TokenList(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	for _, stored := range list {
		require.NotEqual(t, token, stored.Hash, "only the hash is stored")
		require.NotEqual(t, other, stored.Hash)
		require.Len(t, stored.Hash, 64)
	}

	_, _, err = TokenCreate(ctx, st, "ci", "admin")
	require.ErrorIs(t, err, ErrTokenExists, "a name is never silently re-pointed")
	_, _, err = TokenCreate(ctx, st, "x", "superuser")
	require.ErrorContains(t, err, "scope")
	for _, bad := range []string{"Has Space", "UPPER", "-dash", strings.Repeat("a", 64), "a\nb", ""} {
		require.Error(t, ValidateTokenName(bad), "%q", bad)
	}
	require.Equal(t, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", HashToken("test"))
}

func TestRequestBodiesAreBoundedAndStrict(t *testing.T) {
	t.Parallel()
	b := setupSecurity(t, RateLimit{PerSecond: -1})
	for _, tc := range []struct {
		name, body string
	}{
		{"LargerThanItsLimit", `{"skip_final_backup": true, "schema": "` + strings.Repeat("a", databaseBodyLimit) + `"}`},
		{"UnknownField", `{"deletion_protectio": false}`},
		{"TrailingData", `{"skip_final_backup": true} {"skip_final_backup": false}`},
		{"StrayClosingBracket", `{"skip_final_backup": true}]`},
		{"WrongType", `{"skip_final_backup": "yes"}`},
		{"NotJSON", `skip_final_backup=true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPut, b.url+"/v1/databases/westeurope/orders", strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Authorization", bearer(b.tokens["write"]))
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			require.Zero(t, b.ops.reached.Load(), "nothing starts")
		})
	}
}
