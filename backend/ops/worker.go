package ops

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// OperationArgs is the River job that runs one operation.
type OperationArgs struct {
	OperationID string `json:"operation_id"`
}

// Kind implements river.JobArgs.
func (OperationArgs) Kind() string { return "dbfleet_operation" }

// InsertOpts implements river.JobArgsWithInsertOpts. The operation's
// deadline, not the attempts, bounds how long a step is retried: at the
// retry policy's longest wait, 1000 attempts last hours, far past
// DefaultOperationDeadline; they only bound a job kept failing by something
// other than its steps, such as a state store that stays down.
func (OperationArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1000} }

type operationWorker struct {
	river.WorkerDefaults[OperationArgs]
	m *Manager
}

// RegisterWorkers adds the operation worker to workers.
func (m *Manager) RegisterWorkers(workers *river.Workers) {
	river.AddWorker(workers, &operationWorker{m: m})
	river.AddWorker(workers, &replicationMonitor{m: m})
	river.AddWorker(workers, &retentionWorker{m: m})
	river.AddWorker(workers, &legacyMarker{m: m})
}

// Timeout implements river.Worker: the job system puts no limit on an
// operation's job, nor takes it as stuck however long it runs (River's
// rescuer passes over a job whose timeout is negative). The operation's
// deadline bounds its steps (stepContext), and the store hands the job of
// a node that died to another (node heartbeats on PostgreSQL; at start on
// SQLite, whose only node is the one starting).
func (*operationWorker) Timeout(*river.Job[OperationArgs]) time.Duration { return -1 }

func (w *operationWorker) Work(ctx context.Context, job *river.Job[OperationArgs]) error {
	return w.m.runOperation(ctx, job.Args.OperationID, job.Attempt, job.MaxAttempts)
}

// step is one idempotent unit of an operation: running it again after it
// succeeded, or after it was cut off anywhere, converges to the same result.
type step struct {
	name string
	run  func(ctx context.Context, db *store.Database, op *store.Operation) error
}

func (m *Manager) steps(kind string, db *store.Database) []step {
	switch kind {
	case apiv1.OperationKindApplyDatabase:
		return []step{
			{"ensure_role", func(ctx context.Context, db *store.Database, _ *store.Operation) error {
				return m.regions.RoleEnsure(ctx, db.Region, db.Owner, db.Password)
			}},
			{"ensure_database", func(ctx context.Context, db *store.Database, _ *store.Operation) error {
				return m.regions.DatabaseEnsure(ctx, db.Region, db.Name, db.Owner)
			}},
			{"set_parameters", func(ctx context.Context, db *store.Database, _ *store.Operation) error {
				return m.regions.ParametersApply(ctx, db.Region, db.Name, db.Parameters)
			}},
			{"migrate", m.migrate},
			{"replicate", m.replicate},
		}
	case apiv1.OperationKindVerifyDatabase:
		return []step{{"verify", m.verify}}
	case apiv1.OperationKindRotatePassword:
		return m.rotateSteps()
	case apiv1.OperationKindRollbackDatabase:
		return []step{{"rollback", m.rollback}}
	case apiv1.OperationKindDeleteDatabase:
		var steps []step
		if !db.SkipFinalBackup {
			steps = append(steps, step{"final_backup", func(ctx context.Context, db *store.Database, op *store.Operation) error {
				if ours, err := m.ours(ctx, db); err != nil || !ours {
					return err
				}
				return m.regions.DatabaseDump(ctx, engine.Owner{Region: db.Region, Database: db.Name, Role: db.Owner, Password: db.Password}, m.BackupPath(db.Region, db.Name, op.ID))
			}})
		}
		return append(steps,
			step{"unsubscribe", m.unsubscribe},
			step{"drop_database", func(ctx context.Context, db *store.Database, _ *store.Operation) error {
				return m.leaveForeign(db, m.regions.DatabaseDrop(ctx, db.Region, db.Name))
			}},
			step{"drop_role", func(ctx context.Context, db *store.Database, _ *store.Operation) error {
				return m.leaveForeign(db, m.regions.RoleDrop(ctx, db.Region, db.Owner))
			}},
			step{"drop_replication_role", func(ctx context.Context, db *store.Database, _ *store.Operation) error {
				// The role a source's replicas connected as (a login with
				// REPLICATION) goes with the source; dbfleetd deletes a
				// source only once its replicas are gone.
				if db.ReplicaOf != "" {
					return nil
				}
				return m.leaveForeign(db, m.regions.RoleDrop(ctx, db.Region, engine.ReplicationRoleName(db.Name)))
			}},
		)
	}
	return nil
}

// ours tells whether the region's database of db's name exists and is
// dbfleet's to back up.
func (m *Manager) ours(ctx context.Context, db *store.Database) (bool, error) {
	err := m.regions.NameCheck(ctx, db.Region, db.Name, "")
	var taken *engine.NameTakenError
	if errors.As(err, &taken) {
		return false, m.leaveForeign(db, err)
	}
	if err != nil {
		return false, err
	}
	exists, err := m.regions.DatabaseExists(ctx, db.Region, db.Name)
	if err != nil || exists {
		return exists, err
	}
	m.logger.Warn().Str("region", db.Region).Str("database", db.Name).
		Msg("Database was already gone; nothing to back up")
	return false, nil
}

// leaveForeign passes over a database or role that dbfleet did not make: a
// delete leaves it as it is and goes on, so that the record of a database
// whose create was refused (its name was taken) can still be deleted. Any
// other error is returned.
func (m *Manager) leaveForeign(db *store.Database, err error) error {
	var taken *engine.NameTakenError
	if !errors.As(err, &taken) {
		return err
	}
	m.logger.Warn().Str("region", db.Region).Str("database", db.Name).Str("kind", taken.Kind).Str("name", taken.Name).
		Msg("Left alone an object dbfleet did not create")
	return nil
}

// BackupPath is where the final backup a delete operation takes is kept.
func (m *Manager) BackupPath(region, name, operationID string) string {
	return filepath.Join(m.backupDir, region, name+"-"+operationID+".dump")
}

// runOperation runs an operation's steps from the one it recorded last. A
// transient failure returns an error so River retries the job; any other
// failure, or the last attempt, fails the operation.
func (m *Manager) runOperation(ctx context.Context, id string, attempt, maxAttempts int) error {
	op, err := m.store.OperationGet(ctx, id)
	if err != nil {
		return fmt.Errorf("load operation %s: %w", id, err)
	}
	if operationDone(op.State) {
		return nil
	}
	log := m.logger.With().Str("operationId", op.ID).Str("kind", op.Kind).Str("region", op.Region).
		Str("database", op.Database).Str("requestId", op.RequestID).Int("attempt", attempt).Logger()

	db, err := m.store.DatabaseGet(ctx, store.DatabaseKey{Region: op.Region, Name: op.Database})
	if err != nil {
		return m.fail(ctx, op, "load", fmt.Errorf("load database of operation %s: %w", op.ID, err))
	}
	if wait, err := m.reconcileWait(ctx, op); err != nil {
		return err
	} else if wait > 0 {
		return river.JobSnooze(wait)
	}
	// Taken before the first step is recorded: a parked operation's
	// deadline counts from its last look at the gate.
	deadline := m.deadline(op)
	retried := retryCauseOf(op.Progress, op.Region)
	steps := m.steps(op.Kind, db)
	start := max(slices.IndexFunc(steps, func(s step) bool { return s.name == op.Step }), 0)
	for i := start; i < len(steps); i++ {
		s := steps[i]
		if i > start && m.draining.Load() {
			// This node is shutting down: the next step is for another
			// node, or for this one's next start.
			log.Info().Str("step", s.name).Msg("Handing back operation")
			return river.JobSnooze(0)
		}
		if err := m.recordStep(ctx, op, s.name, fmt.Sprintf("step %d of %d: %s in %s", i+1, len(steps), s.name, op.Region)); err != nil {
			if errors.Is(err, store.ErrOperationFinished) {
				// Cancelled while it was still pending, which ends it at once.
				log.Info().Str("step", s.name).Msg("Found operation finished; stopping")
				return nil
			}
			return err
		}
		// Past its point of no return an operation finishes: a cancel then
		// would leave a record that the region no longer matches.
		cancellable := !pastNoReturn(op.Kind, steps, i)
		if op.CancelRequested && cancellable {
			log.Info().Str("step", s.name).Msg("Cancelled operation")
			return m.finish(ctx, op, apiv1.OperationCancelled, nil)
		}
		if op.CancelRequested {
			log.Info().Str("step", s.name).Msg("Cancel came past the operation's point of no return; finishing it")
		}
		if !m.now().Before(deadline) {
			var cause error
			if i == start {
				cause = retried // the transient failure this attempt retries
			}
			return m.stepStopped(ctx, op, s.name, errStepDeadline, cause)
		}
		failpoint.At(StepFailpoint(op.Kind, s.name, failpointBeforeStep))
		stepCtx, stopStep := m.stepContext(ctx, op.ID, deadline, cancellable)
		if ended := stepEnded(stepCtx); ended != nil {
			// Cancelled since the step was recorded: it does not start.
			stopStep()
			return m.stepStopped(ctx, op, s.name, ended, nil)
		}
		err := s.run(stepCtx, db, op)
		ended := stepEnded(stepCtx)
		stopStep()
		if err != nil && ended != nil {
			// The step was stopped, its statement cancelled on the
			// server: what it left is what any cut-off step leaves, which
			// its next run (an apply, a delete, the reconciler) finishes.
			log.Info().Str("step", s.name).Err(err).Msg("Stopped step")
			return m.stepStopped(ctx, op, s.name, ended, err)
		}
		if err != nil && ctx.Err() != nil {
			// dbfleetd is shutting down (the job's context ended): hand the
			// step back at once, whatever the step made of its end (the
			// server answers a cancelled statement with query_canceled).
			log.Info().Str("step", s.name).Err(err).Msg("Handing back operation at shutdown")
			return river.JobSnooze(0)
		}
		if err != nil {
			var wait *gateWait
			if errors.As(err, &wait) {
				return m.waitOnGate(ctx, op, db, wait)
			}
			var halted *RolloutHaltedError
			if errors.As(err, &halted) {
				log.Warn().Str("step", s.name).Err(err).Msg("Rollout halted")
				return m.finish(ctx, op, apiv1.OperationFailed, &store.OperationError{
					Code: apiv1.CodeRolloutHalted, Message: err.Error(), Region: halted.Halt.Region, Step: s.name})
			}
			var checkFailed *checkFailedError
			if errors.As(err, &checkFailed) {
				return m.finish(ctx, op, apiv1.OperationFailed, &store.OperationError{
					Code: apiv1.CodeCheckFailed, Message: err.Error(), Region: op.Region, Step: s.name})
			}
			if engine.IsTransient(err) && ctx.Err() == nil {
				if !m.now().Before(deadline) {
					log.Error().Str("step", s.name).Err(err).Msg("Step failed past the operation's deadline")
					return m.finish(ctx, op, apiv1.OperationFailed, m.deadlineError(op, s.name, err))
				}
				if attempt < maxAttempts {
					log.Warn().Str("step", s.name).Err(err).Msg("Step failed; will retry")
					op.Progress = retryProgress(op.Region, s.name, attempt, deadline, err)
					if recErr := m.update(ctx, op); recErr != nil {
						return recErr
					}
					return err
				}
			}
			log.Error().Str("step", s.name).Err(err).Msg("Step failed")
			return m.fail(ctx, op, s.name, err)
		}
		failpoint.At(StepFailpoint(op.Kind, s.name, failpointAfterStep))
		log.Info().Str("step", s.name).Msg("Ran step")
	}
	return m.finish(ctx, op, apiv1.OperationSucceeded, nil)
}

// pastNoReturn tells whether the step at index i of an operation of kind
// comes after the step whose effect cannot be undone: for a delete, the
// drop of the database (a delete cancelled after it would mark ready a
// database that is gone); for a password rotation, its acceptance (the
// store holds the new password from then on, so a rotation cancelled
// before the region has it would leave a stored password that does not
// log in). Such steps run to the end despite a cancel; the operation's
// deadline still stops them (it fails; deleting or rotating again
// finishes).
func pastNoReturn(kind string, steps []step, i int) bool {
	switch kind {
	case apiv1.OperationKindRotatePassword:
		return true
	case apiv1.OperationKindDeleteDatabase:
		drop := slices.IndexFunc(steps, func(s step) bool { return s.name == "drop_database" })
		return drop >= 0 && i > drop
	}
	return false
}

// stepStopped ends an operation whose step was stopped, or was not started,
// because the operation was cancelled (why is errStepCancelled) or its
// deadline passed (errStepDeadline); stepErr is what the step returned.
// The store is written on a context that did not end with the step's.
func (m *Manager) stepStopped(ctx context.Context, op *store.Operation, stepName string, why, stepErr error) error {
	settle, cancel := settleContext(ctx)
	defer cancel()
	if errors.Is(why, errStepCancelled) {
		m.logger.Info().Str("operationId", op.ID).Str("step", stepName).Msg("Cancelled operation")
		return m.finish(settle, op, apiv1.OperationCancelled, nil)
	}
	m.logger.Error().Str("operationId", op.ID).Str("step", stepName).Dur("deadline", m.deadlineOf(op.Kind)).
		Msg("Operation's deadline passed")
	var cause error
	var retriedErr *retryCause
	if errors.As(stepErr, &retriedErr) || unreachable(stepErr) &&
		!errors.Is(stepErr, context.DeadlineExceeded) && !errors.Is(stepErr, context.Canceled) {
		// Not a step cut off but one that kept failing to the end.
		cause = stepErr
	}
	return m.finish(settle, op, apiv1.OperationFailed, m.deadlineError(op, stepName, cause))
}

func (m *Manager) recordStep(ctx context.Context, op *store.Operation, stepName, progress string) error {
	// Re-read so a cancel asked for since the last step is seen.
	current, err := m.store.OperationGet(ctx, op.ID)
	if err != nil {
		return fmt.Errorf("reload operation %s: %w", op.ID, err)
	}
	op.CancelRequested = current.CancelRequested
	if op.State == apiv1.OperationPending && op.Step == stepName {
		// Back from waiting on a gate: still waiting until the step says so.
		return nil
	}
	op.State, op.Step, op.Progress = apiv1.OperationRunning, stepName, progress
	op.UpdatedAt = m.now()
	// Each step's start is kept beside the operation: it is the timeline
	// the dashboard shows.
	return m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.OperationUpdate(ctx, op); err != nil {
			return err
		}
		return tx.OperationStepStart(ctx, &store.OperationStep{OperationID: op.ID, Step: stepName, StartedAt: op.UpdatedAt})
	})
}

// recordProgress says what a running step does now.
func (m *Manager) recordProgress(ctx context.Context, op *store.Operation, progress string) error {
	op.State, op.Progress = apiv1.OperationRunning, progress
	return m.update(ctx, op)
}

// waitOnGate parks an operation whose upgrade waits on its rollout gate:
// the operation is pending with the reason, the database waiting, and the
// job comes back when the gate may have opened. It does not sleep.
func (m *Manager) waitOnGate(ctx context.Context, op *store.Operation, db *store.Database, wait *gateWait) error {
	after := river.JobSnooze(min(wait.after, 2*time.Second))
	if op.State == apiv1.OperationPending && waitKey(op.Progress) == waitKey(wait.reason) && m.now().Sub(op.UpdatedAt) < time.Second {
		return after // only the time left changed, and it was recorded a moment ago
	}
	if op.State != apiv1.OperationPending {
		m.metrics.gateWaited(db.Schema)
		m.logger.Info().Str("operationId", op.ID).Str("region", db.Region).Str("database", db.Name).
			Str("reason", wait.reason).Msg("Waiting on rollout gate")
	}
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		op.State, op.Progress, op.UpdatedAt = apiv1.OperationPending, wait.reason, m.now()
		if err := tx.OperationUpdate(ctx, op); err != nil {
			return err
		}
		current, err := tx.DatabaseGet(ctx, db.Key())
		if err != nil {
			return err
		}
		current.Status, current.UpdatedAt = apiv1.DatabaseStatusWaiting, op.UpdatedAt
		return tx.DatabasePut(ctx, current)
	})
	if err != nil {
		return fmt.Errorf("park operation %s on its gate: %w", op.ID, err)
	}
	return after
}

// waitKey is what a gate waits for, without the time left.
func waitKey(reason string) string {
	key, _, _ := strings.Cut(reason, " (")
	return key
}

func (m *Manager) update(ctx context.Context, op *store.Operation) error {
	op.UpdatedAt = m.now()
	return m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.OperationUpdate(ctx, op) })
}

func (m *Manager) fail(ctx context.Context, op *store.Operation, stepName string, cause error) error {
	return m.finish(ctx, op, apiv1.OperationFailed, &store.OperationError{
		Code:    stepErrorCode(cause, apiv1.CodeStepFailed),
		Message: fmt.Sprintf("step %s failed in region %s: %v", stepName, op.Region, cause),
		Region:  op.Region,
		Step:    stepName,
	})
}

// finish ends an operation and releases its database, once: a second call
// (a job run again after the first committed) changes nothing.
func (m *Manager) finish(ctx context.Context, op *store.Operation, state string, opErr *store.OperationError) error {
	ended := false
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		current, err := tx.OperationGet(ctx, op.ID)
		if err != nil {
			return err
		}
		if operationDone(current.State) {
			*op = *current
			return nil
		}
		ended = true
		op.UpdatedAt = m.now()
		return m.finishTx(ctx, tx, op, state, opErr)
	})
	if err != nil {
		return fmt.Errorf("finish operation %s: %w", op.ID, err)
	}
	if ended {
		m.finished(op)
	}
	return nil
}

// finishTx sets the operation's final state and the database's status.
func (m *Manager) finishTx(ctx context.Context, tx store.Tx, op *store.Operation, state string, opErr *store.OperationError) error {
	op.State, op.Error = state, opErr
	switch state {
	case apiv1.OperationSucceeded:
		if op.Kind != apiv1.OperationKindVerifyDatabase { // a verify's progress holds its result
			op.Progress = "done"
		}
	case apiv1.OperationCancelled:
		op.Progress = "cancelled"
	case apiv1.OperationFailed:
		op.Progress = "failed at step " + opErr.Step
	}
	if err := tx.OperationUpdate(ctx, op); err != nil {
		return err
	}
	if err := tx.OperationFinished(ctx, op.ID); err != nil {
		return err
	}
	db, err := tx.DatabaseGet(ctx, store.DatabaseKey{Region: op.Region, Name: op.Database})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if db.OperationID == op.ID {
		db.OperationID = ""
	}
	db.UpdatedAt = op.UpdatedAt
	switch {
	case op.Kind == apiv1.OperationKindDeleteDatabase && state == apiv1.OperationSucceeded:
		return tx.DatabaseDelete(ctx, db.Key())
	case op.Kind == apiv1.OperationKindRollbackDatabase && state == apiv1.OperationSucceeded:
		db.Status = apiv1.DatabaseStatusRolledBack
	case op.Kind == apiv1.OperationKindVerifyDatabase, op.Kind == apiv1.OperationKindRotatePassword:
	case state == apiv1.OperationSucceeded:
		db.Status = apiv1.DatabaseStatusReady
		db.ObservedGeneration = op.Generation
		return m.rollBackIfDue(ctx, tx, db)
	case state == apiv1.OperationFailed:
		db.Status = apiv1.DatabaseStatusFailed
	case state == apiv1.OperationCancelled && db.Status == apiv1.DatabaseStatusDeleting:
		db.Status = apiv1.DatabaseStatusReady
	case state == apiv1.OperationCancelled:
		// A cancelled change leaves the database as its last finished
		// operation left it: ready at its observed generation, or, if it
		// was never made, failed until an apply finishes it or a delete
		// cleans it up.
		db.Status = apiv1.DatabaseStatusFailed
		if db.ObservedGeneration > 0 {
			db.Status = apiv1.DatabaseStatusReady
		}
	}
	return tx.DatabasePut(ctx, db)
}

// finished follows an operation's end once it is recorded, so a kill
// between the last step and the record (which runs the end again) logs it
// once: "Operation succeeded", "Operation failed" or "Operation cancelled".
func (m *Manager) finished(op *store.Operation) {
	m.logger.Info().Str("operationId", op.ID).Str("kind", op.Kind).Str("region", op.Region).
		Str("database", op.Database).Str("requestId", op.RequestID).Msg("Operation " + op.State)
	m.metrics.finished(op)
	m.waiters.notify(op.ID)
}
