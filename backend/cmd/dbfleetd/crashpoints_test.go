package main_test

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // the nodes' SQLite stores, read for their intents

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// crashScenario is one operation (or reconciler repair) the crash-point
// enumeration kills at each of its points.
type crashScenario struct {
	name string
	// kind is the operation kind whose step boundaries are enumerated
	// (ops.StepFailpoints of stepDB), "" for a repair of the reconciler.
	kind   string
	stepDB store.Database
	// inner are the points between statements the scenario reaches.
	inner []string
	// setup prepares, before the points are armed, what the operation
	// needs; start starts it once they are (for a repair, causes it).
	setup func(t *testing.T, c *crashCase)
	start func(t *testing.T, c *crashCase)
	// replicas: the scenario makes a replica.
	replicas bool
	// opKind is the kind of the operation killed and then waited for;
	// wantState its outcome ("" for no operation).
	opKind    string
	wantState string
	// check checks the invariants once the operation finished.
	check func(t *testing.T, c *crashCase)
}

// points are the scenario's crash points: its step boundaries, generated
// from the worker's step list, and its inner points.
func (s *crashScenario) points() []string {
	var out []string
	if s.kind != "" {
		out = append(out, ops.StepFailpoints(s.kind, &s.stepDB)...)
	}
	return append(out, s.inner...)
}

// weight orders scenarios by how long a case takes: repairs, then
// replicas, then the rest.
func (s *crashScenario) weight() int {
	switch {
	case s.kind == "":
		return 0
	case s.replicas:
		return 1
	}
	return 2
}

// crashCase is one scenario killed at one point: its node, names and the
// operations that existed before it was armed.
type crashCase struct {
	n      *node
	point  string
	name   string
	schema string
	armed  string
	pools  map[string]*pgxpool.Pool
	before map[string]bool
	// nodes and stateStore are those of a case on a PostgreSQL store
	// shared by several nodes (c.n is the one it talks to).
	nodes      []*node
	stateStore *pgxpool.Pool
	opID       string
	// again: the scenario's operation ran a second time, after a cancel
	// (a delete then leaves a backup per run).
	again bool
}

// atVersions expands versioned points for versions.
func atVersions(points []string, versions ...int64) []string {
	var out []string
	for _, v := range versions {
		for _, p := range points {
			out = append(out, failpoint.AtVersion(p, v))
		}
	}
	return out
}

// TestCrashPointsCoverTheCode is the other half of failpoint's
// TestEveryPointSiteIsListed: every point listed there is reached by a
// scenario of the enumeration, and every operation kind that runs steps is
// enumerated.
func TestCrashPointsCoverTheCode(t *testing.T) {
	covered := map[string]bool{}
	kinds := map[string]bool{}
	for _, s := range crashScenarios(15) { // before 16 every point is reachable
		kinds[s.kind] = true
		for _, p := range s.inner {
			base, _, _ := strings.Cut(p, "@")
			covered[base] = true
		}
	}
	for _, p := range failpoint.InnerPoints() {
		require.True(t, covered[p], "no crash scenario reaches point %s", p)
	}
	for _, k := range []string{apiv1.OperationKindApplyDatabase, apiv1.OperationKindVerifyDatabase, apiv1.OperationKindRotatePassword,
		apiv1.OperationKindRollbackDatabase, apiv1.OperationKindDeleteDatabase} {
		require.True(t, kinds[k], "no crash scenario runs operation kind %s", k)
		require.NotEmpty(t, ops.StepNames(k, &store.Database{}), "kind %s has steps", k)
	}
}

// TestCrashPoints is the crash-point enumeration of issue 17: for each
// scenario and each of its points, dbfleetd is started with the point
// armed, the operation started, the process seen to SIGKILL itself there,
// restarted without the point, and the operation waited for; then the
// invariants are checked against PostgreSQL itself.
func TestCrashPoints(t *testing.T) {
	scenarios := crashScenarios(serverMajor(t))
	forEachPoint(t, "crash", scenarios, runCrashCase)
}

// forEachPoint runs run for each scenario and each of its points. Cases
// share the dev fleet (each its own database names) and run
// DBFLEET_CRASH_PARALLEL (10) at a time, the slowest first: a repair waits
// on the reconciler's interval, a replica on its copy.
// DBFLEET_CRASH_ONLY=<scenario> runs one scenario.
func forEachPoint(t *testing.T, what string, scenarios []*crashScenario,
	run func(t *testing.T, s *crashScenario, point, prefix string, pools map[string]*pgxpool.Pool)) {
	parallel := 10
	if v, err := strconv.Atoi(os.Getenv("DBFLEET_CRASH_PARALLEL")); err == nil && v > 0 {
		parallel = v
	}
	only := os.Getenv("DBFLEET_CRASH_ONLY")
	// Each replica holds a slot and logical replication workers of the
	// shared regions while its case runs: fewer of those at once.
	replicaSem := make(chan struct{}, max(parallel/2, 1))
	pools := regionPools(t)
	started := time.Now()
	var count atomic.Int32
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	scenarios = slices.Clone(scenarios)
	slices.SortStableFunc(scenarios, func(a, b *crashScenario) int { return cmp.Compare(a.weight(), b.weight()) })
	for _, s := range scenarios {
		if only != "" && s.name != only {
			continue
		}
		for i, point := range s.points() {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				if s.replicas {
					replicaSem <- struct{}{}
					defer func() { <-replicaSem }()
				}
				t.Run(s.name+"/"+point, func(t *testing.T) {
					run(t, s, point, fmt.Sprintf("%s%s%d", what[:2], s.name[:2], i), pools)
					count.Add(1)
				})
			})
		}
	}
	wg.Wait()
	t.Logf("%s points: %d passed in %s", what, count.Load(), time.Since(started).Round(time.Second))
}

// newCase makes the node of a case (SIGKILLed or paused at point, as env
// says) and the case, whose names start with prefix; what it made in the
// regions is dropped when the test ends.
func newCase(t *testing.T, s *crashScenario, point, prefix string, pools map[string]*pgxpool.Pool, envVar string) *crashCase {
	n := newNodeOn(t, "", "westeurope", "northeurope", "eastus")
	if s.kind == "" {
		// A repair waits for the reconciler's look at the database, twice
		// (before the kill and after the restart): look every 2 s, not 30 s.
		appendConfig(t, n, "reconcile_interval: 2s\n")
	}
	c := &crashCase{n: n, point: point, name: daemontest.UniqueName(prefix), schema: daemontest.UniqueName(prefix + "s"),
		armed: filepath.Join(filepath.Dir(n.config), "armed"), pools: pools, before: map[string]bool{}}
	t.Cleanup(func() { dropCase(t, c) })
	n.env = []string{envVar + "=" + point, failpoint.ArmedEnvVar + "=" + c.armed}
	return c
}

// arm records the operations that exist on the case's databases, then
// arms the point.
func (c *crashCase) arm(t *testing.T) {
	t.Helper()
	for _, region := range []string{"westeurope", "northeurope", "eastus"} {
		for _, id := range operationsIn(t, c.n, region, c.name) {
			c.before[id] = true
		}
	}
	require.NoError(t, os.WriteFile(c.armed, nil, 0o600))
}

func runCrashCase(t *testing.T, s *crashScenario, point, prefix string, pools map[string]*pgxpool.Pool) {
	c := newCase(t, s, point, prefix, pools, failpoint.EnvVar)
	n := c.n
	n.start()
	s.setup(t, c)
	c.arm(t)
	s.start(t, c)
	awaitSelfKill(t, c, 90*time.Second)

	n.env = nil
	n.start()
	if s.opKind != "" {
		id := c.opID
		if id == "" {
			id = newOperation(t, c, s.opKind)
		}
		op := n.client.Wait(t, id, 3*time.Minute)
		require.Equal(t, s.wantState, op.State, "%+v", op.Error)
		if s.wantState == apiv1.OperationSucceeded {
			requireSucceededOnce(t, c.logText, id)
		}
		c.opID = id
	}
	s.check(t, c)
}

// regionPools are one small superuser pool per region for every case's
// checks: the regions allow 100 connections, which the nodes share.
func regionPools(t *testing.T) map[string]*pgxpool.Pool {
	t.Helper()
	pools := map[string]*pgxpool.Pool{}
	for _, region := range []string{"westeurope", "northeurope", "eastus"} {
		cfg, err := pgxpool.ParseConfig(fleet.Region(t, region).SuperuserDSN())
		require.NoError(t, err)
		cfg.MaxConns = 4
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		pools[region] = pool
	}
	return pools
}

// dropCase stops the case's node and drops what it made in the shared
// regions: subscriptions first (which drops their slots), then the
// databases and roles, then any slot left.
func dropCase(t *testing.T, c *crashCase) {
	c.n.kill()
	for _, n := range c.nodes {
		n.kill()
	}
	ctx := context.Background()
	for _, name := range []string{c.name, c.name + "_bad"} {
		for _, region := range []string{"westeurope", "northeurope", "eastus"} {
			admin := c.admin(region)
			var subs []string
			rows, err := admin.Query(ctx, `SELECT s.subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = $1`, name)
			if err == nil {
				subs, _ = pgx.CollectRows(rows, pgx.RowTo[string])
			}
			for _, s := range subs {
				// A plain drop also drops the slot and any table sync slots
				// on the source; only when it cannot are they left.
				if c.exec(t, region, name, "DROP SUBSCRIPTION "+s) == nil {
					continue
				}
				for _, stmt := range []string{"ALTER SUBSCRIPTION %s DISABLE", "ALTER SUBSCRIPTION %s SET (slot_name = NONE)", "DROP SUBSCRIPTION %s"} {
					_ = c.exec(t, region, name, fmt.Sprintf(stmt, s))
				}
			}
			_, _ = admin.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
			for _, role := range []string{name + "_owner", engine.ReplicationRoleName(name)} {
				_, _ = admin.Exec(ctx, `DROP ROLE IF EXISTS `+role)
			}
			_, _ = admin.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE $1 AND NOT active`,
				"%"+name+"%")
		}
	}
}

// admin is the shared superuser pool on a region.
func (c *crashCase) admin(region string) *pgxpool.Pool { return c.pools[region] }

// exec runs sql in a region's database over a connection of its own.
func (c *crashCase) exec(t *testing.T, region, database, sql string) error {
	t.Helper()
	conn, err := c.connect(t, region, database)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), sql)
	return err
}

// query reads one row of sql in a region's database.
func (c *crashCase) query(t *testing.T, region, database, sql string, dest ...any) error {
	t.Helper()
	conn, err := c.connect(t, region, database)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(context.Background(), sql).Scan(dest...)
}

func (c *crashCase) connect(t *testing.T, region, database string) (*pgx.Conn, error) {
	t.Helper()
	cfg, err := pgx.ParseConfig(fleet.Region(t, region).SuperuserDSN())
	require.NoError(t, err)
	cfg.Database = database
	return pgx.ConnectConfig(context.Background(), cfg)
}

// awaitSelfKill waits until dbfleetd killed itself at the case's point,
// failing at once when the operation ends without reaching it.
func awaitSelfKill(t *testing.T, c *crashCase, within time.Duration) {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- c.n.cmd.Wait() }()
	deadline := time.After(within)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			require.Error(t, err, "dbfleetd killed itself")
			c.n.cmd = nil
			return
		case <-deadline:
			t.Fatalf("dbfleetd did not die at %s; log:\n%s", c.point, c.n.logText())
		case <-tick.C:
			if c.opID == "" {
				continue
			}
			resp, err := http.Get(c.n.client.Endpoint + "/readyz")
			if err != nil {
				continue // dying
			}
			resp.Body.Close()
			if op, ok := tryOperation(c.n, c.opID); ok && op.Done {
				select {
				case err := <-exited: // it died just after
					require.Error(t, err)
					c.n.cmd = nil
					return
				case <-time.After(time.Second):
				}
				t.Fatalf("operation %s ended (%s) without reaching point %s", c.opID, op.State, c.point)
			}
		}
	}
}

// operationsIn lists the IDs of the operations on a database.
func operationsIn(t *testing.T, n *node, region, name string) []string {
	t.Helper()
	var list apiv1.OperationList
	resp := n.client.Do(t, http.MethodGet, "/v1/operations?target=databases/"+region+"/"+name, nil)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	resp.Decode(t, &list)
	var ids []string
	for _, op := range list.Operations {
		ids = append(ids, op.ID)
	}
	return ids
}

// newOperation finds the one operation of kind on the case's databases
// that started after the points were armed.
func newOperation(t *testing.T, c *crashCase, kind string) string {
	t.Helper()
	var found []string
	for _, region := range []string{"westeurope", "northeurope", "eastus"} {
		var list apiv1.OperationList
		c.n.client.Do(t, http.MethodGet, "/v1/operations?target=databases/"+region+"/"+c.name, nil).Decode(t, &list)
		for _, op := range list.Operations {
			if op.Kind == kind && !c.before[op.ID] {
				found = append(found, op.ID)
			}
		}
	}
	require.Len(t, found, 1, "one %s operation started after the points were armed", kind)
	return found[0]
}

// sendOp sends a mutation that starts an operation; the node may die
// under it (the operation is then found by newOperation).
func sendOp(c *crashCase, method, path string, body any) {
	resp, err := tryDo(c.n, method, path, body)
	if err == nil && resp.Status == http.StatusAccepted {
		var op apiv1.Operation
		if resp.Decode(&op) == nil {
			c.opID = op.ID
		}
	}
}

// serverMajor is the fleet's PostgreSQL major version.
func serverMajor(t *testing.T) int {
	t.Helper()
	var num int
	require.NoError(t, fleet.Admin(t, "westeurope").QueryRow(context.Background(),
		`SELECT current_setting('server_version_num')::int`).Scan(&num))
	return num / 10000
}

// dbState is what the catalog of a region holds of one database.
type dbState struct {
	database, owner, replRole bool
	ledger                    []int64
	slots, subscriptions      int
	publications              int
}

func catalogOf(t *testing.T, c *crashCase, region, name string) dbState {
	t.Helper()
	ctx := context.Background()
	admin := c.admin(region)
	var st dbState
	require.NoError(t, admin.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1),
		EXISTS (SELECT FROM pg_roles WHERE rolname = $2), EXISTS (SELECT FROM pg_roles WHERE rolname = $3),
		(SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%' || $1 || '%'),
		(SELECT count(*) FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = $1)`,
		name, name+"_owner", engine.ReplicationRoleName(name)).Scan(&st.database, &st.owner, &st.replRole, &st.slots, &st.subscriptions))
	if !st.database {
		return st
	}
	conn, err := c.connect(t, region, name)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_publication`).Scan(&st.publications))
	var hasLedger bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT to_regclass('dbfleet.migrations') IS NOT NULL`).Scan(&hasLedger))
	if hasLedger {
		rows, err := conn.Query(ctx, `SELECT version FROM dbfleet.migrations ORDER BY version`)
		require.NoError(t, err)
		st.ledger, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		require.NoError(t, err)
		if len(st.ledger) == 0 {
			st.ledger = nil
		}
	}
	return st
}

// expectDB checks one database against its record and the catalog: it
// exists iff the store has it (want nil: neither has anything of it), its
// ledger holds versions 1..applied once each and the store's applied
// version is the same, it has the status, no operation holds it, and its
// replication objects are exactly the expected ones: no orphan role,
// publication, slot or subscription.
func expectDB(t *testing.T, c *crashCase, region, name string, want *dbWant) {
	t.Helper()
	st := catalogOf(t, c, region, name)
	resp, err := tryDo(c.n, http.MethodGet, "/v1/databases/"+region+"/"+name, nil)
	require.NoError(t, err)
	if want == nil {
		require.Equal(t, http.StatusNotFound, resp.Status, "the store has no %s/%s", region, name)
		require.Equal(t, dbState{}, st, "the region has nothing left of %s", name)
		return
	}
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var db apiv1.Database
	require.NoError(t, resp.Decode(&db))
	require.True(t, st.database && st.owner, "the database and its owner exist: %+v", st)
	require.Equal(t, want.status, db.Status)
	require.Equal(t, want.version, db.AppliedVersion, "the store's applied version")
	var versions []int64
	for v := int64(1); v <= want.version; v++ {
		versions = append(versions, v)
	}
	require.Equal(t, versions, st.ledger, "the ledger holds versions 1..%d once each", want.version)
	require.Equal(t, want.slots, st.slots, "replication slots of %s in %s", name, region)
	require.Equal(t, want.published, st.replRole, "replication role of %s in %s", name, region)
	require.Equal(t, boolInt(want.published), st.publications, "publications of %s in %s", name, region)
	require.Equal(t, boolInt(want.replica), st.subscriptions, "subscriptions of %s in %s", name, region)
	require.Empty(t, db.OperationID, "no operation holds the database")
	checkPending, revertPending := c.intents(t, region, name)
	require.Zero(t, checkPending, "no health check is left pending")
	require.Zero(t, revertPending, "no revert is left pending")
	for v := int64(1); v <= want.version && want.status == apiv1.DatabaseStatusReady; v++ {
		require.Positive(t, countLogLines(c.logText(), "Passed health check", `"database":"`+name+`"`, `"region":"`+region+`"`,
			fmt.Sprintf(`"version":%d`, v)), "version %d of %s in %s passed its health check, even across the crash", v, name, region)
	}
}

// intents reads a database's pending health check and revert from the
// store: the node's SQLite file, or the nodes' PostgreSQL store.
func (c *crashCase) intents(t *testing.T, region, name string) (checkPending, revertPending int64) {
	t.Helper()
	if c.stateStore != nil {
		require.NoError(t, c.stateStore.QueryRow(context.Background(), `SELECT check_pending_version, revert_pending_version
			FROM databases WHERE region = $1 AND name = $2`, region, name).Scan(&checkPending, &revertPending))
		return checkPending, revertPending
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(filepath.Dir(c.n.config), "state.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.QueryRowContext(context.Background(), `SELECT check_pending_version, revert_pending_version
		FROM databases WHERE region = ? AND name = ?`, region, name).Scan(&checkPending, &revertPending))
	return checkPending, revertPending
}

// logText is the log of every node of the case.
func (c *crashCase) logText() string {
	if len(c.nodes) == 0 {
		return c.n.logText()
	}
	var all strings.Builder
	for _, n := range c.nodes {
		all.WriteString(n.logText())
	}
	return all.String()
}

// dbWant is what a database must be once the operation finished.
type dbWant struct {
	status  string
	version int64
	// replica: it has one subscription; published: it has the
	// replication role and one publication; slots: its replicas' slots.
	replica, published bool
	slots              int
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// migrations are n migrations of a schema: version v makes table t<v>
// (with a primary key, for replication) and drops it on the way down.
func migrations(n int64) []apiv1.Migration {
	var out []apiv1.Migration
	for v := int64(1); v <= n; v++ {
		out = append(out, apiv1.Migration{Version: v,
			Up:   fmt.Sprintf("CREATE TABLE t%d (id bigint PRIMARY KEY, v text)", v),
			Down: fmt.Sprintf("DROP TABLE t%d", v)})
	}
	return out
}

func putSchema(t *testing.T, c *crashCase, migs []apiv1.Migration, policy *apiv1.RolloutPolicy) {
	t.Helper()
	resp := c.n.client.Do(t, http.MethodPut, "/v1/schemas/"+c.schema, apiv1.SchemaSpec{Migrations: migs, Rollout: policy})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
}

// applyWait applies a spec before the points are armed and waits for it.
func applyWait(t *testing.T, c *crashCase, region string, spec apiv1.DatabaseSpec) {
	t.Helper()
	op := c.n.client.Do(t, http.MethodPut, "/v1/databases/"+region+"/"+c.name, spec).Operation(t)
	done := c.n.client.Wait(t, op.ID, 2*time.Minute)
	require.Equal(t, apiv1.OperationSucceeded, done.State, "%+v", done.Error)
}

func spec(c *crashCase, version int64, replicaOf string) apiv1.DatabaseSpec {
	s := apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true, SchemaVersion: version, ReplicaOf: replicaOf}
	if version > 0 {
		s.Schema = c.schema
	}
	return s
}

// rawResponse is an answer read without a test to fail.
type rawResponse struct {
	Status int
	Body   []byte
}

func (r *rawResponse) Decode(v any) error { return json.Unmarshal(r.Body, v) }

// tryDo sends a request to a node that may be dying: a transport error is
// returned, not failed on.
func tryDo(n *node, method, path string, body any) (*rawResponse, error) {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.client.Endpoint+path, reader)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+n.client.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &rawResponse{Status: resp.StatusCode, Body: b}, nil
}

// tryOperation reads an operation from a node that may be dying.
func tryOperation(n *node, id string) (apiv1.Operation, bool) {
	var op apiv1.Operation
	resp, err := tryDo(n, http.MethodGet, "/v1/operations/"+id, nil)
	if err != nil || resp.Status != http.StatusOK || resp.Decode(&op) != nil {
		return op, false
	}
	return op, true
}

// appendConfig adds lines to the node's serve configuration, for its next
// start.
func appendConfig(t *testing.T, n *node, lines string) {
	t.Helper()
	f, err := os.OpenFile(n.config, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(lines)
	require.NoError(t, errors.Join(err, f.Close()))
}
