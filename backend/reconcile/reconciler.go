// Package reconcile keeps every database in every region at its desired
// state. A leader-only periodic job compares, for each database the store
// holds, what should be there with what the region's catalog and the
// database's ledger say, and — per the database's drift policy — repairs the
// drift or only records it. Every finding and repair is an event, a log line,
// a metric and a condition on the database.
//
// The reconciler is level-triggered: it never acts on notifications, only on
// what it observes, so a missed pass loses nothing.
package reconcile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/rs/zerolog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// DefaultInterval is how often each database is checked when Config.Interval
// is 0.
const DefaultInterval = 30 * time.Second

// Queue is the River queue reconcile passes run on: one at a time per node,
// beside the operations' queue so that neither starves the other.
const Queue = "reconcile"

// Regions is what the reconciler needs of the regions' PostgreSQL servers.
type Regions interface {
	Names() []string
	CatalogInspect(ctx context.Context, region string, queries []engine.CatalogQuery) (map[string]*engine.CatalogDatabase, error)
	LedgerInspect(ctx context.Context, o engine.Owner) (*engine.Ledger, error)
	LedgerRebuild(ctx context.Context, o engine.Owner, entries []engine.LedgerEntry, setAsideCorrupt bool, operationID string) (*engine.LedgerRebuildResult, error)
	RoleEnsure(ctx context.Context, region, role, password string) error
	DatabaseOwnerSet(ctx context.Context, region, database, owner string) error
	OwnershipRestore(ctx context.Context, region, database, owner string) (int, error)
	ParametersApply(ctx context.Context, region, database string, params map[string]string) error
}

// Subscriptions is what the reconciler needs to check and repair replicas'
// subscriptions.
type Subscriptions interface {
	ReplicationStatusOf(ctx context.Context, region, database string, src engine.Source) (*engine.ReplicationStatus, error)
	SubscriptionEnsure(ctx context.Context, region, database string, src engine.Source) error
	// SubscriptionResync empties the replica's tables as its owner (o) and
	// subscribes it again.
	SubscriptionResync(ctx context.Context, o engine.Owner, src engine.Source) error
}

// ReplicaRecreator recreates a dropped replica database from its source.
// It is the hook logical replication fills in; a database that is not a
// replica is never recreated.
type ReplicaRecreator interface {
	// ReplicaRecreate recreates db, a replica (db.ReplicaOf is set) whose
	// database is gone from its region, and resyncs it from its source. It
	// returns what it did, for the event.
	ReplicaRecreate(ctx context.Context, db *store.Database) (string, error)
}

// Config holds a Reconciler's dependencies.
type Config struct {
	Store   store.Store
	Regions Regions
	Logger  zerolog.Logger
	// Interval is how often each database is checked (with ±10% jitter);
	// a database whose check failed is retried sooner, with backoff. 0
	// means DefaultInterval.
	Interval time.Duration
	// Concurrency is how many databases of one region are checked at once;
	// 0 means 4.
	Concurrency int
	// Replicas recreates dropped replicas; nil reports them like any
	// dropped database.
	Replicas ReplicaRecreator
	// Subscriptions checks and repairs replicas' subscriptions and sets
	// their Synced condition; nil leaves subscriptions alone.
	Subscriptions Subscriptions
	// Registerer receives the reconcile metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Reconciler checks and heals databases.
type Reconciler struct {
	store       store.Store
	regions     Regions
	logger      zerolog.Logger
	interval    time.Duration
	concurrency int
	replicas    ReplicaRecreator
	subs        Subscriptions
	now         func() time.Time
	metrics     *metrics

	// passing keeps passes of this process from overlapping.
	passing sync.Mutex
	// down remembers which regions the last pass found unavailable, to log
	// the transitions only.
	downMu sync.Mutex
	down   map[string]bool
}

// New returns a Reconciler. Call RegisterWorkers before the store's job
// client starts, with a River configuration that went through Configure.
func New(cfg Config) *Reconciler {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	concurrency := cfg.Concurrency
	if concurrency <= 0 {
		concurrency = 4
	}
	return &Reconciler{
		store: cfg.Store, regions: cfg.Regions, logger: cfg.Logger,
		interval:    intervalOrDefault(cfg.Interval),
		concurrency: concurrency,
		replicas:    cfg.Replicas,
		subs:        cfg.Subscriptions,
		now:         func() time.Time { return now().UTC().Truncate(time.Microsecond) },
		metrics:     newMetrics(cfg.Registerer),
		down:        map[string]bool{},
	}
}

func intervalOrDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultInterval
	}
	return d
}

// tick is how often the periodic job wakes to check the databases that are
// due: a quarter of the interval, which bounds how late a check runs and is
// the first retry's backoff.
func tick(interval time.Duration) time.Duration {
	return max(intervalOrDefault(interval)/4, 50*time.Millisecond)
}

// Args is the River job of one reconcile pass.
type Args struct{}

// Kind implements river.JobArgs.
func (Args) Kind() string { return "dbfleet_reconcile" }

// InsertOpts implements river.JobArgsWithInsertOpts. A pass is never
// retried: the next tick is the retry.
//
// Passes are not unique jobs: River keeps a finished job "running" until
// its completer flushes (every 250 ms), which would hold back the next tick
// and blur short intervals. Overlap is handled instead: a node runs one
// pass at a time (its reconcile queue has one worker, and Pass skips while
// one runs), and a database is repaired only under a claim that excludes
// operations and other passes alike.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 1}
}

// Configure adds the reconcile queue and the periodic pass to a River
// configuration. River enqueues periodic jobs on the elected leader only,
// which makes the reconciler leader-only. The pass runs when a node becomes
// leader, then every quarter interval; it checks the databases that are
// due.
func Configure(cfg *river.Config, interval time.Duration) {
	if cfg.Queues == nil {
		cfg.Queues = map[string]river.QueueConfig{}
	}
	cfg.Queues[Queue] = river.QueueConfig{MaxWorkers: 1}
	cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(
		river.PeriodicInterval(tick(interval)),
		func() (river.JobArgs, *river.InsertOpts) { return Args{}, nil },
		&river.PeriodicJobOpts{ID: "dbfleet_reconcile", RunOnStart: true},
	))
}

// RegisterWorkers adds the pass worker to workers.
func (r *Reconciler) RegisterWorkers(workers *river.Workers) {
	river.AddWorker(workers, &worker{r: r})
}

type worker struct {
	river.WorkerDefaults[Args]
	r *Reconciler
}

// passTimeout bounds one pass; databases it did not reach are due on the
// next.
const passTimeout = 5 * time.Minute

func (w *worker) Timeout(*river.Job[Args]) time.Duration { return passTimeout }

func (w *worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	if _, err := w.r.Pass(ctx, &PassParams{}); err != nil && ctx.Err() == nil {
		return err
	}
	// Cut off by a shutdown: the next leader's first pass covers the rest.
	return nil
}

// nextCheck is when a database is checked again: after the interval, with
// ±10% jitter so that databases created together spread out, or — after
// failures — after a backoff that starts at one tick and doubles up to the
// interval.
func (r *Reconciler) nextCheck(now time.Time, failures int) time.Time {
	wait := r.interval
	if failures > 0 {
		wait = min(tick(r.interval)<<min(failures-1, 16), r.interval)
	}
	jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(wait))
	return now.Add(wait + jitter)
}

func target(k store.DatabaseKey) string { return fmt.Sprintf("%s/%s", k.Region, k.Name) }
