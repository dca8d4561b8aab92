package acceptance

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
)

// capabilities returns what dbfleetd probed of region: the tests whose feature a region cannot
// have (replicas on a managed admin before PostgreSQL 16, final backups of a server newer than
// every pg_dump) expect the plan-time refusal then, rather than skipping.
func capabilities(t *testing.T, region string) apiv1.RegionCapabilities {
	t.Helper()
	resp := fleet.api().Do(t, http.MethodGet, "/v1/regions/"+region, nil)
	require.Equal(t, http.StatusOK, resp.Status, "GET /v1/regions/%s: %s", region, resp.Body)
	var r apiv1.Region
	resp.Decode(t, &r)
	require.NotNil(t, r.Capabilities, "region %s answers, with its capabilities: %+v", region, r)
	return *r.Capabilities
}

// missingParts is what a region lacks (one of its missing_for_* lists) as parts of a
// diagnostic: the text up to each parenthesis, which Terraform renders as dbfleetd wrote it.
func missingParts(missing []string) []string {
	parts := make([]string, len(missing))
	for i, m := range missing {
		parts[i], _, _ = strings.Cut(m, " (")
	}
	return parts
}

// replicaRefusal is the plan error of a replica in region of a database in source when the
// regions' capabilities rule it out, or nil when they allow it.
func replicaRefusal(t *testing.T, region, source string) *regexp.Regexp {
	t.Helper()
	if c := capabilities(t, region); !c.CanHoldReplicas {
		return diagnostic(append([]string{"Region Cannot Replicate", "region " + region + " cannot hold replicas: missing"},
			missingParts(c.MissingForReplicas)...)...)
	}
	if c := capabilities(t, source); !c.CanPublish {
		return diagnostic(append([]string{"Region Cannot Replicate", "region " + source + " cannot be the source of replicas: missing"},
			missingParts(c.MissingForPublishing)...)...)
	}
	return nil
}

// TestAccRegionsDataSource_ShowsCapabilities reads dbfleet_regions and checks that each region's
// capabilities are what dbfleetd's API says: server version, superuser, rights, wal_level, the
// pg_dump chosen for the server (or null), and what the region can and cannot do. The free
// slot, sender and worker counts move with the tests running beside it; they are only known.
func TestAccRegionsDataSource_ShowsCapabilities(t *testing.T) {
	setup(t, "acc_capabilities")
	var list apiv1.RegionList
	fleet.api().Do(t, http.MethodGet, "/v1/regions", nil).Decode(t, &list)
	strs := func(ss []string) knownvalue.Check {
		checks := make([]knownvalue.Check, len(ss))
		for i, s := range ss {
			checks[i] = knownvalue.StringExact(s)
		}
		return knownvalue.ListExact(checks)
	}
	var regions []knownvalue.Check
	for _, r := range list.Regions {
		c := r.Capabilities
		require.NotNil(t, c, "%+v", r)
		require.Equal(t, fleet.regions[r.Name].AdminKind == "superuser", c.Superuser, "region %s", r.Name)
		var pgDump knownvalue.Check = knownvalue.Null()
		if c.PgDump != nil {
			pgDump = knownvalue.ObjectExact(map[string]knownvalue.Check{
				"path": knownvalue.StringExact(c.PgDump.Path), "version": knownvalue.StringExact(c.PgDump.Version),
			})
		}
		regions = append(regions, knownvalue.ObjectPartial(map[string]knownvalue.Check{
			"name": knownvalue.StringExact(r.Name),
			"capabilities": knownvalue.ObjectPartial(map[string]knownvalue.Check{
				"server_version":     knownvalue.StringExact(c.ServerVersion),
				"server_version_num": knownvalue.Int64Exact(int64(c.ServerVersionNum)),
				"superuser":          knownvalue.Bool(c.Superuser),
				"rights": knownvalue.ObjectExact(map[string]knownvalue.Check{
					"createdb": knownvalue.Bool(true), "createrole": knownvalue.Bool(true), "replication": knownvalue.Bool(true),
					"pg_monitor": knownvalue.Bool(true), "pg_create_subscription": knownvalue.Bool(c.Rights.PgCreateSubscription),
				}),
				"wal_level":                 knownvalue.StringExact("logical"),
				"free_replication_slots":    knownvalue.NotNull(),
				"free_wal_senders":          knownvalue.NotNull(),
				"free_replication_workers":  knownvalue.NotNull(),
				"pg_dump":                   pgDump,
				"can_create_databases":      knownvalue.Bool(true),
				"missing_for_databases":     knownvalue.ListExact([]knownvalue.Check{}),
				"can_publish":               knownvalue.Bool(c.CanPublish),
				"missing_for_publishing":    strs(c.MissingForPublishing),
				"can_hold_replicas":         knownvalue.Bool(c.CanHoldReplicas),
				"missing_for_replicas":      strs(c.MissingForReplicas),
				"can_take_final_backups":    knownvalue.Bool(c.PgDump != nil),
				"missing_for_final_backups": strs(c.MissingForFinalBackups),
			}),
		}))
	}
	resource.ParallelTest(t, testCase(t, []resource.TestStep{{
		Config: `data "dbfleet_regions" "all" {}`,
		ConfigStateChecks: []statecheck.StateCheck{
			statecheck.ExpectKnownValue("data.dbfleet_regions.all", tfjsonpath.New("regions"), knownvalue.ListExact(regions)),
		},
	}}))
}

// TestAccDatabase_PlanRefusesTakenName puts, as the region's superuser, a database or a role in
// the way of a dbfleet_database: terraform plan fails on its name with name_taken, naming the
// object, and the object is left as it was.
func TestAccDatabase_PlanRefusesTakenName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// plant makes the object in the way of database name and says how the error names it.
		plant func(name string) (sql, cleanup, object string)
	}{
		{"Database", func(name string) (string, string, string) {
			return "CREATE DATABASE " + name, "DROP DATABASE " + name, "database " + name + " already exists in region westeurope"
		}},
		{"OwnerRole", func(name string) (string, string, string) {
			role := ops.OwnerRoleName(name)
			return "CREATE ROLE " + role + " CREATEDB", "DROP ROLE " + role, "role " + role + " already exists in region westeurope"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := setup(t, "acc_taken")
			db.protected = new(false)
			admin := fleet.admin[db.region]
			ctx := context.Background()
			plant, cleanup, object := tc.plant(db.name)
			_, err := admin.Exec(ctx, plant)
			require.NoError(t, err)
			t.Cleanup(func() {
				_, err := admin.Exec(ctx, cleanup)
				require.NoError(t, err, "the planted object is still there, untouched")
			})
			resource.ParallelTest(t, testCase(t, []resource.TestStep{{
				Config:   db.config(),
				PlanOnly: true,
				ExpectError: diagnostic("Name Taken", fmt.Sprintf(`dbfleetd refused database %q in region %q`, db.name, db.region),
					"(name_taken)", object, "Choose another name"),
			}}))
			require.Equal(t, 404, fleet.api().Do(t, http.MethodGet, databasePath(db.region, db.name), nil).Status, "nothing recorded")
		})
	}
}
