// Package enginetest is the engine's conformance and adversarial suite, exported so that it runs
// against any fleet of two regions (like River's riverdrivertest): Exercise plants, as a database
// owner would, every way we know of to get code run by dbfleet's admin (Vectors), then drives each
// admin path of the engine over that database (Paths) and checks after every path, as the
// region's superuser, that the planted code never ran with the admin's rights and that no role
// dbfleet made gained an attribute or a membership.
package enginetest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// Target is what Exercise runs against: a fleet of (at least) two regions of one server build.
type Target struct {
	// Fleet administers the regions with the admin role under test.
	Fleet *engine.Fleet
	// Source and Replica name the regions that hold the source database and its replica.
	Source, Replica string
	// SuperuserDSN maps each of the two regions to a DSN of its superuser (to its postgres
	// database), for what only a superuser may look at or do: snapshots, planting an object
	// owned by the admin, cleaning up.
	SuperuserDSN map[string]string
	// Admin is the admin role's name, the same in both regions.
	Admin string
	// BackupDir receives the dumps of the dump path.
	BackupDir string
}

// env is one vector's run: its database, owner and the superuser pools.
type env struct {
	t      *testing.T
	ctx    context.Context
	target Target
	vector Vector
	db     string
	owner  string
	pw     string
	super  map[string]*pgxpool.Pool
	caps   map[string]*engine.Capabilities
}

func (e *env) ownerOf(region string) engine.Owner {
	return engine.Owner{Region: region, Database: e.db, Role: e.owner, Password: e.pw}
}

func (e *env) src() engine.Source {
	return engine.Source{Region: e.target.Source, Database: e.db, ReplPassword: "repl-" + e.pw}
}

func (e *env) regions() []string { return []string{e.target.Replica, e.target.Source} }

// expand fills a vector's SQL template.
func (e *env) expand(sql string) string {
	return strings.NewReplacer(
		"{{owner}}", quote(e.owner),
		"{{db}}", quote(e.db),
		"{{admin}}", quote(e.target.Admin),
		"{{repl}}", quote(engine.ReplicationRoleName(e.db)),
		"{{vector}}", e.vector.Name,
	).Replace(sql)
}

func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// Size is how many vector × path combinations Exercise checks.
func Size() (vectors, paths int) { return len(Vectors), len(Paths) }

// Exercise runs every vector through every path against target, one parallel subtest per
// vector, each in its own database and owner role.
func Exercise(t *testing.T, target Target) {
	ctx := context.Background()
	super := map[string]*pgxpool.Pool{}
	caps := map[string]*engine.Capabilities{}
	for _, region := range []string{target.Source, target.Replica} {
		pool, err := pgxpool.New(ctx, target.SuperuserDSN[region])
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		super[region] = pool
		c, err := target.Fleet.RegionCapabilities(ctx, region)
		require.NoError(t, err)
		caps[region] = c
	}
	adminBefore := map[string]roleState{}
	rolesBefore := map[string][]string{}
	for region, pool := range super {
		adminBefore[region] = snapshotRole(t, ctx, pool, target.Admin)
		rows, err := pool.Query(ctx, `SELECT rolname::pg_catalog.text FROM pg_catalog.pg_roles`)
		require.NoError(t, err)
		rolesBefore[region], err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
	}
	// The admin becomes a member of the roles it creates (PostgreSQL 16 makes a CREATEROLE
	// creator one, and dbfleet's marker role); no other membership, nor attribute, may change.
	adminNow := func(region string) roleState {
		s := snapshotRole(t, ctx, super[region], target.Admin)
		s.MemberOf = slices.DeleteFunc(s.MemberOf, func(g string) bool { return !slices.Contains(rolesBefore[region], g) })
		return s
	}
	for i, v := range Vectors {
		t.Run(v.Name, func(t *testing.T) {
			if !v.Serial {
				t.Parallel()
			}
			e := &env{t: t, ctx: ctx, target: target, vector: v, super: super, caps: caps,
				db: fmt.Sprintf("iso_%02d", i), owner: fmt.Sprintf("iso_%02d_owner", i), pw: fmt.Sprintf("pw-%02d-Owner", i)}
			if v.Serial {
				// What it plants outside its database is removed before anything else runs.
				t.Cleanup(e.removeOutsidePlants)
			}
			tracked := newTracker(e)
			for _, p := range Paths {
				err := p.Run(e)
				var missing []string
				if p.Missing != nil {
					missing = p.Missing(e)
				}
				if len(missing) > 0 {
					var me *engine.MissingError
					require.ErrorAsf(t, err, &me, "path %s must refuse with a MissingError naming %v", p.Name, missing)
				} else {
					require.NoErrorf(t, err, "path %s", p.Name)
				}
				tracked.check(p.Name)
				for region := range super {
					require.Equalf(t, adminBefore[region], adminNow(region),
						"the admin role changed in %s after path %s", region, p.Name)
				}
			}
		})
	}
}

// backupPath is where the dump path writes.
func (e *env) backupPath() string {
	return filepath.Join(e.target.BackupDir, e.db+".dump")
}
