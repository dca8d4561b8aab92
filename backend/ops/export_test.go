package ops

import (
	"context"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// HaltRollout is haltRollout, for the package's external tests.
func (m *Manager) HaltRollout(ctx context.Context, db *store.Database, schema *store.Schema, version int64, check, message string) error {
	return m.haltRollout(ctx, db, schema, version, check, message)
}
