package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// TestConformancePublishesTablesAddedByMigrations replicates a database
// between two regions with a managed-like admin on every PostgreSQL 16+
// build of DBFLEET_PG_VERSIONS (before 16 such an admin may not create the
// replication role): the publication lists the application's tables, so a
// table a migration adds flows once PublicationEnsure ran again and the
// subscription was refreshed.
func TestConformancePublishesTablesAddedByMigrations(t *testing.T) {
	builds, err := devregions.ServerBuilds()
	require.NoError(t, err)
	for _, build := range builds {
		if build.Major != 0 && build.Major < 16 {
			continue
		}
		t.Run(build.Name(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := t.TempDir()
			names := []string{"westeurope", "eastus"}
			regions, err := devregions.Start(ctx, devregions.Options{
				DataDir: dir, Names: names, BinDir: build.BinDir, Admin: devregions.AdminManaged, Logger: zerolog.Nop(),
			})
			require.NoError(t, err)
			t.Cleanup(func() {
				_ = regions.Stop(context.Background())
				_ = devregions.RemoveClusters(dir, names...)
			})
			var cfgs []engine.RegionConfig
			for _, r := range regions.Regions() {
				cfgs = append(cfgs, engine.RegionConfig{Name: r.Name, AdminDSN: r.AdminDSN()})
			}
			f, err := engine.NewFleet(cfgs, engine.Options{})
			require.NoError(t, err)
			t.Cleanup(f.Close)
			caps, err := f.RegionCapabilities(ctx, "westeurope")
			require.NoError(t, err)
			if caps.Major() < 16 {
				t.Skipf("PostgreSQL %d: a managed admin may not create the replication role", caps.Major())
			}

			apply := func(region string, version int64, sql string) {
				t.Helper()
				conn, err := f.OpenOwner(ctx, engine.Owner{Region: region, Database: "orders", Role: "orders_owner", Password: "pw"})
				require.NoError(t, err)
				defer conn.Close(ctx)
				_, err = conn.Ledger(ctx)
				require.NoError(t, err)
				require.NoError(t, conn.MigrationApply(ctx, engine.Migration{Version: version, SQL: sql, Checksum: "c"}, "op"))
			}
			for _, region := range names {
				require.NoError(t, f.RoleEnsure(ctx, region, "orders_owner", "pw"))
				require.NoError(t, f.DatabaseEnsure(ctx, region, "orders", "orders_owner"))
				apply(region, 1, "CREATE TABLE items (id int PRIMARY KEY, v text)")
			}
			src := engine.Source{Region: "westeurope", Database: "orders", ReplPassword: "repl-pw"}
			require.NoError(t, f.PublicationEnsure(ctx, src.Region, src.Database, "orders_owner", src.ReplPassword))
			require.NoError(t, f.SubscriptionEnsure(ctx, "eastus", "orders", src))
			require.NoError(t, f.AwaitReplica(ctx, "eastus", "orders", src, 30*time.Second))

			// The replica moves first, as dbfleetd orders it.
			apply("eastus", 2, "CREATE TABLE parts (id int PRIMARY KEY)")
			apply("westeurope", 2, "CREATE TABLE parts (id int PRIMARY KEY); INSERT INTO parts VALUES (1), (2); INSERT INTO items VALUES (1, 'a')")
			require.NoError(t, f.PublicationEnsure(ctx, src.Region, src.Database, "orders_owner", src.ReplPassword))
			require.NoError(t, f.SubscriptionEnsure(ctx, "eastus", "orders", src))
			var last []engine.TableComparison
			require.Eventually(t, func() bool {
				cmp, err := f.CompareReplica(ctx, engine.Owner{Region: "westeurope", Database: "orders", Role: "orders_owner", Password: "pw"},
					engine.Owner{Region: "eastus", Database: "orders", Role: "orders_owner", Password: "pw"}, 100)
				if err != nil || len(cmp) != 2 {
					return false
				}
				last = cmp
				for _, c := range cmp {
					if c.SourceRows != c.ReplicaRows || len(c.Differing) > 0 || c.Problem != "" {
						return false
					}
				}
				return true
			}, 30*time.Second, 200*time.Millisecond, "replica of both tables: %+v", last)
			require.Equal(t, int64(2), last[1].ReplicaRows)
		})
	}
}

// TestConcurrentPublishers publishes one database from several goroutines at
// once, as replica creates of one source do: each must succeed.
func TestConcurrentPublishers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	t.Parallel()
	ctx := context.Background()
	f, r, o := ownedDatabase(t, "published")
	cfg, err := pgx.ParseConfig(r.AdminDSN())
	require.NoError(t, err)
	cfg.Database, cfg.User, cfg.Password = o.Database, o.Role, o.Password
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE items (id bigint PRIMARY KEY)")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	errs := make(chan error, 8)
	for range cap(errs) {
		go func() { errs <- f.PublicationEnsure(ctx, r.Name, o.Database, o.Role, "pw-replication") }()
	}
	for range cap(errs) {
		require.NoError(t, <-errs)
	}
}
