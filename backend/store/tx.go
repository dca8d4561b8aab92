package store

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"
)

// storeTx is a Tx of either dialect.
type storeTx struct {
	queries
	insertJob func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error
	// finished tells the other nodes that an operation finished; nil on a
	// single-node store.
	finished func(ctx context.Context, operationID string) error
	// lock takes a transaction-scoped named lock; nil where a write
	// transaction already excludes every other (SQLite).
	lock func(ctx context.Context, name string) error
	// answeredKey is set once the transaction recorded the answer of the
	// idempotent request it runs for.
	answeredKey bool
}

func (t *storeTx) Lock(ctx context.Context, name string) error {
	if t.lock == nil {
		return nil
	}
	if err := t.lock(ctx, name); err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	return nil
}

func (t *storeTx) JobInsert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if err := t.insertJob(ctx, args, opts); err != nil {
		return fmt.Errorf("insert %s job: %w", args.Kind(), err)
	}
	return nil
}

func (t *storeTx) OperationFinished(ctx context.Context, id string) error {
	if t.finished == nil {
		return nil
	}
	if err := t.finished(ctx, id); err != nil {
		return fmt.Errorf("announce end of operation %s: %w", id, err)
	}
	return nil
}
