package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
)

// TestCrashPointsOnThreeNodes runs a sample of the crash points on three
// nodes sharing a PostgreSQL store: every node has the point armed, so the
// node that runs the step kills itself there; the point is disarmed at once,
// another node takes the job over, and the operation finishes once, with
// the same invariants as on one node.
func TestCrashPointsOnThreeNodes(t *testing.T) {
	sample := []struct{ scenario, point string }{
		{"create", "step/apply_database/ensure_database/after"},
		{"create", failpoint.DatabaseCreated},
		{"create", failpoint.AtVersion(failpoint.MigrateRecorded, 2)},
		{"downgrade", failpoint.AtVersion(failpoint.RevertRan, 3)},
		{"rotate", failpoint.RotateIntentRecorded},
	}
	scenarios := map[string]*crashScenario{}
	for _, s := range crashScenarios(serverMajor(t)) {
		scenarios[s.name] = s
	}
	pools := regionPools(t)
	for i, tc := range sample {
		s := scenarios[tc.scenario]
		require.NotNil(t, s, tc.scenario)
		require.Contains(t, s.points(), tc.point, "the sample names a point of the scenario")
		t.Run(tc.scenario+"/"+tc.point, func(t *testing.T) {
			t.Parallel()
			dsn, state := newStateStore(t)
			armed := filepath.Join(t.TempDir(), "armed")
			nodes := make([]*node, 3)
			for j := range nodes {
				nodes[j] = newNodeOn(t, dsn, "westeurope", "northeurope", "eastus")
				nodes[j].env = []string{failpoint.EnvVar + "=" + tc.point, failpoint.ArmedEnvVar + "=" + armed}
				nodes[j].start()
			}
			prefix := "cpmn" + string(rune('a'+i))
			c := &crashCase{n: nodes[0], nodes: nodes, stateStore: state, point: tc.point, name: daemontest.UniqueName(prefix),
				schema: daemontest.UniqueName(prefix + "s"), armed: armed, pools: pools, before: map[string]bool{}}
			t.Cleanup(func() { dropCase(t, c) })
			s.setup(t, c)
			c.arm(t)
			s.start(t, c)

			died := awaitOneSelfKill(t, nodes, tc.point)
			require.NoError(t, os.Remove(armed), "disarmed before another node takes the step over")
			for _, n := range nodes {
				if n.cmd != nil {
					c.n = n
					break
				}
			}
			id := newOperation(t, c, s.opKind)
			op := c.n.client.Wait(t, id, 3*time.Minute)
			require.Equal(t, s.wantState, op.State, "%+v", op.Error)
			requireSucceededOnce(t, c.logText, id)
			var attempted []string
			require.NoError(t, state.QueryRow(context.Background(), `SELECT attempted_by FROM river_job
				WHERE args->>'operation_id' = $1`, id).Scan(&attempted))
			require.Contains(t, attempted, died.id(), "the node that died ran the operation's job")
			c.opID = id
			s.check(t, c)
		})
	}
}

// awaitOneSelfKill waits until one of the nodes killed itself at point and
// returns it; the others must still run.
func awaitOneSelfKill(t *testing.T, nodes []*node, point string) *node {
	t.Helper()
	exited := make(chan *node, len(nodes))
	for _, n := range nodes {
		cmd := n.cmd
		go func() {
			_ = cmd.Wait()
			exited <- n
		}()
	}
	select {
	case n := <-exited:
		n.cmd = nil
		return n
	case <-time.After(90 * time.Second):
		var logs strings.Builder
		for _, n := range nodes {
			logs.WriteString(n.logText())
		}
		t.Fatalf("no node died at %s; logs:\n%s", point, logs.String())
		return nil
	}
}
