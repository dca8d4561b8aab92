package daemon_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

func migrations(sqls ...string) []apiv1.Migration {
	var out []apiv1.Migration
	for i, sql := range sqls {
		out = append(out, apiv1.Migration{Version: int64(i + 1), Up: sql})
	}
	return out
}

func (b *testBundle) putSchema(t *testing.T, name string, spec apiv1.SchemaSpec) apiv1.Schema {
	t.Helper()
	resp := b.client.Do(t, http.MethodPut, "/v1/schemas/"+name, spec)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var s apiv1.Schema
	resp.Decode(t, &s)
	return s
}

func (b *testBundle) waitFor(t *testing.T, id string, cond func(apiv1.Operation) bool) apiv1.Operation {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var op apiv1.Operation
		b.client.Do(t, http.MethodGet, "/v1/operations/"+id, nil).Decode(t, &op)
		if cond(op) {
			return op
		}
		time.Sleep(50 * time.Millisecond)
	}
	var op apiv1.Operation
	b.client.Do(t, http.MethodGet, "/v1/operations/"+id, nil).Decode(t, &op)
	t.Fatalf("operation %s never reached the expected state; it is %+v", id, op)
	return apiv1.Operation{}
}

func TestSchemaMigrationsRunAsOwnerIntoTheLedger(t *testing.T) {
	t.Parallel()
	b := setup(t)
	schema := daemontest.UniqueName("app")
	name := daemontest.UniqueName("ledger")
	s := b.putSchema(t, schema, apiv1.SchemaSpec{Migrations: migrations(
		"CREATE TABLE items (id bigint PRIMARY KEY, label text)",
		"ALTER TABLE items ADD COLUMN price numeric;\nCREATE INDEX items_label ON items (label)",
	)})
	require.EqualValues(t, 2, s.LatestVersion)
	require.Len(t, s.Migrations[0].Checksum, 64)

	db := b.create(t, "westeurope", name, apiv1.DatabaseSpec{Schema: schema, SkipFinalBackup: true,
		Parameters: map[string]string{"statement_timeout": "5s", "search_path": "app, public"}})
	require.EqualValues(t, 2, db.AppliedVersion)
	require.EqualValues(t, 2, db.SchemaVersion, "the latest version when none is given")
	require.Equal(t, 1, db.RolloutWave)
	require.Len(t, fleet.Ledger(t, "westeurope", name), 2)

	conn := ownerConn(t, db)
	var owner, timeout, searchPath string
	require.NoError(t, conn.QueryRow(context.Background(),
		`SELECT tableowner FROM pg_tables WHERE tablename = 'items'`).Scan(&owner))
	require.Equal(t, db.Owner, owner, "migrations run as the owner, not a superuser")
	require.NoError(t, conn.QueryRow(context.Background(), `SHOW statement_timeout`).Scan(&timeout))
	require.Equal(t, "5s", timeout)
	require.NoError(t, conn.QueryRow(context.Background(), `SHOW search_path`).Scan(&searchPath))
	require.Equal(t, "app, public", searchPath)

	// Re-applying runs nothing twice.
	b.create(t, "westeurope", name, apiv1.DatabaseSpec{Schema: schema, SkipFinalBackup: true})
	require.Len(t, fleet.Ledger(t, "westeurope", name), 2)
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT coalesce(current_setting('statement_timeout', true), '')`).Scan(&timeout))

	changed := b.client.Do(t, http.MethodPut, "/v1/schemas/"+schema, apiv1.SchemaSpec{Migrations: migrations(
		"CREATE TABLE items (id bigint PRIMARY KEY, label text, extra int)",
		"ALTER TABLE items ADD COLUMN price numeric;\nCREATE INDEX items_label ON items (label)",
	)})
	require.Equal(t, http.StatusConflict, changed.Status, "%s", changed.Body)
	require.Equal(t, apiv1.CodePublishedVersion, changed.ErrorCode(t))
	require.Contains(t, string(changed.Body), "migration 1")

	bad := b.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, apiv1.DatabaseSpec{Schema: schema,
		Parameters: map[string]string{"shared_buffers": "1GB"}})
	require.Equal(t, http.StatusBadRequest, bad.Status)
	require.Contains(t, string(bad.Body), "shared_buffers")
	var badErr apiv1.ErrorResponse
	bad.Decode(t, &badErr)
	require.Equal(t, "parameters", badErr.Error.Details["field"], "the error names the field at fault")

	downgrade := b.client.Do(t, http.MethodPost, "/v1/databases/westeurope/"+name+":plan", apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 1})
	require.Equal(t, http.StatusBadRequest, downgrade.Status, "%s", downgrade.Body)
	require.Equal(t, apiv1.CodeDowngradeImpossible, downgrade.ErrorCode(t))
}

func TestValidateReportsVersionAndLine(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp := b.client.Do(t, http.MethodPost, "/v1/schemas/"+daemontest.UniqueName("app")+":validate", apiv1.SchemaSpec{Migrations: migrations(
		"CREATE TABLE a (id int)",
		"CREATE TABLE b (id int);\n\nCREAT TABLE c (id int)",
	)})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var v apiv1.SchemaValidation
	resp.Decode(t, &v)
	require.False(t, v.Valid)
	require.Len(t, v.Errors, 1)
	require.EqualValues(t, 2, v.Errors[0].Version)
	require.Equal(t, 3, v.Errors[0].Line)
	require.Contains(t, v.Errors[0].Message, "CREAT")

	for _, tc := range []struct {
		name string
		sql  string
		want string
	}{
		{"CreateRole", "CREATE ROLE intruder", "permission denied to create role"},
		{"AlterSystem", "ALTER SYSTEM SET work_mem = '1GB'", "alter system cannot run"},
		{"CopyProgram", "CREATE TABLE x (t text); COPY x FROM PROGRAM 'id'", "must be superuser or have privileges of the pg_execute_server_program role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := b.client.Do(t, http.MethodPost, "/v1/schemas/"+daemontest.UniqueName("app")+":validate",
				apiv1.SchemaSpec{Migrations: migrations(tc.sql)})
			var v apiv1.SchemaValidation
			resp.Decode(t, &v)
			require.False(t, v.Valid, "a migration runs with the owner's rights only")
			require.Contains(t, strings.ToLower(v.Errors[0].Message), tc.want)
		})
	}

	unordered := b.client.Do(t, http.MethodPut, "/v1/schemas/"+daemontest.UniqueName("app"), apiv1.SchemaSpec{
		Migrations: []apiv1.Migration{{Version: 2, Up: "SELECT 1"}, {Version: 1, Up: "SELECT 1"}}})
	require.Equal(t, http.StatusBadRequest, unordered.Status)
}

// rolloutFixture is a schema rolled out in two waves, westeurope then
// eastus, with one database per region at version 1.
func rolloutFixture(t *testing.T, b *testBundle, policy apiv1.RolloutPolicy, sqls ...string) (schema, name string) {
	t.Helper()
	schema = daemontest.UniqueName("app")
	name = daemontest.UniqueName("orders")
	policy.Waves = [][]string{{"westeurope"}, {"eastus"}}
	b.putSchema(t, schema, apiv1.SchemaSpec{Migrations: migrations(sqls[:1]...), Rollout: &policy})
	for _, region := range []string{"westeurope", "eastus"} {
		b.create(t, region, name, apiv1.DatabaseSpec{Schema: schema, SkipFinalBackup: true})
	}
	b.putSchema(t, schema, apiv1.SchemaSpec{Migrations: migrations(sqls...), Rollout: &policy})
	return schema, name
}

func TestUpgradeWaitsForEarlierWavesAndBakeTime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bake := 1500 * time.Millisecond
	schema, name := rolloutFixture(t, b, apiv1.RolloutPolicy{BakeTime: bake.String()},
		"CREATE TABLE a (id int)", "CREATE TABLE b (id int)")

	plan := b.client.Do(t, http.MethodPost, "/v1/databases/eastus/"+name+":plan", apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2})
	var p apiv1.DatabasePlan
	plan.Decode(t, &p)
	require.Equal(t, 2, p.Wave)
	require.Equal(t, 2, p.Waves)
	require.Contains(t, p.Gate, "westeurope/"+name+" has run version 2")

	second := b.client.Do(t, http.MethodPut, "/v1/databases/eastus/"+name, apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2, SkipFinalBackup: true}).Operation(t)
	waiting := b.waitFor(t, second.ID, func(op apiv1.Operation) bool { return strings.HasPrefix(op.Progress, "waiting") })
	require.Equal(t, apiv1.OperationPending, waiting.State, "an upgrade waiting on its gate is pending")
	require.Contains(t, waiting.Progress, "wave 2 of 2")

	first := b.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2, SkipFinalBackup: true}).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, first.ID, time.Minute).State)
	baking := b.waitFor(t, second.ID, func(op apiv1.Operation) bool { return strings.Contains(op.Progress, "baked") })
	require.Contains(t, baking.Progress, "left")
	require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, second.ID, time.Minute).State)

	canary, later := fleet.Ledger(t, "westeurope", name)[2], fleet.Ledger(t, "eastus", name)[2]
	require.GreaterOrEqual(t, later.Sub(canary), bake, "eastus ran version 2 no earlier than the bake time after westeurope")
	var s apiv1.Schema
	b.client.Do(t, http.MethodGet, "/v1/schemas/"+schema, nil).Decode(t, &s)
	require.Equal(t, apiv1.RolloutCompleted, s.Rollouts[1].State)
}

func TestCanaryFailureHaltsTheRollout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	schema, name := rolloutFixture(t, b, apiv1.RolloutPolicy{}, "CREATE TABLE a (id int)", "CREATE TABLE b (id int);\nSELEC 1")

	waiting := b.client.Do(t, http.MethodPut, "/v1/databases/eastus/"+name, apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2, SkipFinalBackup: true}).Operation(t)
	b.waitFor(t, waiting.ID, func(op apiv1.Operation) bool { return op.State == apiv1.OperationPending && op.Progress != "queued" })

	canary := b.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2, SkipFinalBackup: true}).Operation(t)
	failed := b.client.Wait(t, canary.ID, time.Minute)
	require.Equal(t, apiv1.OperationFailed, failed.State)
	require.Equal(t, apiv1.CodeRolloutHalted, failed.Error.Code)
	require.Contains(t, failed.Error.Message, "westeurope")
	require.Contains(t, failed.Error.Message, "version 2")
	require.Contains(t, failed.Error.Message, "line 2")

	other := b.client.Wait(t, waiting.ID, 10*time.Second)
	require.Equal(t, apiv1.OperationFailed, other.State, "the waiting upgrade fails at once")
	require.Contains(t, other.Error.Message, "westeurope")
	require.NotContains(t, fleet.Ledger(t, "eastus", name), int64(2), "eastus stays on the previous version")
	require.NotContains(t, fleet.Ledger(t, "westeurope", name), int64(2))

	plan := b.client.Do(t, http.MethodPost, "/v1/databases/eastus/"+name+":plan", apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2})
	require.Equal(t, http.StatusConflict, plan.Status)
	var halted apiv1.ErrorResponse
	plan.Decode(t, &halted)
	require.Equal(t, apiv1.CodeRolloutHalted, halted.Error.Code)
	require.Equal(t, map[string]string{"field": "schema_version", "schema": schema, "version": "2",
		"region": "westeurope", "database": name, "check": apiv1.CheckMigration}, halted.Error.Details)

	var s apiv1.Schema
	b.client.Do(t, http.MethodPost, "/v1/schemas/"+schema+"/rollouts/2:resume", nil).Decode(t, &s)
	plan = b.client.Do(t, http.MethodPost, "/v1/databases/eastus/"+name+":plan", apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2})
	require.Equal(t, http.StatusOK, plan.Status, "resumed: %s", plan.Body)
}

func TestRollbackRevertsTheRegionsThatMoved(t *testing.T) {
	t.Parallel()
	b := setup(t)
	policy := apiv1.RolloutPolicy{OnFailure: apiv1.OnFailureRollback}
	schema, name := rolloutFixture(t, b, policy, "CREATE TABLE a (id int)", "CREATE TABLE clash (id int)")
	spec := apiv1.SchemaSpec{Rollout: &policy, Migrations: migrations("CREATE TABLE a (id int)", "CREATE TABLE clash (id int)")}
	spec.Migrations[1].Down = "DROP TABLE clash"
	b.putSchema(t, schema, spec)

	// Version 2 will fail in eastus only: its table is already there.
	pool := fleet.AdminDB(t, "eastus", name)
	_, err := pool.Exec(context.Background(), `CREATE TABLE public.clash (id int)`)
	require.NoError(t, err)

	canary := b.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2, SkipFinalBackup: true}).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, canary.ID, time.Minute).State)
	require.Contains(t, fleet.Ledger(t, "westeurope", name), int64(2))

	second := b.client.Do(t, http.MethodPut, "/v1/databases/eastus/"+name, apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2, SkipFinalBackup: true}).Operation(t)
	require.Equal(t, apiv1.OperationFailed, b.client.Wait(t, second.ID, time.Minute).State)

	var ops apiv1.OperationList
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		b.client.Do(t, http.MethodGet, "/v1/operations?target=databases/westeurope/"+name, nil).Decode(t, &ops)
		if ops.Operations[0].Kind == apiv1.OperationKindRollbackDatabase && ops.Operations[0].Done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, apiv1.OperationKindRollbackDatabase, ops.Operations[0].Kind)
	require.Equal(t, apiv1.OperationSucceeded, ops.Operations[0].State)
	require.NotContains(t, fleet.Ledger(t, "westeurope", name), int64(2), "westeurope ran down and is back on version 1")
	requireNoTable(t, fleet.AdminDB(t, "westeurope", name), "clash")

	var db apiv1.Database
	b.client.Do(t, http.MethodGet, "/v1/databases/westeurope/"+name, nil).Decode(t, &db)
	require.EqualValues(t, 1, db.AppliedVersion)
	require.Equal(t, apiv1.DatabaseStatusRolledBack, db.Status)
}

func requireNoTable(t *testing.T, pool *pgxpool.Pool, table string) {
	t.Helper()
	var exists bool
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists))
	require.False(t, exists, "table %s still exists", table)
}
