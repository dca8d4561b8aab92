package main_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

var (
	// fleet holds the regions; stateFleet the PostgreSQL server of the
	// multi-node tests' state stores.
	fleet      *daemontest.Fleet
	stateFleet *daemontest.Fleet
	dbfleetd   string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	binDir, err := os.MkdirTemp("", "dbfleetd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(binDir)
	dbfleetd = filepath.Join(binDir, "dbfleetd")
	if out, err := exec.Command("go", "build", "-o", dbfleetd, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build dbfleetd: %v\n%s", err, out)
		return 1
	}
	fleet, err = daemontest.StartFleet("westeurope", "northeurope", "eastus")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer fleet.Stop()
	stateFleet, err = daemontest.StartFleet("state")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stateFleet.Stop()
	return m.Run()
}

// node is one dbfleetd process in serve mode; restarting it keeps its state
// file, port and log.
type node struct {
	t      *testing.T
	config string
	log    string
	client *daemontest.Client
	cmd    *exec.Cmd
	// env is added to the environment of the next start.
	env []string
}

// newNode makes a node with a SQLite state file of its own, serving the
// regions westeurope and eastus.
func newNode(t *testing.T) *node {
	return newNodeOn(t, "", "westeurope", "eastus")
}

// newNodeOn makes a node on the given state store (a postgres:// URL, or ""
// for a SQLite file of its own) serving the given regions. Nodes share the
// token and the secret key.
func newNodeOn(t *testing.T, storeDSN string, regions ...string) *node {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	token := "crash-test-token"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte(token), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.key"), []byte(strings.Repeat("5e", 32)), 0o600))
	storeLine := "state_path: " + filepath.Join(dir, "state.db")
	if storeDSN != "" {
		storeLine = fmt.Sprintf("store: %q", storeDSN)
	}
	config := fmt.Sprintf(`listen: %s
%s
backup_dir: %s
bootstrap_token_file: %s
secret_key_file: %s
regions:
`, addr, storeLine, filepath.Join(dir, "backups"), filepath.Join(dir, "token"), filepath.Join(dir, "secret.key"))
	for _, name := range regions {
		config += fmt.Sprintf("  - name: %s\n    admin_dsn: %q\n", name, fleet.Region(t, name).AdminDSN())
	}
	n := &node{t: t, config: filepath.Join(dir, "dbfleetd.yaml"), log: filepath.Join(dir, "dbfleetd.log"),
		client: &daemontest.Client{Endpoint: "http://" + addr, Token: token}}
	require.NoError(t, os.WriteFile(n.config, []byte(config), 0o600))
	t.Cleanup(n.kill)
	return n
}

func (n *node) start() {
	n.t.Helper()
	logFile, err := os.OpenFile(n.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(n.t, err)
	defer logFile.Close()
	n.cmd = exec.Command(dbfleetd, "serve", "--config", n.config)
	n.cmd.Stderr = logFile
	n.cmd.Env = append(os.Environ(), n.env...)
	require.NoError(n.t, n.cmd.Start())
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(n.client.Endpoint + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("dbfleetd did not become ready; log:\n%s", n.logText())
}

// kill sends SIGKILL: no shutdown code runs.
func (n *node) kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	_ = n.cmd.Wait()
	n.cmd = nil
}

func (n *node) logText() string {
	b, _ := os.ReadFile(n.log)
	return string(b)
}

func waitForStep(t *testing.T, c *daemontest.Client, id, step string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var op apiv1.Operation
		c.Do(t, http.MethodGet, "/v1/operations/"+id, nil).Decode(t, &op)
		if op.State == apiv1.OperationRunning && strings.Contains(op.Progress, step) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("operation %s never reached step %s", id, step)
}

// requireSucceededOnce checks that the log (logText reads it afresh) says
// once that the operation succeeded. The line follows the operation's
// record, which a wait (on another node, or polling) can see first: it is
// waited for a few seconds.
func requireSucceededOnce(t *testing.T, logText func() string, operationID string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	count := countLogLines(logText(), "Operation succeeded", operationID)
	for count == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		count = countLogLines(logText(), "Operation succeeded", operationID)
	}
	require.Equal(t, 1, count, "operation %s succeeded once", operationID)
}

// countLogLines counts log lines with every one of the given parts.
func countLogLines(log string, parts ...string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

func TestSIGKILLDuringCreateResumes(t *testing.T) {
	n := newNode(t)
	n.start()
	admin := fleet.Admin(t, "westeurope")
	name := daemontest.UniqueName("crash_create")

	release := fleet.LockDatabaseCatalog(t, "westeurope")
	op := n.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, apiv1.DatabaseSpec{DeletionProtection: new(false)}).Operation(t)
	waitForStep(t, n.client, op.ID, "ensure_database")
	n.kill()
	require.True(t, daemontest.RoleExists(t, admin, name+"_owner"), "the role step ran before the kill")
	require.False(t, daemontest.DatabaseExists(t, admin, name), "the kill came before the database")
	// The killed process's CREATE DATABASE still waits in PostgreSQL and
	// runs once the lock goes: the restarted node must converge with it.
	release()

	n.start()
	done := n.client.Wait(t, op.ID, time.Minute)
	require.Equal(t, apiv1.OperationSucceeded, done.State, "%+v", done.Error)

	var count int
	require.NoError(t, admin.QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM pg_database WHERE datname = $1) + (SELECT count(*) FROM pg_roles WHERE rolname = $2)`,
		name, name+"_owner").Scan(&count))
	require.Equal(t, 2, count, "exactly one database and one role")
	var ops apiv1.OperationList
	n.client.Do(t, http.MethodGet, "/v1/operations?target=databases/westeurope/"+name, nil).Decode(t, &ops)
	require.Len(t, ops.Operations, 1)
	requireSucceededOnce(t, n.logText, op.ID)

	var db apiv1.Database
	n.client.Do(t, http.MethodGet, "/v1/databases/westeurope/"+name, nil).Decode(t, &db)
	require.Equal(t, apiv1.DatabaseStatusReady, db.Status)
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
		db.Host, db.Port, db.Owner, db.Password, db.Name))
	require.NoError(t, err, "the password set before the kill is the one recorded")
	require.NoError(t, conn.Close(context.Background()))
}

func TestSIGKILLDuringDeleteResumes(t *testing.T) {
	n := newNode(t)
	n.start()
	admin := fleet.Admin(t, "westeurope")
	name := daemontest.UniqueName("crash_delete")
	create := n.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, apiv1.DatabaseSpec{DeletionProtection: new(false)}).Operation(t)
	n.client.Wait(t, create.ID, time.Minute)

	release := fleet.LockDatabaseCatalog(t, "westeurope")
	op := n.client.Do(t, http.MethodDelete, "/v1/databases/westeurope/"+name, nil).Operation(t)
	waitForStep(t, n.client, op.ID, "drop_database")
	n.kill()
	release()

	n.start()
	require.Equal(t, apiv1.OperationSucceeded, n.client.Wait(t, op.ID, time.Minute).State)
	require.False(t, daemontest.DatabaseExists(t, admin, name))
	require.False(t, daemontest.RoleExists(t, admin, name+"_owner"))
	require.Equal(t, 1, countLogLines(n.logText(), `"step":"final_backup"`, "Ran step", op.ID), "the backup ran once")
	dumps, err := filepath.Glob(filepath.Join(filepath.Dir(n.config), "backups", "westeurope", name+"-*"))
	require.NoError(t, err)
	require.Len(t, dumps, 1, "one whole dump, no partial file")
}

// TestSIGKILLAtRandomPoints kills dbfleetd at spread-out moments of a batch
// of creates and checks that every operation ends succeeded exactly once.
func TestSIGKILLAtRandomPoints(t *testing.T) {
	n := newNode(t)
	n.start()
	admin := fleet.Admin(t, "westeurope")
	prefix := daemontest.UniqueName("crash_random")
	var ids []string
	for i := range 6 {
		name := fmt.Sprintf("%s_%d", prefix, i)
		op := n.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, apiv1.DatabaseSpec{DeletionProtection: new(false)}).Operation(t)
		ids = append(ids, op.ID)
		time.Sleep(time.Duration(i*15) * time.Millisecond)
		n.kill()
		n.start()
	}
	for i, id := range ids {
		require.Equal(t, apiv1.OperationSucceeded, n.client.Wait(t, id, time.Minute).State)
		require.True(t, daemontest.DatabaseExists(t, admin, fmt.Sprintf("%s_%d", prefix, i)))
		requireSucceededOnce(t, n.logText, id)
	}
}

// TestSIGKILLWhileAWaveBakes kills dbfleetd while the second wave of a
// rollout waits out the first wave's bake time: after the restart the
// rollout goes on, keeps the wave order and runs every version once.
func TestSIGKILLWhileAWaveBakes(t *testing.T) {
	n := newNode(t)
	n.start()
	schema := daemontest.UniqueName("app")
	name := daemontest.UniqueName("crash_bake")
	bake := 3 * time.Second
	policy := &apiv1.RolloutPolicy{Waves: [][]string{{"westeurope"}, {"eastus"}}, BakeTime: bake.String()}
	put := func(sqls ...string) {
		var migs []apiv1.Migration
		for i, sql := range sqls {
			migs = append(migs, apiv1.Migration{Version: int64(i + 1), Up: sql})
		}
		resp := n.client.Do(t, http.MethodPut, "/v1/schemas/"+schema, apiv1.SchemaSpec{Migrations: migs, Rollout: policy})
		require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	}
	put("CREATE TABLE a (id int)")
	spec := apiv1.DatabaseSpec{Schema: schema, DeletionProtection: new(false)}
	for _, region := range []string{"westeurope", "eastus"} {
		op := n.client.Do(t, http.MethodPut, "/v1/databases/"+region+"/"+name, spec).Operation(t)
		require.Equal(t, apiv1.OperationSucceeded, n.client.Wait(t, op.ID, time.Minute).State)
	}
	put("CREATE TABLE a (id int)", "CREATE TABLE b (id int)")
	spec.SchemaVersion = 2
	canary := n.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, spec).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, n.client.Wait(t, canary.ID, time.Minute).State)
	second := n.client.Do(t, http.MethodPut, "/v1/databases/eastus/"+name, spec).Operation(t)
	waitForProgress(t, n.client, second.ID, "baked")
	n.kill()

	n.start()
	require.Equal(t, apiv1.OperationSucceeded, n.client.Wait(t, second.ID, time.Minute).State)
	canaryAt := fleet.Ledger(t, "westeurope", name)
	laterAt := fleet.Ledger(t, "eastus", name)
	require.Len(t, canaryAt, 2, "one ledger row per version")
	require.Len(t, laterAt, 2, "one ledger row per version")
	require.GreaterOrEqual(t, laterAt[2].Sub(canaryAt[2]), bake, "the second wave waited out the bake across the restart")
	requireSucceededOnce(t, n.logText, second.ID)
}

func waitForProgress(t *testing.T, c *daemontest.Client, id, words string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var op apiv1.Operation
		c.Do(t, http.MethodGet, "/v1/operations/"+id, nil).Decode(t, &op)
		if strings.Contains(op.Progress, words) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("operation %s never said %q", id, words)
}
