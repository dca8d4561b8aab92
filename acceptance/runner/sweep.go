package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

const (
	// DefaultTTL is how long ago a run not in the results store must have
	// started, and its resource last changed, before the sweeper takes it
	// for dead.
	DefaultTTL = 6 * time.Hour
	// sweepParallel is how many leftovers the sweeper removes at once.
	sweepParallel = 4
)

// SweepConfig configures a Sweeper.
type SweepConfig struct {
	// Endpoint and Token reach dbfleetd; the token needs the write scope.
	Endpoint string
	Token    string
	// Env names the environment in logs and metrics.
	Env string
	// Prefix is the resource prefix of the runs to sweep; resources
	// without it are never touched.
	Prefix string
	// Results is the results store whose runs' leases say which runs live;
	// nil sweeps by TTL only.
	Results *Results
	// TTL: a run the results store does not know is dead once it started
	// this long ago and its resource has not changed for as long. Zero
	// means DefaultTTL.
	TTL time.Duration
	// OpTimeout bounds each operation of a removal. Zero means
	// DefaultOpTimeout.
	OpTimeout time.Duration
	// LiveRun, when set, is the sweeping run's own id: always alive.
	LiveRun string
	Logger  zerolog.Logger
	// Metrics, when not nil, counts what was removed.
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Sweeper removes the databases and schemas that dead runs left behind: a
// resource is swept only when its name carries the prefix and a run id,
// and that run is dead — ended or past its lease in the results store, or,
// unknown there (a run recorded in another store), started longer than the
// TTL ago with the resource unchanged for as long.
type Sweeper struct {
	cfg SweepConfig
	api *api
}

// NewSweeper returns a Sweeper for cfg.
func NewSweeper(cfg SweepConfig) (*Sweeper, error) {
	if err := ValidatePrefix(cfg.Prefix); err != nil {
		return nil, err
	}
	cfg.TTL = cmp.Or(cfg.TTL, DefaultTTL)
	cfg.OpTimeout = cmp.Or(cfg.OpTimeout, DefaultOpTimeout)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a, err := newAPI(cfg.Endpoint, cfg.Token, "sweep"+cfg.LiveRun)
	if err != nil {
		return nil, err
	}
	return &Sweeper{cfg: cfg, api: a}, nil
}

// SweepReport is what one sweep did.
type SweepReport struct {
	// Databases and Schemas are what it removed, databases as region/name.
	Databases []string
	Schemas   []string
	// Kept counts prefixed resources of live runs it left alone.
	Kept int
	// Failed are the removals that failed; the next sweep tries again.
	Failed []error
}

// Sweep removes the leftovers of dead runs once. It fails only when it
// cannot list what there is; a removal that fails is in the report.
func (s *Sweeper) Sweep(ctx context.Context) (*SweepReport, error) {
	rep := &SweepReport{}
	dbs, err := s.api.client.DatabaseList(ctx)
	if err != nil {
		return nil, fmt.Errorf("sweeping: %w", err)
	}
	verdicts := map[string]runVerdict{}
	// dead says whether a resource of runID last changed at touched is a
	// dead run's; a zero touched is not known.
	dead := func(runID string, touched time.Time) (bool, error) {
		v, ok := verdicts[runID]
		if !ok {
			var err error
			if v, err = s.judgeRun(ctx, runID); err != nil {
				return false, err
			}
			verdicts[runID] = v
		}
		switch v {
		case runDead:
			return true, nil
		case runUnknown:
			// Another store's run may be old and still alive: its resource
			// must be as old as the TTL too.
			return touched.Before(s.cfg.Now().Add(-s.cfg.TTL)), nil
		default:
			return false, nil
		}
	}

	type leftover struct{ region, name, replicaOf, schema string }
	var doomed []leftover
	schemas := map[string]bool{}
	for _, db := range dbs {
		runID, ok := runIDOf(s.cfg.Prefix, db.Name)
		if !ok {
			continue
		}
		d, err := dead(runID, db.UpdatedAt)
		if err != nil {
			return nil, err
		}
		if !d {
			rep.Kept++
			continue
		}
		doomed = append(doomed, leftover{db.Region, db.Name, db.ReplicaOf, db.Schema})
	}
	var mu sync.Mutex
	sem := make(chan struct{}, sweepParallel)
	var wg sync.WaitGroup
	// Replicas go first, then their sources.
	for phase := range 2 {
		for _, l := range doomed {
			if (l.replicaOf == "") != (phase == 1) {
				continue
			}
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				log := s.cfg.Logger.With().Str("region", l.region).Str("database", l.name).Logger()
				err := s.api.removeDatabase(ctx, l.region, l.name, s.cfg.OpTimeout)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					log.Warn().Err(err).Msg("Failed to sweep database")
					rep.Failed = append(rep.Failed, err)
					return
				}
				log.Info().Msg("Swept database")
				rep.Databases = append(rep.Databases, l.region+"/"+l.name)
				s.removed(ctx, KindDatabase, l.region, l.name)
				if _, ok := runIDOf(s.cfg.Prefix, l.schema); ok {
					schemas[l.schema] = true
				}
			})
		}
		wg.Wait()
	}

	if s.cfg.Results != nil {
		recorded, err := s.cfg.Results.ResourceListPresent(ctx, KindSchema)
		if err != nil {
			return nil, fmt.Errorf("sweeping: %w", err)
		}
		for _, r := range recorded {
			runID, ok := runIDOf(s.cfg.Prefix, r.Name)
			if !ok {
				continue
			}
			d, err := dead(runID, r.Created)
			if err != nil {
				return nil, err
			}
			if d {
				schemas[r.Name] = true
			}
		}
	}
	for _, name := range sortedKeys(schemas) {
		log := s.cfg.Logger.With().Str("schema", name).Logger()
		if err := s.api.removeSchema(ctx, name); err != nil {
			log.Warn().Err(err).Msg("Failed to sweep schema")
			rep.Failed = append(rep.Failed, fmt.Errorf("removing schema %s: %w", name, err))
			continue
		}
		log.Info().Msg("Swept schema")
		rep.Schemas = append(rep.Schemas, name)
		s.removed(ctx, KindSchema, "", name)
	}
	slices.Sort(rep.Databases)
	return rep, nil
}

// runVerdict is what the sweeper makes of a run id.
type runVerdict int

const (
	// runLive: the sweeping run itself, or a run whose lease holds.
	runLive runVerdict = iota
	// runDead: ended or past its lease in the results store, or unknown
	// there and started longer than the TTL ago.
	runDead
	// runUnknown: unknown to the results store and started longer than the
	// TTL ago: dead when its resource has not changed for the TTL either.
	runUnknown
)

// judgeRun says whether the run runID lives.
func (s *Sweeper) judgeRun(ctx context.Context, runID string) (runVerdict, error) {
	if runID == s.cfg.LiveRun {
		return runLive, nil
	}
	now := s.cfg.Now()
	if s.cfg.Results != nil {
		run, err := s.cfg.Results.RunGet(ctx, runID)
		if err == nil {
			if !run.Ended.IsZero() || run.LeaseUntil.Before(now) {
				return runDead, nil
			}
			return runLive, nil
		}
		if !errors.Is(err, errRunNotFound) {
			return runLive, fmt.Errorf("sweeping: %w", err)
		}
	}
	started, err := runIDStart(runID)
	if err != nil || !started.Before(now.Add(-s.cfg.TTL)) {
		return runLive, nil //nolint:nilerr // not a run id, or a young run: never touched
	}
	return runUnknown, nil
}

// removed records a removal in the metrics and the results store.
func (s *Sweeper) removed(ctx context.Context, kind, region, name string) {
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.sweptOne(s.cfg.Env, kind)
	}
	if s.cfg.Results != nil {
		if err := s.cfg.Results.ResourceRemoved(ctx, kind, region, name, s.cfg.Now()); err != nil {
			s.cfg.Logger.Warn().Err(err).Str("name", name).Msg("Failed to record a swept resource")
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
