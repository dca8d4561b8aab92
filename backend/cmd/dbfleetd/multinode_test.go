package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

var allRegions = []string{"westeurope", "northeurope", "eastus"}

// newStateStore makes an empty PostgreSQL state store for one test and
// returns its URL and a pool on it.
func newStateStore(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	name := daemontest.UniqueName("state")
	_, err := stateFleet.Admin(t, "state").Exec(context.Background(), "CREATE DATABASE "+name)
	require.NoError(t, err)
	u, err := url.Parse(stateFleet.Region(t, "state").AdminDSN())
	require.NoError(t, err)
	u.Path = "/" + name
	pool, err := pgxpool.New(context.Background(), u.String())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return u.String(), pool
}

// startNodes starts n nodes on one state store, one after another, so
// that the first is the first leader.
func startNodes(t *testing.T, storeDSN string, n int) []*node {
	t.Helper()
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = newNodeOn(t, storeDSN, allRegions...)
		nodes[i].start()
	}
	return nodes
}

// id is the node's name among the store's nodes, from its last start's log.
func (n *node) id() string {
	n.t.Helper()
	var id string
	for _, line := range strings.Split(n.logText(), "\n") {
		var entry struct {
			Message string `json:"message"`
			Node    string `json:"node"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Message == "Serving" {
			id = entry.Node
		}
	}
	require.NotEmpty(n.t, id, "the node logged its ID when it started serving")
	return id
}

func nodeByID(t *testing.T, nodes []*node, id string) *node {
	t.Helper()
	for _, n := range nodes {
		if n.cmd != nil && n.id() == id {
			return n
		}
	}
	t.Fatalf("no running node %s", id)
	return nil
}

// runnerOf waits until a node runs the operation's job and returns that
// node's ID.
func runnerOf(t *testing.T, state *pgxpool.Pool, operationID string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var id string
		err := state.QueryRow(context.Background(), `SELECT attempted_by[cardinality(attempted_by)] FROM river_job
			WHERE state = 'running' AND args->>'operation_id' = $1`, operationID).Scan(&id)
		if err == nil {
			return id
		}
		require.ErrorIs(t, err, pgx.ErrNoRows)
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no node ran operation %s", operationID)
	return ""
}

// waitForStepStart waits until the store records that the operation's step
// started.
func waitForStepStart(t *testing.T, state *pgxpool.Pool, operationID, step string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var started bool
		require.NoError(t, state.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM operation_steps
			WHERE operation_id = $1 AND step = $2)`, operationID, step).Scan(&started))
		if started {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("operation %s never started step %s", operationID, step)
}

// leaderOf waits for a leader other than not, and returns it.
func leaderOf(t *testing.T, state *pgxpool.Pool, not string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var id string
		err := state.QueryRow(context.Background(), `SELECT leader_id FROM river_leader WHERE expires_at > now()`).Scan(&id)
		if err == nil && id != not {
			return id
		}
		if err != nil {
			require.ErrorIs(t, err, pgx.ErrNoRows)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no new leader within %s", within)
	return ""
}

// succeededOnce checks that exactly one node logged the operation's success.
func succeededOnce(t *testing.T, nodes []*node, operationID string) {
	t.Helper()
	requireSucceededOnce(t, func() string {
		var all strings.Builder
		for _, n := range nodes {
			all.WriteString(n.logText())
		}
		return all.String()
	}, operationID)
}

// TestThreeNodesFinishARolloutDespiteKills runs a three-wave rollout on
// three nodes sharing a PostgreSQL store, SIGKILLs the node running the
// canary's migration and then the leader, and checks that the survivors
// finish every operation exactly once with one ledger row per version.
func TestThreeNodesFinishARolloutDespiteKills(t *testing.T) {
	storeDSN, state := newStateStore(t)
	nodes := startNodes(t, storeDSN, 3)
	schema := daemontest.UniqueName("app")
	name := daemontest.UniqueName("multi")
	policy := &apiv1.RolloutPolicy{Waves: [][]string{{"westeurope"}, {"northeurope"}, {"eastus"}}, BakeTime: "1s"}
	putSchema := func(sqls ...string) {
		var migs []apiv1.Migration
		for i, sql := range sqls {
			migs = append(migs, apiv1.Migration{Version: int64(i + 1), Up: sql})
		}
		resp := nodes[0].client.Do(t, http.MethodPut, "/v1/schemas/"+schema, apiv1.SchemaSpec{Migrations: migs, Rollout: policy})
		require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	}
	putSchema("CREATE TABLE a (id int)")
	spec := apiv1.DatabaseSpec{Schema: schema, DeletionProtection: new(false)}
	var ops []string
	for i, region := range allRegions {
		// Any node takes any request.
		op := nodes[i].client.Do(t, http.MethodPut, "/v1/databases/"+region+"/"+name, spec).Operation(t)
		ops = append(ops, op.ID)
	}
	for _, id := range ops {
		require.Equal(t, apiv1.OperationSucceeded, nodes[2].client.Wait(t, id, time.Minute).State)
	}

	// Version 2 sleeps long enough in its migration to be killed mid-step.
	putSchema("CREATE TABLE a (id int)", "SELECT pg_sleep(2); CREATE TABLE b (id int)")
	spec.SchemaVersion = 2
	var upgrades []string
	for i, region := range allRegions {
		op := nodes[i].client.Do(t, http.MethodPut, "/v1/databases/"+region+"/"+name, spec).Operation(t)
		upgrades = append(upgrades, op.ID)
	}
	waitForStepStart(t, state, upgrades[0], "migrate")
	stepRunner := nodeByID(t, nodes, runnerOf(t, state, upgrades[0]))
	stepRunnerID := stepRunner.id()
	stepRunner.kill()

	leader := leaderOf(t, state, "", 30*time.Second)
	if leader == stepRunnerID {
		// The step runner led: kill the leader the survivors elect.
		leader = leaderOf(t, state, leader, time.Minute)
	}
	nodeByID(t, nodes, leader).kill()
	killedLeaderAt := time.Now()
	newLeader := leaderOf(t, state, leader, time.Minute)
	t.Logf("leader %s killed; %s leads after %s", leader, newLeader, time.Since(killedLeaderAt).Round(time.Millisecond))

	var survivor *node
	for _, n := range nodes {
		if n.cmd != nil {
			survivor = n
		}
	}
	require.NotNil(t, survivor)
	for _, id := range upgrades {
		done := survivor.client.Wait(t, id, 2*time.Minute)
		require.Equal(t, apiv1.OperationSucceeded, done.State, "operation %s: %+v", id, done.Error)
	}
	for _, id := range append(ops, upgrades...) {
		succeededOnce(t, nodes, id)
	}
	var runners []string
	require.NoError(t, state.QueryRow(context.Background(), `SELECT attempted_by FROM river_job
		WHERE args->>'operation_id' = $1`, upgrades[0]).Scan(&runners))
	require.Contains(t, runners, stepRunnerID)
	require.NotEqual(t, stepRunnerID, runners[len(runners)-1], "another node finished the killed node's step")
	for _, region := range allRegions {
		require.Len(t, fleet.Ledger(t, region, name), 2, "one ledger row per version in %s", region)
	}
	var list apiv1.OperationList
	survivor.client.Do(t, http.MethodGet, "/v1/operations?target=databases/westeurope/"+name, nil).Decode(t, &list)
	require.Len(t, list.Operations, 2, "no operation lost or added")
}

// TestStoreRestartDuringOperations stops the PostgreSQL state store while
// two nodes run creates: the nodes report not ready, then ready again once
// the store is back, and every operation succeeds exactly once.
func TestStoreRestartDuringOperations(t *testing.T) {
	storeDSN, _ := newStateStore(t)
	nodes := startNodes(t, storeDSN, 2)
	admin := fleet.Admin(t, "westeurope")
	prefix := daemontest.UniqueName("restart")

	release := fleet.LockDatabaseCatalog(t, "westeurope")
	var ops []string
	for i := range 4 {
		op := nodes[i%2].client.Do(t, http.MethodPut, fmt.Sprintf("/v1/databases/westeurope/%s_%d", prefix, i),
			apiv1.DatabaseSpec{DeletionProtection: new(false)}).Operation(t)
		ops = append(ops, op.ID)
	}
	waitForStep(t, nodes[0].client, ops[0], "ensure_database")

	ctx := context.Background()
	require.NoError(t, stateFleet.StopRegion(ctx, "state"))
	for _, n := range nodes {
		waitForReadiness(t, n, http.StatusServiceUnavailable)
	}
	release()
	require.NoError(t, stateFleet.StartRegion(ctx, "state"))
	for _, n := range nodes {
		waitForReadiness(t, n, http.StatusOK)
	}

	for i, id := range ops {
		done := nodes[1].client.Wait(t, id, 2*time.Minute)
		require.Equal(t, apiv1.OperationSucceeded, done.State, "operation %s: %+v", id, done.Error)
		succeededOnce(t, nodes, id)
		require.True(t, daemontest.DatabaseExists(t, admin, fmt.Sprintf("%s_%d", prefix, i)))
	}
}

func waitForReadiness(t *testing.T, n *node, status int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		resp, err := http.Get(n.client.Endpoint + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
			last = fmt.Errorf("status %d", resp.StatusCode)
		} else {
			last = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("/readyz of %s never answered %d: %v", n.client.Endpoint, status, errors.Join(last))
}

// TestSIGTERMHandsBackTheRestOfAnOperation sends SIGTERM to the node running
// a create in its slow migrate step: the node turns unready, finishes the
// step, hands the operation's remaining steps back and exits cleanly; the
// other node finishes the operation.
func TestSIGTERMHandsBackTheRestOfAnOperation(t *testing.T) {
	storeDSN, state := newStateStore(t)
	nodes := startNodes(t, storeDSN, 2)
	schema := daemontest.UniqueName("app")
	name := daemontest.UniqueName("drain")
	resp := nodes[0].client.Do(t, http.MethodPut, "/v1/schemas/"+schema, apiv1.SchemaSpec{
		Migrations: []apiv1.Migration{{Version: 1, Up: "SELECT pg_sleep(2); CREATE TABLE a (id int)"}}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	op := nodes[0].client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name,
		apiv1.DatabaseSpec{Schema: schema, DeletionProtection: new(false)}).Operation(t)
	waitForStepStart(t, state, op.ID, "migrate")
	stopping := nodeByID(t, nodes, runnerOf(t, state, op.ID))
	other := nodes[0]
	if other == stopping {
		other = nodes[1]
	}

	require.NoError(t, stopping.cmd.Process.Signal(syscall.SIGTERM))
	waitForReadiness(t, stopping, http.StatusServiceUnavailable)
	exited := make(chan error, 1)
	go func() { exited <- stopping.cmd.Wait() }()
	select {
	case err := <-exited:
		require.NoError(t, err, "dbfleetd exits 0 after draining")
		stopping.cmd = nil
	case <-time.After(40 * time.Second):
		t.Fatalf("dbfleetd did not exit after SIGTERM; log:\n%s", stopping.logText())
	}

	done := other.client.Wait(t, op.ID, time.Minute)
	require.Equal(t, apiv1.OperationSucceeded, done.State, "%+v", done.Error)
	log := stopping.logText()
	require.Equal(t, 1, countLogLines(log, `"step":"migrate"`, "Ran step", op.ID), "the stopping node finished its step")
	require.Equal(t, 1, countLogLines(log, "Handing back operation", op.ID), "and handed the rest back")
	requireSucceededOnce(t, other.logText, op.ID) // the other node finished it
	require.Len(t, fleet.Ledger(t, "westeurope", name), 1, "the migration ran once")
}

// TestOneIdempotencyKeyAcrossNodes sends copies of one PUT with one
// Idempotency-Key to two nodes at once, in rounds: every copy is answered
// with the one operation or told that the first copy is still in flight,
// and one operation results. (The continuous runner's retry storm found
// that two nodes could both claim a key and one replay a 409 forever.)
func TestOneIdempotencyKeyAcrossNodes(t *testing.T) {
	storeDSN, _ := newStateStore(t)
	nodes := startNodes(t, storeDSN, 2)
	name := daemontest.UniqueName("storm")
	path := "/v1/databases/eastus/" + name
	for _, method := range []string{http.MethodPut, http.MethodDelete} {
		key := daemontest.UniqueName("key")
		var body any
		if method == http.MethodPut {
			body = apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true}
		}
		var operationIDs sync.Map
		for range 3 {
			var wg sync.WaitGroup
			for i := range 12 {
				wg.Go(func() {
					resp := nodes[i%2].client.Do(t, method, path, body, apiv1.HeaderIdempotencyKey, key)
					switch resp.Status {
					case http.StatusAccepted:
						operationIDs.Store(resp.Operation(t).ID, true)
					case http.StatusConflict:
						require.Equal(t, apiv1.CodeIdempotencyInFlight, resp.ErrorCode(t), "%s", resp.Body)
					default:
						t.Errorf("%s answered %d: %s", method, resp.Status, resp.Body)
					}
				})
			}
			wg.Wait()
		}
		var ids []string
		operationIDs.Range(func(id, _ any) bool { ids = append(ids, id.(string)); return true })
		require.Len(t, ids, 1, "%s copies with one key answered one operation", method)
		require.Equal(t, apiv1.OperationSucceeded, nodes[0].client.Wait(t, ids[0], time.Minute).State)
	}
	var list apiv1.OperationList
	nodes[1].client.Do(t, http.MethodGet, "/v1/operations?target=databases/eastus/"+name, nil).Decode(t, &list)
	require.Len(t, list.Operations, 2, "one create and one delete")
}

// TestRacingAppliesAcrossNodes sends creates of one database with different
// Idempotency-Keys to two nodes at once: one starts the operation, the
// others are told it is running, whichever node they reach. (The runner
// found two operations started on one database when two nodes raced.)
func TestRacingAppliesAcrossNodes(t *testing.T) {
	storeDSN, _ := newStateStore(t)
	nodes := startNodes(t, storeDSN, 2)
	name := daemontest.UniqueName("race")
	path := "/v1/databases/westeurope/" + name
	// The create waits in ensure_database until the test lets it go, so
	// every racing request meets it running.
	release := fleet.LockDatabaseCatalog(t, "westeurope")
	defer release()
	var mu sync.Mutex
	var accepted []string
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			resp := nodes[i%2].client.Do(t, http.MethodPut, path, apiv1.DatabaseSpec{DeletionProtection: new(false)},
				apiv1.HeaderIdempotencyKey, daemontest.UniqueName("key"))
			switch resp.Status {
			case http.StatusAccepted:
				mu.Lock()
				accepted = append(accepted, resp.Operation(t).ID)
				mu.Unlock()
			case http.StatusConflict:
				require.Equal(t, apiv1.CodeOperationInProgress, resp.ErrorCode(t), "%s", resp.Body)
			default:
				t.Errorf("PUT answered %d: %s", resp.Status, resp.Body)
			}
		})
	}
	wg.Wait()
	require.Len(t, accepted, 1, "one of the racing applies starts an operation")
	release()
	require.Equal(t, apiv1.OperationSucceeded, nodes[1].client.Wait(t, accepted[0], time.Minute).State)
	var list apiv1.OperationList
	nodes[0].client.Do(t, http.MethodGet, "/v1/operations?target=databases/westeurope/"+name, nil).Decode(t, &list)
	require.Len(t, list.Operations, 1)
}
