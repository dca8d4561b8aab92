package main_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

// dbfleetdCommand runs the dbfleetd binary to its end.
func dbfleetdCommand(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(dbfleetd, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func TestTokenCommands(t *testing.T) {
	n := newNode(t)
	n.start()
	token := func(args ...string) (string, string, error) {
		return dbfleetdCommand(t, nil, append([]string{"token"}, args...)...)
	}

	out, stderr, err := token("create", "--scope", "read", "--name", "dashboard", "--config", n.config)
	require.NoError(t, err, stderr)
	readToken := strings.TrimSpace(out)
	require.Regexp(t, `^dbf_[0-9a-f]{48}$`, readToken, "the token alone on stdout, for a script to take")
	require.Contains(t, stderr, "shown once")
	// Flags may follow the arguments, and a running dbfleetd sees new tokens at once.
	out, stderr, err = token("create", "--config", n.config, "--scope", "write")
	require.NoError(t, err, stderr)
	writeToken := strings.TrimSpace(out)

	reader := &daemontest.Client{Endpoint: n.client.Endpoint, Token: readToken}
	writer := &daemontest.Client{Endpoint: n.client.Endpoint, Token: writeToken}
	const missing = "/v1/databases/westeurope/nothing_here"
	require.Equal(t, http.StatusOK, reader.Do(t, http.MethodGet, "/v1/databases", nil).Status)
	denied := reader.Do(t, http.MethodDelete, missing, nil)
	require.Equal(t, http.StatusForbidden, denied.Status)
	require.Equal(t, apiv1.CodePermissionDenied, denied.ErrorCode(t))
	require.Equal(t, http.StatusForbidden, writer.Do(t, http.MethodGet, "/v1/audit", nil).Status, "write is not admin")
	require.Equal(t, http.StatusNotFound, writer.Do(t, http.MethodDelete, missing, nil).Status, "write passes to the handler")

	out, stderr, err = token("list", "--config", n.config)
	require.NoError(t, err, stderr)
	require.Regexp(t, `(?m)^NAME\s+SCOPE\s+CREATED$`, out)
	require.Regexp(t, `(?m)^dashboard\s+read\s+\d{4}-`, out)
	require.Regexp(t, `(?m)^bootstrap\s+admin\s+`, out)
	require.Regexp(t, `(?m)^write-[0-9a-f]{8}\s+write\s+`, out)
	for _, secret := range []string{readToken, writeToken, api.HashToken(readToken), api.HashToken(writeToken), "crash-test-token"} {
		require.NotContains(t, out, secret, "a listing shows neither tokens nor their hashes")
	}
	dataDirList, _, err := token("list", "--data-dir", filepath.Dir(n.config))
	require.NoError(t, err)
	require.Equal(t, out, dataDirList, "--data-dir reads DIR/state.db, as dev lays it out")

	_, stderr, err = token("create", "--scope", "admin", "--name", "dashboard", "--config", n.config)
	require.Error(t, err)
	require.Contains(t, stderr, "already exists", "a name is never re-pointed at a new token")

	_, stderr, err = token("revoke", "dashboard", "--config", n.config)
	require.NoError(t, err, stderr)
	revoked := reader.Do(t, http.MethodGet, "/v1/databases", nil)
	require.Equal(t, http.StatusUnauthorized, revoked.Status)
	require.Equal(t, apiv1.CodeUnauthenticated, revoked.ErrorCode(t))
	_, stderr, err = token("revoke", "dashboard", "--config", n.config)
	require.Error(t, err)
	require.Contains(t, stderr, "no token is named dashboard")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--config", n.config}, "--scope"},
		{[]string{"create", "--scope", "root", "--config", n.config}, "scope"},
		{[]string{"list"}, "--config"},
		{[]string{"list", "--config", n.config, "--data-dir", t.TempDir()}, "not both"},
		{[]string{"list", "--data-dir", t.TempDir()}, "start dbfleetd once"},
		{[]string{"rotate", "--config", n.config}, "unknown token command"},
	} {
		_, stderr, err := token(tc.args...)
		require.Error(t, err, "%v", tc.args)
		require.Contains(t, stderr, tc.want, "%v", tc.args)
	}

	var audit apiv1.AuditList
	n.client.Do(t, http.MethodGet, "/v1/audit", nil).Decode(t, &audit)
	var rows []string
	for _, e := range audit.Entries {
		rows = append(rows, fmt.Sprintf("%s %s %s %d", e.Principal, e.Action, e.Target, e.Status))
	}
	require.Subset(t, rows, []string{
		"dashboard DELETE /v1/databases/{region}/{name} databases/westeurope/nothing_here 403",
		"anonymous GET /v1/databases databases 401",
	})
	log := n.logText()
	for _, secret := range []string{readToken, writeToken, "crash-test-token"} {
		require.NotContains(t, log, secret)
	}
}

// serveTLSConfig writes a serve configuration with TLS and a tight rate
// limit, and returns its path and the address it listens on.
func serveTLSConfig(t *testing.T, dir string, files *daemontest.TLSFiles, withSecretKey bool) (string, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte("tls-test-token\n"), 0o600))
	secretKey := ""
	if withSecretKey {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.key"), []byte(strings.Repeat("c3", 32)+"\n"), 0o600))
		secretKey = "secret_key_file: " + filepath.Join(dir, "secret.key")
	}
	config := fmt.Sprintf(`listen: %s
state_path: %s
backup_dir: %s
bootstrap_token_file: %s
tls_cert_file: %s
tls_key_file: %s
%s
rate_limit:
  requests_per_second: 1
  burst: 3
regions:
  - name: westeurope
    admin_dsn: %q
`, addr, filepath.Join(dir, "state.db"), filepath.Join(dir, "backups"), filepath.Join(dir, "token"),
		files.CertFile, files.KeyFile, secretKey, fleet.Region(t, "westeurope").AdminDSN())
	path := filepath.Join(dir, "dbfleetd.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	return path, addr
}

func TestServeWithTLSAndRateLimitFromConfig(t *testing.T) {
	dir := t.TempDir()
	files := daemontest.NewTLSFiles(t, dir)
	config, addr := serveTLSConfig(t, dir, files, true)
	var stderr bytes.Buffer
	cmd := exec.Command(dbfleetd, "serve", "--config", config)
	cmd.Env = os.Environ()
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	c := &daemontest.Client{Endpoint: "https://" + addr, Token: "tls-test-token", HTTP: files.HTTPClient()}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.HTTP.Get(c.Endpoint + "/readyz")
		if err == nil {
			resp.Body.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "dbfleetd did not serve HTTPS: %v\n%s", err, stderr.String())
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, http.StatusOK, c.Do(t, http.MethodGet, "/v1/databases", nil).Status)
	var limited *daemontest.Response
	for range 5 {
		if resp := c.Do(t, http.MethodGet, "/v1/databases", nil); resp.Status == http.StatusTooManyRequests {
			limited = resp
			break
		}
	}
	require.NotNil(t, limited, "rate_limit from the config applies")
	require.Equal(t, "1", limited.Header.Get("Retry-After"))
	require.Contains(t, stderr.String(), `"endpoint":"https://`+addr)

	t.Run("RefusesToStartWithoutSecretKey", func(t *testing.T) {
		dir := t.TempDir()
		config, _ := serveTLSConfig(t, dir, files, false)
		_, stderr, err := dbfleetdCommand(t, []string{"DBFLEET_SECRET_KEY_FILE=", "DBFLEET_SECRET_KEY="}, "serve", "--config", config)
		require.Error(t, err)
		require.Contains(t, stderr, "secret_key_file is required")
		_, err = os.Stat(filepath.Join(dir, "state.db"))
		require.ErrorIs(t, err, os.ErrNotExist, "nothing was started")
	})
}
