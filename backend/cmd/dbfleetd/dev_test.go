package main_test

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
)

// TestDevOnPostgresStore runs `dbfleetd dev --store postgres://…`: the dev
// fleet keeps its state in the PostgreSQL store, not in a state file.
func TestDevOnPostgresStore(t *testing.T) {
	storeDSN, state := newStateStore(t)
	dir := t.TempDir()
	cmd := exec.Command(dbfleetd, "dev", "--data-dir", dir, "--listen", "127.0.0.1:0", "--store", storeDSN)
	logFile, err := os.Create(filepath.Join(dir, "dbfleetd.log"))
	require.NoError(t, err)
	defer logFile.Close()
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		}
		// t.TempDir is closed to the postgres user: the clusters live
		// under /var/tmp.
		_ = devregions.RemoveClusters(dir)
	})

	env := map[string]string{}
	lines := bufio.NewScanner(stdout)
	for len(env) < 2 && lines.Scan() {
		key, value, ok := strings.Cut(strings.TrimPrefix(lines.Text(), "export "), "=")
		require.True(t, ok, "dbfleetd dev prints export lines: %q", lines.Text())
		env[key] = value
	}
	require.NoError(t, lines.Err())
	client := &daemontest.Client{Endpoint: env["DBFLEET_ENDPOINT"], Token: env["DBFLEET_TOKEN"]}

	name := daemontest.UniqueName("devstore")
	op := client.Do(t, http.MethodPut, "/v1/databases/eastus/"+name, apiv1.DatabaseSpec{DeletionProtection: new(false)}).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, client.Wait(t, op.ID, time.Minute).State)
	var status string
	require.NoError(t, state.QueryRow(context.Background(), `SELECT status FROM databases WHERE region = 'eastus' AND name = $1`, name).Scan(&status))
	require.Equal(t, apiv1.DatabaseStatusReady, status, "the database's record is in the PostgreSQL store")
	require.NoFileExists(t, filepath.Join(dir, "state.db"), "no SQLite state file beside it")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "dbfleetd dev stops cleanly")
}
