package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
)

// startRegion starts one dev region on build with an admin of kind and stops it when the test
// ends.
func startRegion(t *testing.T, build devregions.ServerBuild, kind devregions.AdminKind) devregions.Region {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, err := devregions.Start(ctx, devregions.Options{DataDir: dir, Names: []string{"capregion"}, BinDir: build.BinDir, Admin: kind,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, f.Stop(context.Background()))
		require.NoError(t, devregions.RemoveClusters(dir, "capregion"))
	})
	return f.Regions()[0]
}

// ownedDatabase starts a region with a superuser admin and an engine fleet
// on it, and makes database name there, owned by the role name_owner with
// password pw-name.
func ownedDatabase(t *testing.T, name string) (*engine.Fleet, devregions.Region, engine.Owner) {
	t.Helper()
	ctx := context.Background()
	r := startRegion(t, devregions.ServerBuild{}, devregions.AdminSuperuser)
	f, err := engine.NewFleet([]engine.RegionConfig{{Name: r.Name, AdminDSN: r.AdminDSN()}}, engine.Options{})
	require.NoError(t, err)
	t.Cleanup(f.Close)
	o := engine.Owner{Region: r.Name, Database: name, Role: name + "_owner", Password: "pw-" + name}
	require.NoError(t, f.RoleEnsure(ctx, r.Name, o.Role, o.Password))
	require.NoError(t, f.DatabaseEnsure(ctx, r.Name, o.Database, o.Role))
	return f, r, o
}

// TestManagedAdminCapabilities probes a region on every build DBFLEET_PG_VERSIONS lists, with a
// superuser and with a managed admin, and checks the probe against what the superuser reads of
// the server and against what each PostgreSQL version lets such an admin do.
func TestManagedAdminCapabilities(t *testing.T) {
	t.Parallel()
	builds, err := devregions.ServerBuilds()
	require.NoError(t, err)
	dumps, err := pgbin.FindPgDumps(context.Background(), nil)
	require.NoError(t, err)
	for _, b := range builds {
		for _, kind := range devregions.AdminKinds {
			t.Run(b.Name()+"/"+string(kind), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				r := startRegion(t, b, kind)
				super, err := pgx.Connect(ctx, r.SuperuserDSN())
				require.NoError(t, err)
				defer super.Close(ctx)
				var versionNum, slots int
				require.NoError(t, super.QueryRow(ctx, `SELECT current_setting('server_version_num')::int,
					current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots)::int`).Scan(&versionNum, &slots))
				major := versionNum / 10000

				// A TTL that never runs out while the test does: the second probe must come from the cache.
				fleet, err := engine.NewFleet([]engine.RegionConfig{{Name: "capregion", AdminDSN: r.AdminDSN()}},
					engine.Options{PgDumps: dumps, CapabilitiesTTL: time.Hour})
				require.NoError(t, err)
				defer fleet.Close()
				caps, err := fleet.RegionCapabilities(ctx, "capregion")
				require.NoError(t, err)
				require.Equal(t, versionNum, caps.ServerVersionNum)
				require.Equal(t, kind == devregions.AdminSuperuser, caps.Superuser)
				require.True(t, caps.CreateDB && caps.CreateRole && caps.Replication && caps.Monitor, "%+v", caps)
				require.Equal(t, major >= 16, caps.CreateSubscription)
				require.Equal(t, "logical", caps.WalLevel)
				require.Equal(t, slots, caps.FreeReplicationSlots)
				require.Positive(t, caps.FreeWalSenders)
				require.Positive(t, caps.FreeReplicationWorkers)
				require.Empty(t, caps.MissingForDatabases())

				managedBefore16 := kind == devregions.AdminManaged && major < 16
				require.Equal(t, managedBefore16, caps.MissingForPublishing() != nil, "%v", caps.MissingForPublishing())
				require.Equal(t, major < 15 || managedBefore16, caps.MissingForSubscribing() != nil, "%v", caps.MissingForSubscribing())

				want, ok := pgbin.PgDumpFor(dumps, major)
				require.Equal(t, ok, caps.PgDump != nil)
				if ok {
					require.Equal(t, want, *caps.PgDump)
					require.Empty(t, caps.MissingForFinalBackup())
				} else {
					require.Contains(t, caps.MissingForFinalBackup()[0], "pg_dump "+strconv.Itoa(major)+" or newer")
				}

				// Taking a slot shows in a fresh probe, not in the cached one.
				_, err = super.Exec(ctx, `SELECT pg_create_physical_replication_slot('captest')`)
				require.NoError(t, err)
				cached, err := fleet.RegionCapabilities(ctx, "capregion")
				require.NoError(t, err)
				require.Equal(t, slots, cached.FreeReplicationSlots)
				fresh, err := engine.NewFleet([]engine.RegionConfig{{Name: "capregion", AdminDSN: r.AdminDSN()}}, engine.Options{CapabilitiesTTL: time.Nanosecond})
				require.NoError(t, err)
				defer fresh.Close()
				for range 2 {
					probed, err := fresh.RegionCapabilities(ctx, "capregion")
					require.NoError(t, err)
					require.Equal(t, slots-1, probed.FreeReplicationSlots)
				}
			})
		}
	}
}

// TestDumpWithoutSuitablePgDump deletes nothing it could not back up: a fleet that has no
// pg_dump as new as the server refuses the dump with the missing pg_dump named, and writes no
// file; one that has dumps the database as its owner.
func TestDumpWithoutSuitablePgDump(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRegion(t, devregions.ServerBuild{}, devregions.AdminManaged)
	super, err := pgx.Connect(ctx, r.SuperuserDSN())
	require.NoError(t, err)
	defer super.Close(ctx)
	for _, stmt := range []string{`CREATE ROLE dumped_owner LOGIN PASSWORD 'owner-pw'`, `CREATE DATABASE dumped OWNER dumped_owner`} {
		_, err := super.Exec(ctx, stmt)
		require.NoError(t, err)
	}
	owner := engine.Owner{Region: "capregion", Database: "dumped", Role: "dumped_owner", Password: "owner-pw"}
	dumps, err := pgbin.FindPgDumps(ctx, nil)
	require.NoError(t, err)
	dir := t.TempDir()

	none, err := engine.NewFleet([]engine.RegionConfig{{Name: "capregion", AdminDSN: r.AdminDSN()}}, engine.Options{PgDumps: nil})
	require.NoError(t, err)
	defer none.Close()
	path := filepath.Join(dir, "none.dump")
	err = none.DatabaseDump(ctx, owner, path)
	var missing *engine.MissingError
	require.True(t, errors.As(err, &missing), "%v", err)
	require.Equal(t, "take a final backup", missing.Action)
	require.Contains(t, err.Error(), "none was found")
	require.Contains(t, err.Error(), "skip_final_backup = true")
	require.NoFileExists(t, path)

	some, err := engine.NewFleet([]engine.RegionConfig{{Name: "capregion", AdminDSN: r.AdminDSN()}}, engine.Options{PgDumps: dumps})
	require.NoError(t, err)
	defer some.Close()
	path = filepath.Join(dir, "owner.dump")
	require.NoError(t, some.DatabaseDump(ctx, owner, path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// As the owner, with the owner's password: a wrong one fails the dump.
	owner.Password = "wrong"
	err = some.DatabaseDump(ctx, owner, filepath.Join(dir, "wrong.dump"))
	require.ErrorContains(t, err, "password authentication failed for user \"dumped_owner\"")
}
