package ops

import (
	"context"
	"errors"
	"fmt"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// FailpointRotateIntentRecorded is the point of a password rotation where
// the store holds the new password (the intent) and the region still
// accepts the old one (no effect yet).
const FailpointRotateIntentRecorded = failpoint.RotateIntentRecorded

// DatabasePasswordRotate starts the operation that gives a database's owner
// role a new password.
//
// The new password is generated here and written to the database's row in
// the transaction that records the operation and its job, before any
// region sees it: the store's password is the one the database must have
// from then on. A crash before the region's ALTER ROLE therefore has one
// recovery, whoever runs it: the resumed job, or the reconciler, which
// finds that the owner cannot log in with the stored password and resets
// the role to it. Nothing ever goes back to the old password, so a cancel
// does not stop a rotation: it runs to its end (pastNoReturn).
func (m *Manager) DatabasePasswordRotate(ctx context.Context, region, name, requestID string) (*store.Operation, error) {
	if err := m.validateTarget(region, name); err != nil {
		return nil, err
	}
	var op *store.Operation
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		db, err := databaseForUpdate(ctx, tx, store.DatabaseKey{Region: region, Name: name})
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("database %s does not exist in region %s: %w", name, region, err)
		}
		if err != nil {
			return err
		}
		if db.OperationID != "" {
			return &OperationInProgressError{OperationID: db.OperationID, Target: Target(region, name)}
		}
		password, err := generatePassword()
		if err != nil {
			return fmt.Errorf("rotate password of %s in %s: %w", name, region, err)
		}
		op = m.newOperation(apiv1.OperationKindRotatePassword, db, requestID)
		db.Password, db.OperationID, db.UpdatedAt = password, op.ID, op.CreatedAt
		return m.startOperation(ctx, tx, db, op)
	})
	if err != nil {
		return nil, err
	}
	m.logStarted(op)
	return op, nil
}

// rotateSteps are the steps of a rotate_password operation: the owner role
// gets the password the store holds, so running the step again, after a
// crash anywhere, sets the same password.
func (m *Manager) rotateSteps() []step {
	return []step{{"set_password", func(ctx context.Context, db *store.Database, _ *store.Operation) error {
		failpoint.At(failpoint.RotateIntentRecorded)
		if err := m.regions.RoleEnsure(ctx, db.Region, db.Owner, db.Password); err != nil {
			return fmt.Errorf("set new password of owner role %s in %s: %w", db.Owner, db.Region, err)
		}
		return nil
	}}}
}
