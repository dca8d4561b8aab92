package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store/storetest"
)

// TestPostgres runs the store suite on a real PostgreSQL server, one new
// database per subtest.
func TestPostgres(t *testing.T) {
	t.Parallel()
	fleet, err := daemontest.StartFleet("state")
	require.NoError(t, err)
	t.Cleanup(fleet.Stop)
	admin := fleet.Admin(t, "state")
	adminDSN, err := url.Parse(fleet.Region(t, "state").AdminDSN())
	require.NoError(t, err)

	var n atomic.Int64
	newDatabase := func(t *testing.T) string {
		name := fmt.Sprintf("store_%d", n.Add(1))
		_, err := admin.Exec(context.Background(), "CREATE DATABASE "+name)
		require.NoError(t, err)
		dsn := *adminDSN
		dsn.Path = "/" + name
		return dsn.String()
	}

	storetest.Exercise(t, func(t *testing.T) store.Store {
		s, err := store.Open(context.Background(), newDatabase(t), store.Options{River: &river.Config{}})
		require.NoError(t, err)
		return s
	})

	t.Run("NodesOpeningTogetherMigrateOnce", func(t *testing.T) {
		t.Parallel()
		dsn := newDatabase(t)
		errs := make(chan error, 3)
		for range 3 {
			go func() {
				s, err := store.Open(context.Background(), dsn, store.Options{})
				if err == nil {
					err = s.Close()
				}
				errs <- err
			}()
		}
		for range 3 {
			require.NoError(t, <-errs)
		}
	})

	t.Run("OperationFinishedReachesTheOtherNodes", func(t *testing.T) {
		t.Parallel()
		dsn := newDatabase(t)
		ctx := context.Background()
		watcher, err := store.Open(ctx, dsn, store.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = watcher.Close() })
		finisher, err := store.Open(ctx, dsn, store.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = finisher.Close() })

		watchCtx, stop := context.WithCancel(ctx)
		defer stop()
		finished := make(chan string, 10)
		go func() { _ = watcher.WatchOperationsFinished(watchCtx, func(id string) { finished <- id }) }()

		// The watch may start listening after a first announcement: repeat
		// it until one arrives. A rolled-back announcement never arrives.
		deadline := time.After(30 * time.Second)
		for {
			require.Error(t, finisher.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				require.NoError(t, tx.OperationFinished(ctx, "op-rolled-back"))
				return errors.New("roll back")
			}))
			require.NoError(t, finisher.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				return tx.OperationFinished(ctx, "op-1")
			}))
			select {
			case id := <-finished:
				require.Equal(t, "op-1", id)
				return
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				t.Fatal("the other node never heard that op-1 finished")
			}
		}
	})
}
