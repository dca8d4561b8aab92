package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// migrate brings a database's ledger to its desired schema version: up
// through the rollout gate of each version, or down without one.
func (m *Manager) migrate(ctx context.Context, db *store.Database, op *store.Operation) error {
	if db.Schema == "" {
		return nil
	}
	schema, err := m.store.SchemaGet(ctx, db.Schema)
	if err != nil {
		return fmt.Errorf("load schema %s: %w", db.Schema, err)
	}
	checked, err := m.gateClosed(ctx, db, schema)
	if err != nil {
		return err
	}
	conn, applied, err := m.openLedger(ctx, db, schema)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	target := db.SchemaVersion
	if target < applied {
		return m.revertTo(ctx, conn, db, schema, applied, target)
	}
	if db.RevertPendingVersion != 0 {
		// A revert that never ran (its version is still in the ledger) of
		// an operation that goes up now: nothing to finish.
		if err := m.recordIntents(ctx, db, db.CheckPendingVersion, 0); err != nil {
			return err
		}
	}
	if p := db.CheckPendingVersion; p != 0 && p <= applied {
		// The version's migration ran before a crash or a drain, and its
		// health check has not passed: it runs now, before anything else
		// moves.
		if err := m.checkVersion(ctx, conn, db, schema, p); err != nil {
			return err
		}
	}
	for _, mig := range schema.Migrations {
		if mig.Version <= applied || mig.Version > target {
			continue
		}
		if mig.Version != checked {
			if err := m.gate(ctx, m.store, db, schema, mig.Version); err != nil {
				return err
			}
		}
		if err := m.recordProgress(ctx, op, fmt.Sprintf("applying migration %d of schema %s in %s", mig.Version, schema.Name, db.Region)); err != nil {
			return err
		}
		// The intent comes before the effect: whoever resumes this
		// operation after a crash runs the version's health check.
		if err := m.recordIntents(ctx, db, mig.Version, 0); err != nil {
			return err
		}
		err := conn.MigrationApply(ctx, engine.Migration{Version: mig.Version, SQL: mig.Up, Checksum: mig.Checksum}, op.ID)
		var migErr *engine.MigrationError
		if errors.As(err, &migErr) {
			if haltErr := m.haltRollout(ctx, db, schema, mig.Version, apiv1.CheckMigration, migErr.Error()); haltErr != nil {
				return haltErr
			}
			// The version did not apply: no check is pending.
			if err := m.recordIntents(ctx, db, 0, db.RevertPendingVersion); err != nil {
				return err
			}
			return &RolloutHaltedError{Schema: schema.Name, Version: mig.Version, State: apiv1.RolloutHalted,
				Halt: store.RolloutHalt{Region: db.Region, Database: db.Name, Check: apiv1.CheckMigration, Message: migErr.Error()}}
		}
		if err != nil {
			return fmt.Errorf("apply migration %d of %s in %s: %w", mig.Version, schema.Name, db.Region, err)
		}
		failpoint.At(failpoint.AtVersion(failpoint.MigrateApplied, mig.Version))
		if err := recordCommitted(ctx, func(ctx context.Context) error {
			return m.recordVersions(ctx, db, []int64{mig.Version}, mig.Version, 0)
		}); err != nil {
			return err
		}
		failpoint.At(failpoint.AtVersion(failpoint.MigrateRecorded, mig.Version))
		if err := m.checkVersion(ctx, conn, db, schema, mig.Version); err != nil {
			return err
		}
	}
	return nil
}

// checkVersion refreshes the publication of a source that reached version
// and runs the version's health check; a check that passes clears the
// pending check, one that fails halts the rollout (and clears it too: the
// halt is its outcome).
func (m *Manager) checkVersion(ctx context.Context, conn *engine.OwnerConn, db *store.Database, schema *store.Schema, version int64) error {
	if err := m.republish(ctx, db); err != nil {
		return err
	}
	failpoint.At(failpoint.AtVersion(failpoint.MigrateRepublished, version))
	check, msg := m.healthCheck(ctx, conn, db, schema, version)
	if check != "" {
		if err := m.haltRollout(ctx, db, schema, version, check, msg); err != nil {
			return err
		}
	}
	if err := m.recordIntents(ctx, db, 0, db.RevertPendingVersion); err != nil {
		return err
	}
	if check == "" {
		m.logger.Info().Str("region", db.Region).Str("database", db.Name).Str("schema", schema.Name).Int64("version", version).
			Msg("Passed health check")
	}
	if check != "" {
		return &RolloutHaltedError{Schema: schema.Name, Version: version, State: apiv1.RolloutHalted,
			Halt: store.RolloutHalt{Region: db.Region, Database: db.Name, Check: check, Message: msg}}
	}
	failpoint.At(failpoint.AtVersion(failpoint.MigrateChecked, version))
	return nil
}

// recordIntents records in the store the version whose health check is
// pending and the version being reverted (0 for none), before the effect
// they announce.
func (m *Manager) recordIntents(ctx context.Context, db *store.Database, checkPending, revertPending int64) error {
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		current, err := tx.DatabaseGet(ctx, db.Key())
		if err != nil {
			return err
		}
		current.CheckPendingVersion, current.RevertPendingVersion, current.UpdatedAt = checkPending, revertPending, m.now()
		return tx.DatabasePut(ctx, current)
	})
	if err != nil {
		return fmt.Errorf("record intents of %s in %s: %w", db.Name, db.Region, err)
	}
	db.CheckPendingVersion, db.RevertPendingVersion = checkPending, revertPending
	return nil
}

// gateClosed looks at the gate of the first version db would run next (by
// the store's record of what it applied). An upgrade waiting on its gate
// looks at it again every gatePoll: this look comes before the owner's
// login and the ledger sync, which a closed gate would waste each time (and
// which hold a worker while the waves before still move). It returns the
// wait when the gate is closed, else the version whose gate it found open
// (0 for none), which migrate need not look at again; anything else the
// gate says is left to migrate's own look, after the ledger sync.
func (m *Manager) gateClosed(ctx context.Context, db *store.Database, schema *store.Schema) (int64, error) {
	for _, mig := range schema.Migrations {
		if mig.Version <= db.AppliedVersion || mig.Version > db.SchemaVersion {
			continue
		}
		err := m.gate(ctx, m.store, db, schema, mig.Version)
		var wait *gateWait
		switch {
		case errors.As(err, &wait):
			return 0, wait
		case err == nil:
			return mig.Version, nil
		}
		return 0, nil
	}
	return 0, nil
}

// openLedger connects as the owner and syncs the store with the ledger, so
// a version applied just before a crash counts as applied. It returns the
// ledger's highest version. A ledger that lost versions the store knows
// took effect is refused: running them again would apply them twice.
func (m *Manager) openLedger(ctx context.Context, db *store.Database, schema *store.Schema) (*engine.OwnerConn, int64, error) {
	conn, err := m.regions.OpenOwner(ctx, engine.Owner{Region: db.Region, Database: db.Name, Role: db.Owner, Password: db.Password})
	if err != nil {
		return nil, 0, err
	}
	ledger, err := conn.Ledger(ctx)
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, 0, fmt.Errorf("read ledger of %s in %s: %w", db.Name, db.Region, err)
	}
	var versions, lost []int64
	var applied int64
	for v := range ledger {
		versions = append(versions, v)
		applied = max(applied, v)
	}
	for _, mig := range schema.Migrations {
		if _, ok := ledger[mig.Version]; !ok && mig.Version <= db.AppliedVersion && mig.Version != db.RevertPendingVersion {
			lost = append(lost, mig.Version)
		}
	}
	// A version being reverted that the ledger lacks was reverted: the
	// down SQL and the ledger delete committed, the store's record of it
	// did not.
	var reverted int64
	if _, ok := ledger[db.RevertPendingVersion]; !ok {
		reverted = db.RevertPendingVersion
	}
	if len(lost) > 0 {
		conn.Close(context.WithoutCancel(ctx))
		return nil, 0, fmt.Errorf("%w: the ledger of %s in %s lacks versions %v that already took effect; dbfleet will not run them again. "+
			"With drift_policy = \"heal\" the reconciler rebuilds the ledger within an interval: apply again after that",
			ErrLedgerLost, db.Name, db.Region, lost)
	}
	if err := m.recordVersions(ctx, db, versions, applied, reverted); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, 0, err
	}
	return conn, applied, nil
}

// recordVersions notes in the store that db has run versions (keeping the
// first time each was reached) and is at applied; reverted, unless 0, is a
// pending revert that took effect.
func (m *Manager) recordVersions(ctx context.Context, db *store.Database, versions []int64, applied, reverted int64) error {
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		now := m.now()
		for _, v := range versions {
			if err := tx.DatabaseMigrationPut(ctx, &store.DatabaseMigration{Region: db.Region, Name: db.Name, Version: v, AppliedAt: now}); err != nil {
				return err
			}
		}
		current, err := tx.DatabaseGet(ctx, db.Key())
		if err != nil {
			return err
		}
		if reverted != 0 {
			if err := tx.DatabaseMigrationDelete(ctx, db.Region, db.Name, reverted); err != nil {
				return err
			}
			current.RevertPendingVersion = 0
		}
		current.AppliedVersion = applied
		if current.Status == apiv1.DatabaseStatusWaiting {
			current.Status = apiv1.DatabaseStatusProvisioning
		}
		current.UpdatedAt = now
		db.AppliedVersion, db.RevertPendingVersion = applied, current.RevertPendingVersion
		return tx.DatabasePut(ctx, current)
	})
	if err != nil {
		return fmt.Errorf("record versions of %s in %s: %w", db.Name, db.Region, err)
	}
	return nil
}

// healthCheck runs the rollout's health checks on a database that just
// reached a version; it returns the failed check and why, or "".
func (m *Manager) healthCheck(ctx context.Context, conn *engine.OwnerConn, db *store.Database, schema *store.Schema, version int64) (string, string) {
	if !schema.Rollout.SkipConnectableCheck {
		check, err := m.regions.OpenOwner(ctx, engine.Owner{Region: db.Region, Database: db.Name, Role: db.Owner, Password: db.Password})
		if err != nil {
			return apiv1.CheckConnectable, fmt.Sprintf("the owner cannot connect after version %d: %v", version, err)
		}
		check.Close(context.WithoutCancel(ctx))
	}
	has, err := conn.LedgerHas(ctx, version)
	if err != nil || !has {
		return apiv1.CheckLedgerVersion, fmt.Sprintf("the ledger does not record version %d (err: %v)", version, err)
	}
	if db.ReplicaOf == "" {
		return m.replicationHealth(ctx, db, schema.Rollout)
	}
	return "", ""
}

// republish makes the publication of a source that has replicas list the
// tables its last migration added or dropped, before the health check
// refreshes the replicas' subscriptions: the publication names tables, so a
// new one flows only once it is listed.
func (m *Manager) republish(ctx context.Context, db *store.Database) error {
	if db.ReplicaOf != "" {
		return nil
	}
	replicas, err := replicasOf(ctx, m.store, db)
	if err != nil || len(replicas) == 0 {
		return err
	}
	src, err := m.source(ctx, db.Region, db.Name)
	if err != nil {
		return err
	}
	return m.regions.PublicationEnsure(ctx, db.Region, db.Name, db.Owner, src.ReplPassword)
}

// revertTo runs down migrations from applied down to target, newest first.
func (m *Manager) revertTo(ctx context.Context, conn *engine.OwnerConn, db *store.Database, schema *store.Schema, applied, target int64) error {
	for i := len(schema.Migrations) - 1; i >= 0; i-- {
		mig := schema.Migrations[i]
		if mig.Version > applied || mig.Version <= target {
			continue
		}
		if mig.Down == "" {
			return fmt.Errorf("%w: migration %d of schema %s has no down SQL, so %s in %s cannot go below version %d",
				ErrDowngradeImpossible, mig.Version, schema.Name, db.Name, db.Region, mig.Version)
		}
		// The intent comes before the effect: a ledger that lacks the
		// version after a crash then means it was reverted.
		if err := m.recordIntents(ctx, db, 0, mig.Version); err != nil {
			return err
		}
		failpoint.At(failpoint.AtVersion(failpoint.RevertIntent, mig.Version))
		if err := conn.MigrationRevert(ctx, mig.Version, mig.Down); err != nil {
			return fmt.Errorf("revert migration %d of %s in %s: %w", mig.Version, schema.Name, db.Region, err)
		}
		failpoint.At(failpoint.AtVersion(failpoint.RevertRan, mig.Version))
		previous := int64(0)
		if i > 0 {
			previous = schema.Migrations[i-1].Version
		}
		err := recordCommitted(ctx, func(ctx context.Context) error {
			return m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				if err := tx.DatabaseMigrationDelete(ctx, db.Region, db.Name, mig.Version); err != nil {
					return err
				}
				current, err := tx.DatabaseGet(ctx, db.Key())
				if err != nil {
					return err
				}
				current.AppliedVersion, current.RevertPendingVersion, current.UpdatedAt = previous, 0, m.now()
				return tx.DatabasePut(ctx, current)
			})
		})
		if err != nil {
			return fmt.Errorf("record revert of %d in %s/%s: %w", mig.Version, db.Region, db.Name, err)
		}
		db.AppliedVersion, db.RevertPendingVersion = previous, 0
		failpoint.At(failpoint.AtVersion(failpoint.RevertRecorded, mig.Version))
	}
	return nil
}

// rollback reverts a database to the version before the lowest version of
// its schema whose rollout was rolled back.
func (m *Manager) rollback(ctx context.Context, db *store.Database, _ *store.Operation) error {
	schema, err := m.store.SchemaGet(ctx, db.Schema)
	if err != nil {
		return fmt.Errorf("load schema %s: %w", db.Schema, err)
	}
	rollouts, err := m.store.RolloutList(ctx, db.Schema)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(rollouts, func(r *store.Rollout) bool { return r.State == apiv1.RolloutRolledBack })
	if i < 0 {
		return nil
	}
	target := int64(0)
	for _, mig := range schema.Migrations {
		if mig.Version < rollouts[i].Version {
			target = mig.Version
		}
	}
	conn, applied, err := m.openLedger(ctx, db, schema)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return m.revertTo(ctx, conn, db, schema, applied, target)
}
