package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/openapitest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

// secureNode is an in-process dbfleetd on a state directory that outlives
// it, so that a test can restart it or read its files.
type secureNode struct {
	dir      string
	endpoint string
	token    string
	logs     *syncBuffer
	stop     func()
}

// nodeConfig is the configuration startNode runs with, before edit.
func nodeConfig(t *testing.T, dir string, logs io.Writer) daemon.Config {
	t.Helper()
	pgDump, err := pgbin.Path("pg_dump")
	require.NoError(t, err)
	var regions []engine.RegionConfig
	for _, r := range fleet.Regions() {
		regions = append(regions, engine.RegionConfig{Name: r.Name, AdminDSN: r.AdminDSN()})
	}
	return daemon.Config{
		Listen: "127.0.0.1:0", Store: filepath.Join(dir, "state.db"), BackupDir: filepath.Join(dir, "backups"),
		Regions: regions, PgDumpPaths: []string{pgDump},
		Tokens:    []daemon.Token{{Name: "admin", Value: "dbf_" + strings.Repeat("ad", 24), Scope: "admin"}},
		SecretKey: bytes.Repeat([]byte{0x42}, 32),
		Logger:    zerolog.New(logs).Level(zerolog.DebugLevel),
	}
}

// runDaemon starts dbfleetd with cfg and returns once it serves, or with
// the error it stopped with.
func runDaemon(t *testing.T, cfg daemon.Config) (endpoint string, stop func(), err error) {
	t.Helper()
	ready := make(chan string, 1)
	cfg.Ready = func(endpoint string) { ready <- endpoint }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg) }()
	select {
	case endpoint = <-ready:
	case err := <-done:
		cancel()
		return "", nil, err
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return endpoint, stop, nil
}

func startNode(t *testing.T, dir string, edit func(*daemon.Config)) *secureNode {
	t.Helper()
	logs := &syncBuffer{}
	cfg := nodeConfig(t, dir, logs)
	if edit != nil {
		edit(&cfg)
	}
	endpoint, stop, err := runDaemon(t, cfg)
	require.NoError(t, err, "dbfleetd did not start")
	return &secureNode{dir: dir, endpoint: endpoint, token: cfg.Tokens[0].Value, logs: logs, stop: stop}
}

func (n *secureNode) client(t *testing.T, token string, edit func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.Config{Endpoint: n.endpoint, Token: token, RetryWaitMin: 50 * time.Millisecond, RetryWaitMax: time.Second,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper { return openapitest.Transport(t, rt) }}
	if edit != nil {
		edit(&cfg)
	}
	c, err := client.New(cfg)
	require.NoError(t, err)
	return c
}

func (n *secureNode) get(t *testing.T, path string) *daemontest.Response {
	t.Helper()
	return (&daemontest.Client{Endpoint: n.endpoint, Token: n.token}).Do(t, http.MethodGet, path, nil)
}

// createWith creates a database with a provider client and returns it with
// its password.
func createWith(t *testing.T, c *client.Client, region, name string, spec apiv1.DatabaseSpec) *apiv1.Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	op, err := c.DatabasePut(ctx, region, name, spec)
	require.NoError(t, err)
	done, err := c.WaitOperation(ctx, op.ID, nil)
	require.NoError(t, err)
	require.Equal(t, apiv1.OperationSucceeded, done.State, "%+v", done.Error)
	db, err := c.DatabaseGet(ctx, region, name)
	require.NoError(t, err)
	require.NotEmpty(t, db.Password)
	return db
}

func deleteWith(t *testing.T, c *client.Client, region, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	op, err := c.DatabaseDelete(ctx, region, name)
	require.NoError(t, err)
	done, err := c.WaitOperation(ctx, op.ID, nil)
	require.NoError(t, err)
	require.Equal(t, apiv1.OperationSucceeded, done.State, "%+v", done.Error)
}

// requireNotInFiles fails if any file under dir holds secret.
func requireNotInFiles(t *testing.T, dir, secret string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		require.False(t, bytes.Contains(b, []byte(secret)), "%s holds a secret in plain text", path)
		return nil
	}))
}

// storedPassword reads a database's password column as it is on disk.
func storedPassword(t *testing.T, dir, region, name string) string {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "state.db"), store.Options{})
	require.NoError(t, err)
	defer st.Close()
	db, err := st.DatabaseGet(context.Background(), store.DatabaseKey{Region: region, Name: name})
	require.NoError(t, err)
	return db.Password
}

func TestTLS(t *testing.T) {
	t.Parallel()
	files := daemontest.NewTLSFiles(t, t.TempDir())
	n := startNode(t, t.TempDir(), func(c *daemon.Config) {
		c.TLS = &daemon.TLSConfig{CertFile: files.CertFile, KeyFile: files.KeyFile}
	})
	require.Regexp(t, `^https://127\.0\.0\.1:\d+$`, n.endpoint, "Ready (and dev's export line) says https")
	ctx := context.Background()

	t.Run("ProviderClientTrustingTheCA", func(t *testing.T) {
		regions, err := n.client(t, n.token, func(c *client.Config) { c.CACertPEM = files.CAPEM }).RegionList(ctx)
		require.NoError(t, err)
		require.Len(t, regions, 2)
	})
	t.Run("ProviderClientNotTrustingTheCA", func(t *testing.T) {
		_, err := n.client(t, n.token, nil).RegionList(ctx)
		require.ErrorContains(t, err, "certificate")
	})
	t.Run("PlainHTTPGetsNoAPI", func(t *testing.T) {
		resp, err := http.Get("http://" + strings.TrimPrefix(n.endpoint, "https://") + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "Go's TLS server refuses plain HTTP")
	})
	t.Run("RefusesHalfConfiguredTLS", func(t *testing.T) {
		for _, tlsCfg := range []*daemon.TLSConfig{
			{CertFile: files.CertFile},
			{CertFile: files.CertFile, KeyFile: filepath.Join(t.TempDir(), "missing.key")},
			{CertFile: files.KeyFile, KeyFile: files.KeyFile},
		} {
			cfg := nodeConfig(t, t.TempDir(), io.Discard)
			cfg.TLS = tlsCfg
			_, _, err := runDaemon(t, cfg)
			require.Error(t, err, "%+v", tlsCfg)
		}
	})
}

func TestRateLimitedProviderClientStillSucceeds(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir(), func(c *daemon.Config) { c.RateLimit = api.RateLimit{PerSecond: 4, Burst: 2} })
	c := n.client(t, n.token, func(c *client.Config) { c.MaxRetries = 10 })
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			_, err := c.DatabaseList(context.Background())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "every call succeeds in the end")
	}
	require.Positive(t, metricValue(t, n.get(t, "/metrics").Body, "dbfleet_http_requests_total",
		`method="GET"`, `route="GET /v1/databases"`, `status="429"`), "the limit did answer 429s")

	t.Run("WithoutRetriesThe429Shows", func(t *testing.T) {
		strict := n.client(t, n.token, nil)
		var apiErr *client.APIError
		for range 5 {
			if _, err := strict.DatabaseList(context.Background()); err != nil {
				require.ErrorAs(t, err, &apiErr)
				break
			}
		}
		require.NotNil(t, apiErr, "a burst above the limit is refused")
		require.Equal(t, http.StatusTooManyRequests, apiErr.Status)
		require.Equal(t, apiv1.CodeRateLimited, apiErr.Code)
		require.NotEmpty(t, apiErr.RequestID)
	})
}

// metricValue sums the samples of a metric whose labels include every one
// of labels.
func metricValue(t *testing.T, exposition []byte, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
	scanner := bufio.NewScanner(bytes.NewReader(exposition))
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(line, l)
		}
		if all {
			v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
			require.NoError(t, err, line)
			sum += v
		}
	}
	return sum
}

func TestPasswordsEncryptedAtRest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	name := daemontest.UniqueName("sealed")
	db := createWith(t, n.client(t, n.token, nil), "westeurope", name,
		apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true})
	n.stop()

	requireNotInFiles(t, dir, db.Password)
	stored := storedPassword(t, dir, "westeurope", name)
	require.True(t, strings.HasPrefix(stored, "enc:v1:"), "the column holds a sealed value")

	// The same key reads the password back, and it is the one PostgreSQL knows.
	again := startNode(t, dir, nil)
	got, err := again.client(t, again.token, nil).DatabaseGet(context.Background(), "westeurope", name)
	require.NoError(t, err)
	require.Equal(t, db.Password, got.Password)
	ownerConn(t, *got)
	again.stop()

	// Another key stops dbfleetd at start rather than serving garbage.
	cfg := nodeConfig(t, dir, io.Discard)
	cfg.SecretKey = bytes.Repeat([]byte{0x43}, 32)
	_, _, err = runDaemon(t, cfg)
	require.ErrorContains(t, err, "does not decrypt with this key")
	require.NotContains(t, err.Error(), stored)
	cfg.SecretKey = nil
	_, _, err = runDaemon(t, cfg)
	require.ErrorContains(t, err, "secret key is required")

	last := startNode(t, dir, nil)
	deleteWith(t, last.client(t, last.token, nil), "westeurope", name)
}

func TestPlainPasswordsOfAnOlderStateAreSealedAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const password = "LegacyPlainPassword0123456789abc"
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "state.db"), store.Options{})
	require.NoError(t, err)
	now := time.Now().UTC()
	require.NoError(t, st.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		return tx.DatabasePut(ctx, &store.Database{Region: "westeurope", Name: "legacy", Owner: "legacy_owner", Password: password,
			Status: apiv1.DatabaseStatusReady, Generation: 1, ObservedGeneration: 1, CreatedAt: now, UpdatedAt: now})
	}))
	require.NoError(t, st.Close())

	n := startNode(t, dir, nil)
	var db apiv1.Database
	n.get(t, "/v1/databases/westeurope/legacy").Decode(t, &db)
	require.Equal(t, password, db.Password)
	n.stop()
	require.Contains(t, n.logs.String(), "Encrypted stored passwords")
	require.True(t, strings.HasPrefix(storedPassword(t, dir, "westeurope", "legacy"), "enc:v1:"))
	requireNotInFiles(t, dir, password)
}

func TestMetricsAfterCreate(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir(), nil)
	name := daemontest.UniqueName("metrics")
	c := n.client(t, n.token, nil)
	createWith(t, c, "eastus", name, apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true})
	metrics := n.get(t, "/metrics").Body
	require.Equal(t, 1.0, metricValue(t, metrics, "dbfleet_http_requests_total",
		`method="PUT"`, `route="PUT /v1/databases/{region}/{name}"`, `status="202"`))
	require.Positive(t, metricValue(t, metrics, "dbfleet_http_requests_total",
		`route="GET /v1/databases/{region}/{name}"`, `status="200"`))
	require.Positive(t, metricValue(t, metrics, "dbfleet_http_request_duration_seconds_count", `route="PUT /v1/databases/{region}/{name}"`))
	require.Equal(t, 1.0, metricValue(t, metrics, "dbfleet_operations_total", `kind="apply_database"`, `state="started"`))
	require.Equal(t, 1.0, metricValue(t, metrics, "dbfleet_operations_total", `kind="apply_database"`, `state="succeeded"`))
	require.Equal(t, 1.0, metricValue(t, metrics, "dbfleet_operation_duration_seconds_count", `kind="apply_database"`))
	require.NotRegexp(t, regexp.MustCompile(`route="[^"]*`+name), string(metrics), "routes are patterns, never names")
	deleteWith(t, c, "eastus", name)
}

// TestNoSecretInLogsRecordsOrMetrics runs a whole flow (tokens made the way
// `dbfleetd token create` makes them, create, read, use, refused calls,
// delete with a final backup) with debug logging on both sides, then looks
// for every password and token in every log line, record and metric.
func TestNoSecretInLogsRecordsOrMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	ctx := context.Background()

	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "state.db"), store.Options{})
	require.NoError(t, err)
	_, writeToken, err := api.TokenCreate(ctx, st, "ci", "write")
	require.NoError(t, err)
	_, readToken, err := api.TokenCreate(ctx, st, "dashboard", "read")
	require.NoError(t, err)
	require.NoError(t, st.Close())
	guessed := "dbf_" + strings.Repeat("9e", 24)

	var clientLogs syncBuffer
	logTo := func(c *client.Config) {
		c.Log = func(_ context.Context, msg string, fields map[string]any) {
			fmt.Fprintf(&clientLogs, "%s %v\n", msg, fields)
		}
	}
	writer := n.client(t, writeToken, logTo)
	name := daemontest.UniqueName("scan")
	db := createWith(t, writer, "westeurope", name, apiv1.DatabaseSpec{DeletionProtection: new(false)})
	conn := ownerConn(t, *db)
	_, err = conn.Exec(ctx, `CREATE TABLE t (id int)`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	var bodies [][]byte
	_, err = n.client(t, readToken, logTo).DatabasePut(ctx, "westeurope", name, apiv1.DatabaseSpec{})
	var apiErr *client.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusForbidden, apiErr.Status)
	bodies = append(bodies, []byte(err.Error()))
	_, err = n.client(t, guessed, logTo).DatabaseGet(ctx, "westeurope", name)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusUnauthorized, apiErr.Status)
	bodies = append(bodies, []byte(err.Error()))
	deleteWith(t, writer, "westeurope", name)

	for _, path := range []string{"/metrics", "/v1/operations?target=databases/westeurope/" + name, "/v1/audit", "/v1/databases"} {
		resp := n.get(t, path)
		require.Equal(t, http.StatusOK, resp.Status, path)
		bodies = append(bodies, resp.Body)
	}
	var audit apiv1.AuditList
	n.get(t, "/v1/audit").Decode(t, &audit)
	var actions []string
	for _, e := range audit.Entries {
		actions = append(actions, fmt.Sprintf("%s %s %d", e.Principal, e.Action, e.Status))
	}
	require.Subset(t, actions, []string{
		"ci PUT /v1/databases/{region}/{name} 202",
		"ci DELETE /v1/databases/{region}/{name} 202",
		"dashboard PUT /v1/databases/{region}/{name} 403",
		"anonymous GET /v1/databases/{region}/{name} 401",
	})
	n.stop()

	region := fleet.Region(t, "westeurope")
	secrets := map[string]string{
		"database password": db.Password, "admin token": n.token, "write token": writeToken,
		"read token": readToken, "guessed token": guessed, "region admin password": region.AdminPassword,
	}
	lines := strings.Split(n.logs.String()+clientLogs.String(), "\n")
	require.Greater(t, len(lines), 20, "the flow logged")
	for what, secret := range secrets {
		require.NotEmpty(t, secret, what)
		for _, line := range lines {
			require.NotContains(t, line, secret, "the %s reached a log line", what)
		}
		for _, body := range bodies {
			require.NotContains(t, string(body), secret, "the %s reached a record, an error or a metric", what)
		}
	}
	requireNotInFiles(t, dir, db.Password)
}
