package acceptance

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// TestAccRegionsDataSource_ListsHealthyRegions reads dbfleet_regions and
// checks that it lists the three dev regions in the order dbfleetd's API
// does, healthy, with the server version PostgreSQL itself reports.
func TestAccRegionsDataSource_ListsHealthyRegions(t *testing.T) {
	setup(t, "acc_regions")
	resp := fleet.api().Do(t, http.MethodGet, "/v1/regions", nil)
	require.Equal(t, http.StatusOK, resp.Status, "GET /v1/regions: %s", resp.Body)
	var list apiv1.RegionList
	resp.Decode(t, &list)

	var names []string
	var regions []knownvalue.Check
	for _, r := range list.Regions {
		admin, ok := fleet.admin[r.Name]
		require.True(t, ok, "dbfleetd lists region %s, which is not a dev region", r.Name)
		var version string
		require.NoError(t, admin.QueryRow(context.Background(), `SHOW server_version`).Scan(&version))
		names = append(names, r.Name)
		regions = append(regions, knownvalue.ObjectPartial(map[string]knownvalue.Check{
			"name":           knownvalue.StringExact(r.Name),
			"healthy":        knownvalue.Bool(true),
			"server_version": knownvalue.StringExact(version),
			"error":          knownvalue.Null(),
		}))
	}
	require.ElementsMatch(t, []string{"westeurope", "northeurope", "eastus"}, names)

	const address = "data.dbfleet_regions.all"
	resource.ParallelTest(t, testCase(t, []resource.TestStep{{
		Config: `data "dbfleet_regions" "all" {}`,
		ConfigStateChecks: []statecheck.StateCheck{
			statecheck.ExpectKnownValue(address, tfjsonpath.New("id"), knownvalue.StringExact(strings.Join(names, ","))),
			statecheck.ExpectKnownValue(address, tfjsonpath.New("regions"), knownvalue.ListExact(regions)),
		},
	}}))
}
