package main_test

import (
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
)

// TestCancelPoints is the cancel-point enumeration of issue 17, on the
// crash enumeration's scenarios that run an operation and at the same
// points: dbfleetd holds the operation at the point, the test cancels it
// and lets it go on. The operation must end cancelled, or succeeded where
// nothing was left to stop or it was past its point of no return; the
// store's record of every database must then match its region; and
// doing the same again must finish it, as the crash scenario checks.
func TestCancelPoints(t *testing.T) {
	var scenarios []*crashScenario
	for _, s := range crashScenarios(serverMajor(t)) {
		if s.opKind != "" { // a repair of the reconciler has nothing to cancel
			scenarios = append(scenarios, s)
		}
	}
	forEachPoint(t, "cancel", scenarios, runCancelCase)
}

func runCancelCase(t *testing.T, s *crashScenario, point, prefix string, pools map[string]*pgxpool.Pool) {
	c := newCase(t, s, point, prefix, pools, failpoint.PauseEnvVar)
	n := c.n
	n.start()
	s.setup(t, c)
	c.arm(t)
	s.start(t, c)
	awaitPause(t, c, 90*time.Second)
	id := c.opID
	if id == "" {
		id = newOperation(t, c, s.opKind)
	}
	resp := n.client.Do(t, http.MethodPost, "/v1/operations/"+id+":cancel", nil)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	want := cancelOutcomes(s, point)
	if !isStepBoundary(point) && slices.Contains(want, apiv1.OperationCancelled) {
		// Held inside a step: its statement is cancelled while it is held,
		// so what it does next meets the cancel.
		awaitLog(t, c, 10*time.Second, "Cancelling the running step", id)
	}
	require.NoError(t, os.Remove(c.armed), "let the operation go on")

	op := n.client.Wait(t, id, 3*time.Minute)
	require.Contains(t, want, op.State, "outcome of a cancel at %s: %+v", point, op.Error)
	t.Logf("cancelled at %s: the operation ended %s", point, op.State)
	for _, region := range []string{"westeurope", "northeurope", "eastus"} {
		for _, name := range []string{c.name, c.name + "_bad"} {
			expectRecordMatchesRegion(t, c, region, name)
		}
	}
	if op.State == apiv1.OperationSucceeded {
		require.Equal(t, s.wantState, op.State)
		c.opID = id
		s.check(t, c)
		return
	}
	if s.name == "rollback" {
		// A rolled-back rollout is not started again by a request; what
		// the cancelled rollback left is what was checked above.
		return
	}

	// Doing it again finishes what the cancel stopped.
	for _, region := range []string{"westeurope", "northeurope", "eastus"} {
		for _, old := range operationsIn(t, n, region, c.name) {
			c.before[old] = true
		}
	}
	c.opID, c.again = "", true
	s.start(t, c)
	again := c.opID
	if again == "" {
		again = newOperation(t, c, s.opKind)
	}
	done := n.client.Wait(t, again, 3*time.Minute)
	require.Equal(t, s.wantState, done.State, "%+v", done.Error)
	c.opID = again
	s.check(t, c)
}

// cancelOutcomes are the ends an operation of scenario s may have when it
// is cancelled at point: cancelled, but succeeded after its last step
// (nothing was left to stop) and past its point of no return (a password
// rotation; a delete once it dropped the database). Held inside its last
// step, whether the step meets the cancel depends on whether it has a
// statement left to run: either end is right.
func cancelOutcomes(s *crashScenario, point string) []string {
	cancelled := []string{apiv1.OperationCancelled}
	succeeded := []string{apiv1.OperationSucceeded}
	steps := ops.StepNames(s.kind, &s.stepDB)
	switch {
	case s.kind == apiv1.OperationKindRotatePassword:
		return succeeded
	case !isStepBoundary(point):
		return []string{apiv1.OperationCancelled, apiv1.OperationSucceeded}
	}
	parts := strings.Split(point, "/") // step/<kind>/<step>/<phase>
	i, after := slices.Index(steps, parts[2]), parts[3] == "after"
	drop := slices.Index(steps, "drop_database")
	switch {
	case after && i == len(steps)-1:
		return succeeded
	case s.kind == apiv1.OperationKindDeleteDatabase && (i > drop || i == drop && after):
		return succeeded
	}
	return cancelled
}

// isStepBoundary tells a point before or after a step (ops.StepFailpoint)
// from one inside a step.
func isStepBoundary(point string) bool { return strings.HasPrefix(point, "step/") }

// awaitPause waits until dbfleetd holds the operation at the case's point,
// failing at once when the operation ends without reaching it.
func awaitPause(t *testing.T, c *crashCase, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(failpoint.ReachedFile(c.armed)); err == nil {
			return
		} else if !errors.Is(err, os.ErrNotExist) {
			require.NoError(t, err)
		}
		if c.opID != "" {
			if op, ok := tryOperation(c.n, c.opID); ok && op.Done {
				t.Fatalf("operation %s ended (%s) without reaching point %s", c.opID, op.State, c.point)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("dbfleetd did not reach %s; log:\n%s", c.point, c.n.logText())
}

// awaitLog waits for a log line with every one of parts.
func awaitLog(t *testing.T, c *crashCase, within time.Duration, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for countLogLines(c.logText(), parts...) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q; log:\n%s", parts, c.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// expectRecordMatchesRegion checks that the store's record of a database
// says what its region has: nothing of it when there is no record;
// otherwise no operation holds it, its ledger holds versions 1..applied
// once each, and a database the record counts as made (not failed) exists
// with its owner.
func expectRecordMatchesRegion(t *testing.T, c *crashCase, region, name string) {
	t.Helper()
	st := catalogOf(t, c, region, name)
	resp, err := tryDo(c.n, http.MethodGet, "/v1/databases/"+region+"/"+name, nil)
	require.NoError(t, err)
	if resp.Status == http.StatusNotFound {
		require.Equal(t, dbState{}, st, "no record of %s in %s, and nothing of it there", name, region)
		return
	}
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var db apiv1.Database
	require.NoError(t, resp.Decode(&db))
	require.Empty(t, db.OperationID, "no operation holds %s in %s", name, region)
	var versions []int64
	for v := int64(1); v <= db.AppliedVersion; v++ {
		versions = append(versions, v)
	}
	require.Equal(t, versions, st.ledger, "%s in %s: the ledger holds the record's versions 1..%d once each", name, region, db.AppliedVersion)
	if db.Status != apiv1.DatabaseStatusFailed {
		require.True(t, st.database && st.owner, "%s in %s is %s: the database and its owner exist: %+v", name, region, db.Status, st)
	}
}
