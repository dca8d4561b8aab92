package acceptance

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

// identityConfig is a schema and a database on it.
func identityConfig(d database, schemaName string) string {
	return fmt.Sprintf(`resource "dbfleet_schema" "test" {
  name = %q

  migrations = [
    {
      version = 1
      up      = "CREATE TABLE items (id bigint PRIMARY KEY)"
    },
  ]
}

resource "dbfleet_database" "test" {
  region              = %q
  name                = %q
  schema              = dbfleet_schema.test.name
  deletion_protection = false
  skip_final_backup   = true
}
`, schemaName, d.region, d.name)
}

// TestAccIdentity_ImportByIdentityAndByID checks, under a CLI with resource
// identities (Terraform 1.12+, OpenTofu 1.12+), that the state holds each
// resource's identity (a database's region and name, a schema's name), that
// an import block with that identity imports each and plans no change, and
// that import by ID, with the command and with an import block, still does.
func TestAccIdentity_ImportByIdentityAndByID(t *testing.T) {
	d := setup(t, "acc_identity")
	cli := detectCLI(t)
	if !cli.resourceIdentity() {
		t.Skipf("%s has no resource identities (Terraform 1.12+, OpenTofu 1.12+); import by ID is tested by TestAccDatabase_Import", cli)
	}
	schemaName := daemontest.UniqueName("acc_identity")
	config := identityConfig(d, schemaName)
	steps := []resource.TestStep{{
		Config: config,
		ConfigStateChecks: []statecheck.StateCheck{
			statecheck.ExpectIdentity(databaseAddress, map[string]knownvalue.Check{
				"region": knownvalue.StringExact(d.region),
				"name":   knownvalue.StringExact(d.name),
			}),
			statecheck.ExpectIdentityValueMatchesState(databaseAddress, tfjsonpath.New("region")),
			statecheck.ExpectIdentityValueMatchesState(databaseAddress, tfjsonpath.New("name")),
			statecheck.ExpectIdentity(schemaAddress, map[string]knownvalue.Check{
				"name": knownvalue.StringExact(schemaName),
			}),
		},
	}}
	for _, address := range []string{databaseAddress, schemaAddress} {
		steps = append(steps,
			resource.TestStep{
				Config:          config,
				ResourceName:    address,
				ImportState:     true,
				ImportStateKind: resource.ImportBlockWithResourceIdentity,
			},
			resource.TestStep{
				Config:          config,
				ResourceName:    address,
				ImportState:     true,
				ImportStateKind: resource.ImportBlockWithID,
			},
			resource.TestStep{
				Config:            config,
				ResourceName:      address,
				ImportState:       true,
				ImportStateVerify: true,
				// The reconciler may check the database between the create
				// and the import, adding its conditions.
				ImportStateVerifyIgnore: []string{"conditions"},
			},
		)
	}
	resource.ParallelTest(t, testCase(t, steps))
}
