package daemon_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
)

// TestRegionCapabilities reads each region's capabilities from GET /v1/regions and
// /v1/regions/{name} and holds them to what the region's superuser reads of the server and to
// the pg_dump programs of the machine.
func TestRegionCapabilities(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dumps, err := pgbin.FindPgDumps(context.Background(), nil)
	require.NoError(t, err)
	var list apiv1.RegionList
	b.client.Do(t, http.MethodGet, "/v1/regions", nil).Decode(t, &list)
	require.Len(t, list.Regions, 2)
	for _, listed := range list.Regions {
		var r apiv1.Region
		b.client.Do(t, http.MethodGet, "/v1/regions/"+listed.Name, nil).Decode(t, &r)
		for _, got := range []apiv1.Region{listed, r} {
			c := got.Capabilities
			require.NotNil(t, c, "%+v", got)
			var versionNum int
			var walLevel string
			require.NoError(t, fleet.Admin(t, got.Name).QueryRow(context.Background(),
				`SELECT current_setting('server_version_num')::int, current_setting('wal_level')`).Scan(&versionNum, &walLevel))
			require.Equal(t, versionNum, c.ServerVersionNum)
			require.Equal(t, got.ServerVersion, c.ServerVersion)
			require.Equal(t, walLevel, c.WalLevel)
			require.Equal(t, fleet.Region(t, got.Name).AdminKind == devregions.AdminSuperuser, c.Superuser)
			require.True(t, c.Rights.CreateDB && c.Rights.CreateRole && c.Rights.Replication && c.Rights.PgMonitor, "%+v", c.Rights)
			require.True(t, c.CanCreateDatabases)
			require.Empty(t, c.MissingForDatabases)
			require.Equal(t, c.CanHoldReplicas, len(c.MissingForReplicas) == 0)
			require.Equal(t, c.CanPublish, len(c.MissingForPublishing) == 0)
			want, ok := pgbin.PgDumpFor(dumps, versionNum/10000)
			require.Equal(t, ok, c.CanTakeFinalBackups)
			if ok {
				require.Equal(t, &apiv1.PgDump{Path: want.Path, Version: want.Version}, c.PgDump)
			} else {
				require.Nil(t, c.PgDump)
				require.NotEmpty(t, c.MissingForFinalBackups)
			}
		}
	}
}

// TestPlanRefusesReplicaWhereRegionCannot runs a managed admin on a PostgreSQL older than 16,
// where only a superuser may create a subscription: a replica is refused at :plan and at PUT
// with 409 failed_precondition naming the region and the missing right, and nothing is
// recorded; the source itself is fine.
func TestPlanRefusesReplicaWhereRegionCannot(t *testing.T) {
	t.Parallel()
	build := olderThan16(t)
	managed, err := daemontest.StartFleetWith(daemontest.FleetOptions{Names: []string{"westeurope", "eastus"}, BinDir: build.BinDir, Admin: devregions.AdminManaged})
	require.NoError(t, err)
	t.Cleanup(managed.Stop)
	var versionNum int
	require.NoError(t, managed.Admin(t, "eastus").QueryRow(context.Background(), `SELECT current_setting('server_version_num')::int`).Scan(&versionNum))
	require.Less(t, versionNum, 160000, "the build %+v runs PostgreSQL %d, where a managed admin may hold replicas", build, versionNum)
	b := setupOn(t, managed)
	name := daemontest.UniqueName("nosub")
	b.create(t, "westeurope", name, apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true})

	replica := apiv1.DatabaseSpec{ReplicaOf: "westeurope", DeletionProtection: new(false), SkipFinalBackup: true}
	for _, call := range []struct{ method, path string }{
		{http.MethodPost, "/v1/databases/eastus/" + name + ":plan"},
		{http.MethodPut, "/v1/databases/eastus/" + name},
	} {
		resp := b.client.Do(t, call.method, call.path, replica)
		require.Equal(t, http.StatusConflict, resp.Status, "%s %s: %s", call.method, call.path, resp.Body)
		var body apiv1.ErrorResponse
		resp.Decode(t, &body)
		require.Equal(t, apiv1.CodeFailedPrecondition, body.Error.Code)
		require.Equal(t, "replica_of", body.Error.Details[apiv1.DetailField])
		require.Equal(t, "eastus", body.Error.Details[apiv1.DetailRegion])
		require.Equal(t, "hold replicas", body.Error.Details[apiv1.DetailAction])
		require.Contains(t, body.Error.Details[apiv1.DetailMissing], "superuser")
		require.Contains(t, body.Error.Message, "region eastus cannot hold replicas")
	}
	resp := b.client.Do(t, http.MethodGet, "/v1/databases/eastus/"+name, nil)
	require.Equal(t, http.StatusNotFound, resp.Status, "the refused PUT recorded nothing: %s", resp.Body)
	require.False(t, daemontest.DatabaseExists(t, managed.Admin(t, "eastus"), name))
}

// olderThan16 is a PostgreSQL build older than 16: one DBFLEET_PG_VERSIONS lists, or the
// machine's (Debian's 15).
func olderThan16(t *testing.T) devregions.ServerBuild {
	t.Helper()
	builds, err := devregions.ServerBuilds()
	require.NoError(t, err)
	i := slices.IndexFunc(builds, func(b devregions.ServerBuild) bool { return b.Major == 0 || b.Major < 16 })
	if i < 0 {
		return devregions.ServerBuild{}
	}
	return builds[i]
}
