package reconcile

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// fakeRegions answers like regions whose databases all match their spec,
// unless a test overrides a method.
type fakeRegions struct {
	mu       sync.Mutex
	inspect  func(region string, queries []engine.CatalogQuery) (map[string]*engine.CatalogDatabase, error)
	ensure   func(region, role string) error
	params   func(database string) error
	inspects []string
	ensured  []string
}

func (f *fakeRegions) Names() []string { return []string{"westeurope", "eastus"} }

func (f *fakeRegions) CatalogInspect(_ context.Context, region string, queries []engine.CatalogQuery) (map[string]*engine.CatalogDatabase, error) {
	f.mu.Lock()
	for _, q := range queries {
		f.inspects = append(f.inspects, region+"/"+q.Database)
	}
	f.mu.Unlock()
	if f.inspect != nil {
		return f.inspect(region, queries)
	}
	return healthy(queries), nil
}

func healthy(queries []engine.CatalogQuery) map[string]*engine.CatalogDatabase {
	out := map[string]*engine.CatalogDatabase{}
	for _, q := range queries {
		out[q.Database] = &engine.CatalogDatabase{Name: q.Database, Exists: true, Owner: q.Owner,
			OwnerRoleExists: true, OwnerCanLogin: true, Settings: map[string]string{}}
	}
	return out
}

func (f *fakeRegions) LedgerInspect(context.Context, engine.Owner) (*engine.Ledger, error) {
	return &engine.Ledger{Present: true, Entries: map[int64]string{}}, nil
}

func (f *fakeRegions) LedgerRebuild(context.Context, engine.Owner, []engine.LedgerEntry, bool, string) (*engine.LedgerRebuildResult, error) {
	return &engine.LedgerRebuildResult{}, nil
}

func (f *fakeRegions) RoleEnsure(_ context.Context, region, role, _ string) error {
	f.mu.Lock()
	f.ensured = append(f.ensured, region+"/"+role)
	f.mu.Unlock()
	if f.ensure != nil {
		return f.ensure(region, role)
	}
	return nil
}

func (f *fakeRegions) DatabaseOwnerSet(context.Context, string, string, string) error { return nil }

func (f *fakeRegions) OwnershipRestore(context.Context, string, string, string) (int, error) {
	return 0, nil
}

func (f *fakeRegions) ParametersApply(_ context.Context, _, database string, _ map[string]string) error {
	if f.params != nil {
		return f.params(database)
	}
	return nil
}

type bundle struct {
	ctx      context.Context
	store    store.Store
	regions  *fakeRegions
	r        *Reconciler
	registry *prometheus.Registry
	now      time.Time
}

const testInterval = 30 * time.Second

func setup(t *testing.T) *bundle {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "state.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	b := &bundle{ctx: context.Background(), store: st, regions: &fakeRegions{}, registry: prometheus.NewRegistry(),
		now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b.r = New(Config{Store: st, Regions: b.regions, Logger: zerolog.Nop(), Interval: testInterval,
		Registerer: b.registry, Now: func() time.Time { return b.now }})
	return b
}

// put records ready databases in the store.
func (b *bundle) put(t *testing.T, dbs ...*store.Database) {
	t.Helper()
	require.NoError(t, b.store.InTx(b.ctx, func(ctx context.Context, tx store.Tx) error {
		for _, db := range dbs {
			if db.Owner == "" {
				db.Owner = db.Name + "_owner"
			}
			if db.Status == "" {
				db.Status, db.Generation, db.ObservedGeneration = apiv1.DatabaseStatusReady, 1, 1
			}
			db.CreatedAt, db.UpdatedAt = b.now, b.now
			if err := tx.DatabasePut(ctx, db); err != nil {
				return err
			}
		}
		return nil
	}))
}

func (b *bundle) pass(t *testing.T) *PassStats {
	t.Helper()
	stats, err := b.r.Pass(b.ctx, &PassParams{})
	require.NoError(t, err)
	return stats
}

func (b *bundle) events(t *testing.T, region, name string) []string {
	t.Helper()
	events, err := b.store.DatabaseEventList(b.ctx, &store.DatabaseEventListParams{Region: region, Name: name})
	require.NoError(t, err)
	var out []string
	for _, e := range slices.Backward(events) {
		out = append(out, e.Type+":"+e.Reason)
	}
	return out
}

func (b *bundle) state(t *testing.T, region, name string) *store.ReconcileState {
	t.Helper()
	s, err := b.store.ReconcileStateGet(b.ctx, store.DatabaseKey{Region: region, Name: name})
	require.NoError(t, err)
	return s
}

func (b *bundle) conditions(t *testing.T, region, name string) map[string]store.Condition {
	t.Helper()
	db, err := b.store.DatabaseGet(b.ctx, store.DatabaseKey{Region: region, Name: name})
	require.NoError(t, err)
	out := map[string]store.Condition{}
	for _, c := range db.Conditions {
		out[c.Type] = c
	}
	return out
}

func TestPassLeavesDatabasesAnOperationOwnsAlone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.put(t, &store.Database{Region: "westeurope", Name: "idle"},
		&store.Database{Region: "westeurope", Name: "busy", OperationID: "op-1"},
		&store.Database{Region: "westeurope", Name: "new", Status: apiv1.DatabaseStatusFailed, Generation: 1})

	stats := b.pass(t)
	require.Equal(t, 1, stats.Checked)
	require.Equal(t, 2, stats.Busy, "an operation in flight, and a first apply that never completed")
	require.Equal(t, []string{"westeurope/idle"}, b.regions.inspects)
	_, err := b.store.ReconcileStateGet(b.ctx, store.DatabaseKey{Region: "westeurope", Name: "busy"})
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestRepairNeverRacesAnOperation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.put(t, &store.Database{Region: "westeurope", Name: "orders"})
	b.regions.inspect = func(region string, queries []engine.CatalogQuery) (map[string]*engine.CatalogDatabase, error) {
		// An apply starts between the check and the repair.
		require.NoError(t, b.store.InTx(b.ctx, func(ctx context.Context, tx store.Tx) error {
			db, err := tx.DatabaseGet(ctx, store.DatabaseKey{Region: "westeurope", Name: "orders"})
			require.NoError(t, err)
			db.OperationID, db.Generation = "op-apply", 2
			return tx.DatabasePut(ctx, db)
		}))
		cat := healthy(queries)
		cat["orders"].OwnerRoleExists = false
		return cat, nil
	}

	stats := b.pass(t)
	require.Empty(t, b.regions.ensured, "the repair waits for the next pass, after the operation")
	require.Equal(t, 1, stats.Busy)
	require.Empty(t, b.events(t, "westeurope", "orders"), "what a pass saw mid-operation is not recorded")
	require.Empty(t, b.conditions(t, "westeurope", "orders"))
}

func TestRepairHoldsAClaimOperationsWaitFor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.put(t, &store.Database{Region: "westeurope", Name: "orders"})
	b.regions.inspect = func(_ string, queries []engine.CatalogQuery) (map[string]*engine.CatalogDatabase, error) {
		cat := healthy(queries)
		cat["orders"].OwnerRoleExists = false
		return cat, nil
	}
	var during time.Time
	b.regions.ensure = func(region, role string) error {
		during = b.state(t, region, "orders").ClaimedUntil
		return nil
	}

	b.pass(t)
	require.Equal(t, b.now.Add(claimTTL), during, "claimed while repairing")
	require.True(t, b.state(t, "westeurope", "orders").ClaimedUntil.IsZero(), "released after")
	require.Equal(t, []string{"finding:" + apiv1.ReasonOwnerRoleMissing, "repair:OwnerRoleRecreated"}, b.events(t, "westeurope", "orders"))
	drifted := b.conditions(t, "westeurope", "orders")[apiv1.ConditionDrifted]
	require.Equal(t, apiv1.ReasonHealed, drifted.Reason)
	require.Equal(t, int64(1), drifted.ObservedGeneration)
	require.Equal(t, b.now, drifted.LastTransitionTime)
	require.Equal(t, 1.0, metricValue(t, b.r.metrics.findings.WithLabelValues(checkOwnerRole)))
	require.Equal(t, 1.0, metricValue(t, b.r.metrics.repairs.WithLabelValues(checkOwnerRole)))

	// A claim another pass holds is respected too.
	b.now = b.now.Add(testInterval * 2)
	require.NoError(t, b.store.InTx(b.ctx, func(ctx context.Context, tx store.Tx) error {
		s := b.state(t, "westeurope", "orders")
		s.ClaimedUntil = b.now.Add(time.Minute)
		return tx.ReconcileStatePut(ctx, s)
	}))
	b.regions.ensured = nil
	b.pass(t)
	require.Empty(t, b.regions.ensured)
}

func TestOneDatabaseFailingNeverStopsThePass(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.put(t, &store.Database{Region: "westeurope", Name: "broken"}, &store.Database{Region: "westeurope", Name: "fine"},
		&store.Database{Region: "westeurope", Name: "panics", Parameters: map[string]string{"work_mem": "8MB"}})
	b.regions.inspect = func(_ string, queries []engine.CatalogQuery) (map[string]*engine.CatalogDatabase, error) {
		cat := healthy(queries)
		for _, name := range []string{"broken", "fine"} {
			if db, ok := cat[name]; ok {
				db.OwnerRoleExists = false
			}
		}
		return cat, nil
	}
	b.regions.ensure = func(_, role string) error {
		if role == "broken_owner" {
			return errors.New("permission denied to create role")
		}
		return nil
	}
	b.regions.params = func(string) error { panic("boom") }

	stats := b.pass(t)
	require.Equal(t, 3, stats.Checked)
	require.Equal(t, 2, stats.Errors)
	require.Equal(t, []string{"finding:" + apiv1.ReasonOwnerRoleMissing, "repair:OwnerRoleRecreated"}, b.events(t, "westeurope", "fine"))
	require.Equal(t, []string{"finding:" + apiv1.ReasonOwnerRoleMissing, "error:" + apiv1.ReasonReconcileFailed}, b.events(t, "westeurope", "broken"))
	require.Contains(t, b.conditions(t, "westeurope", "panics")[apiv1.ConditionReady].Message, "panicked: boom")

	broken := b.state(t, "westeurope", "broken")
	require.Equal(t, 1, broken.Failures)
	require.WithinRange(t, broken.NextCheckAt, b.now.Add(tick(testInterval)*9/10), b.now.Add(tick(testInterval)*11/10), "retried after one tick")
	fine := b.state(t, "westeurope", "fine")
	require.WithinRange(t, fine.NextCheckAt, b.now.Add(testInterval*9/10), b.now.Add(testInterval*11/10))
	ready := b.conditions(t, "westeurope", "broken")[apiv1.ConditionReady]
	require.Equal(t, apiv1.ReasonOwnerRoleMissing, ready.Reason)

	// Retried with backoff; the same error is recorded once.
	b.now = maxTime(broken.NextCheckAt, b.state(t, "westeurope", "panics").NextCheckAt)
	stats = b.pass(t)
	require.Equal(t, 2, stats.Checked, "the two failed databases are due, the healed one is not")
	require.Equal(t, 2, b.state(t, "westeurope", "broken").Failures)
	require.Equal(t, []string{"finding:" + apiv1.ReasonOwnerRoleMissing, "error:" + apiv1.ReasonReconcileFailed}, b.events(t, "westeurope", "broken"))
}

// TestCheckFailingOnADroppedDatabaseReportsItMissing: a database dropped
// between the pass's read of the catalog and a check that connects to it
// (DROP DATABASE … WITH (FORCE) ends the check's session) is reported
// missing, not as a failed check. The drop's timing is a race a real
// server gives only now and then, so the regions here are fake.
func TestCheckFailingOnADroppedDatabaseReportsItMissing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.put(t, &store.Database{Region: "westeurope", Name: "dropped", Parameters: map[string]string{"work_mem": "8MB"}},
		&store.Database{Region: "westeurope", Name: "failing", Parameters: map[string]string{"work_mem": "8MB"}})
	dropped := false
	b.regions.inspect = func(_ string, queries []engine.CatalogQuery) (map[string]*engine.CatalogDatabase, error) {
		cat := healthy(queries)
		if d, ok := cat["dropped"]; ok && dropped {
			d.Exists = false
		}
		return cat, nil
	}
	b.regions.params = func(database string) error {
		if database == "dropped" {
			dropped = true
			return errors.New("FATAL: terminating connection due to administrator command (SQLSTATE 57P01)")
		}
		return errors.New("permission denied for database failing")
	}

	stats := b.pass(t)
	require.Equal(t, 1, stats.Errors, "only the check that failed on a database still there")
	require.Equal(t, []string{"finding:" + apiv1.ReasonDatabaseMissing}, b.events(t, "westeurope", "dropped"))
	require.Equal(t, apiv1.ReasonDatabaseMissing, b.conditions(t, "westeurope", "dropped")[apiv1.ConditionReady].Reason)
	require.Equal(t, []string{"finding:" + apiv1.ReasonParametersDrifted, "error:" + apiv1.ReasonReconcileFailed}, b.events(t, "westeurope", "failing"))
}

func TestUnavailableRegionIsLeftAloneAndReportedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.put(t, &store.Database{Region: "westeurope", Name: "orders"}, &store.Database{Region: "eastus", Name: "orders"})
	b.regions.inspect = func(region string, queries []engine.CatalogQuery) (map[string]*engine.CatalogDatabase, error) {
		if region == "eastus" {
			return nil, errors.New("dial tcp 127.0.0.1:5: connect: connection refused")
		}
		return healthy(queries), nil
	}

	stats := b.pass(t)
	require.Equal(t, []string{"eastus"}, stats.RegionsDown)
	ready := b.conditions(t, "eastus", "orders")[apiv1.ConditionReady]
	require.Equal(t, apiv1.ConditionFalse, ready.Status)
	require.Equal(t, apiv1.ReasonRegionUnavailable, ready.Reason)
	require.NotContains(t, b.conditions(t, "eastus", "orders"), apiv1.ConditionDrifted, "not checked, so not claimed in sync")
	require.Equal(t, apiv1.ReasonReconciled, b.conditions(t, "westeurope", "orders")[apiv1.ConditionReady].Reason)
	require.Equal(t, 0.0, metricValue(t, b.r.metrics.regionUp.WithLabelValues("eastus")))
	require.Equal(t, 1.0, metricValue(t, b.r.metrics.regionUp.WithLabelValues("westeurope")))

	b.now = b.state(t, "eastus", "orders").NextCheckAt
	b.pass(t)
	require.Equal(t, []string{"error:" + apiv1.ReasonRegionUnavailable}, b.events(t, "eastus", "orders"))

	b.regions.inspect = nil
	b.now = b.state(t, "eastus", "orders").NextCheckAt
	b.pass(t)
	require.Equal(t, apiv1.ReasonReconciled, b.conditions(t, "eastus", "orders")[apiv1.ConditionReady].Reason)
	require.Zero(t, b.state(t, "eastus", "orders").Failures)
	require.Equal(t, 1.0, metricValue(t, b.r.metrics.regionUp.WithLabelValues("eastus")))
}

func TestNextCheckBacksOffUpToTheInterval(t *testing.T) {
	t.Parallel()
	b := setup(t)
	step := tick(testInterval)
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, testInterval}, {1, step}, {2, 2 * step}, {3, testInterval}, {40, testInterval},
	} {
		got := b.r.nextCheck(b.now, tc.failures).Sub(b.now)
		require.InDelta(t, float64(tc.want), float64(got), float64(tc.want)/10, "failures %d", tc.failures)
	}
}

func TestSetConditionMovesTransitionTimeOnStatusOrReasonOnly(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	conds, changed := setCondition(nil, store.Condition{Type: apiv1.ConditionDrifted, Status: "False", Reason: "InSync", ObservedGeneration: 1}, t0)
	require.True(t, changed)
	conds, changed = setCondition(conds, store.Condition{Type: apiv1.ConditionReady, Status: "True", Reason: "Reconciled", ObservedGeneration: 1}, t0)
	require.True(t, changed)
	require.Equal(t, []string{apiv1.ConditionReady, apiv1.ConditionDrifted}, []string{conds[0].Type, conds[1].Type}, "Ready first")

	_, changed = setCondition(conds, store.Condition{Type: apiv1.ConditionReady, Status: "True", Reason: "Reconciled", ObservedGeneration: 1}, t0.Add(time.Hour))
	require.False(t, changed)
	conds, changed = setCondition(conds, store.Condition{Type: apiv1.ConditionReady, Status: "True", Reason: "Reconciled", Message: "new", ObservedGeneration: 2}, t0.Add(time.Hour))
	require.True(t, changed)
	require.Equal(t, t0, conds[0].LastTransitionTime, "a new message or generation keeps the time")
	require.EqualValues(t, 2, conds[0].ObservedGeneration)
	conds, _ = setCondition(conds, store.Condition{Type: apiv1.ConditionDrifted, Status: "False", Reason: "Healed"}, t0.Add(2*time.Hour))
	require.Equal(t, t0.Add(2*time.Hour), conds[1].LastTransitionTime, "a new reason moves it")
}

func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	require.NoError(t, m.Write(&out))
	if out.Counter != nil {
		return out.Counter.GetValue()
	}
	return out.Gauge.GetValue()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
