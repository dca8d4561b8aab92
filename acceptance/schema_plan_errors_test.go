package acceptance

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

// refusedAtPlan matches a diagnostic, as diagnostic does, that Terraform
// reported while planning: the framework reports a failed plan as "Error
// running pre-apply plan", so matching it proves that nothing was applied.
func refusedAtPlan(parts ...string) *regexp.Regexp {
	return regexp.MustCompile(`Error running pre-apply plan[\s\S]*` + diagnostic(parts...).String())
}

// TestAccSchema_PlanRefusesBadSQL plans a schema whose second migration
// has a syntax error on its third line: the plan fails, naming the version
// and the line, because dbfleetd dry-runs the migrations in a scratch
// database; nothing is published.
func TestAccSchema_PlanRefusesBadSQL(t *testing.T) {
	setup(t, "acc_bad_sql")
	cfg := rolloutConfig{
		schema: daemontest.UniqueName("acc_bad_sql"),
		migrations: []migration{
			{version: 1, up: "CREATE TABLE a (id int)"},
			{version: 2, up: "CREATE TABLE b (id int);\n\nCREAT TABLE c (id int);"},
		},
	}
	resource.ParallelTest(t, testCase(t, []resource.TestStep{{
		Config: cfg.config(),
		ExpectError: refusedAtPlan("Invalid Migration", "migration 2, line 3:", `syntax error at or near "CREAT"`,
			"dbfleetd ran the migrations in a scratch database in region westeurope and rolled it back"),
	}}))
	require.Error(t, apiGet(context.Background(), schemaPath(cfg.schema), new(struct{})), "a schema that failed its plan was published")
}

// TestAccSchema_PlanRefusesChangedPublishedMigration changes the SQL of a
// version only once a database has run it: changing version 2 while the
// database is pinned to version 1 is allowed, changing version 1, which it
// ran, fails the plan with an error that names the version.
func TestAccSchema_PlanRefusesChangedPublishedMigration(t *testing.T) {
	name := setup(t, "acc_published").name
	v1 := migration{version: 1, up: "CREATE TABLE a (id int)"}
	cfg := rolloutConfig{
		schema:     daemontest.UniqueName("acc_published"),
		migrations: []migration{v1},
		database:   name,
		region:     "westeurope",
		version:    1,
	}
	published := cfg.withMigrations(v1, migration{version: 2, up: "CREATE TABLE b (id int)"})
	unpublishedChanged := cfg.withMigrations(v1, migration{version: 2, up: "CREATE TABLE b (id bigint)"})
	publishedChanged := cfg.withMigrations(migration{version: 1, up: "CREATE TABLE a (id bigint)"}, unpublishedChanged.migrations[1])

	resource.ParallelTest(t, testCase(t, []resource.TestStep{
		{Config: cfg.config()},
		{Config: published.config()},
		{
			Config: unpublishedChanged.config(),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(schemaAddress, plancheck.ResourceActionUpdate),
			}},
		},
		{
			Config: publishedChanged.config(),
			ExpectError: refusedAtPlan("Published Migration Changed",
				"migration 1: migration 1 has been run by a database, so its up SQL is immutable",
				"A database has run version 1, so it can no longer change or go away"),
		},
	}))
}

// TestAccDatabase_PlanRefusesUnknownParameter plans databases with a
// parameter that is not on the allow-list, and with one whose value is
// not of its form: each plan fails with an error that names the parameter,
// and nothing is created.
func TestAccDatabase_PlanRefusesUnknownParameter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		parameters string
		want       *regexp.Regexp
	}{
		{
			name:       "NotAllowed",
			parameters: `shared_buffers = "1GB", statement_timeout = "30s"`,
			want: diagnostic("Invalid Database Parameter", `Database parameter "shared_buffers" cannot be set`,
				`parameter "shared_buffers" is not allowed; allowed parameters:`),
		},
		{
			name:       "BadValue",
			parameters: `work_mem = "lots"`,
			want:       diagnostic("Invalid Database Parameter", `Database parameter "work_mem" cannot be set`, `work_mem = "lots" is not valid`),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := setup(t, "acc_parameter")
			config := fmt.Sprintf("resource \"dbfleet_database\" \"test\" {\n  region     = %q\n  name       = %q\n  parameters = { %s }\n}\n",
				db.region, db.name, tc.parameters)
			resource.ParallelTest(t, testCase(t, []resource.TestStep{{
				Config:      config,
				ExpectError: regexp.MustCompile(`Error running pre-apply plan[\s\S]*` + tc.want.String()),
			}}))
			require.False(t, daemontest.DatabaseExists(t, fleet.admin[db.region], db.name), "database %s was created", db.id())
		})
	}
}

// TestAccDatabase_PlanRefusesDowngradeWithoutDown lowers schema_version
// past a version without down SQL: the plan fails, naming the version, and
// the ledger in PostgreSQL is untouched. Once the version has down SQL,
// the same downgrade applies and runs it.
func TestAccDatabase_PlanRefusesDowngradeWithoutDown(t *testing.T) {
	name := setup(t, "acc_downgrade").name
	v1 := migration{version: 1, up: "CREATE TABLE a (id int)", down: "DROP TABLE a"}
	cfg := rolloutConfig{
		schema:     daemontest.UniqueName("acc_downgrade"),
		migrations: []migration{v1, {version: 2, up: "CREATE TABLE b (id int)"}},
		database:   name,
		region:     "westeurope",
		version:    2,
	}
	downgrade := cfg
	downgrade.version = 1
	withDown := cfg.withMigrations(v1, migration{version: 2, up: "CREATE TABLE b (id int)", down: "DROP TABLE b"})
	downgradeWithDown := withDown
	downgradeWithDown.version = 1

	resource.ParallelTest(t, testCase(t, []resource.TestStep{
		{Config: cfg.config()},
		{
			Config: downgrade.config(),
			ExpectError: refusedAtPlan("Downgrade Impossible",
				fmt.Sprintf("dbfleetd cannot move database %q in region %q down to version 1 of schema %q", name, "westeurope", cfg.schema),
				fmt.Sprintf("migration 2 of schema %s has no down SQL", cfg.schema)),
		},
		{
			PreConfig: func() {
				require.NoError(t, checkLedgerVersions(name, []string{"westeurope"}, 1, 2), "a refused downgrade changed the ledger")
			},
			// Down SQL is not part of a version's published checksum.
			Config: withDown.config(),
		},
		{
			Config: downgradeWithDown.config(),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(databaseAddress, plancheck.ResourceActionUpdate),
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(databaseAddress, tfjsonpath.New("schema_version"), knownvalue.Int64Exact(1)),
				statecheck.ExpectKnownValue(databaseAddress, tfjsonpath.New("applied_version"), knownvalue.Int64Exact(1)),
				stateCheck(func(*tfjson.State) error {
					if err := checkLedgerVersions(name, []string{"westeurope"}, 1); err != nil {
						return err
					}
					if exists, _, err := relationExists("westeurope", name, "b"); err != nil || exists {
						return fmt.Errorf("table b of version 2 exists after the downgrade (err: %v)", err)
					}
					return nil
				}),
			},
		},
	}))
}
