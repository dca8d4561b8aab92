package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// regionTimeout bounds the catalog query of one region: a region that does
// not answer within it counts as unavailable.
const regionTimeout = 15 * time.Second

// recordBatch is how many databases' results one store transaction records.
const recordBatch = 100

// PassParams tune one pass.
type PassParams struct {
	// All checks every database, due or not.
	All bool
}

// PassStats says what one pass did.
type PassStats struct {
	// Databases counts the store's databases; Checked those the pass
	// checked; Busy those it left to an operation in flight (or a first
	// apply that has not completed).
	Databases int
	Checked   int
	Busy      int
	Findings  int
	Repairs   int
	Errors    int
	// RegionsDown lists the regions that did not answer.
	RegionsDown []string
	Duration    time.Duration
}

// Pass checks (and heals, per drift policy) the databases that are due:
// those never checked, whose spec changed since, or whose next check time
// passed. Databases an operation is changing are left to it. One database's
// failure is recorded on that database and never stops the pass; a region
// that does not answer is marked unavailable and its databases untouched.
// A pass already running in this process makes this one return at once.
func (r *Reconciler) Pass(ctx context.Context, params *PassParams) (*PassStats, error) {
	if !r.passing.TryLock() {
		return &PassStats{}, nil
	}
	defer r.passing.Unlock()
	begin := time.Now()
	now := r.now()

	dbs, err := r.store.DatabaseList(ctx, &store.DatabaseListParams{})
	if err != nil {
		return nil, err
	}
	stateList, err := r.store.ReconcileStateList(ctx)
	if err != nil {
		return nil, err
	}
	states := make(map[store.DatabaseKey]*store.ReconcileState, len(stateList))
	for _, s := range stateList {
		states[s.Key()] = s
	}

	stats := &PassStats{Databases: len(dbs)}
	byRegion := map[string][]*store.Database{}
	for _, db := range dbs {
		switch {
		case db.OperationID != "" || db.ObservedGeneration == 0 || db.Status == apiv1.DatabaseStatusDeleting:
			stats.Busy++
		case params.All || due(db, states[db.Key()], now):
			byRegion[db.Region] = append(byRegion[db.Region], db)
		}
	}

	schemas := newSchemaCache(r.store)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for region, list := range byRegion {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes := r.reconcileRegion(ctx, region, list, schemas)
			r.record(ctx, outcomes, states)
			mu.Lock()
			defer mu.Unlock()
			for _, o := range outcomes {
				if o.raced {
					stats.Busy++
					continue
				}
				stats.Checked++
				stats.Findings += len(o.found)
				stats.Repairs += len(o.repairs)
				if o.err != nil {
					stats.Errors++
				}
			}
			if len(outcomes) > 0 && outcomes[0].regionErr != nil {
				stats.RegionsDown = append(stats.RegionsDown, region)
			}
		}()
	}
	wg.Wait()
	slices.Sort(stats.RegionsDown)
	stats.Duration = time.Since(begin)

	r.metrics.passes.Inc()
	r.metrics.passDuration.Observe(stats.Duration.Seconds())
	r.metrics.checked.Add(float64(stats.Checked))
	r.logger.Debug().Int("databases", stats.Databases).Int("checked", stats.Checked).Int("busy", stats.Busy).
		Int("findings", stats.Findings).Int("repairs", stats.Repairs).Int("errors", stats.Errors).
		Strs("regionsDown", stats.RegionsDown).Dur("elapsed", stats.Duration).Msg("Ran reconcile pass")
	return stats, ctx.Err()
}

// due tells whether a database is to be checked now.
func due(db *store.Database, state *store.ReconcileState, now time.Time) bool {
	return state == nil || state.Generation != db.Generation || !state.NextCheckAt.After(now)
}

// reconcileRegion checks a region's due databases: one catalog query for
// all of them, then each database (its ledger needs a connection of its
// own), a few at a time.
func (r *Reconciler) reconcileRegion(ctx context.Context, region string, dbs []*store.Database, schemas *schemaCache) []*outcome {
	queries := make([]engine.CatalogQuery, len(dbs))
	for i, db := range dbs {
		queries[i] = engine.CatalogQuery{Database: db.Name, Owner: db.Owner}
	}
	catalogCtx, cancel := context.WithTimeout(ctx, regionTimeout)
	catalog, err := r.regions.CatalogInspect(catalogCtx, region, queries)
	cancel()
	outcomes := make([]*outcome, len(dbs))
	if err != nil && ctx.Err() == nil {
		r.regionAvailable(region, err)
		for i, db := range dbs {
			outcomes[i] = &outcome{db: db, regionErr: err}
		}
		return outcomes
	}
	if err != nil {
		for i, db := range dbs {
			outcomes[i] = &outcome{db: db, raced: true} // shutting down: record nothing
		}
		return outcomes
	}
	r.regionAvailable(region, nil)

	sem := make(chan struct{}, r.concurrency)
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			outcomes[i] = r.reconcileDatabase(ctx, db, catalog[db.Name], schemas)
		}()
	}
	wg.Wait()
	return outcomes
}

// regionAvailable records whether a region answered, logging the changes.
func (r *Reconciler) regionAvailable(region string, err error) {
	r.downMu.Lock()
	wasDown := r.down[region]
	r.down[region] = err != nil
	r.downMu.Unlock()
	if err != nil {
		r.metrics.regionUp.WithLabelValues(region).Set(0)
		level := r.logger.Debug()
		if !wasDown {
			level = r.logger.Warn()
		}
		level.Str("region", region).Err(err).Msg("Found region unavailable; leaving its databases alone")
		return
	}
	r.metrics.regionUp.WithLabelValues(region).Set(1)
	if wasDown {
		r.logger.Info().Str("region", region).Msg("Found region available again")
	}
}

// record writes the outcomes: events, conditions and reconcile state, a
// batch of databases per transaction, then logs and counts what happened.
func (r *Reconciler) record(ctx context.Context, outcomes []*outcome, states map[store.DatabaseKey]*store.ReconcileState) {
	ctx = context.WithoutCancel(ctx) // release claims even when shutting down
	for batch := range slices.Chunk(outcomes, recordBatch) {
		var reports []func()
		err := r.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			reports = reports[:0]
			for _, o := range batch {
				report, err := r.recordOne(ctx, tx, o, states[o.db.Key()])
				if err != nil {
					return err
				}
				reports = append(reports, report...)
			}
			return nil
		})
		if err != nil {
			r.logger.Error().Err(err).Int("databases", len(batch)).Msg("Failed to record reconcile results")
			continue
		}
		for _, report := range reports {
			report()
		}
	}
}

// recordOne records one database's outcome in tx and returns the log lines
// and metrics to emit once tx commits.
func (r *Reconciler) recordOne(ctx context.Context, tx store.Tx, o *outcome, prev *store.ReconcileState) ([]func(), error) {
	db := o.db
	current, err := tx.DatabaseGet(ctx, db.Key())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if o.raced || !o.claimed && (current.OperationID != "" || current.Generation != db.Generation) {
		// An operation has the database now: what it does counts, not what
		// this pass saw in the middle of it.
		return nil, nil
	}
	if prev == nil {
		prev = &store.ReconcileState{}
	}
	seen := map[string]bool{}
	for _, k := range prev.Findings {
		seen[k] = true
	}
	now := r.now()
	log := r.logger.With().Str("region", db.Region).Str("database", db.Name).Logger()
	var reports []func()
	var events []*store.DatabaseEvent
	event := func(typ, reason, message string) {
		events = append(events, &store.DatabaseEvent{Region: db.Region, Name: db.Name, Time: now, Type: typ, Reason: reason, Message: message})
	}

	var active []string
	for _, f := range o.unresolved {
		active = append(active, f.key())
	}
	for _, f := range o.found {
		if seen[f.key()] && slices.Contains(active, f.key()) {
			reports = append(reports, func() {
				log.Debug().Str("check", f.check).Str("reason", f.reason).Msg("Found drift again")
			})
			continue
		}
		event(apiv1.EventFinding, f.reason, f.message)
		reports = append(reports, func() {
			r.metrics.findings.WithLabelValues(f.check).Inc()
			log.Warn().Str("check", f.check).Str("reason", f.reason).Str("driftPolicy", driftPolicy(db)).Msg("Found drift")
		})
	}
	for _, rep := range o.repairs {
		event(apiv1.EventRepair, rep.reason, rep.message)
		reports = append(reports, func() {
			r.metrics.repairs.WithLabelValues(rep.check).Inc()
			log.Info().Str("check", rep.check).Str("reason", rep.reason).Msg("Repaired drift")
		})
	}
	failures := 0
	switch {
	case o.regionErr != nil:
		// Nothing was checked: what was found before still stands.
		failures = prev.Failures + 1
		active = nil
		for _, k := range prev.Findings {
			if !isErrorKey(k) {
				active = append(active, k)
			}
		}
		k := errorKey(checkRegion)
		active = append(active, k)
		if !seen[k] {
			event(apiv1.EventError, apiv1.ReasonRegionUnavailable, fmt.Sprintf(
				"region %s did not answer (%v); the database is left alone until it does", db.Region, o.regionErr))
			reports = append(reports, func() { r.metrics.errors.WithLabelValues(checkRegion).Inc() })
		}
	case o.err != nil:
		failures = prev.Failures + 1
		k := errorKey(o.errCheck)
		active = append(active, k)
		if !seen[k] {
			event(apiv1.EventError, apiv1.ReasonReconcileFailed, fmt.Sprintf("the %s check failed and is retried with backoff: %v", o.errCheck, o.err))
		}
		reports = append(reports, func() {
			r.metrics.errors.WithLabelValues(o.errCheck).Inc()
			log.Warn().Str("check", o.errCheck).Int("attempt", failures).Err(o.err).Msg("Failed reconcile check; will retry")
		})
	}

	if conditions, changed := conditionsAfter(current.Conditions, o, now); changed {
		if err := tx.DatabaseConditionsPut(ctx, db.Key(), conditions); err != nil {
			return nil, err
		}
	}
	for _, e := range events {
		if err := tx.DatabaseEventInsert(ctx, e); err != nil {
			return nil, err
		}
	}
	state := &store.ReconcileState{Region: db.Region, Name: db.Name, Generation: db.Generation, CheckedAt: now,
		NextCheckAt: r.nextCheck(now, failures), Failures: failures, Findings: active}
	if !o.claimed {
		// Releasing is for the pass that claimed; another's claim stands.
		if held, err := tx.ReconcileStateGet(ctx, db.Key()); err == nil && held.ClaimedUntil.After(now) {
			state.ClaimedUntil = held.ClaimedUntil
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	if err := tx.ReconcileStatePut(ctx, state); err != nil {
		return nil, err
	}
	return reports, nil
}

func errorKey(check string) string { return "error:" + check }

func isErrorKey(k string) bool { return len(k) > 6 && k[:6] == "error:" }

func driftPolicy(db *store.Database) string {
	if db.DriftPolicy == apiv1.DriftPolicyReport {
		return apiv1.DriftPolicyReport
	}
	return apiv1.DriftPolicyHeal
}
