package ops

import (
	"context"
	"errors"
	"time"
)

// DefaultCancelPoll is Config.CancelPoll's default: a cancel reaches the
// running statement within about a second, for one read of the operation
// per running step and second.
const DefaultCancelPoll = time.Second

// settleTimeout bounds the store writes that end an operation whose step
// context ended: they run on a context that has not.
const settleTimeout = 15 * time.Second

// Why a step's context ended, as context.Cause tells: the worker ends the
// operation accordingly. Any other cause is the node's (a shutdown).
var (
	errStepDeadline  = errors.New("the operation's deadline passed")
	errStepCancelled = errors.New("the operation was cancelled")
)

// stepContext is the context one step of op runs under: it ends at
// deadline, or, if the step is cancellable, once a cancel of op (asked on
// any node of the store) is seen. The first look is made here, so a cancel
// asked for since the worker read the operation ends the context before
// the step starts; then the manager looks every cancelPoll. The regions'
// pgx connections turn its end into a cancel request, so the statement the
// step runs stops on the server too. Call stop when the step returns.
func (m *Manager) stepContext(ctx context.Context, operationID string, deadline time.Time, cancellable bool) (stepCtx context.Context, stop func()) {
	ctx, stopDeadline := context.WithDeadlineCause(ctx, deadline, errStepDeadline)
	ctx, cancel := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if cancellable {
			m.watchCancel(ctx, operationID, cancel)
		}
	}()
	if cancellable {
		m.lookForCancel(ctx, operationID, cancel)
	}
	return ctx, func() {
		cancel(nil)
		<-watched
		stopDeadline()
	}
}

// watchCancel looks for a cancel of the operation every cancelPoll until
// ctx ends.
func (m *Manager) watchCancel(ctx context.Context, operationID string, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(m.cancelPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if m.lookForCancel(ctx, operationID, cancel) {
			return
		}
	}
}

// lookForCancel cancels ctx with errStepCancelled, and says so, when the
// operation asks to be cancelled or is found finished (by another node).
// A failed read says nothing: the step's own reads of the store meet the
// same trouble, and the next look tries again.
func (m *Manager) lookForCancel(ctx context.Context, operationID string, cancel context.CancelCauseFunc) bool {
	op, err := m.store.OperationGet(ctx, operationID)
	if err != nil || !op.CancelRequested && !operationDone(op.State) {
		return false
	}
	m.logger.Info().Str("operationId", operationID).Str("step", op.Step).Msg("Cancelling the running step")
	cancel(errStepCancelled)
	return true
}

// stepEnded tells why a step's context ended: errStepCancelled,
// errStepDeadline, or nil when it has not ended or the node ended it.
func stepEnded(stepCtx context.Context) error {
	cause := context.Cause(stepCtx)
	switch {
	case errors.Is(cause, errStepCancelled):
		return errStepCancelled
	case errors.Is(cause, errStepDeadline):
		return errStepDeadline
	}
	return nil
}

// settleContext is a context for ending an operation after its step's
// context (or the job's) ended: not cancelled with them, bounded.
func settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
}

// recordCommitted writes to the store, through record, an effect that
// committed in a region: the write runs even when the step's context ended
// just after the effect (a cancel, the deadline), so the store never lags
// what the region has.
func recordCommitted(ctx context.Context, record func(context.Context) error) error {
	settle, cancel := settleContext(ctx)
	defer cancel()
	return record(settle)
}
