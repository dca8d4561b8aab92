package ops_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// TestHaltingARolloutWaitsForAnOperationStart: on a PostgreSQL store that
// nodes share, a rollout halted and rolled back while a request (on
// another node) is starting an operation on one of the schema's databases
// waits for that start, sees its operation and leaves that database to
// it; the rollback starts on the others. Without the database's lock the
// halt rewrote the database from what it had read, and the start's
// operation was lost.
func TestHaltingARolloutWaitsForAnOperationStart(t *testing.T) {
	t.Parallel()
	st := daemontest.StartStore(t)
	m := ops.NewManager(ops.Config{Store: st, Logger: zerolog.Nop()})
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)

	schema := &store.Schema{Name: "app", Rollout: store.RolloutPolicy{OnFailure: apiv1.OnFailureRollback}, CreatedAt: now, UpdatedAt: now,
		Migrations: []store.Migration{{Version: 1, Up: "CREATE TABLE a (id int)", Down: "DROP TABLE a"}, {Version: 2, Up: "CREATE TABLE b (id int)", Down: "DROP TABLE b"}}}
	key := func(name string) store.DatabaseKey { return store.DatabaseKey{Region: "westeurope", Name: name} }
	dbs := map[string]*store.Database{}
	require.NoError(t, st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.SchemaPut(ctx, schema); err != nil {
			return err
		}
		for _, name := range []string{"failing", "starting", "idle"} {
			db := &store.Database{Region: "westeurope", Name: name, Owner: name + "_owner", Schema: schema.Name, SchemaVersion: 2, AppliedVersion: 2,
				Status: apiv1.DatabaseStatusReady, Generation: 1, ObservedGeneration: 1, CreatedAt: now, UpdatedAt: now}
			if name == "failing" {
				db.OperationID = "op-failing" // the upgrade whose health check failed
			}
			dbs[name] = db
			if err := tx.DatabasePut(ctx, db); err != nil {
				return err
			}
		}
		return nil
	}))

	commit := daemontest.HoldOperationStart(t, st, key("starting"), "op-starting")
	halted := make(chan error, 1)
	go func() {
		halted <- m.HaltRollout(ctx, dbs["failing"], schema, 2, apiv1.CheckMigration, "the health check failed")
	}()
	select {
	case err := <-halted:
		t.Fatalf("the rollout halted (%v) while an operation was starting on one of its databases", err)
	case <-time.After(time.Second):
	}
	commit()
	require.NoError(t, <-halted)

	starting, err := st.DatabaseGet(ctx, key("starting"))
	require.NoError(t, err)
	require.Equal(t, "op-starting", starting.OperationID, "the operation that was starting stands")
	idle, err := st.DatabaseGet(ctx, key("idle"))
	require.NoError(t, err)
	require.NotEmpty(t, idle.OperationID, "the rollback starts on the database nothing runs on")
	rollback, err := st.OperationGet(ctx, idle.OperationID)
	require.NoError(t, err)
	require.Equal(t, apiv1.OperationKindRollbackDatabase, rollback.Kind)
	failing, err := st.DatabaseGet(ctx, key("failing"))
	require.NoError(t, err)
	require.Equal(t, "op-failing", failing.OperationID)
}
