package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
)

var fleet *daemontest.Fleet

func TestMain(m *testing.M) {
	var err error
	fleet, err = daemontest.StartFleet("westeurope", "eastus")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	fleet.Stop()
	os.Exit(code)
}

// syncBuffer collects a daemon's logs for the secret scan.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testBundle struct {
	client *daemontest.Client
	// reader holds a read-scoped token.
	reader    *daemontest.Client
	backupDir string
	logs      *syncBuffer
}

// setup runs a dbfleetd in-process with its own state file against the
// shared regions, stopped when the test ends.
func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupOn(t, fleet)
}

// setupOn is setup against the given regions; options adjust the daemon's
// configuration.
func setupOn(t *testing.T, regionsFleet *daemontest.Fleet, options ...func(*daemon.Config)) *testBundle {
	t.Helper()
	b, _ := startDaemon(t, regionsFleet, t.TempDir(), options...)
	return b
}

// startDaemon runs a dbfleetd in-process against regions with its state in
// dir, and returns it with a function that stops it (also called when the
// test ends). Stopping checks that no token reached its logs.
func startDaemon(t *testing.T, regionsFleet *daemontest.Fleet, dir string, options ...func(*daemon.Config)) (*testBundle, func()) {
	t.Helper()
	pgDump, err := pgbin.Path("pg_dump")
	require.NoError(t, err)
	var regions []engine.RegionConfig
	for _, r := range regionsFleet.Regions() {
		regions = append(regions, engine.RegionConfig{Name: r.Name, AdminDSN: r.AdminDSN()})
	}
	logs := &syncBuffer{}
	token := "test-token-" + strings.ReplaceAll(t.Name(), "/", "-")
	ready := make(chan string, 1)
	cfg := daemon.Config{
		Listen: "127.0.0.1:0", Store: filepath.Join(dir, "state.db"), BackupDir: filepath.Join(dir, "backups"),
		Regions: regions, PgDumpPaths: []string{pgDump},
		Tokens:    []daemon.Token{{Name: "test", Value: token, Scope: "admin"}, {Name: "reader", Value: token + "-read", Scope: "read"}},
		SecretKey: bytes.Repeat([]byte{7}, 32),
		Logger:    zerolog.New(logs),
		Ready:     func(endpoint string) { ready <- endpoint },
	}
	for _, option := range options {
		option(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg) }()
	var endpoint string
	select {
	case endpoint = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("dbfleetd did not start: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
			require.NotContains(t, logs.String(), token, "a token reached the logs")
		})
	}
	t.Cleanup(stop)
	return &testBundle{
		client:    &daemontest.Client{Endpoint: endpoint, Token: token},
		reader:    &daemontest.Client{Endpoint: endpoint, Token: token + "-read"},
		backupDir: filepath.Join(dir, "backups"), logs: logs,
	}, stop
}

func (b *testBundle) create(t *testing.T, region, name string, spec apiv1.DatabaseSpec) apiv1.Database {
	t.Helper()
	op := b.client.Do(t, http.MethodPut, "/v1/databases/"+region+"/"+name, spec).Operation(t)
	done := b.client.Wait(t, op.ID, time.Minute)
	require.Equal(t, apiv1.OperationSucceeded, done.State, "operation: %+v", done)
	var db apiv1.Database
	resp := b.client.Do(t, http.MethodGet, "/v1/databases/"+region+"/"+name, nil)
	require.Equal(t, http.StatusOK, resp.Status)
	resp.Decode(t, &db)
	return db
}

func ownerConn(t *testing.T, db apiv1.Database) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
		db.Host, db.Port, db.Owner, db.Password, db.Name))
	require.NoError(t, err, "the owner connects with the generated password")
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestCreateThenDeleteWithFinalBackup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := fleet.Admin(t, "westeurope")
	name := daemontest.UniqueName("orders")

	db := b.create(t, "westeurope", name, apiv1.DatabaseSpec{})
	require.Equal(t, apiv1.DatabaseStatusReady, db.Status)
	require.True(t, db.DeletionProtection, "deletion protection defaults to on")
	require.Equal(t, db.Generation, db.ObservedGeneration)
	require.True(t, daemontest.DatabaseExists(t, admin, name))

	conn := ownerConn(t, db)
	_, err := conn.Exec(context.Background(), `CREATE TABLE items (id int PRIMARY KEY, label text); INSERT INTO items VALUES (1, 'kept')`)
	require.NoError(t, err, "the owner can create tables in its database")
	conn.Close(context.Background())

	resp := b.client.Do(t, http.MethodDelete, "/v1/databases/westeurope/"+name, nil)
	require.Equal(t, http.StatusConflict, resp.Status)
	require.Equal(t, apiv1.CodeDeletionProtected, resp.ErrorCode(t))
	require.True(t, daemontest.DatabaseExists(t, admin, name), "a refused delete touches nothing")

	b.create(t, "westeurope", name, apiv1.DatabaseSpec{DeletionProtection: new(false)})
	op := b.client.Do(t, http.MethodDelete, "/v1/databases/westeurope/"+name, nil).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, op.ID, time.Minute).State)
	require.False(t, daemontest.DatabaseExists(t, admin, name))
	require.False(t, daemontest.RoleExists(t, admin, db.Owner))
	require.Equal(t, http.StatusNotFound, b.client.Do(t, http.MethodGet, "/v1/databases/westeurope/"+name, nil).Status)

	dump := filepath.Join(b.backupDir, "westeurope", name+"-"+op.ID+".dump")
	info, err := os.Stat(dump)
	require.NoError(t, err, "the final backup exists")
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	// The dump restores into a fresh database with the data in it.
	restored := name + "_restored"
	_, err = admin.Exec(context.Background(), "CREATE DATABASE "+restored)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+restored+" WITH (FORCE)") })
	pgRestore, err := pgbin.Path("pg_restore")
	require.NoError(t, err)
	region := fleet.Region(t, "westeurope")
	cmd := exec.Command(pgRestore, "--no-owner", "--host", region.Host, "--port", fmt.Sprint(region.Port),
		"--username", region.SuperuserUser, "--dbname", restored, dump)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+region.SuperuserPassword)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "pg_restore: %s", out)
	restoredPool := fleet.AdminDB(t, "westeurope", restored)
	var label string
	require.NoError(t, restoredPool.QueryRow(context.Background(), `SELECT label FROM items WHERE id = 1`).Scan(&label))
	require.Equal(t, "kept", label)

	require.NotContains(t, b.logs.String(), db.Password, "a database password reached the logs")
}

func TestDeleteSkippingFinalBackup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := fleet.Admin(t, "eastus")
	name := daemontest.UniqueName("scratch")
	b.create(t, "eastus", name, apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true})
	op := b.client.Do(t, http.MethodDelete, "/v1/databases/eastus/"+name, nil).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, op.ID, time.Minute).State)
	require.False(t, daemontest.DatabaseExists(t, admin, name))
	_, err := os.Stat(filepath.Join(b.backupDir, "eastus", name+"-"+op.ID+".dump"))
	require.ErrorIs(t, err, os.ErrNotExist, "no backup when skip_final_backup is set")
}

func TestBadNamesAreRefusedAndTouchNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := fleet.Admin(t, "westeurope")
	countDatabases := func() int {
		var n int
		require.NoError(t, admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_database`).Scan(&n))
		return n
	}
	before := countDatabases()
	for _, tc := range []struct {
		name, path string
	}{
		{"SQLInjection", "/v1/databases/westeurope/Robert%27%29%3B%20DROP"},
		{"SixtyFourCharacters", "/v1/databases/westeurope/" + strings.Repeat("a", 64)},
		{"Empty", "/v1/databases/westeurope/"},
		{"UpperCase", "/v1/databases/westeurope/Orders"},
		{"BadRegion", "/v1/databases/West%20Europe/orders"},
		{"UnknownRegion", "/v1/databases/marsnorth/orders"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodGet} {
				resp := b.client.Do(t, method, tc.path, apiv1.DatabaseSpec{})
				if tc.name == "UnknownRegion" && method != http.MethodPut {
					continue // a read or delete of a database in an unknown region is just not found
				}
				require.Equal(t, http.StatusBadRequest, resp.Status, "%s %s: %s", method, tc.path, resp.Body)
				require.Equal(t, apiv1.CodeInvalidArgument, resp.ErrorCode(t))
			}
		})
	}
	var list apiv1.DatabaseList
	b.client.Do(t, http.MethodGet, "/v1/databases", nil).Decode(t, &list)
	require.Empty(t, list.Databases, "nothing recorded")
	require.Equal(t, before, countDatabases(), "nothing created in PostgreSQL")

	resp := b.client.Do(t, http.MethodPut, "/v1/databases/westeurope/fine", map[string]any{"deletion_protectio": true})
	require.Equal(t, http.StatusBadRequest, resp.Status, "unknown fields are refused: %s", resp.Body)
}

func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := daemontest.UniqueName("idem")
	path := "/v1/databases/westeurope/" + name
	spec := apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true}

	first := b.client.Do(t, http.MethodPut, path, spec, apiv1.HeaderIdempotencyKey, "key-1")
	op := first.Operation(t)
	again := b.client.Do(t, http.MethodPut, path, spec, apiv1.HeaderIdempotencyKey, "key-1")
	require.Equal(t, op.ID, again.Operation(t).ID, "same key and body: the first answer")
	require.Equal(t, first.Header.Get(apiv1.HeaderOperationLocation), again.Header.Get(apiv1.HeaderOperationLocation))

	other := b.client.Do(t, http.MethodPut, path, apiv1.DatabaseSpec{}, apiv1.HeaderIdempotencyKey, "key-1")
	require.Equal(t, http.StatusUnprocessableEntity, other.Status)
	require.Equal(t, apiv1.CodeIdempotencyMismatch, other.ErrorCode(t))
	b.client.Wait(t, op.ID, time.Minute)

	var ops apiv1.OperationList
	b.client.Do(t, http.MethodGet, "/v1/operations?target=databases/westeurope/"+name, nil).Decode(t, &ops)
	require.Len(t, ops.Operations, 1, "a replay starts no operation")

	del := b.client.Do(t, http.MethodDelete, path, nil, apiv1.HeaderIdempotencyKey, "key-2").Operation(t)
	b.client.Wait(t, del.ID, time.Minute)
}

func TestETagAndIfMatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := daemontest.UniqueName("etag")
	path := "/v1/databases/westeurope/" + name
	b.create(t, "westeurope", name, apiv1.DatabaseSpec{SkipFinalBackup: true})

	get := b.client.Do(t, http.MethodGet, path, nil)
	tag := get.Header.Get("ETag")
	require.Regexp(t, `^"[0-9a-f]{32}"$`, tag, "a strong ETag")
	require.Equal(t, tag, b.client.Do(t, http.MethodGet, path, nil).Header.Get("ETag"), "stable while unchanged")

	stale := b.client.Do(t, http.MethodPut, path, apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true}, "If-Match", `"0000"`)
	require.Equal(t, http.StatusPreconditionFailed, stale.Status, "%s", stale.Body)
	require.Equal(t, apiv1.CodePreconditionFailed, stale.ErrorCode(t))

	op := b.client.Do(t, http.MethodPut, path, apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true}, "If-Match", tag).Operation(t)
	b.client.Wait(t, op.ID, time.Minute)
	require.NotEqual(t, tag, b.client.Do(t, http.MethodGet, path, nil).Header.Get("ETag"), "a change changes the ETag")
	del := b.client.Do(t, http.MethodDelete, path, nil, "If-Match", tag)
	require.Equal(t, http.StatusPreconditionFailed, del.Status, "delete honours If-Match too")
}

// TestSecondMutationWhileOneRuns holds a lock on pg_database so the first
// operation stays in its ensure_database step.
func TestSecondMutationWhileOneRuns(t *testing.T) {
	b := setup(t)
	admin := fleet.Admin(t, "eastus")
	name := daemontest.UniqueName("busy")
	path := "/v1/databases/eastus/" + name

	release := fleet.LockDatabaseCatalog(t, "eastus")

	first := b.client.Do(t, http.MethodPut, path, apiv1.DatabaseSpec{SkipFinalBackup: true}).Operation(t)
	second := b.client.Do(t, http.MethodPut, path, apiv1.DatabaseSpec{DeletionProtection: new(false)})
	require.Equal(t, http.StatusConflict, second.Status, "%s", second.Body)
	var e apiv1.ErrorResponse
	second.Decode(t, &e)
	require.Equal(t, apiv1.CodeOperationInProgress, e.Error.Code)
	require.Equal(t, first.ID, e.Error.Details["operation_id"], "the 409 names the running operation")

	waited := b.client.Do(t, http.MethodPost, "/v1/operations/"+first.ID+":wait?timeout=300ms", nil)
	var op apiv1.Operation
	waited.Decode(t, &op)
	require.False(t, op.Done, "wait answers at its timeout while the operation runs")

	release()
	require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, first.ID, time.Minute).State)
	require.True(t, daemontest.DatabaseExists(t, admin, name))
}

func TestPasswordsOnlyForWriters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	name := daemontest.UniqueName("secret")
	db := b.create(t, "westeurope", name, apiv1.DatabaseSpec{SkipFinalBackup: true})
	require.NotEmpty(t, db.Password)

	resp := b.reader.Do(t, http.MethodGet, "/v1/databases/westeurope/"+name, nil)
	require.Equal(t, http.StatusOK, resp.Status)
	var seen apiv1.Database
	resp.Decode(t, &seen)
	require.Empty(t, seen.Password, "a read token does not get the owner's password")
	require.NotContains(t, string(resp.Body), db.Password)
	require.Equal(t, b.client.Do(t, http.MethodGet, "/v1/databases/westeurope/"+name, nil).Header.Get("ETag"), resp.Header.Get("ETag"),
		"readers and writers see the same ETag")
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name, token string
	}{{"Missing", ""}, {"Wrong", "not-a-token"}} {
		t.Run(tc.name, func(t *testing.T) {
			c := &daemontest.Client{Endpoint: b.client.Endpoint, Token: tc.token}
			resp := c.Do(t, http.MethodGet, "/v1/regions", nil)
			require.Equal(t, http.StatusUnauthorized, resp.Status)
			require.Equal(t, apiv1.CodeUnauthenticated, resp.ErrorCode(t))
			require.NotEmpty(t, resp.Header.Get(apiv1.HeaderRequestID))
		})
	}
	require.Equal(t, http.StatusOK, (&daemontest.Client{Endpoint: b.client.Endpoint}).Do(t, http.MethodGet, "/healthz", nil).Status)
}

func TestRegions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var list apiv1.RegionList
	b.client.Do(t, http.MethodGet, "/v1/regions", nil).Decode(t, &list)
	require.Len(t, list.Regions, 2)
	for _, r := range list.Regions {
		require.True(t, r.Healthy, "%+v", r)
		require.Contains(t, r.ServerVersion, "15")
	}
}
