package ops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// Rollout errors callers branch on.
var (
	// ErrRolloutHalted refuses an upgrade to a version whose rollout halted.
	ErrRolloutHalted = errors.New("rollout halted")
	// ErrDowngradeImpossible refuses a downgrade past a version without
	// down SQL.
	ErrDowngradeImpossible = errors.New("downgrade impossible")
	// ErrLedgerLost refuses to migrate a database whose ledger lost
	// versions that took effect.
	ErrLedgerLost = errors.New("ledger lost applied versions")
)

// RolloutHaltedError says which rollout halted, where and on which check.
type RolloutHaltedError struct {
	Schema  string
	Version int64
	Halt    store.RolloutHalt
	State   string
}

func (e *RolloutHaltedError) Error() string {
	verb := "halted"
	if e.State == apiv1.RolloutRolledBack {
		verb = "was rolled back"
	}
	return fmt.Sprintf("the rollout of schema %s version %d %s: check %s failed in region %s (database %s): %s",
		e.Schema, e.Version, verb, e.Halt.Check, e.Halt.Region, e.Halt.Database, e.Halt.Message)
}

func (e *RolloutHaltedError) Unwrap() error { return ErrRolloutHalted }

// gateWait asks the job to come back later: an upgrade waits on its gate.
type gateWait struct {
	reason string
	after  time.Duration
}

func (g *gateWait) Error() string { return g.reason }

// gatePoll is how often a waiting upgrade looks at its gate again when it
// waits on other databases rather than on a known bake time.
const gatePoll = 200 * time.Millisecond

// stoppedRollout returns the halt of a version's rollout, or nil.
func stoppedRollout(ctx context.Context, q store.Queries, schema string, version int64) (*store.Rollout, error) {
	rollouts, err := q.RolloutList(ctx, schema)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(rollouts, func(r *store.Rollout) bool { return r.Version == version })
	if i < 0 {
		return nil, nil
	}
	return rollouts[i], nil
}

// gate decides whether db may move to version now. Every database of the
// schema in the waves before db's must have run the version and stayed
// healthy for the bake time. It returns a *gateWait to wait, a
// *RolloutHaltedError when the version's rollout halted, or nil to go.
func (m *Manager) gate(ctx context.Context, q store.Queries, db *store.Database, schema *store.Schema, version int64) error {
	if r, err := stoppedRollout(ctx, q, schema.Name, version); err != nil {
		return err
	} else if r != nil && version == db.SchemaVersion {
		// A halt of an intermediate version is superseded by the newer
		// version the database targets.
		return &RolloutHaltedError{Schema: schema.Name, Version: version, Halt: r.Halt, State: r.State}
	}
	if err := m.replicasFirst(ctx, q, db, version); err != nil {
		return err
	}
	waves := resolveWaves(schema.Rollout, m.regions.Names())
	// A replica moves with its source's wave, just before its source.
	wave := waveOf(waves, cmp.Or(db.ReplicaOf, db.Region))
	if wave <= 0 {
		return nil
	}
	earlier := map[string]bool{}
	// Only the earlier waves' databases are read: a waiting upgrade runs
	// this every gatePoll, so its cost is what a wave's wait costs.
	var dbs []*store.Database
	for _, w := range waves[:wave] {
		for _, r := range w {
			earlier[r] = true
			in, err := q.DatabaseList(ctx, &store.DatabaseListParams{Schema: schema.Name, Region: r})
			if err != nil {
				return err
			}
			dbs = append(dbs, in...)
		}
	}
	// In the order of a whole-schema list, so that the reason names the
	// same database.
	slices.SortFunc(dbs, func(a, b *store.Database) int {
		return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.Name, b.Name))
	})
	ran, err := q.DatabaseMigrationList(ctx, schema.Name, version)
	if err != nil {
		return err
	}
	prefix := fmt.Sprintf("waiting: wave %d of %d starts after ", wave+1, len(waves))
	now := m.now()
	var longest time.Duration
	var waitingOn string
	for _, d := range dbs {
		if !earlier[d.Region] || d.ReplicaOf != "" || d.Key() == db.Key() {
			continue // replicas are gated through their sources
		}
		who := d.Region + "/" + d.Name
		i := slices.IndexFunc(ran, func(r *store.DatabaseMigration) bool { return r.Region == d.Region && r.Name == d.Name })
		if i < 0 || d.AppliedVersion < version {
			return &gateWait{reason: fmt.Sprintf("%s%s has run version %d", prefix, who, version), after: gatePoll}
		}
		if p := d.CheckPendingVersion; p != 0 && p <= version {
			// It ran the version, but its health check has not passed yet
			// (it runs again when its operation resumes).
			return &gateWait{reason: fmt.Sprintf("%s%s passed its health check on version %d", prefix, who, p), after: gatePoll}
		}
		if d.Status == apiv1.DatabaseStatusFailed || d.Status == apiv1.DatabaseStatusRolledBack {
			return &gateWait{reason: fmt.Sprintf("%s%s is healthy on version %d (it is %s)", prefix, who, version, d.Status), after: gatePoll}
		}
		if left := ran[i].AppliedAt.Add(schema.Rollout.BakeTime).Sub(now); left > longest {
			longest, waitingOn = left, who
		}
	}
	if longest > 0 {
		return &gateWait{
			reason: fmt.Sprintf("%s%s has baked on version %d for %s (%s left)", prefix, waitingOn, version,
				schema.Rollout.BakeTime, longest.Round(100*time.Millisecond)),
			after: longest,
		}
	}
	return nil
}

// replicasFirst makes a source wait until its replicas run a version: a
// subscriber must have new columns before its publisher sends them.
func (m *Manager) replicasFirst(ctx context.Context, q store.Queries, db *store.Database, version int64) error {
	if db.ReplicaOf != "" {
		return nil
	}
	replicas, err := replicasOf(ctx, q, db)
	if err != nil {
		return err
	}
	for _, r := range replicas {
		if r.AppliedVersion < version {
			return &gateWait{reason: fmt.Sprintf("waiting: replica %s/%s must run version %d before its source", r.Region, r.Name, version), after: gatePoll}
		}
	}
	return nil
}

// rollBackIfDue saves db and, when a version it just reached was rolled
// back while its upgrade was still running (haltRollout skips databases
// with an operation), starts the rollback it missed.
func (m *Manager) rollBackIfDue(ctx context.Context, tx store.Tx, db *store.Database) error {
	if db.Schema != "" {
		rollouts, err := tx.RolloutList(ctx, db.Schema)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(rollouts, func(r *store.Rollout) bool {
			return r.State == apiv1.RolloutRolledBack && r.Version <= db.AppliedVersion
		}) {
			op := m.newOperation(apiv1.OperationKindRollbackDatabase, db, "")
			db.OperationID = op.ID
			m.logStarted(op)
			return m.startOperation(ctx, tx, db, op)
		}
	}
	return tx.DatabasePut(ctx, db)
}

// haltRollout records that a version's rollout stopped at db on a check.
// With on_failure = "rollback" it also starts an operation that runs the
// down migrations on every database of the schema that already moved.
func (m *Manager) haltRollout(ctx context.Context, db *store.Database, schema *store.Schema, version int64, check, message string) error {
	halt := store.RolloutHalt{Region: db.Region, Database: db.Name, Check: check, Message: message}
	var started []*store.Operation
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.Lock(ctx, "schemas/"+schema.Name); err != nil {
			return err
		}
		state := apiv1.RolloutHalted
		if schema.Rollout.OnFailure == apiv1.OnFailureRollback {
			state = apiv1.RolloutRolledBack
		}
		if err := tx.RolloutPut(ctx, &store.Rollout{Schema: schema.Name, Version: version, State: state, Halt: halt, UpdatedAt: m.now()}); err != nil {
			return err
		}
		if state != apiv1.RolloutRolledBack {
			return nil
		}
		dbs, err := tx.DatabaseList(ctx, &store.DatabaseListParams{Schema: schema.Name})
		if err != nil {
			return err
		}
		for _, listed := range dbs {
			// Under the database's lock, read again: an operation may have
			// started on it since the list was read.
			d, err := databaseForUpdate(ctx, tx, listed.Key())
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if d.AppliedVersion < version || d.OperationID != "" {
				continue
			}
			op := m.newOperation(apiv1.OperationKindRollbackDatabase, d, "")
			d.OperationID = op.ID
			d.UpdatedAt = op.CreatedAt
			if err := m.startOperation(ctx, tx, d, op); err != nil {
				return err
			}
			started = append(started, op)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("halt rollout of %s version %d: %w", schema.Name, version, err)
	}
	m.metrics.rolloutHalted(schema.Name)
	m.logger.Warn().Str("schema", schema.Name).Int64("version", version).Str("region", db.Region).
		Str("database", db.Name).Str("check", check).Msg("Halted rollout")
	for _, op := range started {
		m.logStarted(op)
	}
	return nil
}
