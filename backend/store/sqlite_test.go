package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store/storetest"
)

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) store.Store {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "state.db"), store.Options{})
		require.NoError(t, err)
		return s
	})
}

func TestSQLiteMigrationsRunOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	for range 2 {
		s, err := store.OpenSQLite(context.Background(), path, store.Options{})
		require.NoError(t, err, "opening an existing store applies no migration twice")
		require.NoError(t, s.Close())
	}
}
