package ui_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// Strings a user controls (migration SQL in a halt message, parameter
// values, event and error messages) that must reach pages escaped.
const (
	evilScript = `<script>alert("halt")</script>`
	evilImage  = `<img src=x onerror=alert(1)>`
	adminToken = "dbf_admin_token_for_ui_tests_0123456789abcdef"
	readToken  = "dbf_read_token_for_ui_tests_0123456789abcdef0"
)

// fakeOperations serves the rollouts of schema "app": version 2 halted in
// westeurope. Resumes are counted.
type fakeOperations struct {
	api.Operations
	mu      sync.Mutex
	resumed []string
}

func (f *fakeOperations) SchemaGet(_ context.Context, name string) (*ops.SchemaStatus, error) {
	if name != "app" {
		return nil, store.ErrNotFound
	}
	return &ops.SchemaStatus{
		Schema: &store.Schema{Name: "app", Rollout: store.RolloutPolicy{BakeTime: time.Minute, OnFailure: apiv1.OnFailureHalt}},
		Waves:  [][]string{{"westeurope"}, {"northeurope", "eastus"}},
		Rollouts: []*store.Rollout{
			{Schema: "app", Version: 1, State: apiv1.RolloutCompleted},
			{Schema: "app", Version: 2, State: apiv1.RolloutHalted, Halt: store.RolloutHalt{
				Region: "westeurope", Database: "orders", Check: apiv1.CheckMigration, Message: "syntax error at line 2: " + evilScript}},
		},
	}, nil
}

func (f *fakeOperations) RolloutResume(ctx context.Context, schema string, version int64) (*ops.SchemaStatus, error) {
	f.mu.Lock()
	f.resumed = append(f.resumed, schema)
	f.mu.Unlock()
	return f.SchemaGet(ctx, schema)
}

func (f *fakeOperations) resumes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.resumed)
}

type fakeRegions struct{ api.Regions }

func (fakeRegions) Names() []string { return []string{"westeurope", "northeurope", "eastus"} }

type bundle struct {
	server *httptest.Server
	store  store.Store
	ops    *fakeOperations
	key    []byte
}

// setup serves the API, the dashboard mounted in it, over a store with a
// small fleet: orders in three regions (a replica in eastus) and an
// operation that failed.
func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	now := time.Now().UTC().Truncate(time.Microsecond)
	require.NoError(t, st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, tok := range []*store.Token{
			{Name: "ops-admin", Hash: api.HashToken(adminToken), Scope: "admin", CreatedAt: now},
			{Name: "viewer", Hash: api.HashToken(readToken), Scope: "read", CreatedAt: now},
		} {
			require.NoError(t, tx.TokenPut(ctx, tok))
		}
		for _, db := range []*store.Database{
			{Region: "westeurope", Name: "orders", Owner: "orders_owner", Password: "secret-pw", Status: apiv1.DatabaseStatusFailed,
				Schema: "app", SchemaVersion: 2, AppliedVersion: 1, Parameters: map[string]string{"search_path": evilImage},
				Generation: 2, ObservedGeneration: 1, CreatedAt: now, UpdatedAt: now},
			{Region: "northeurope", Name: "orders", Owner: "orders_owner", Status: apiv1.DatabaseStatusReady,
				Schema: "app", SchemaVersion: 1, AppliedVersion: 1, Generation: 1, ObservedGeneration: 1, CreatedAt: now, UpdatedAt: now},
			{Region: "eastus", Name: "orders", Owner: "orders_owner", Status: apiv1.DatabaseStatusReady, ReplicaOf: "northeurope",
				Schema: "app", SchemaVersion: 1, AppliedVersion: 1, Generation: 1, ObservedGeneration: 1, CreatedAt: now, UpdatedAt: now},
		} {
			require.NoError(t, tx.DatabasePut(ctx, db))
		}
		op := &store.Operation{ID: "op-failed", Kind: apiv1.OperationKindApplyDatabase, Region: "westeurope", Database: "orders",
			State: apiv1.OperationFailed, Step: "migrate", RequestID: "req-123", Generation: 2, CreatedAt: now.Add(-time.Minute), UpdatedAt: now,
			Error: &store.OperationError{Code: apiv1.CodeRolloutHalted, Message: "migration failed: " + evilScript, Region: "westeurope", Step: "migrate"}}
		require.NoError(t, tx.OperationInsert(ctx, op))
		for i, step := range []string{"ensure_role", "ensure_database", "set_parameters", "migrate"} {
			require.NoError(t, tx.OperationStepStart(ctx, &store.OperationStep{OperationID: op.ID, Step: step, StartedAt: op.CreatedAt.Add(time.Duration(i) * time.Second)}))
		}
		require.NoError(t, tx.DatabaseEventInsert(ctx, &store.DatabaseEvent{Region: "westeurope", Name: "orders", Time: now, Type: "finding",
			Reason: "ParametersDrifted", Message: "search_path is " + evilImage}))
		require.NoError(t, tx.ReplicationPut(ctx, &store.Replication{Region: "eastus", Name: "orders",
			Status: store.ReplicationStatus{State: "streaming", LagBytes: 120, LagSeconds: 0.4, ObservedAt: now}}))
		for i := range 10 {
			require.NoError(t, tx.LagSampleInsert(ctx, &store.LagSample{Region: "eastus", Name: "orders",
				Time: now.Add(-time.Duration(10-i) * time.Minute), LagBytes: int64(i * 100), LagSeconds: float64(i) / 4}))
		}
		return nil
	}))
	b := &bundle{store: st, ops: &fakeOperations{}, key: bytes.Repeat([]byte{1}, 32)}
	b.server = b.node(t, b.key)
	return b
}

// node serves another dbfleetd node on the bundle's store, with secretKey.
func (b *bundle) node(t *testing.T, secretKey []byte) *httptest.Server {
	t.Helper()
	handler := api.New(api.Config{Store: b.store, Operations: b.ops, Regions: fakeRegions{}, Logger: zerolog.Nop(),
		Registry: prometheus.NewRegistry(), SecretKey: secretKey})
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv
}

// browser is a cookie-keeping client that does not follow redirects.
func (b *bundle) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type page struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, target string, form url.Values, headers ...string) page {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

var csrfPattern = regexp.MustCompile(`name="csrf_token" value="([0-9a-f]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfPattern.FindStringSubmatch(body)
	require.NotNil(t, m, "the page has a CSRF token: %s", body)
	return m[1]
}

// signIn signs c in with token and returns the session's CSRF token.
func (b *bundle) signIn(t *testing.T, c *http.Client, token string) string {
	t.Helper()
	login := do(t, c, http.MethodGet, b.server.URL+"/ui/login", nil)
	require.Equal(t, http.StatusOK, login.status)
	resp := do(t, c, http.MethodPost, b.server.URL+"/ui/login", url.Values{"csrf_token": {csrfOf(t, login.body)}, "token": {token}, "next": {"/ui/rollouts"}})
	require.Equal(t, http.StatusSeeOther, resp.status, resp.body)
	require.Equal(t, "/ui/rollouts", resp.header.Get("Location"))
	home := do(t, c, http.MethodGet, b.server.URL+"/ui/", nil)
	require.Equal(t, http.StatusOK, home.status)
	return csrfOf(t, home.body)
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("RedirectsToLoginWithoutSession", func(t *testing.T) {
		t.Parallel()
		resp := do(t, b.browser(t), http.MethodGet, b.server.URL+"/ui/rollouts", nil)
		require.Equal(t, http.StatusSeeOther, resp.status)
		require.Equal(t, "/ui/login?next=%2Fui%2Frollouts", resp.header.Get("Location"))
		live := do(t, b.browser(t), http.MethodGet, b.server.URL+"/ui/rollouts", nil, "X-Dbfleet-Partial", "1")
		require.Equal(t, http.StatusUnauthorized, live.status, "a live update without a session reloads into the login page")
	})

	t.Run("SetsAStrictHttpOnlyCookieThatIsNotTheToken", func(t *testing.T) {
		t.Parallel()
		c := b.browser(t)
		login := do(t, c, http.MethodGet, b.server.URL+"/ui/login", nil)
		req, err := http.NewRequest(http.MethodPost, b.server.URL+"/ui/login", strings.NewReader(url.Values{
			"csrf_token": {csrfOf(t, login.body)}, "token": {adminToken}, "next": {"//evil.example/"}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/ui/", resp.Header.Get("Location"), "never redirected to another host")
		var session *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "dbfleet_session" {
				session = ck
			}
		}
		require.NotNil(t, session)
		require.True(t, session.HttpOnly)
		require.Equal(t, http.SameSiteStrictMode, session.SameSite)
		require.Equal(t, "/ui/", session.Path)
		require.NotContains(t, session.Value, adminToken)
		require.NotEqual(t, api.HashToken(adminToken), session.Value)
		home := do(t, c, http.MethodGet, b.server.URL+"/ui/", nil)
		require.Equal(t, http.StatusOK, home.status)
		require.NotContains(t, home.body, adminToken)
		require.NotContains(t, home.body, api.HashToken(adminToken))
		require.Contains(t, home.header.Get("Content-Security-Policy"), "default-src 'none'")
	})

	t.Run("RefusesABadToken", func(t *testing.T) {
		t.Parallel()
		c := b.browser(t)
		login := do(t, c, http.MethodGet, b.server.URL+"/ui/login", nil)
		resp := do(t, c, http.MethodPost, b.server.URL+"/ui/login", url.Values{"csrf_token": {csrfOf(t, login.body)}, "token": {"dbf_wrong"}})
		require.Equal(t, http.StatusUnauthorized, resp.status)
		require.Contains(t, resp.body, "not valid")
		require.Equal(t, http.StatusSeeOther, do(t, c, http.MethodGet, b.server.URL+"/ui/", nil).status, "still signed out")
	})

	t.Run("RefusesALoginWithoutItsCSRFCookie", func(t *testing.T) {
		t.Parallel()
		resp := do(t, b.browser(t), http.MethodPost, b.server.URL+"/ui/login", url.Values{"csrf_token": {"0123"}, "token": {adminToken}})
		require.Equal(t, http.StatusForbidden, resp.status)
	})

	t.Run("RevokedTokenEndsTheSession", func(t *testing.T) {
		t.Parallel()
		bb := setup(t)
		c := bb.browser(t)
		bb.signIn(t, c, readToken)
		require.NoError(t, api.TokenRevoke(context.Background(), bb.store, "viewer"))
		require.Equal(t, http.StatusSeeOther, do(t, c, http.MethodGet, bb.server.URL+"/ui/", nil).status)
	})

	t.Run("SessionWorksOnEveryNodeWithTheSameSecretKey", func(t *testing.T) {
		t.Parallel()
		c := b.browser(t)
		csrf := b.signIn(t, c, readToken)
		uiURL, err := url.Parse(b.server.URL + "/ui/")
		require.NoError(t, err)
		var session *http.Cookie
		for _, ck := range c.Jar.Cookies(uiURL) {
			if ck.Name == "dbfleet_session" {
				session = ck
			}
		}
		require.NotNil(t, session)
		// Without a jar: its cookies are per host, and the nodes share one.
		nodeWith := func(key []byte) func(method, path string, form url.Values) int {
			srv := b.node(t, key)
			return func(method, path string, form url.Values) int {
				var body io.Reader
				if form != nil {
					body = strings.NewReader(form.Encode())
				}
				req, err := http.NewRequest(method, srv.URL+path, body)
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.AddCookie(session)
				resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				return resp.StatusCode
			}
		}
		other := nodeWith(b.key)
		require.Equal(t, http.StatusOK, other(http.MethodGet, "/ui/rollouts", nil))
		require.Equal(t, http.StatusSeeOther, other(http.MethodPost, "/ui/logout", url.Values{"csrf_token": {csrf}}), "the session's CSRF token holds on every node")
		require.Equal(t, http.StatusSeeOther, nodeWith(bytes.Repeat([]byte{2}, 32))(http.MethodGet, "/ui/rollouts", nil), "a node with another key refuses it")
	})

	t.Run("SignOutEndsTheSession", func(t *testing.T) {
		t.Parallel()
		c := b.browser(t)
		csrf := b.signIn(t, c, readToken)
		require.Equal(t, http.StatusForbidden, do(t, c, http.MethodPost, b.server.URL+"/ui/logout", url.Values{}).status, "sign-out needs the CSRF token")
		require.Equal(t, http.StatusSeeOther, do(t, c, http.MethodPost, b.server.URL+"/ui/logout", url.Values{"csrf_token": {csrf}}).status)
		require.Equal(t, http.StatusSeeOther, do(t, c, http.MethodGet, b.server.URL+"/ui/", nil).status)
	})
}

func TestPagesEscapeWhatUsersWrote(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.browser(t)
	b.signIn(t, c, readToken)
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"Fleet", "/ui/", []string{"westeurope", "northeurope", "eastus", "replica of northeurope", "failed", "app v1 → v2"}},
		{"FleetFiltered", "/ui/?region=eastus&schema=app", []string{"replica of northeurope", "1 databases in 1 regions"}},
		{"Rollouts", "/ui/rollouts", []string{"Version 2", "Halted in westeurope", "check <strong class=\"check\">migration</strong>",
			"syntax error at line 2: &lt;script&gt;", "Wave 2", "canary", "no upgrade to version 2 requested yet"}},
		{"Operations", "/ui/operations?state=failed&kind=apply_database&target=westeurope/orders", []string{"op-failed", "migration failed: &lt;script&gt;"}},
		{"OperationsNoMatch", "/ui/operations?state=running", []string{"No operations match."}},
		{"OperationsBadTarget", "/ui/operations?target=%3Cb%3E", []string{"is not valid"}},
		{"Operation", "/ui/operations/op-failed", []string{"ensure_role", "set_parameters", "1.0s", "failed", "req-123",
			`grep '"operationId":"op-failed"'`, "migration failed: &lt;script&gt;"}},
		{"Database", "/ui/databases/westeurope/orders", []string{"search_path = &lt;img src=x onerror=alert(1)&gt;", "ParametersDrifted", "op-failed"}},
		{"Replica", "/ui/databases/eastus/orders", []string{"streaming", "samples: 10", `class="series-point"`, "at most 2.2 s", "<polyline points="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := do(t, c, http.MethodGet, b.server.URL+tc.path, nil)
			require.Equal(t, http.StatusOK, resp.status, resp.body)
			require.NotContains(t, resp.body, evilScript)
			require.NotContains(t, resp.body, evilImage)
			require.NotContains(t, resp.body, "secret-pw", "no page shows an owner password")
			for _, want := range tc.want {
				require.Contains(t, resp.body, want)
			}
		})
	}

	t.Run("LiveUpdatesGetTheContentAlone", func(t *testing.T) {
		t.Parallel()
		resp := do(t, c, http.MethodGet, b.server.URL+"/ui/rollouts", nil, "X-Dbfleet-Partial", "1")
		require.Equal(t, http.StatusOK, resp.status)
		require.NotContains(t, resp.body, "<html")
		require.Contains(t, resp.body, "Halted in westeurope")
	})

	t.Run("UnknownPagesAre404", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/ui/nothing", "/ui/operations/op-none", "/ui/databases/westeurope/none", "/ui/databases/West/x"} {
			require.Equal(t, http.StatusNotFound, do(t, c, http.MethodGet, b.server.URL+path, nil).status, path)
		}
	})
}

func TestResumeNeedsAdminAndTheSessionsCSRFToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin, reader := b.browser(t), b.browser(t)
	adminCSRF := b.signIn(t, admin, adminToken)
	readCSRF := b.signIn(t, reader, readToken)
	resumeURL := b.server.URL + "/ui/rollouts/app/2/resume"

	rollouts := do(t, reader, http.MethodGet, b.server.URL+"/ui/rollouts", nil)
	require.NotContains(t, rollouts.body, "Resume rollout", "a read token gets no resume button")
	require.Equal(t, http.StatusForbidden, do(t, reader, http.MethodGet, resumeURL, nil).status)
	rollouts = do(t, admin, http.MethodGet, b.server.URL+"/ui/rollouts", nil)
	require.Contains(t, rollouts.body, `href="/ui/rollouts/app/2/resume"`)
	confirm := do(t, admin, http.MethodGet, resumeURL, nil)
	require.Equal(t, http.StatusOK, confirm.status)
	require.Contains(t, confirm.body, "Resume the rollout of app version 2?")

	for _, tc := range []struct {
		name    string
		client  *http.Client
		form    url.Values
		headers []string
		want    int
	}{
		{"NoCSRFToken", admin, url.Values{}, nil, http.StatusForbidden},
		{"WrongCSRFToken", admin, url.Values{"csrf_token": {strings.Repeat("0", 64)}}, nil, http.StatusForbidden},
		{"AnotherSessionsCSRFToken", admin, url.Values{"csrf_token": {readCSRF}}, nil, http.StatusForbidden},
		{"ReadToken", reader, url.Values{"csrf_token": {readCSRF}}, nil, http.StatusForbidden},
		{"CrossSite", admin, url.Values{"csrf_token": {adminCSRF}}, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"ForeignOrigin", admin, url.Values{"csrf_token": {adminCSRF}}, []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"NoSession", b.browser(t), url.Values{"csrf_token": {adminCSRF}}, nil, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, tc.client, http.MethodPost, resumeURL, tc.form, tc.headers...)
			require.Equal(t, tc.want, resp.status, resp.body)
			require.Zero(t, b.ops.resumes(), "a refused request resumes nothing")
		})
	}

	resp := do(t, admin, http.MethodPost, resumeURL, url.Values{"csrf_token": {adminCSRF}}, "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusSeeOther, resp.status, resp.body)
	require.Equal(t, "/ui/rollouts", resp.header.Get("Location"))
	require.Equal(t, 1, b.ops.resumes())
	audit, err := b.store.AuditList(context.Background(), &store.AuditListParams{})
	require.NoError(t, err)
	require.NotEmpty(t, audit)
	require.Equal(t, "ops-admin", audit[0].Principal)
	require.Equal(t, "schemas/app/rollouts/2", audit[0].Target)
}
