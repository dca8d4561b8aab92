package client

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

const testToken = "s3cr3t-t0ken"

// fixture is a Client talking to an httptest server on loopback.
type fixture struct {
	client *Client
	server *httptest.Server
	// attempts counts HTTP attempts, retries included, as the transport sees them.
	attempts *atomic.Int64
	logs     *logRecorder
}

// setup starts h on loopback and returns a client for it with fast retries.
// edit, when not nil, adjusts the client's configuration.
func setup(t *testing.T, h http.Handler, edit func(*Config)) *fixture {
	t.Helper()
	server := httptest.NewServer(h)
	t.Cleanup(server.Close)
	f := &fixture{server: server, attempts: new(atomic.Int64), logs: new(logRecorder)}
	cfg := Config{
		Endpoint:      server.URL,
		Token:         testToken,
		MaxRetries:    DefaultMaxRetries,
		RetryWaitMin:  time.Millisecond,
		RetryWaitMax:  10 * time.Millisecond,
		Log:           f.logs.log,
		WrapTransport: countAttempts(f.attempts),
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	require.NoError(t, err)
	c.minPollInterval = 0
	f.client = c
	return f
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func countAttempts(n *atomic.Int64) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			n.Add(1)
			return next.RoundTrip(r)
		})
	}
}

// logRecorder keeps the client's log events, rendered.
type logRecorder struct {
	mu      sync.Mutex
	entries []string
}

func (l *logRecorder) log(_ context.Context, msg string, fields map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, fmt.Sprintf("%s %v", msg, fields))
}

func (l *logRecorder) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.entries...)
}

// reply is one canned answer of a test server.
type reply struct {
	status     int
	retryAfter string
	body       any
}

func writeReply(w http.ResponseWriter, rep reply) {
	if rep.retryAfter != "" {
		w.Header().Set("Retry-After", rep.retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_ = json.NewEncoder(w).Encode(rep.body)
}

func apiError(code, message string, details map[string]string) apiv1.ErrorResponse {
	return apiv1.ErrorResponse{Error: apiv1.Error{Code: code, Message: message, Details: details}}
}

var accepted = reply{status: http.StatusAccepted, body: apiv1.Operation{ID: "op-1", Kind: apiv1.OperationKindApplyDatabase, State: apiv1.OperationPending}}

// sequence answers with replies in order, repeating the last, and records
// each request's headers.
type sequence struct {
	replies []reply
	mu      sync.Mutex
	n       int
	headers []http.Header
}

func (s *sequence) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rep := s.replies[min(s.n, len(s.replies)-1)]
	s.n++
	s.headers = append(s.headers, r.Header.Clone())
	s.mu.Unlock()
	writeReply(w, rep)
}

func (s *sequence) idempotencyKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, len(s.headers))
	for i, h := range s.headers {
		keys[i] = h.Get(apiv1.HeaderIdempotencyKey)
	}
	return keys
}

func TestRetries(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name         string
		replies      []reply
		maxRetries   int
		wantAttempts int64
		// minElapsed is what only honouring Retry-After explains: the
		// backoff is a millisecond.
		minElapsed time.Duration
		// deadline, when set, bounds the call's context.
		deadline time.Duration
		wantErr  *APIError
		// wantErrIs is an error the call's error must match, when it ends without an answer.
		wantErrIs error
	}{
		{
			name: "RetriesPastMaxRetriesUntilTheDeadline",
			replies: []reply{{status: http.StatusServiceUnavailable, retryAfter: "0", body: apiError(apiv1.CodeRegionUnavailable, "restarting", nil)},
				{status: http.StatusServiceUnavailable, retryAfter: "0", body: apiError(apiv1.CodeRegionUnavailable, "restarting", nil)},
				{status: http.StatusBadGateway, body: "proxy"}, {status: http.StatusBadGateway, body: "proxy"},
				{status: http.StatusConflict, body: apiError(apiv1.CodeIdempotencyInFlight, "first attempt still running", nil)}, accepted},
			maxRetries:   2,
			deadline:     time.Minute,
			wantAttempts: 6,
		},
		{
			name:         "GivesUpAtTheDeadline",
			replies:      []reply{{status: http.StatusServiceUnavailable, retryAfter: "0", body: apiError(apiv1.CodeRegionUnavailable, "westeurope is down", nil)}},
			maxRetries:   2,
			deadline:     300 * time.Millisecond,
			minElapsed:   300 * time.Millisecond,
			wantErrIs:    context.DeadlineExceeded,
			wantAttempts: -1,
		},
		{
			name:         "RetriesServiceUnavailableAfterRetryAfter",
			replies:      []reply{{status: http.StatusServiceUnavailable, retryAfter: "1", body: apiError(apiv1.CodeRegionUnavailable, "westeurope is restarting", nil)}, accepted},
			maxRetries:   5,
			wantAttempts: 2,
			minElapsed:   time.Second,
		},
		{
			name:         "RetriesTooManyRequestsAfterRetryAfter",
			replies:      []reply{{status: http.StatusTooManyRequests, retryAfter: "1", body: apiError(apiv1.CodeRateLimited, "slow down", nil)}, accepted},
			maxRetries:   5,
			wantAttempts: 2,
			minElapsed:   time.Second,
		},
		{
			name:         "RetriesInternalErrors",
			replies:      []reply{{status: http.StatusInternalServerError, body: apiError(apiv1.CodeInternal, "boom", nil)}, {status: http.StatusBadGateway, body: "proxy"}, accepted},
			maxRetries:   5,
			wantAttempts: 3,
		},
		{
			name:         "RetriesIdempotencyKeyInFlight",
			replies:      []reply{{status: http.StatusConflict, body: apiError(apiv1.CodeIdempotencyInFlight, "first attempt still running", nil)}, accepted},
			maxRetries:   5,
			wantAttempts: 2,
		},
		{
			name:         "GivesUpAfterMaxRetries",
			replies:      []reply{{status: http.StatusServiceUnavailable, retryAfter: "0", body: apiError(apiv1.CodeRegionUnavailable, "westeurope is down", nil)}},
			maxRetries:   2,
			wantAttempts: 3,
			wantErr:      &APIError{Status: http.StatusServiceUnavailable, Code: apiv1.CodeRegionUnavailable, Message: "westeurope is down"},
		},
		{
			name:         "NeverRetriesWhenMaxRetriesIsZero",
			replies:      []reply{{status: http.StatusServiceUnavailable, retryAfter: "0", body: apiError(apiv1.CodeRegionUnavailable, "westeurope is down", nil)}, accepted},
			maxRetries:   0,
			wantAttempts: 1,
			wantErr:      &APIError{Status: http.StatusServiceUnavailable, Code: apiv1.CodeRegionUnavailable, Message: "westeurope is down"},
		},
		{
			name:         "DoesNotRetryBadRequest",
			replies:      []reply{{status: http.StatusBadRequest, body: apiError(apiv1.CodeInvalidArgument, "unknown region", nil)}, accepted},
			maxRetries:   5,
			wantAttempts: 1,
			wantErr:      &APIError{Status: http.StatusBadRequest, Code: apiv1.CodeInvalidArgument, Message: "unknown region"},
		},
		{
			name:         "DoesNotRetryOperationInProgress",
			replies:      []reply{{status: http.StatusConflict, body: apiError(apiv1.CodeOperationInProgress, "busy", map[string]string{"operation_id": "op-0"})}, accepted},
			maxRetries:   5,
			wantAttempts: 1,
			wantErr:      &APIError{Status: http.StatusConflict, Code: apiv1.CodeOperationInProgress, Message: "busy", Details: map[string]string{"operation_id": "op-0"}},
		},
		{
			name:         "DoesNotRetryIdempotencyKeyReused",
			replies:      []reply{{status: http.StatusUnprocessableEntity, body: apiError(apiv1.CodeIdempotencyMismatch, "other body", nil)}, accepted},
			maxRetries:   5,
			wantAttempts: 1,
			wantErr:      &APIError{Status: http.StatusUnprocessableEntity, Code: apiv1.CodeIdempotencyMismatch, Message: "other body"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seq := &sequence{replies: tt.replies}
			f := setup(t, seq, func(c *Config) { c.MaxRetries = tt.maxRetries })

			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			start := time.Now()
			op, err := f.client.DatabasePut(ctx, "westeurope", "orders", apiv1.DatabaseSpec{})
			elapsed := time.Since(start)

			if tt.wantAttempts < 0 {
				require.Greater(t, f.attempts.Load(), int64(tt.maxRetries+1), "attempts go past max_retries")
			} else {
				require.Equal(t, tt.wantAttempts, f.attempts.Load(), "attempts")
			}
			require.GreaterOrEqual(t, elapsed, tt.minElapsed)
			keys := seq.idempotencyKeys()
			require.NotEmpty(t, keys[0], "Idempotency-Key")
			for _, k := range keys {
				require.Equal(t, keys[0], k, "every attempt must send the first attempt's Idempotency-Key")
			}
			if tt.wantErrIs != nil {
				require.ErrorIs(t, err, tt.wantErrIs)
				return
			}
			if tt.wantErr != nil {
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				if diff := cmp.Diff(tt.wantErr, apiErr); diff != "" {
					t.Fatalf("APIError mismatch (-want +got):\n%s", diff)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, "op-1", op.ID)
		})
	}
}

func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	seq := &sequence{replies: []reply{accepted}}
	f := setup(t, seq, nil)
	ctx := context.Background()

	_, err := f.client.DatabasePut(ctx, "westeurope", "orders", apiv1.DatabaseSpec{})
	require.NoError(t, err)
	_, err = f.client.DatabasePut(ctx, "westeurope", "orders", apiv1.DatabaseSpec{})
	require.NoError(t, err)
	_, err = f.client.DatabaseDelete(ctx, "westeurope", "orders")
	require.NoError(t, err)
	_, err = f.client.OperationGet(ctx, "op-1")
	require.NoError(t, err)

	keys := seq.idempotencyKeys()
	require.NotEmpty(t, keys[0])
	require.NotEmpty(t, keys[2])
	require.NotEqual(t, keys[0], keys[1], "each logical request gets its own key")
	require.NotEqual(t, keys[1], keys[2], "each logical request gets its own key")
	require.Empty(t, keys[3], "a read carries no Idempotency-Key")
}

func TestRetriesConnectionErrors(t *testing.T) {
	t.Parallel()
	f := setup(t, http.NotFoundHandler(), func(c *Config) { c.MaxRetries = 2 })
	f.server.Close()

	_, err := f.client.RegionList(context.Background())

	require.ErrorContains(t, err, "giving up after 3 attempt(s)")
	require.Equal(t, int64(3), f.attempts.Load())
}

func TestRequests(t *testing.T) {
	t.Parallel()

	protection := false
	tests := []struct {
		name     string
		call     func(context.Context, *Client) error
		wantLine string
		wantBody string
		mutating bool
		// replyStatus is the answer's status; zero means 200.
		replyStatus int
		replyBody   any
	}{
		{
			name: "DatabasePut",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.DatabasePut(ctx, "westeurope", "orders", apiv1.DatabaseSpec{DeletionProtection: &protection, SkipFinalBackup: true})
				return err
			},
			wantLine:  "PUT /v1/databases/westeurope/orders",
			wantBody:  `{"deletion_protection":false,"skip_final_backup":true}`,
			mutating:  true,
			replyBody: apiv1.Operation{ID: "op-1"},
		},
		{
			name: "DatabaseGet",
			call: func(ctx context.Context, c *Client) error {
				db, err := c.DatabaseGet(ctx, "westeurope", "orders")
				if err == nil && db.Password != "pw" {
					err = fmt.Errorf("password %q, want pw", db.Password)
				}
				return err
			},
			wantLine:  "GET /v1/databases/westeurope/orders",
			replyBody: apiv1.Database{Region: "westeurope", Name: "orders", Password: "pw"},
		},
		{
			name: "DatabaseDelete",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.DatabaseDelete(ctx, "westeurope", "orders")
				return err
			},
			wantLine:  "DELETE /v1/databases/westeurope/orders",
			mutating:  true,
			replyBody: apiv1.Operation{ID: "op-1"},
		},
		{
			name: "DatabaseList",
			call: func(ctx context.Context, c *Client) error {
				dbs, err := c.DatabaseList(ctx)
				if err == nil && len(dbs) != 1 {
					err = fmt.Errorf("%d databases, want 1", len(dbs))
				}
				return err
			},
			wantLine:  "GET /v1/databases",
			replyBody: apiv1.DatabaseList{Databases: []apiv1.Database{{Name: "orders"}}},
		},
		{
			name: "DatabaseVerify",
			call: func(ctx context.Context, c *Client) error {
				op, err := c.DatabaseVerify(ctx, "eastus", "orders")
				if err == nil && op.Kind != apiv1.OperationKindVerifyDatabase {
					err = fmt.Errorf("operation kind %q, want %s", op.Kind, apiv1.OperationKindVerifyDatabase)
				}
				return err
			},
			wantLine:    "POST /v1/databases/eastus/orders:verify",
			mutating:    true,
			replyStatus: http.StatusAccepted,
			replyBody:   apiv1.Operation{ID: "op-2", Kind: apiv1.OperationKindVerifyDatabase},
		},
		{
			name: "OperationGet",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.OperationGet(ctx, "op-1")
				return err
			},
			wantLine:  "GET /v1/operations/op-1",
			replyBody: apiv1.Operation{ID: "op-1"},
		},
		{
			name: "OperationWait",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.OperationWait(ctx, "op-1", 30*time.Second)
				return err
			},
			wantLine:  "POST /v1/operations/op-1:wait?timeout=30s",
			replyBody: apiv1.Operation{ID: "op-1"},
		},
		{
			name: "OperationWaitCapsTimeout",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.OperationWait(ctx, "op-1", 5*time.Minute)
				return err
			},
			wantLine:  "POST /v1/operations/op-1:wait?timeout=60s",
			replyBody: apiv1.Operation{ID: "op-1"},
		},
		{
			name: "RegionList",
			call: func(ctx context.Context, c *Client) error {
				regions, err := c.RegionList(ctx)
				if err == nil && len(regions) != 1 {
					err = fmt.Errorf("%d regions, want 1", len(regions))
				}
				return err
			},
			wantLine:  "GET /v1/regions",
			replyBody: apiv1.RegionList{Regions: []apiv1.Region{{Name: "westeurope", Healthy: true}}},
		},
		{
			name: "DatabasePlan",
			call: func(ctx context.Context, c *Client) error {
				plan, err := c.DatabasePlan(ctx, "westeurope", "orders", apiv1.DatabaseSpec{
					DeletionProtection: &protection,
					Schema:             "app",
					SchemaVersion:      3,
					Parameters:         map[string]string{"work_mem": "64MB"},
				})
				if err == nil && (plan.TargetVersion != 3 || plan.Wave != 1) {
					err = fmt.Errorf("plan %+v, want target version 3 in wave 1", plan)
				}
				return err
			},
			wantLine: "POST /v1/databases/westeurope/orders:plan",
			wantBody: `{"deletion_protection":false,"skip_final_backup":false,"schema":"app","schema_version":3,` +
				`"parameters":{"work_mem":"64MB"}}`,
			replyBody: apiv1.DatabasePlan{Actions: []string{"migrate"}, CurrentVersion: 2, TargetVersion: 3, Wave: 1, Waves: 2},
		},
		{
			name: "SchemaPut",
			call: func(ctx context.Context, c *Client) error {
				s, err := c.SchemaPut(ctx, "app", apiv1.SchemaSpec{
					Migrations: []apiv1.Migration{{Version: 1, Up: "CREATE TABLE t (id int)", Down: "DROP TABLE t"}},
					Rollout:    &apiv1.RolloutPolicy{Waves: [][]string{{"westeurope"}, {"eastus"}}, BakeTime: "30s", OnFailure: apiv1.OnFailureHalt},
				})
				if err == nil && s.Checksum != "c1" {
					err = fmt.Errorf("checksum %q, want c1", s.Checksum)
				}
				return err
			},
			wantLine: "PUT /v1/schemas/app",
			wantBody: `{"migrations":[{"version":1,"up":"CREATE TABLE t (id int)","down":"DROP TABLE t"}],` +
				`"rollout":{"waves":[["westeurope"],["eastus"]],"bake_time":"30s","on_failure":"halt"}}`,
			mutating:  true,
			replyBody: apiv1.Schema{Name: "app", LatestVersion: 1, Checksum: "c1"},
		},
		{
			name: "SchemaGet",
			call: func(ctx context.Context, c *Client) error {
				s, err := c.SchemaGet(ctx, "app")
				if err == nil && s.LatestVersion != 2 {
					err = fmt.Errorf("latest version %d, want 2", s.LatestVersion)
				}
				return err
			},
			wantLine:  "GET /v1/schemas/app",
			replyBody: apiv1.Schema{Name: "app", LatestVersion: 2},
		},
		{
			name: "SchemaDelete",
			call: func(ctx context.Context, c *Client) error {
				return c.SchemaDelete(ctx, "app")
			},
			wantLine:    "DELETE /v1/schemas/app",
			mutating:    true,
			replyStatus: http.StatusNoContent,
		},
		{
			name: "SchemaValidate",
			call: func(ctx context.Context, c *Client) error {
				v, err := c.SchemaValidate(ctx, "app", apiv1.SchemaSpec{Migrations: []apiv1.Migration{{Version: 1, Up: "CREATE TABEL t ()"}}})
				if err == nil && (v.Valid || len(v.Errors) != 1 || v.Errors[0].Line != 1) {
					err = fmt.Errorf("validation %+v, want one error on line 1", v)
				}
				return err
			},
			wantLine: "POST /v1/schemas/app:validate",
			wantBody: `{"migrations":[{"version":1,"up":"CREATE TABEL t ()"}]}`,
			replyBody: apiv1.SchemaValidation{Errors: []apiv1.MigrationError{
				{Version: 1, Line: 1, Code: apiv1.CodeMigrationInvalid, Message: `syntax error at or near "TABEL"`},
			}},
		},
		{
			name: "RolloutResume",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.RolloutResume(ctx, "app", 3)
				return err
			},
			wantLine:  "POST /v1/schemas/app/rollouts/3:resume",
			mutating:  true,
			replyBody: apiv1.Schema{Name: "app"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got *http.Request
			var gotBody []byte
			f := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r
				gotBody, _ = io.ReadAll(r.Body)
				status := tt.replyStatus
				if status == 0 {
					status = http.StatusOK
				}
				writeReply(w, reply{status: status, body: tt.replyBody})
			}), func(c *Config) { c.UserAgent = "terraform-provider-dbfleet/test" })

			require.NoError(t, tt.call(context.Background(), f.client))

			require.Equal(t, tt.wantLine, got.Method+" "+got.URL.RequestURI())
			require.Equal(t, "Bearer "+testToken, got.Header.Get("Authorization"))
			require.Equal(t, "terraform-provider-dbfleet/test", got.Header.Get("User-Agent"))
			require.Equal(t, tt.mutating, got.Header.Get(apiv1.HeaderIdempotencyKey) != "", "Idempotency-Key sent")
			if tt.wantBody == "" {
				require.Empty(t, gotBody)
				return
			}
			require.JSONEq(t, tt.wantBody, string(gotBody))
			require.Equal(t, "application/json", got.Header.Get("Content-Type"))
		})
	}
}

func TestErrorDecoding(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name         string
		status       int
		requestID    string
		body         string
		want         *APIError
		wantString   string
		wantNotFound bool
	}{
		{
			name:         "NotFound",
			status:       http.StatusNotFound,
			body:         `{"error":{"code":"not_found","message":"database westeurope/orders does not exist","request_id":"req-1"}}`,
			want:         &APIError{Status: 404, Code: apiv1.CodeNotFound, Message: "database westeurope/orders does not exist", RequestID: "req-1"},
			wantString:   "dbfleet API answered 404 Not Found (not_found): database westeurope/orders does not exist; request ID req-1",
			wantNotFound: true,
		},
		{
			name:       "DetailsInOrder",
			status:     http.StatusConflict,
			body:       `{"error":{"code":"operation_in_progress","message":"busy","details":{"operation_id":"op-7","kind":"apply_database"}}}`,
			want:       &APIError{Status: 409, Code: apiv1.CodeOperationInProgress, Message: "busy", Details: map[string]string{"operation_id": "op-7", "kind": "apply_database"}},
			wantString: "dbfleet API answered 409 Conflict (operation_in_progress): busy; kind=apply_database; operation_id=op-7",
		},
		{
			name:       "RequestIDFromHeader",
			status:     http.StatusForbidden,
			requestID:  "req-h",
			body:       `{"error":{"code":"permission_denied","message":"token lacks the write scope"}}`,
			want:       &APIError{Status: 403, Code: apiv1.CodePermissionDenied, Message: "token lacks the write scope", RequestID: "req-h"},
			wantString: "dbfleet API answered 403 Forbidden (permission_denied): token lacks the write scope; request ID req-h",
		},
		{
			name:       "NotAnAPIError",
			status:     http.StatusNotImplemented,
			body:       "  <html>no such thing</html>\n",
			want:       &APIError{Status: 501, Message: "<html>no such thing</html>"},
			wantString: "dbfleet API answered 501 Not Implemented: <html>no such thing</html>",
		},
		{
			name:       "EmptyBody",
			status:     http.StatusUnauthorized,
			want:       &APIError{Status: 401},
			wantString: "dbfleet API answered 401 Unauthorized",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tt.requestID != "" {
					w.Header().Set(apiv1.HeaderRequestID, tt.requestID)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}), nil)

			_, err := f.client.DatabaseGet(context.Background(), "westeurope", "orders")

			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			if diff := cmp.Diff(tt.want, apiErr); diff != "" {
				t.Fatalf("APIError mismatch (-want +got):\n%s", diff)
			}
			require.Equal(t, tt.wantString, apiErr.Error())
			require.Equal(t, "getting database westeurope/orders: "+tt.wantString, err.Error())
			require.Equal(t, tt.wantNotFound, errors.Is(err, ErrNotFound))
		})
	}
}

// operations serves GET and :wait for one operation that is done after
// pollsUntilDone long-polls (never when negative), and records the timeout
// of each long-poll.
type operations struct {
	pollsUntilDone int
	mu             sync.Mutex
	timeouts       []string
}

func (o *operations) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.timeouts = append(o.timeouts, r.URL.Query().Get("timeout"))
	polls := len(o.timeouts)
	o.mu.Unlock()
	op := apiv1.Operation{ID: "op-1", Kind: apiv1.OperationKindApplyDatabase, State: apiv1.OperationRunning, Progress: "creating role " + strconv.Itoa(polls)}
	if o.pollsUntilDone >= 0 && polls >= o.pollsUntilDone {
		op.Done, op.State, op.Progress = true, apiv1.OperationSucceeded, ""
	}
	writeReply(w, reply{status: http.StatusOK, body: op})
}

func (o *operations) polls() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.timeouts...)
}

func TestWaitOperation(t *testing.T) {
	t.Parallel()

	t.Run("ReturnsAsSoonAsDone", func(t *testing.T) {
		t.Parallel()
		ops := &operations{pollsUntilDone: 1}
		f := setup(t, ops, nil)

		op, err := f.client.WaitOperation(context.Background(), "op-1", nil)

		require.NoError(t, err)
		require.Equal(t, apiv1.OperationSucceeded, op.State)
		require.Equal(t, []string{"30s"}, ops.polls())
	})

	t.Run("LoopsUntilDone", func(t *testing.T) {
		t.Parallel()
		ops := &operations{pollsUntilDone: 3}
		f := setup(t, ops, nil)

		op, err := f.client.WaitOperation(context.Background(), "op-1", nil)

		require.NoError(t, err)
		require.True(t, op.Done)
		require.Len(t, ops.polls(), 3)
	})

	t.Run("ShortensLongPollsToFollowProgress", func(t *testing.T) {
		t.Parallel()
		ops := &operations{pollsUntilDone: 2}
		f := setup(t, ops, nil)
		var changes int

		_, err := f.client.WaitOperation(context.Background(), "op-1", func(*apiv1.Operation) { changes++ })

		require.NoError(t, err)
		require.Equal(t, []string{"10s", "10s"}, ops.polls())
		require.Equal(t, 1, changes)
	})

	t.Run("BoundsLongPollsByContext", func(t *testing.T) {
		t.Parallel()
		ops := &operations{pollsUntilDone: 1}
		f := setup(t, ops, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		_, err := f.client.WaitOperation(ctx, "op-1", nil)

		require.NoError(t, err)
		require.Equal(t, []string{"9s"}, ops.polls())
	})

	t.Run("RespectsContextDeadline", func(t *testing.T) {
		t.Parallel()
		ops := &operations{pollsUntilDone: -1}
		f := setup(t, ops, nil)
		f.client.minPollInterval = 50 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()

		start := time.Now()
		op, err := f.client.WaitOperation(ctx, "op-1", nil)

		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(start), 2*time.Second)
		require.NotNil(t, op, "the last operation seen")
		require.Equal(t, apiv1.OperationRunning, op.State)
		polls := ops.polls()
		require.Greater(t, len(polls), 1)
		require.Equal(t, "1s", polls[0], "a long-poll never outlasts the context")
	})
}

func TestTokenNeverLogged(t *testing.T) {
	t.Parallel()
	// A careless server echoes the token in its errors.
	seq := &sequence{replies: []reply{
		{status: http.StatusServiceUnavailable, retryAfter: "0", body: apiError(apiv1.CodeRegionUnavailable, "retry with "+testToken, nil)},
		{status: http.StatusUnauthorized, body: apiError(apiv1.CodeUnauthenticated, "token "+testToken+" is revoked", nil)},
	}}
	f := setup(t, seq, nil)

	_, err := f.client.DatabasePut(context.Background(), "westeurope", "orders", apiv1.DatabaseSpec{})
	require.Error(t, err)

	entries := f.logs.all()
	require.NotEmpty(t, entries)
	joined := strings.Join(entries, "\n")
	require.Contains(t, joined, "token *** is revoked", "the error is logged, masked")
	require.NotContains(t, joined, testToken)
}

func TestTLS(t *testing.T) {
	t.Parallel()
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeReply(w, reply{status: http.StatusOK, body: apiv1.RegionList{}})
	}))
	t.Cleanup(server.Close)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw}))

	tests := []struct {
		name         string
		caCertPEM    string
		insecure     bool
		wantErr      string
		wantAttempts int64
	}{
		{name: "TrustsCACertPEM", caCertPEM: caPEM, wantAttempts: 1},
		{name: "SkipsVerificationWhenInsecure", insecure: true, wantAttempts: 1},
		{name: "RefusesUnknownAuthorityWithoutRetrying", wantErr: "certificate", wantAttempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			attempts := new(atomic.Int64)
			c, err := New(Config{
				Endpoint:           server.URL,
				Token:              testToken,
				CACertPEM:          tt.caCertPEM,
				InsecureSkipVerify: tt.insecure,
				MaxRetries:         3,
				RetryWaitMin:       time.Millisecond,
				WrapTransport:      countAttempts(attempts),
			})
			require.NoError(t, err)

			_, err = c.RegionList(context.Background())

			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.wantAttempts, attempts.Load())
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()

	valid := Config{Endpoint: "http://127.0.0.1:8580", Token: testToken}
	tests := []struct {
		name      string
		edit      func(*Config)
		wantField string
	}{
		{name: "MissingEndpoint", edit: func(c *Config) { c.Endpoint = "" }, wantField: "endpoint"},
		{name: "RelativeEndpoint", edit: func(c *Config) { c.Endpoint = "127.0.0.1:8580" }, wantField: "endpoint"},
		{name: "EndpointWithOtherScheme", edit: func(c *Config) { c.Endpoint = "ftp://127.0.0.1" }, wantField: "endpoint"},
		{name: "EndpointWithQuery", edit: func(c *Config) { c.Endpoint = "http://127.0.0.1/?a=b" }, wantField: "endpoint"},
		{name: "MissingToken", edit: func(c *Config) { c.Token = "" }, wantField: "token"},
		{name: "NotPEM", edit: func(c *Config) { c.CACertPEM = "not a certificate" }, wantField: "ca_cert_pem"},
		{name: "NegativeRequestTimeout", edit: func(c *Config) { c.RequestTimeout = -time.Second }, wantField: "request_timeout"},
		{name: "NegativeMaxRetries", edit: func(c *Config) { c.MaxRetries = -1 }, wantField: "max_retries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid
			tt.edit(&cfg)

			_, err := New(cfg)

			var cfgErr *ConfigError
			require.ErrorAs(t, err, &cfgErr)
			require.Equal(t, tt.wantField, cfgErr.Field)
		})
	}
}

func TestEndpointWithPathPrefix(t *testing.T) {
	t.Parallel()
	var gotPath string
	f := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		writeReply(w, reply{status: http.StatusOK, body: apiv1.RegionList{}})
	}), func(c *Config) { c.Endpoint += "/dbfleet/" })

	_, err := f.client.RegionList(context.Background())

	require.NoError(t, err)
	require.Equal(t, "/dbfleet/v1/regions", gotPath)
}

func TestSchemaAndPlanErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name         string
		status       int
		body         apiv1.ErrorResponse
		call         func(context.Context, *Client) error
		wantCode     string
		wantNotFound bool
	}{
		{
			name:         "SchemaGetNotFound",
			status:       http.StatusNotFound,
			body:         apiError(apiv1.CodeNotFound, "schema app does not exist", nil),
			call:         func(ctx context.Context, c *Client) error { _, err := c.SchemaGet(ctx, "app"); return err },
			wantCode:     apiv1.CodeNotFound,
			wantNotFound: true,
		},
		{
			name:   "SchemaPutPublishedVersionChanged",
			status: http.StatusConflict,
			body:   apiError(apiv1.CodePublishedVersion, "version 2 has run in westeurope/orders and cannot change", nil),
			call: func(ctx context.Context, c *Client) error {
				_, err := c.SchemaPut(ctx, "app", apiv1.SchemaSpec{})
				return err
			},
			wantCode: apiv1.CodePublishedVersion,
		},
		{
			name:     "SchemaDeleteInUse",
			status:   http.StatusConflict,
			body:     apiError(apiv1.CodeConflict, "schema app is used by 3 databases", nil),
			call:     func(ctx context.Context, c *Client) error { return c.SchemaDelete(ctx, "app") },
			wantCode: apiv1.CodeConflict,
		},
		{
			name:   "DatabasePlanRolloutHalted",
			status: http.StatusConflict,
			body:   apiError(apiv1.CodeRolloutHalted, "the rollout of app version 3 halted in westeurope: migration", nil),
			call: func(ctx context.Context, c *Client) error {
				_, err := c.DatabasePlan(ctx, "northeurope", "orders", apiv1.DatabaseSpec{Schema: "app", SchemaVersion: 3})
				return err
			},
			wantCode: apiv1.CodeRolloutHalted,
		},
		{
			name:   "DatabasePlanDowngradeImpossible",
			status: http.StatusBadRequest,
			body:   apiError(apiv1.CodeDowngradeImpossible, "version 3 has no down SQL", nil),
			call: func(ctx context.Context, c *Client) error {
				_, err := c.DatabasePlan(ctx, "westeurope", "orders", apiv1.DatabaseSpec{Schema: "app", SchemaVersion: 2})
				return err
			},
			wantCode: apiv1.CodeDowngradeImpossible,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, &sequence{replies: []reply{{status: tt.status, body: tt.body}}}, nil)

			err := tt.call(context.Background(), f.client)

			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tt.wantCode, apiErr.Code)
			require.Equal(t, tt.body.Error.Message, apiErr.Message)
			require.Equal(t, tt.wantNotFound, errors.Is(err, ErrNotFound))
			require.Equal(t, int64(1), f.attempts.Load(), "a refusal is not retried")
		})
	}
}

func TestWaitOperationReportsChanges(t *testing.T) {
	t.Parallel()
	waiting := func(progress string) reply {
		return reply{status: http.StatusOK, body: apiv1.Operation{ID: "op-1", State: apiv1.OperationPending, Progress: progress}}
	}
	seq := &sequence{replies: []reply{
		waiting("waiting: wave 2 of 2 starts after westeurope/orders has run version 3 for 30s (30s left)"),
		waiting("waiting: wave 2 of 2 starts after westeurope/orders has run version 3 for 30s (30s left)"),
		waiting("waiting: wave 2 of 2 starts after westeurope/orders has run version 3 for 30s (12s left)"),
		{status: http.StatusOK, body: apiv1.Operation{ID: "op-1", State: apiv1.OperationRunning, Progress: "applying migration 3"}},
		{status: http.StatusOK, body: apiv1.Operation{ID: "op-1", State: apiv1.OperationSucceeded, Done: true}},
	}}
	f := setup(t, seq, nil)
	var seen []string

	op, err := f.client.WaitOperation(context.Background(), "op-1", func(op *apiv1.Operation) {
		seen = append(seen, op.State+": "+op.Progress)
	})

	require.NoError(t, err)
	require.True(t, op.Done)
	require.Len(t, seq.idempotencyKeys(), 5, "long-polls")
	want := []string{
		"pending: waiting: wave 2 of 2 starts after westeurope/orders has run version 3 for 30s (30s left)",
		"pending: waiting: wave 2 of 2 starts after westeurope/orders has run version 3 for 30s (12s left)",
		"running: applying migration 3",
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Fatalf("changes mismatch (-want +got):\n%s", diff)
	}
}
