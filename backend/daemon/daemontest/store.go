package daemontest

import (
	"context"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// NewStore opens a state store (insert-only: no jobs run) in a new
// database of a region, for tests of what several nodes sharing a
// PostgreSQL store do at once; it is closed and dropped when the test
// ends.
func (f *Fleet) NewStore(t testing.TB, region string) store.Store {
	t.Helper()
	name := UniqueName("state")
	admin := f.Admin(t, region)
	_, err := admin.Exec(context.Background(), "CREATE DATABASE "+name)
	require.NoError(t, err)
	dsn, err := url.Parse(f.Region(t, region).AdminDSN())
	require.NoError(t, err)
	dsn.Path = "/" + name
	st, err := store.Open(context.Background(), dsn.String(), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = st.Close()
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return st
}

// StartStore starts a PostgreSQL server of its own and opens a state store
// in it (NewStore), both gone when the test ends.
func StartStore(t testing.TB) store.Store {
	t.Helper()
	fleet, err := StartFleet("state")
	require.NoError(t, err)
	t.Cleanup(fleet.Stop)
	return fleet.NewStore(t, "state")
}

// HoldOperationStart does in st what a request starting an operation on a
// database does, up to its commit: it takes the database's lock and
// records operationID as the database's operation. The transaction stays
// open until commit runs (which waits for it to commit), so that a test
// can check what must wait for an operation's start, and see it.
func HoldOperationStart(t testing.TB, st store.Store, key store.DatabaseKey, operationID string) (commit func()) {
	t.Helper()
	locked, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- st.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
			if err := tx.Lock(ctx, store.DatabaseLockName(key)); err != nil {
				return err
			}
			db, err := tx.DatabaseGet(ctx, key)
			if err != nil {
				return err
			}
			db.OperationID = operationID
			if err := tx.DatabasePut(ctx, db); err != nil {
				return err
			}
			close(locked)
			<-release
			return nil
		})
	}()
	select {
	case <-locked:
	case err := <-done:
		require.NoError(t, err, "start an operation on %s/%s", key.Region, key.Name)
	}
	var once sync.Once
	commit = func() {
		once.Do(func() {
			close(release)
			require.NoError(t, <-done, "commit the start of an operation on %s/%s", key.Region, key.Name)
		})
	}
	t.Cleanup(commit)
	return commit
}
