package ops

import (
	"context"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// databaseForUpdate reads a database in a transaction that is about to
// change it, after taking the database's lock: two requests starting
// operations on one database, on any nodes, take turns, and the second sees
// the first's operation.
func databaseForUpdate(ctx context.Context, tx store.Tx, key store.DatabaseKey) (*store.Database, error) {
	if err := tx.Lock(ctx, store.DatabaseLockName(key)); err != nil {
		return nil, err
	}
	return tx.DatabaseGet(ctx, key)
}

// schemaForUpdate reads a schema in a transaction that is about to change
// it or its rollouts, after taking the schema's lock.
func schemaForUpdate(ctx context.Context, tx store.Tx, name string) (*store.Schema, error) {
	if err := tx.Lock(ctx, "schemas/"+name); err != nil {
		return nil, err
	}
	return tx.SchemaGet(ctx, name)
}
