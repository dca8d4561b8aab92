package daemon_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

// TestCancelledCreateLeavesAStatusToActOn cancels a create while it waits
// in ensure_database: the database is left failed, not provisioning for
// ever, and the next apply finishes it. (Found by hand beside the runner.)
func TestCancelledCreateLeavesAStatusToActOn(t *testing.T) {
	b := setup(t)
	admin := fleet.Admin(t, "eastus")
	name := daemontest.UniqueName("cancelled")
	path := "/v1/databases/eastus/" + name
	spec := apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true}

	release := fleet.LockDatabaseCatalog(t, "eastus")

	op := b.client.Do(t, http.MethodPut, path, spec).Operation(t)
	require.Equal(t, http.StatusOK, b.client.Do(t, http.MethodPost, "/v1/operations/"+op.ID+":cancel", nil).Status)
	release()
	require.Equal(t, apiv1.OperationCancelled, b.client.Wait(t, op.ID, time.Minute).State)

	var db apiv1.Database
	b.client.Do(t, http.MethodGet, path, nil).Decode(t, &db)
	require.Equal(t, apiv1.DatabaseStatusFailed, db.Status, "a create cancelled half-way is failed until applied again")

	again := b.client.Do(t, http.MethodPut, path, spec).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, again.ID, time.Minute).State)
	b.client.Do(t, http.MethodGet, path, nil).Decode(t, &db)
	require.Equal(t, apiv1.DatabaseStatusReady, db.Status)
	require.True(t, daemontest.DatabaseExists(t, admin, name))
}
