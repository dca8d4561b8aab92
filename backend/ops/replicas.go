package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// Replication timings.
const (
	// replicaCatchUp bounds how long a check waits for a replica to apply
	// its source's current position.
	replicaCatchUp = 30 * time.Second
	// verifyChunkRows is about how many rows a consistency check compares
	// per checksum.
	verifyChunkRows = 10_000
	// monitorInterval is how often the leader reads every replica's
	// subscription and lag.
	monitorInterval = 5 * time.Second
)

// checkReplicaSpec validates replica_of against the source database.
func (m *Manager) checkReplicaSpec(ctx context.Context, q store.Queries, current *store.Database, params *DatabaseApplyParams) error {
	if current != nil && current.ReplicaOf != params.ReplicaOf {
		return invalidArgument("replica_of", "replica_of of %s in %s cannot change from %q to %q; create a new database instead",
			params.Name, params.Region, current.ReplicaOf, params.ReplicaOf)
	}
	if params.ReplicaOf == "" {
		return nil
	}
	if !m.regions.Has(params.ReplicaOf) {
		return invalidArgument("replica_of", "replica_of names region %s, which is not configured; configured regions: %v", params.ReplicaOf, m.regions.Names())
	}
	if params.ReplicaOf == params.Region {
		return invalidArgument("replica_of", "a database cannot replicate its own region; replica_of must name another region")
	}
	src, err := q.DatabaseGet(ctx, store.DatabaseKey{Region: params.ReplicaOf, Name: params.Name})
	if errors.Is(err, store.ErrNotFound) {
		return invalidArgument("replica_of", "the source database %s does not exist in region %s; create it before its replicas", params.Name, params.ReplicaOf)
	}
	if err != nil {
		return err
	}
	if src.ReplicaOf != "" {
		return invalidArgument("replica_of", "%s in %s is itself a replica (of %s); replicate the source instead", params.Name, params.ReplicaOf, src.ReplicaOf)
	}
	if src.Schema != params.Schema {
		return invalidArgument("schema", "a replica runs its source's schema: set schema = %q like %s in %s", src.Schema, params.Name, params.ReplicaOf)
	}
	return nil
}

// replicasOf lists the replicas of a database.
func replicasOf(ctx context.Context, q store.Queries, db *store.Database) ([]*store.Database, error) {
	// Replicas share their source's name: reading only those keeps an
	// operation's cost from growing with the fleet.
	same, err := q.DatabaseList(ctx, &store.DatabaseListParams{Name: db.Name})
	if err != nil {
		return nil, err
	}
	var out []*store.Database
	for _, d := range same {
		if d.Name == db.Name && d.ReplicaOf == db.Region {
			out = append(out, d)
		}
	}
	return out, nil
}

// source returns how to reach the source of a replica (or of db itself when
// it is the source), making its replication role's password the first time.
func (m *Manager) source(ctx context.Context, region, name string) (engine.Source, error) {
	key := store.DatabaseKey{Region: region, Name: name}
	repl, err := m.store.ReplicationGet(ctx, key)
	if err != nil {
		return engine.Source{}, err
	}
	if repl.Password == "" {
		password, err := generatePassword()
		if err != nil {
			return engine.Source{}, err
		}
		err = m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			current, err := tx.ReplicationGet(ctx, key)
			if err != nil {
				return err
			}
			if current.Password == "" {
				current.Password = password
				if err := tx.ReplicationPut(ctx, current); err != nil {
					return err
				}
			}
			repl = current
			return nil
		})
		if err != nil {
			return engine.Source{}, fmt.Errorf("record replication password of %s/%s: %w", region, name, err)
		}
	}
	return engine.Source{Region: region, Database: name, ReplPassword: repl.Password}, nil
}

// replicate is the apply step that wires logical replication: a replica
// subscribes to its source's publication; a source refreshes its
// publication and its replicas' subscriptions, so tables its migrations
// added start to flow.
func (m *Manager) replicate(ctx context.Context, db *store.Database, _ *store.Operation) error {
	if err := m.checkReplication(ctx, db); err != nil {
		return err
	}
	if db.ReplicaOf != "" {
		srcDB, err := m.store.DatabaseGet(ctx, store.DatabaseKey{Region: db.ReplicaOf, Name: db.Name})
		if err != nil {
			return fmt.Errorf("load source of replica %s in %s: %w", db.Name, db.Region, err)
		}
		src, err := m.source(ctx, db.ReplicaOf, db.Name)
		if err != nil {
			return err
		}
		if err := m.regions.PublicationEnsure(ctx, src.Region, src.Database, srcDB.Owner, src.ReplPassword); err != nil {
			return err
		}
		failpoint.At(failpoint.ReplicatePublished)
		return m.regions.SubscriptionEnsure(ctx, db.Region, db.Name, src)
	}
	replicas, err := replicasOf(ctx, m.store, db)
	if err != nil || len(replicas) == 0 {
		return err
	}
	src, err := m.source(ctx, db.Region, db.Name)
	if err != nil {
		return err
	}
	if err := m.regions.PublicationEnsure(ctx, db.Region, db.Name, db.Owner, src.ReplPassword); err != nil {
		return err
	}
	for _, r := range replicas {
		if err := m.regions.SubscriptionEnsure(ctx, r.Region, r.Name, src); err != nil {
			return err
		}
		failpoint.At(failpoint.ReplicateSourceSubscribed)
	}
	return nil
}

// unsubscribe drops a replica's subscription before the replica goes.
func (m *Manager) unsubscribe(ctx context.Context, db *store.Database, _ *store.Operation) error {
	if db.ReplicaOf == "" {
		return nil
	}
	return m.regions.SubscriptionDrop(ctx, db.Region, db.Name)
}

// replicationHealth checks, after a source moved to a version, that each
// replica still streams and meets the rollout's replication checks. It
// returns the failed check and why, or "".
func (m *Manager) replicationHealth(ctx context.Context, db *store.Database, policy store.RolloutPolicy) (string, string) {
	replicas, err := replicasOf(ctx, m.store, db)
	if err != nil || len(replicas) == 0 {
		return "", ""
	}
	src, err := m.source(ctx, db.Region, db.Name)
	if err != nil {
		return apiv1.CheckReplication, err.Error()
	}
	for _, r := range replicas {
		if err := m.regions.SubscriptionEnsure(ctx, r.Region, r.Name, src); err != nil {
			return apiv1.CheckReplication, err.Error()
		}
		if err := m.regions.AwaitReplica(ctx, r.Region, r.Name, src, replicaCatchUp); err != nil {
			return apiv1.CheckReplication, fmt.Sprintf("replication to %s does not flow: %v", r.Region, err)
		}
		if policy.MaxReplicationLag > 0 {
			st, err := m.regions.ReplicationStatusOf(ctx, r.Region, r.Name, src)
			if err != nil {
				return apiv1.CheckMaxReplicationLag, err.Error()
			}
			if lag := time.Duration(st.LagSeconds * float64(time.Second)); lag > policy.MaxReplicationLag {
				return apiv1.CheckMaxReplicationLag, fmt.Sprintf("replica in %s lags %s, over the bound of %s", r.Region, lag.Round(time.Millisecond), policy.MaxReplicationLag)
			}
		}
		if policy.ReplicaConsistent {
			check := m.compare(ctx, r, db, src)
			m.recordConsistency(ctx, r, check)
			if check.Result != consistencyConsistent {
				return apiv1.CheckReplicaConsistent, fmt.Sprintf("replica in %s is %s: %s", r.Region, check.Result, describeCheck(check))
			}
		}
	}
	return "", ""
}

// Consistency check results.
const (
	consistencyConsistent   = "consistent"
	consistencyInconsistent = "inconsistent"
	consistencyFailed       = "failed"
)

// compare waits for a replica to catch up with its source, then compares
// their tables, reading each side as its database's owner (source is the
// source's record). Differences still there after a second catch-up count;
// the first may be writes the replica had not applied yet.
func (m *Manager) compare(ctx context.Context, replica, source *store.Database, src engine.Source) store.ConsistencyCheck {
	check := store.ConsistencyCheck{CheckedAt: m.now()}
	var tables []engine.TableComparison
	for attempt := 0; attempt < 2; attempt++ {
		if err := m.regions.AwaitReplica(ctx, replica.Region, replica.Name, src, replicaCatchUp); err != nil {
			check.Result, check.Error = consistencyFailed, err.Error()
			return check
		}
		var err error
		tables, err = m.regions.CompareReplica(ctx, ownerOf(source), ownerOf(replica), verifyChunkRows)
		if err != nil {
			check.Result, check.Error = consistencyFailed, err.Error()
			return check
		}
		if allConsistent(tables) {
			break
		}
	}
	check.Result = consistencyConsistent
	for _, t := range tables {
		tc := store.TableCheck{Table: t.Table, Consistent: t.Consistent(), SourceRows: t.SourceRows, ReplicaRows: t.ReplicaRows, Error: t.Problem}
		for _, r := range t.Differing {
			tc.DifferingRanges = append(tc.DifferingRanges, store.KeyRange{From: r.From, To: r.To})
		}
		if !tc.Consistent {
			check.Result = consistencyInconsistent
		}
		check.Tables = append(check.Tables, tc)
	}
	return check
}

// ownerOf is how to log in to a database as its owner.
func ownerOf(db *store.Database) engine.Owner {
	return engine.Owner{Region: db.Region, Database: db.Name, Role: db.Owner, Password: db.Password}
}

func allConsistent(tables []engine.TableComparison) bool {
	for _, t := range tables {
		if !t.Consistent() {
			return false
		}
	}
	return true
}

func describeCheck(c store.ConsistencyCheck) string {
	if c.Error != "" {
		return c.Error
	}
	for _, t := range c.Tables {
		if !t.Consistent {
			if t.Error != "" {
				return t.Table + ": " + t.Error
			}
			return fmt.Sprintf("%s differs in %d key ranges (source %d rows, replica %d)", t.Table, len(t.DifferingRanges), t.SourceRows, t.ReplicaRows)
		}
	}
	return "all tables match"
}

func (m *Manager) recordConsistency(ctx context.Context, replica *store.Database, check store.ConsistencyCheck) {
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		repl, err := tx.ReplicationGet(ctx, replica.Key())
		if err != nil {
			return err
		}
		repl.Consistency = check
		return tx.ReplicationPut(ctx, repl)
	})
	if err != nil {
		m.logger.Error().Str("region", replica.Region).Str("database", replica.Name).Err(err).Msg("Failed to record consistency check")
	}
	m.metrics.consistencyChecked(replica, check.Result)
}

// verify is the step of a verify operation: it compares a replica with its
// source and records the result. A check that cannot run fails the
// operation at once, with the reason; it is not retried.
func (m *Manager) verify(ctx context.Context, db *store.Database, op *store.Operation) error {
	if db.ReplicaOf == "" {
		return fmt.Errorf("%w: %s in %s is not a replica; verify a replica (a database with replica_of)", ErrInvalidArgument, db.Name, db.Region)
	}
	src, err := m.source(ctx, db.ReplicaOf, db.Name)
	if err != nil {
		return err
	}
	srcDB, err := m.store.DatabaseGet(ctx, store.DatabaseKey{Region: db.ReplicaOf, Name: db.Name})
	if err != nil {
		return fmt.Errorf("load source of replica %s in %s: %w", db.Name, db.Region, err)
	}
	check := m.compare(ctx, db, srcDB, src)
	m.recordConsistency(ctx, db, check)
	m.logger.Info().Str("operationId", op.ID).Str("region", db.Region).Str("database", db.Name).
		Str("result", check.Result).Msg("Checked replica consistency")
	if check.Result == consistencyFailed {
		return &checkFailedError{msg: fmt.Sprintf("the consistency check of %s in %s against %s failed: %s", db.Name, db.Region, db.ReplicaOf, check.Error)}
	}
	op.Progress = fmt.Sprintf("%s: %s", check.Result, describeCheck(check))
	return nil
}

// checkFailedError is a check that could not run; it is reported, not
// retried.
type checkFailedError struct{ msg string }

func (e *checkFailedError) Error() string { return e.msg }

// DatabaseVerify starts an operation that checks a replica's consistency.
func (m *Manager) DatabaseVerify(ctx context.Context, region, name, requestID string) (*store.Operation, error) {
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
		if db.ReplicaOf == "" {
			return invalidArgument("replica_of", "%s in %s is not a replica; only replicas can be verified", name, region)
		}
		if db.OperationID != "" {
			return &OperationInProgressError{OperationID: db.OperationID, Target: Target(region, name)}
		}
		op = m.newOperation(apiv1.OperationKindVerifyDatabase, db, requestID)
		db.OperationID = op.ID
		return m.startOperation(ctx, tx, db, op)
	})
	if err != nil {
		return nil, err
	}
	m.logStarted(op)
	return op, nil
}

// ReplicationMonitorArgs is the leader's periodic job that reads every
// replica's subscription and lag into the store and the metrics.
type ReplicationMonitorArgs struct{}

// Kind implements river.JobArgs.
func (ReplicationMonitorArgs) Kind() string { return "dbfleet_replication_monitor" }

type replicationMonitor struct {
	river.WorkerDefaults[ReplicationMonitorArgs]
	m *Manager
}

func (w *replicationMonitor) Timeout(*river.Job[ReplicationMonitorArgs]) time.Duration {
	return time.Minute
}

func (w *replicationMonitor) Work(ctx context.Context, _ *river.Job[ReplicationMonitorArgs]) error {
	m := w.m
	dbs, err := m.store.DatabaseList(ctx, &store.DatabaseListParams{})
	if err != nil {
		return err
	}
	current := map[store.DatabaseKey]bool{}
	for _, db := range dbs {
		if db.ReplicaOf == "" || db.Status == apiv1.DatabaseStatusProvisioning {
			continue
		}
		current[db.Key()] = true
		status := store.ReplicationStatus{ObservedAt: m.now()}
		src, err := m.source(ctx, db.ReplicaOf, db.Name)
		var st *engine.ReplicationStatus
		if err == nil {
			st, err = m.regions.ReplicationStatusOf(ctx, db.Region, db.Name, src)
		}
		if err != nil {
			status.State, status.Error = "unknown", "the replica's region does not answer"
			m.logger.Warn().Str("region", db.Region).Str("database", db.Name).Err(err).Msg("Could not read replication status")
		} else {
			status.State, status.Tables, status.LagBytes, status.LagSeconds, status.Error = st.State, st.Tables, st.LagBytes, st.LagSeconds, st.Error
		}
		m.metrics.replicationObserved(db, status)
		lagRead := err == nil
		err = m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			repl, err := tx.ReplicationGet(ctx, db.Key())
			if err != nil {
				return err
			}
			repl.Status = status
			if err := tx.ReplicationPut(ctx, repl); err != nil {
				return err
			}
			if !lagRead {
				return nil // a gap in the lag chart, not a zero
			}
			return tx.LagSampleInsert(ctx, &store.LagSample{Region: db.Region, Name: db.Name, Time: status.ObservedAt,
				LagBytes: status.LagBytes, LagSeconds: status.LagSeconds})
		})
		if err != nil {
			return fmt.Errorf("record replication status of %s/%s: %w", db.Region, db.Name, err)
		}
		w.scheduleVerify(ctx, db)
	}
	m.metrics.forgetReplicasExcept(current)
	return nil
}

// scheduleVerify starts a consistency check of a replica whose last one is
// older than the verify interval, unless an operation runs on it.
func (w *replicationMonitor) scheduleVerify(ctx context.Context, db *store.Database) {
	m := w.m
	if db.OperationID != "" {
		return
	}
	repl, err := m.store.ReplicationGet(ctx, db.Key())
	if err != nil {
		return
	}
	last := repl.Consistency.CheckedAt
	if last.IsZero() {
		last = db.CreatedAt // the first scheduled check comes an interval after creation
	}
	if m.now().Sub(last) < m.verifyInterval {
		return
	}
	var busy *OperationInProgressError
	if _, err := m.DatabaseVerify(ctx, db.Region, db.Name, ""); err != nil && !errors.As(err, &busy) {
		m.logger.Warn().Str("region", db.Region).Str("database", db.Name).Err(err).Msg("Could not schedule a consistency check")
	}
}

// ReplicaRecreate starts an operation that makes a dropped replica again:
// an empty database, the schema's migrations, and a subscription that
// copies the source's rows. It implements reconcile.ReplicaRecreator.
func (m *Manager) ReplicaRecreate(ctx context.Context, db *store.Database) (string, error) {
	var op *store.Operation
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		current, err := databaseForUpdate(ctx, tx, db.Key())
		if err != nil {
			return err
		}
		if current.ReplicaOf == "" {
			return fmt.Errorf("%s in %s is not a replica; dbfleet never recreates a dropped database empty", db.Name, db.Region)
		}
		if current.OperationID != "" {
			return &OperationInProgressError{OperationID: current.OperationID, Target: Target(db.Region, db.Name)}
		}
		if current.Schema != "" {
			schema, err := tx.SchemaGet(ctx, current.Schema)
			if err != nil {
				return err
			}
			for _, mig := range schema.Migrations {
				if err := tx.DatabaseMigrationDelete(ctx, db.Region, db.Name, mig.Version); err != nil {
					return err
				}
			}
		}
		current.AppliedVersion = 0
		current.Status = apiv1.DatabaseStatusProvisioning
		op = m.newOperation(apiv1.OperationKindApplyDatabase, current, "")
		current.OperationID, current.UpdatedAt = op.ID, op.CreatedAt
		return m.startOperation(ctx, tx, current, op)
	})
	if err != nil {
		return "", fmt.Errorf("recreate replica %s in %s: %w", db.Name, db.Region, err)
	}
	m.logStarted(op)
	return fmt.Sprintf("started operation %s to recreate the replica and copy its source's rows", op.ID), nil
}
