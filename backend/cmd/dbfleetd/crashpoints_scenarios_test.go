package main_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

const (
	west = "westeurope"
	east = "eastus"
)

// The inner points of applying a migration, of a source's republish and
// health check, and of a revert.
var (
	applyPoints  = []string{failpoint.MigrationSQLRan, failpoint.MigrateApplied, failpoint.MigrateRecorded, failpoint.MigrateChecked}
	sourcePoints = []string{failpoint.MigrationSQLRan, failpoint.MigrateApplied, failpoint.MigrateRecorded, failpoint.MigrateRepublished, failpoint.MigrateChecked}
	revertPoints = []string{failpoint.RevertIntent, failpoint.MigrationDownRan, failpoint.RevertRan, failpoint.RevertRecorded}
)

// subscribePoints are those of a subscription being made (before
// PostgreSQL 16 it is handed to the owner before it is enabled).
func subscribePoints(major int) []string {
	points := []string{failpoint.SubscriptionSlotCleared, failpoint.SubscriptionCreated}
	if major < 16 {
		points = append(points, failpoint.SubscriptionHandedOver)
	}
	return points
}

// withReplica makes a source at version in westeurope, with rows, and its
// replica in eastus, before the points are armed.
func withReplica(t *testing.T, c *crashCase, version int64) {
	t.Helper()
	putSchema(t, c, migrations(version), nil)
	applyWait(t, c, west, spec(c, version, ""))
	require.NoError(t, c.exec(t, west, c.name, `INSERT INTO t1 SELECT g, 'row' FROM generate_series(1, 50) g`))
	applyWait(t, c, east, spec(c, version, west))
	awaitRows(t, c, 50)
}

// awaitRows waits until the replica's t1 has n rows.
func awaitRows(t *testing.T, c *crashCase, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var got int
	for time.Now().Before(deadline) {
		err := c.query(t, east, c.name, `SELECT count(*) FROM t1`, &got)
		if err == nil && got == n {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	var status string
	if resp, err := tryDo(c.n, http.MethodGet, "/v1/databases/eastus/"+c.name, nil); err == nil {
		status = string(resp.Body)
	}
	t.Fatalf("the replica's t1 has %d rows, not %d; the replica: %s", got, n, status)
}

var (
	sourceWithReplica = &dbWant{status: apiv1.DatabaseStatusReady, version: 3, published: true, slots: 1}
	replicaAt3        = &dbWant{status: apiv1.DatabaseStatusReady, version: 3, replica: true}
)

// crashScenarios are the operations of the enumeration, on a fleet of
// PostgreSQL major.
func crashScenarios(major int) []*crashScenario {
	ready := func(v int64) *dbWant { return &dbWant{status: apiv1.DatabaseStatusReady, version: v} }
	return []*crashScenario{
		{
			name: "create", kind: apiv1.OperationKindApplyDatabase,
			inner: append([]string{failpoint.RoleUncommitted, failpoint.DatabaseCreated}, atVersions(applyPoints, 1, 2, 3)...),
			setup: func(t *testing.T, c *crashCase) { putSchema(t, c, migrations(3), nil) },
			start: func(t *testing.T, c *crashCase) {
				sendOp(c, http.MethodPut, "/v1/databases/westeurope/"+c.name, spec(c, 3, ""))
			},
			opKind: apiv1.OperationKindApplyDatabase, wantState: apiv1.OperationSucceeded,
			check: func(t *testing.T, c *crashCase) { expectDB(t, c, west, c.name, ready(3)) },
		},
		{
			name: "upgrade_with_replica", kind: apiv1.OperationKindApplyDatabase, replicas: true,
			inner: append(append([]string{failpoint.RoleUncommitted}, atVersions(sourcePoints, 2, 3)...),
				failpoint.PublicationRoleEnsured, failpoint.PublicationUncommitted, failpoint.ReplicateSourceSubscribed),
			setup: func(t *testing.T, c *crashCase) {
				withReplica(t, c, 1)
				putSchema(t, c, migrations(3), nil)
				applyWait(t, c, east, spec(c, 3, west)) // a replica runs a version before its source
			},
			start: func(t *testing.T, c *crashCase) {
				sendOp(c, http.MethodPut, "/v1/databases/westeurope/"+c.name, spec(c, 3, ""))
			},
			opKind: apiv1.OperationKindApplyDatabase, wantState: apiv1.OperationSucceeded,
			check: func(t *testing.T, c *crashCase) {
				expectDB(t, c, west, c.name, sourceWithReplica)
				expectDB(t, c, east, c.name, replicaAt3)
				require.NoError(t, c.exec(t, west, c.name, `INSERT INTO t1 VALUES (51, 'after')`))
				awaitRows(t, c, 51)
			},
		},
		{
			name: "downgrade", kind: apiv1.OperationKindApplyDatabase,
			inner: append([]string{failpoint.RoleUncommitted}, atVersions(revertPoints, 3, 2)...),
			setup: func(t *testing.T, c *crashCase) {
				putSchema(t, c, migrations(3), nil)
				applyWait(t, c, west, spec(c, 3, ""))
			},
			start: func(t *testing.T, c *crashCase) {
				sendOp(c, http.MethodPut, "/v1/databases/westeurope/"+c.name, spec(c, 1, ""))
			},
			opKind: apiv1.OperationKindApplyDatabase, wantState: apiv1.OperationSucceeded,
			check: func(t *testing.T, c *crashCase) { expectDB(t, c, west, c.name, ready(1)) },
		},
		{
			// Version 2 fails in the database named *_bad: its rollout is
			// rolled back, which reverts c.name from 3 to 1.
			name: "rollback", kind: apiv1.OperationKindRollbackDatabase,
			inner: atVersions(revertPoints, 3, 2),
			setup: func(t *testing.T, c *crashCase) {
				migs := migrations(3)
				migs[1].Up += `; DO $$ BEGIN IF current_database() LIKE '%\_bad' THEN RAISE EXCEPTION 'version 2 fails here'; END IF; END $$`
				putSchema(t, c, migs, &apiv1.RolloutPolicy{OnFailure: apiv1.OnFailureRollback})
				applyWait(t, c, west, spec(c, 3, ""))
				bad := *c
				bad.name = c.name + "_bad"
				applyWait(t, &bad, west, spec(c, 1, ""))
			},
			start: func(t *testing.T, c *crashCase) {
				sendOp(c, http.MethodPut, "/v1/databases/westeurope/"+c.name+"_bad", spec(c, 3, ""))
				c.opID = "" // the operation killed is the rollback it starts
			},
			opKind: apiv1.OperationKindRollbackDatabase, wantState: apiv1.OperationSucceeded,
			check: func(t *testing.T, c *crashCase) {
				expectDB(t, c, west, c.name, &dbWant{status: apiv1.DatabaseStatusRolledBack, version: 1})
				expectDB(t, c, west, c.name+"_bad", &dbWant{status: apiv1.DatabaseStatusFailed, version: 1})
			},
		},
		{
			name: "replica_create", kind: apiv1.OperationKindApplyDatabase, stepDB: store.Database{ReplicaOf: west}, replicas: true,
			inner: append(append(append([]string{failpoint.RoleUncommitted, failpoint.DatabaseCreated}, atVersions(applyPoints, 1, 2, 3)...),
				failpoint.PublicationRoleEnsured, failpoint.PublicationUncommitted, failpoint.ReplicatePublished), subscribePoints(major)...),
			setup: func(t *testing.T, c *crashCase) {
				putSchema(t, c, migrations(3), nil)
				applyWait(t, c, west, spec(c, 3, ""))
				require.NoError(t, c.exec(t, west, c.name, `INSERT INTO t1 SELECT g, 'row' FROM generate_series(1, 50) g`))
			},
			start: func(t *testing.T, c *crashCase) {
				sendOp(c, http.MethodPut, "/v1/databases/eastus/"+c.name, spec(c, 3, west))
			},
			opKind: apiv1.OperationKindApplyDatabase, wantState: apiv1.OperationSucceeded,
			check: func(t *testing.T, c *crashCase) {
				awaitRows(t, c, 50)
				expectDB(t, c, west, c.name, sourceWithReplica)
				expectDB(t, c, east, c.name, replicaAt3)
			},
		},
		{
			// The reconciler resubscribes a replica whose subscription was
			// dropped (SubscriptionResync); no operation runs.
			name: "resubscribe", replicas: true,
			inner: append([]string{failpoint.ResyncTruncated}, subscribePoints(major)...),
			setup: func(t *testing.T, c *crashCase) { withReplica(t, c, 3) },
			start: func(t *testing.T, c *crashCase) {
				require.NoError(t, c.exec(t, east, c.name, "DROP SUBSCRIPTION "+engine.SubscriptionName(c.name, east)))
			},
			check: func(t *testing.T, c *crashCase) {
				deadline := time.Now().Add(3 * time.Minute)
				for catalogOf(t, c, east, c.name).subscriptions == 0 && time.Now().Before(deadline) {
					time.Sleep(500 * time.Millisecond)
				}
				awaitRows(t, c, 50)
				expectDB(t, c, west, c.name, sourceWithReplica)
				expectDB(t, c, east, c.name, replicaAt3)
			},
		},
		{
			name: "verify", kind: apiv1.OperationKindVerifyDatabase, stepDB: store.Database{ReplicaOf: west}, replicas: true,
			setup: func(t *testing.T, c *crashCase) { withReplica(t, c, 3) },
			start: func(t *testing.T, c *crashCase) {
				sendOp(c, http.MethodPost, "/v1/databases/eastus/"+c.name+":verify", nil)
			},
			opKind: apiv1.OperationKindVerifyDatabase, wantState: apiv1.OperationSucceeded,
			check: func(t *testing.T, c *crashCase) {
				expectDB(t, c, west, c.name, sourceWithReplica)
				expectDB(t, c, east, c.name, replicaAt3)
				op, ok := tryOperation(c.n, c.opID)
				require.True(t, ok)
				require.True(t, strings.HasPrefix(op.Progress, "consistent"), "the check's result: %s", op.Progress)
			},
		},
		{
			name: "rotate", kind: apiv1.OperationKindRotatePassword,
			inner: []string{failpoint.RotateIntentRecorded, failpoint.RoleUncommitted},
			setup: func(t *testing.T, c *crashCase) { applyWait(t, c, west, spec(c, 0, "")) },
			start: func(t *testing.T, c *crashCase) {
				sendOp(c, http.MethodPost, "/v1/databases/westeurope/"+c.name+":rotate_password", nil)
			},
			opKind: apiv1.OperationKindRotatePassword, wantState: apiv1.OperationSucceeded,
			check: func(t *testing.T, c *crashCase) {
				expectDB(t, c, west, c.name, ready(0))
				db := getDatabase(t, c.n, c.name)
				require.True(t, ownerLogin(t, db, db.Password), "the stored password logs in")
			},
		},
		{
			name: "delete", kind: apiv1.OperationKindDeleteDatabase,
			inner: []string{failpoint.DumpWritten},
			setup: func(t *testing.T, c *crashCase) {
				putSchema(t, c, migrations(1), nil)
				s := spec(c, 1, "")
				s.SkipFinalBackup = false
				applyWait(t, c, west, s)
			},
			start: func(t *testing.T, c *crashCase) {
				sendOp(c, http.MethodDelete, "/v1/databases/westeurope/"+c.name, nil)
			},
			opKind: apiv1.OperationKindDeleteDatabase, wantState: apiv1.OperationSucceeded,
			check: func(t *testing.T, c *crashCase) {
				expectDB(t, c, west, c.name, nil)
				files, err := filepath.Glob(filepath.Join(filepath.Dir(c.n.config), "backups", west, c.name+"*"))
				require.NoError(t, err)
				if !c.again {
					require.Len(t, files, 1, "one whole final backup: %v", files)
				}
				require.NotEmpty(t, files)
				for _, f := range files {
					require.False(t, strings.HasSuffix(f, ".partial"), "no partial file: %v", files)
					info, err := os.Stat(f)
					require.NoError(t, err)
					require.Positive(t, info.Size())
				}
			},
		},
		{
			name: "delete_replica", kind: apiv1.OperationKindDeleteDatabase, stepDB: store.Database{ReplicaOf: west, SkipFinalBackup: true}, replicas: true,
			setup: func(t *testing.T, c *crashCase) { withReplica(t, c, 3) },
			start: func(t *testing.T, c *crashCase) {
				sendOp(c, http.MethodDelete, "/v1/databases/eastus/"+c.name, nil)
			},
			opKind: apiv1.OperationKindDeleteDatabase, wantState: apiv1.OperationSucceeded,
			check: func(t *testing.T, c *crashCase) {
				expectDB(t, c, east, c.name, nil)
				expectDB(t, c, west, c.name, &dbWant{status: apiv1.DatabaseStatusReady, version: 3, published: true})
			},
		},
	}
}

// String names a scenario in failures.
func (s *crashScenario) String() string {
	return fmt.Sprintf("%s (%d points)", s.name, len(s.points()))
}
