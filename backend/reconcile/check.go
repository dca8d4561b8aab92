package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// databaseTimeout bounds the check and repairs of one database.
const databaseTimeout = time.Minute

// claimTTL is how long a claim holds operations off if the reconciler dies
// before it releases it.
const claimTTL = databaseTimeout + 30*time.Second

// ledgerOperationID marks the ledger rows the reconciler rebuilt.
const ledgerOperationID = "dbfleet-reconciler"

// errRaced: an operation started on the database, it was deleted, or
// another pass claimed it, before this pass could claim it for a repair.
var errRaced = errors.New("an operation started on the database")

// finding is one way a database differs from its spec.
type finding struct {
	check   string
	reason  string
	message string
}

// key identifies a finding across passes, so that one that persists is
// recorded once.
func (f finding) key() string { return f.check + ":" + f.reason + ":" + f.message }

// repair is one thing the reconciler changed.
type repair struct {
	check   string
	reason  string
	message string
}

// outcome is what checking one database found and did.
type outcome struct {
	db *store.Database
	// claimed: the reconciler claimed the database for repairs.
	claimed bool
	// raced: an operation got the database first; nothing was done and
	// nothing is recorded.
	raced bool
	// found is all the drift found, repaired or not; unresolved is what
	// is still there.
	found      []finding
	repairs    []repair
	unresolved []finding
	// notReady says why the database is not usable, nil when it is.
	notReady *finding
	// err is a check or repair that failed, errCheck its check.
	err      error
	errCheck string
	// regionErr: the region did not answer; nothing was checked.
	regionErr error
	// synced is a replica's Synced condition; nil for other databases.
	synced *store.Condition
}

func (o *outcome) fail(check string, err error) {
	if o.err == nil {
		o.err, o.errCheck = err, check
	}
}

// checker checks and repairs one database.
type checker struct {
	r       *Reconciler
	o       *outcome
	heal    bool
	schemas *schemaCache
}

// reconcileDatabase checks one database against what its region's catalog
// says (cat, nil when the database is not there) and, per its drift policy,
// repairs what differs. A panic or failure stays within the database.
func (r *Reconciler) reconcileDatabase(ctx context.Context, db *store.Database, cat *engine.CatalogDatabase, schemas *schemaCache) (o *outcome) {
	o = &outcome{db: db}
	defer func() {
		if p := recover(); p != nil {
			o.fail(checkDatabase, fmt.Errorf("reconciling %s panicked: %v", target(db.Key()), p))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, databaseTimeout)
	defer cancel()
	c := &checker{r: r, o: o, heal: db.DriftPolicy != apiv1.DriftPolicyReport, schemas: schemas}
	c.run(ctx, cat)
	if o.err != nil && !errors.Is(o.err, errRaced) && c.droppedMeanwhile(ctx) {
		// The check failed because the database was dropped under it
		// (its session was ended, or it could not connect): that is the
		// finding, not a failed check. A claim taken stays taken, for the
		// pass to release.
		*o = outcome{db: db, claimed: o.claimed}
		c.databaseMissing(ctx)
	}
	if errors.Is(o.err, errRaced) {
		o.raced = true
	}
	return o
}

func (c *checker) run(ctx context.Context, cat *engine.CatalogDatabase) {
	if cat == nil || !cat.Exists {
		c.databaseMissing(ctx)
		return
	}
	ownerCanLogIn := c.owner(ctx, cat)
	if c.o.err != nil {
		return
	}
	c.parameters(ctx, cat)
	if c.o.err != nil {
		return
	}
	if c.o.db.Schema != "" && ownerCanLogIn {
		c.ledger(ctx)
	}
	if c.o.err == nil && c.o.db.ReplicaOf != "" && c.r.subs != nil {
		c.subscription(ctx)
	}
}

// droppedMeanwhile tells whether the database, there when the pass read
// its region's catalog, is gone now.
func (c *checker) droppedMeanwhile(ctx context.Context) bool {
	db := c.o.db
	catalog, err := c.r.regions.CatalogInspect(ctx, db.Region, []engine.CatalogQuery{{Database: db.Name, Owner: db.Owner}})
	if err != nil {
		return false
	}
	cat := catalog[db.Name]
	return cat == nil || !cat.Exists
}

func (c *checker) find(check, reason, message string) finding {
	f := finding{check: check, reason: reason, message: message}
	c.o.found = append(c.o.found, f)
	return f
}

// repair fixes f with fn when the drift policy heals, after claiming the
// database; otherwise, or when fn fails, f stays unresolved. fn returns
// what it did.
func (c *checker) repair(ctx context.Context, f finding, reason string, fn func() (string, error)) bool {
	if !c.heal {
		c.o.unresolved = append(c.o.unresolved, f)
		return false
	}
	if err := c.claim(ctx); err != nil {
		c.o.fail(f.check, err)
		return false
	}
	message, err := fn()
	if err != nil {
		c.o.unresolved = append(c.o.unresolved, f)
		c.o.fail(f.check, err)
		return false
	}
	c.o.repairs = append(c.o.repairs, repair{check: f.check, reason: reason, message: message})
	return true
}

// claim marks the database as being repaired, once per check, inside a
// store transaction that first makes sure no operation started on it, its
// spec did not change since it was read, and no other pass claimed it. An
// operation started after the claim waits for the reconciler to release
// it, so a repair and an operation never run on a database at the same
// time, nor two repairs.
func (c *checker) claim(ctx context.Context) error {
	if c.o.claimed {
		return nil
	}
	db := c.o.db
	err := c.r.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		// The database's lock, as an operation's start takes it: the claim
		// and a start take turns, and whichever comes second sees the other.
		if err := tx.Lock(ctx, store.DatabaseLockName(db.Key())); err != nil {
			return err
		}
		current, err := tx.DatabaseGet(ctx, db.Key())
		if errors.Is(err, store.ErrNotFound) {
			return errRaced
		}
		if err != nil {
			return err
		}
		if current.OperationID != "" || current.Generation != db.Generation {
			return errRaced
		}
		now := c.r.now()
		state, err := tx.ReconcileStateGet(ctx, db.Key())
		switch {
		case errors.Is(err, store.ErrNotFound):
			state = &store.ReconcileState{Region: db.Region, Name: db.Name, Generation: db.Generation, CheckedAt: now, NextCheckAt: now}
		case err != nil:
			return err
		case state.ClaimedUntil.After(now):
			return errRaced // another pass (on another node) is repairing it
		}
		state.ClaimedUntil = now.Add(claimTTL)
		return tx.ReconcileStatePut(ctx, state)
	})
	if err != nil {
		return fmt.Errorf("claim %s for repair: %w", target(db.Key()), err)
	}
	c.o.claimed = true
	return nil
}

// databaseMissing handles a database gone from its region. Its data is
// gone with it, so recreating it empty would hide the loss: it is reported,
// never recreated, except a replica, which its source can fill again.
func (c *checker) databaseMissing(ctx context.Context) {
	db := c.o.db
	f := c.find(checkDatabase, apiv1.ReasonDatabaseMissing, fmt.Sprintf(
		"database %s does not exist in region %s; dbfleet never recreates a dropped database empty: restore it from a backup, or delete it from dbfleet",
		db.Name, db.Region))
	c.o.notReady = &f
	if db.ReplicaOf != "" && c.r.replicas != nil {
		if c.repair(ctx, f, "ReplicaRecreated", func() (string, error) { return c.r.replicas.ReplicaRecreate(ctx, db) }) {
			c.o.notReady = nil
		}
		return
	}
	c.o.unresolved = append(c.o.unresolved, f)
}

// owner checks that the owner role exists, may log in and owns the
// database, and repairs that. It returns whether the owner can be expected
// to log in now.
func (c *checker) owner(ctx context.Context, cat *engine.CatalogDatabase) bool {
	db := c.o.db
	switch {
	case !cat.OwnerRoleExists:
		f := c.find(checkOwnerRole, apiv1.ReasonOwnerRoleMissing, fmt.Sprintf("owner role %s does not exist in region %s", db.Owner, db.Region))
		if !c.repair(ctx, f, "OwnerRoleRecreated", func() (string, error) {
			return fmt.Sprintf("recreated owner role %s with its stored password", db.Owner),
				c.r.regions.RoleEnsure(ctx, db.Region, db.Owner, db.Password)
		}) {
			c.o.notReady = &f
			return false
		}
	case !cat.OwnerCanLogin:
		f := c.find(checkOwnerRole, apiv1.ReasonOwnerLoginFailed, fmt.Sprintf("owner role %s may not log in (NOLOGIN)", db.Owner))
		if !c.repair(ctx, f, "OwnerRoleReset", func() (string, error) {
			return fmt.Sprintf("gave owner role %s back LOGIN and its stored password", db.Owner),
				c.r.regions.RoleEnsure(ctx, db.Region, db.Owner, db.Password)
		}) {
			c.o.notReady = &f
			return false
		}
	}
	if cat.Owner != db.Owner {
		f := c.find(checkOwnership, apiv1.ReasonOwnershipChanged, fmt.Sprintf("database %s is owned by %s, not by its owner role %s", db.Name, cat.Owner, db.Owner))
		c.repair(ctx, f, "OwnershipRestored", func() (string, error) { return c.restoreOwnership(ctx) })
	}
	return true
}

// restoreOwnership gives the owner back the database and the objects in
// it that the region's administrator holds.
func (c *checker) restoreOwnership(ctx context.Context) (string, error) {
	db := c.o.db
	if err := c.r.regions.DatabaseOwnerSet(ctx, db.Region, db.Name, db.Owner); err != nil {
		return "", err
	}
	n, err := c.r.regions.OwnershipRestore(ctx, db.Region, db.Name, db.Owner)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("gave database %s back to %s, with %d objects in it the region's administrator held", db.Name, db.Owner, n), nil
}

// parameters checks the database's own settings against the spec.
func (c *checker) parameters(ctx context.Context, cat *engine.CatalogDatabase) {
	db := c.o.db
	diff := engine.SettingsDiff(db.Parameters, cat.Settings)
	if len(diff) == 0 {
		return
	}
	f := c.find(checkParameters, apiv1.ReasonParametersDrifted, "parameters differ from the spec: "+strings.Join(diff, "; "))
	c.repair(ctx, f, "ParametersReapplied", func() (string, error) {
		return fmt.Sprintf("re-applied the spec's parameters (%s)", strings.Join(slices.Sorted(maps.Keys(db.Parameters)), ", ")),
			c.r.regions.ParametersApply(ctx, db.Region, db.Name, db.Parameters)
	})
}

// ledger checks the database's ledger against the versions the backend
// applied, and rebuilds it when lost or corrupt.
//
// Which versions took effect: the store's applied_version is the highest
// version the backend applied — it records a version only after the
// migration and its ledger row committed in one transaction. So the ledger
// must hold exactly the schema's versions up to applied_version, with the
// schema's checksums (published versions are immutable). Rows are rebuilt
// from that, without running any migration, when the catalog confirms the
// migrations took effect: the database holds objects of its own, or the
// ledger still records a later version. Without that evidence (an emptied
// database) nothing is rebuilt: the drift is reported as
// LedgerUnverifiable, since a made-up ledger would hide the loss. Rows
// the backend did not apply are reported, never deleted: deleting one
// would make the next apply run a migration that took effect.
func (c *checker) ledger(ctx context.Context) {
	db := c.o.db
	schema, err := c.schemas.get(ctx, db.Schema)
	if err != nil {
		c.o.fail(checkLedger, err)
		return
	}
	owner := engine.Owner{Region: db.Region, Database: db.Name, Role: db.Owner, Password: db.Password}
	ledger, err := c.r.regions.LedgerInspect(ctx, owner)
	if errors.Is(err, engine.ErrOwnerLogin) {
		f := c.find(checkOwnerRole, apiv1.ReasonOwnerLoginFailed, fmt.Sprintf("owner role %s cannot log in to %s with its stored password", db.Owner, db.Name))
		if !c.repair(ctx, f, "OwnerPasswordReset", func() (string, error) {
			return fmt.Sprintf("reset owner role %s to its stored password", db.Owner), c.r.regions.RoleEnsure(ctx, db.Region, db.Owner, db.Password)
		}) {
			c.o.notReady = &f
			return
		}
		ledger, err = c.r.regions.LedgerInspect(ctx, owner)
	}
	if errors.Is(err, engine.ErrLedgerUnreadable) {
		f := c.find(checkOwnership, apiv1.ReasonOwnershipChanged, fmt.Sprintf("another role owns the ledger dbfleet.migrations of %s, so its owner role %s cannot read it", db.Name, db.Owner))
		if !c.repair(ctx, f, "OwnershipRestored", func() (string, error) { return c.restoreOwnership(ctx) }) {
			return
		}
		ledger, err = c.r.regions.LedgerInspect(ctx, owner)
	}
	if err != nil {
		c.o.fail(checkLedger, err)
		return
	}

	var expected []engine.LedgerEntry
	want := map[int64]bool{}
	for _, m := range schema.Migrations {
		// A version being reverted is not rebuilt: a ledger without it
		// means its down migration ran.
		if m.Version <= db.AppliedVersion && m.Version != db.RevertPendingVersion {
			expected = append(expected, engine.LedgerEntry{Version: m.Version, Checksum: m.Checksum})
			want[m.Version] = true
		}
	}
	var missing, changed, unexpected []int64
	for _, e := range expected {
		switch got, ok := ledger.Entries[e.Version]; {
		case !ok:
			missing = append(missing, e.Version)
		case got != e.Checksum:
			changed = append(changed, e.Version)
		}
	}
	for v := range ledger.Entries {
		if !want[v] {
			unexpected = append(unexpected, v)
		}
	}
	slices.Sort(unexpected)
	if len(unexpected) > 0 {
		f := c.find(checkLedger, apiv1.ReasonLedgerUnexpected, fmt.Sprintf(
			"the ledger of %s records version(s) %s that the backend did not apply (it applied schema %s up to version %d); they are kept, since an apply would otherwise run them again",
			db.Name, versionList(unexpected), schema.Name, db.AppliedVersion))
		c.o.unresolved = append(c.o.unresolved, f)
	}
	if ledger.Present && !ledger.Corrupt && len(missing) == 0 && len(changed) == 0 {
		return
	}

	var reason, what string
	switch {
	case !ledger.Present:
		reason, what = apiv1.ReasonLedgerMissing, fmt.Sprintf("the ledger dbfleet.migrations of %s is missing", db.Name)
	case ledger.Corrupt:
		reason, what = apiv1.ReasonLedgerMismatch, fmt.Sprintf("the ledger dbfleet.migrations of %s does not have the ledger's columns", db.Name)
	default:
		reason = apiv1.ReasonLedgerMismatch
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, "lacks version(s) "+versionList(missing))
		}
		if len(changed) > 0 {
			parts = append(parts, fmt.Sprintf("has other checksums than schema %s for version(s) %s", schema.Name, versionList(changed)))
		}
		what = fmt.Sprintf("the ledger of %s %s", db.Name, strings.Join(parts, " and "))
	}
	if len(missing) > 0 && !tookEffect(ledger, missing) {
		f := c.find(checkLedger, apiv1.ReasonLedgerUnverifiable, fmt.Sprintf(
			"%s, and the database holds no objects of its own to show that version(s) %s of schema %s took effect; the ledger is not rebuilt: restore the database from a backup, or recreate it to run the migrations again",
			what, versionList(missing), schema.Name))
		c.o.unresolved = append(c.o.unresolved, f)
		return
	}
	f := c.find(checkLedger, reason, what)
	c.repair(ctx, f, "LedgerRebuilt", func() (string, error) {
		res, err := c.r.regions.LedgerRebuild(ctx, owner, expected, ledger.Corrupt, ledgerOperationID)
		if err != nil {
			return "", err
		}
		var did []string
		if res.SetAside != "" {
			did = append(did, "set the corrupt ledger aside as dbfleet."+res.SetAside)
		}
		if res.Created {
			did = append(did, "recreated the ledger")
		}
		if len(res.Added) > 0 {
			did = append(did, "recorded version(s) "+versionList(res.Added))
		}
		if len(res.Rechecksum) > 0 {
			did = append(did, "corrected the checksums of version(s) "+versionList(res.Rechecksum))
		}
		return fmt.Sprintf("%s from schema %s, without running any migration (the backend applied them up to version %d)",
			strings.Join(did, ", "), schema.Name, db.AppliedVersion), nil
	})
}

// tookEffect tells whether the catalog shows that the missing versions'
// migrations took effect.
func tookEffect(ledger *engine.Ledger, missing []int64) bool {
	if ledger.HasObjects {
		return true
	}
	for v := range ledger.Entries {
		if v > slices.Max(missing) {
			return true
		}
	}
	return false
}

func versionList(versions []int64) string {
	parts := make([]string, len(versions))
	for i, v := range versions {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}

// schemaCache loads each schema once per pass.
type schemaCache struct {
	store store.Queries
	mu    sync.Mutex
	byKey map[string]*store.Schema
}

func newSchemaCache(q store.Queries) *schemaCache {
	return &schemaCache{store: q, byKey: map[string]*store.Schema{}}
}

func (s *schemaCache) get(ctx context.Context, name string) (*store.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if schema, ok := s.byKey[name]; ok {
		return schema, nil
	}
	schema, err := s.store.SchemaGet(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("load schema %s: %w", name, err)
	}
	s.byKey[name] = schema
	return schema, nil
}
