package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine/enginetest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
)

// TestConformance runs the engine's conformance and adversarial suite (enginetest) on every
// PostgreSQL build of DBFLEET_PG_VERSIONS (the machine's server when unset), with each kind of
// admin: a superuser and a managed-like role. One fleet of two regions per combination.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL clusters")
	}
	builds, err := devregions.ServerBuilds()
	require.NoError(t, err)
	dumps, err := pgbin.FindPgDumps(context.Background(), nil)
	require.NoError(t, err)
	vectors, paths := enginetest.Size()
	t.Logf("adversarial suite: %d vectors x %d paths = %d per combination", vectors, paths, vectors*paths)
	for _, build := range builds {
		for _, kind := range devregions.AdminKinds {
			t.Run(build.Name()+"/"+string(kind), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				dir := t.TempDir()
				names := []string{"westeurope", "eastus"}
				regions, err := devregions.Start(ctx, devregions.Options{
					DataDir: dir, Names: names, BinDir: build.BinDir, Admin: kind, Logger: zerolog.Nop(),
				})
				require.NoError(t, err)
				t.Cleanup(func() {
					if t.Failed() {
						logServerTails(t, regions.Regions())
					}
					_ = regions.Stop(context.Background())
					_ = devregions.RemoveClusters(dir, names...)
				})
				target := enginetest.Target{Source: names[0], Replica: names[1], SuperuserDSN: map[string]string{}, BackupDir: t.TempDir()}
				var cfgs []engine.RegionConfig
				for _, r := range regions.Regions() {
					cfgs = append(cfgs, engine.RegionConfig{Name: r.Name, AdminDSN: r.AdminDSN()})
					target.SuperuserDSN[r.Name] = r.SuperuserDSN()
					target.Admin = r.AdminUser
				}
				target.Fleet, err = engine.NewFleet(cfgs, engine.Options{PgDumps: dumps, MaxConnsPerRegion: 16})
				require.NoError(t, err)
				t.Cleanup(target.Fleet.Close)
				enginetest.Exercise(t, target)
			})
		}
	}
}

// logServerTails logs the end of each region's server log, where a replica's apply worker
// says why it does not catch up.
func logServerTails(t *testing.T, regions []devregions.Region) {
	for _, r := range regions {
		data, err := os.ReadFile(filepath.Join(r.ClusterDir, "postgres.log"))
		if err != nil {
			t.Logf("server log of %s: %v", r.Name, err)
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		t.Logf("end of the server log of %s:\n%s", r.Name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
}
