package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// legacyMarkInterval is how often the leader looks for databases a dbfleet
// older than the ownership marker made; it also looks at every start.
const legacyMarkInterval = 6 * time.Hour

// LegacyMarkArgs is the leader's job that marks as dbfleet's
// (engine.MarkerRole) the databases and roles a dbfleet older than the
// marker made, so that it goes on managing and may delete them. Only
// records whose apply once finished count, and only where the role still
// owns the database: a record whose create was refused because the name was
// taken has never finished an apply. A region that does not answer is
// looked at again on the next run.
type LegacyMarkArgs struct{}

// Kind implements river.JobArgs.
func (LegacyMarkArgs) Kind() string { return "dbfleet_mark_legacy" }

type legacyMarker struct {
	river.WorkerDefaults[LegacyMarkArgs]
	m *Manager
}

func (w *legacyMarker) Work(ctx context.Context, _ *river.Job[LegacyMarkArgs]) error {
	return w.m.markLegacy(ctx)
}

func (m *Manager) markLegacy(ctx context.Context) error {
	dbs, err := m.store.DatabaseList(ctx, &store.DatabaseListParams{})
	if err != nil {
		return fmt.Errorf("list databases to mark: %w", err)
	}
	for _, db := range dbs {
		if db.ObservedGeneration == 0 || !m.regions.Has(db.Region) {
			continue
		}
		repl := ""
		if db.ReplicaOf == "" {
			repl = engine.ReplicationRoleName(db.Name)
		}
		marked, err := m.regions.MarkLegacy(ctx, db.Region, db.Name, db.Owner, repl)
		if err != nil {
			if ctx.Err() != nil {
				return nil //nolint:nilerr // shutting down is not a failure; the next start marks the rest
			}
			m.logger.Warn().Str("region", db.Region).Str("database", db.Name).Err(err).
				Msg("Could not mark a database made before the ownership marker; will try again")
			continue
		}
		if marked {
			m.logger.Info().Str("region", db.Region).Str("database", db.Name).
				Msg("Marked a database made before the ownership marker as dbfleet's")
		}
	}
	return nil
}
