package daemon_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

// outageRegion is the region whose PostgreSQL the outage tests stop; it is
// a fleet of its own, so that the package's other tests never see it down.
const outageRegion = "eastus"

// attemptPattern reads the attempt number out of an operation's progress.
var attemptPattern = regexp.MustCompile(`\(attempt (\d+),`)

// TestRegionOutageDuringCreate stops a region's PostgreSQL right before a
// create in it, so that every attempt of the create's first step fails to
// connect.
func TestRegionOutageDuringCreate(t *testing.T) {
	t.Parallel()
	regions, err := daemontest.StartFleet(outageRegion)
	require.NoError(t, err)
	t.Cleanup(regions.Stop)
	ctx := context.Background()
	stopRegion := func(t *testing.T) {
		t.Helper()
		require.NoError(t, regions.StopRegion(ctx, outageRegion))
		t.Cleanup(func() { _ = regions.StartRegion(context.Background(), outageRegion) })
	}
	startRegion := func(t *testing.T) {
		t.Helper()
		require.NoError(t, regions.StartRegion(ctx, outageRegion))
	}
	withDeadline := func(d time.Duration) func(*daemon.Config) {
		return func(c *daemon.Config) { c.OperationDeadline = d }
	}
	path := func(name string) string { return "/v1/databases/" + outageRegion + "/" + name }
	unprotected := apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true}

	t.Run("RetriesWithBackoffUntilTheRegionReturns", func(t *testing.T) {
		b := setupOn(t, regions, withDeadline(2*time.Minute))
		name := daemontest.UniqueName("outage")
		stopRegion(t)
		op := b.client.Do(t, http.MethodPut, path(name), unprotected).Operation(t)

		// The first time each attempt shows in the progress: the waits
		// between them must grow (River's retry policy: 1 s, then 2 s).
		seen := map[int]time.Time{}
		var last apiv1.Operation
		require.Eventually(t, func() bool {
			b.client.Do(t, http.MethodGet, "/v1/operations/"+op.ID, nil).Decode(t, &last)
			if m := attemptPattern.FindStringSubmatch(last.Progress); m != nil {
				n, _ := strconv.Atoi(m[1])
				if _, ok := seen[n]; !ok {
					seen[n] = time.Now()
				}
			}
			return len(seen) >= 3 || last.Done
		}, 30*time.Second, 50*time.Millisecond, "three attempts recorded; last: %+v", last)
		require.Equal(t, apiv1.OperationRunning, last.State, "the operation stays running while it retries: %+v", last)
		require.False(t, last.Done)
		require.Contains(t, last.Progress, "region "+outageRegion+" unreachable; retrying step ensure_role (attempt ")
		first, second, third := seen[1], seen[2], seen[3]
		require.False(t, first.IsZero() || second.IsZero() || third.IsZero(), "attempts 1, 2 and 3 each recorded: %v", seen)
		t.Logf("waits between attempts: %s, %s", second.Sub(first), third.Sub(second))
		require.GreaterOrEqual(t, third.Sub(second), 1500*time.Millisecond, "backoff before attempt 3")
		require.Greater(t, third.Sub(second), second.Sub(first), "the backoff grows")

		var db apiv1.Database
		b.client.Do(t, http.MethodGet, path(name), nil).Decode(t, &db)
		require.Equal(t, op.ID, db.OperationID, "the create still holds the database")

		startRegion(t)
		done := b.client.Wait(t, op.ID, time.Minute)
		require.Equal(t, apiv1.OperationSucceeded, done.State, "operation: %+v", done)
		requireOneDatabaseAndRole(t, regions, name)
		requireOperations(t, b, name, []string{apiv1.OperationSucceeded})
	})

	t.Run("FailsAtItsDeadlineThenApplyFinishesAndDeleteCleans", func(t *testing.T) {
		const deadline = 3 * time.Second
		b := setupOn(t, regions, withDeadline(deadline))
		name := daemontest.UniqueName("outage")
		stopRegion(t)
		op := b.client.Do(t, http.MethodPut, path(name), unprotected).Operation(t)

		failed := b.client.Wait(t, op.ID, time.Minute)
		require.Equal(t, apiv1.OperationFailed, failed.State, "operation: %+v", failed)
		require.NotNil(t, failed.Error)
		require.Equal(t, apiv1.CodeDeadlineExceeded, failed.Error.Code)
		require.Equal(t, outageRegion, failed.Error.Region)
		require.Equal(t, "ensure_role", failed.Error.Step)
		require.Contains(t, failed.Error.Message, "step ensure_role in region "+outageRegion+" could not reach the region until the operation's deadline (3s after it started) passed")
		require.GreaterOrEqual(t, failed.UpdatedAt.Sub(failed.CreatedAt), deadline, "retried until the deadline")

		// Nothing half-made: the record says failed and no operation holds
		// it, and the region has neither the database nor its role.
		var db apiv1.Database
		b.client.Do(t, http.MethodGet, path(name), nil).Decode(t, &db)
		require.Equal(t, apiv1.DatabaseStatusFailed, db.Status)
		require.Empty(t, db.OperationID)
		startRegion(t)
		admin := regions.Admin(t, outageRegion)
		require.False(t, daemontest.DatabaseExists(t, admin, name))
		require.False(t, daemontest.RoleExists(t, admin, db.Owner))

		// Applying again finishes the database; deleting it then leaves nothing.
		again := b.client.Do(t, http.MethodPut, path(name), unprotected).Operation(t)
		require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, again.ID, time.Minute).State)
		requireOneDatabaseAndRole(t, regions, name)
		gone := b.client.Do(t, http.MethodDelete, path(name), nil).Operation(t)
		require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, gone.ID, time.Minute).State)
		require.False(t, daemontest.DatabaseExists(t, admin, name))
		require.False(t, daemontest.RoleExists(t, admin, db.Owner))
		require.Equal(t, http.StatusNotFound, b.client.Do(t, http.MethodGet, path(name), nil).Status)
		requireOperations(t, b, name, []string{apiv1.OperationSucceeded, apiv1.OperationSucceeded, apiv1.OperationFailed})
	})
}

// requireOneDatabaseAndRole asks the region's PostgreSQL that database name
// exists once, owned by the one role dbfleet made for it.
func requireOneDatabaseAndRole(t *testing.T, regions *daemontest.Fleet, name string) {
	t.Helper()
	var databases, roles int
	var owner string
	admin := regions.Admin(t, outageRegion)
	require.NoError(t, admin.QueryRow(context.Background(),
		`SELECT count(*), min(pg_get_userbyid(datdba)) FROM pg_database WHERE datname = $1`, name).Scan(&databases, &owner))
	require.NoError(t, admin.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_roles WHERE rolname LIKE $1 || '%'`, name).Scan(&roles))
	require.Equal(t, 1, databases, "databases named %s", name)
	require.Equal(t, 1, roles, "roles named after %s", name)
	require.Equal(t, name+"_owner", owner)
}

// requireOperations checks the states of the database's operations, newest
// first, as dbfleetd lists them.
func requireOperations(t *testing.T, b *testBundle, name string, want []string) {
	t.Helper()
	var list apiv1.OperationList
	b.client.Do(t, http.MethodGet, "/v1/operations?target=databases/"+outageRegion+"/"+name, nil).Decode(t, &list)
	var got []string
	for _, op := range list.Operations {
		got = append(got, op.State)
	}
	require.Equal(t, want, got)
}
