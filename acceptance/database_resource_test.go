package acceptance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

// TestAccDatabase_CreatesInEveryRegion applies the stamp pattern, one
// database per region with for_each, and checks that each is ready and that
// its owner can log in with the password from state.
//
// The legacy state that Check and CheckDestroy get cannot hold for_each
// instances (terraform-plugin-testing fails to build it), so the checks are
// state checks and the last step removes the databases from the
// configuration and asks PostgreSQL that they are gone.
func TestAccDatabase_CreatesInEveryRegion(t *testing.T) {
	name := setup(t, "acc_every_region").name
	config := fmt.Sprintf(`resource "dbfleet_database" "test" {
  for_each = toset(["westeurope", "northeurope", "eastus"])

  region              = each.key
  name                = %q
  deletion_protection = false
  skip_final_backup   = true
}
`, name)

	var creates, destroys []plancheck.PlanCheck
	var ready []statecheck.StateCheck
	for _, region := range []string{"westeurope", "northeurope", "eastus"} {
		address := fmt.Sprintf("%s[%q]", databaseAddress, region)
		server := fleet.regions[region]
		creates = append(creates, plancheck.ExpectResourceAction(address, plancheck.ResourceActionCreate))
		destroys = append(destroys, plancheck.ExpectResourceAction(address, plancheck.ResourceActionDestroy))
		ready = append(ready,
			statecheck.ExpectKnownValue(address, tfjsonpath.New("id"), knownvalue.StringExact(region+"/"+name)),
			statecheck.ExpectKnownValue(address, tfjsonpath.New("status"), knownvalue.StringExact(apiv1.DatabaseStatusReady)),
			statecheck.ExpectKnownValue(address, tfjsonpath.New("host"), knownvalue.StringExact(server.Host)),
			statecheck.ExpectKnownValue(address, tfjsonpath.New("port"), knownvalue.Int64Exact(int64(server.Port))),
			statecheck.ExpectKnownValue(address, tfjsonpath.New("owner"), knownvalue.NotNull()),
			statecheck.ExpectKnownValue(address, tfjsonpath.New("password"), knownvalue.NotNull()),
			statecheck.ExpectSensitiveValue(address, tfjsonpath.New("password")),
		)
	}
	var created []dbInstance
	ready = append(ready, checkOwnersConnect(), stateCheck(func(state *tfjson.State) error {
		created = instancesOf(state)
		return nil
	}))

	resource.ParallelTest(t, testCase(t, []resource.TestStep{
		{
			Config:            config,
			ConfigPlanChecks:  resource.ConfigPlanChecks{PreApply: creates},
			ConfigStateChecks: ready,
		},
		{
			Config:           withoutDatabases,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: destroys},
			ConfigStateChecks: []statecheck.StateCheck{stateCheck(func(*tfjson.State) error {
				if len(created) != 3 {
					return fmt.Errorf("the first step saw %d databases, want 3", len(created))
				}
				var errs []error
				for _, db := range created {
					errs = append(errs, checkGone(t, db))
				}
				return errors.Join(errs...)
			})},
		},
	}))
}

// TestAccDatabase_DeletionProtection checks that deletion protection is on
// by default, that every plan that would delete a protected database fails
// at plan time, and that turning protection off is an in-place update.
func TestAccDatabase_DeletionProtection(t *testing.T) {
	db := setup(t, "acc_protection")
	unprotected := db
	unprotected.protected = new(false)
	renamed := db
	renamed.name += "_renamed"
	moved := db
	moved.region = "eastus"
	samePassword := statecheck.CompareValue(compare.ValuesSame())

	steps := []resource.TestStep{{
		Config: db.config(),
		ConfigStateChecks: []statecheck.StateCheck{
			statecheck.ExpectKnownValue(databaseAddress, tfjsonpath.New("deletion_protection"), knownvalue.Bool(true)),
			samePassword.AddStateValue(databaseAddress, tfjsonpath.New("password")),
		},
	}}
	for _, refused := range []struct {
		name    string
		config  string
		destroy bool
		want    *regexp.Regexp
	}{
		{
			name:   "RemovedFromConfiguration",
			config: withoutDatabases,
			want:   diagnostic("Database Is Deletion Protected", fmt.Sprintf("This plan destroys database %q in region %q", db.name, db.region)),
		},
		{
			name:    "Destroyed",
			config:  db.config(),
			destroy: true,
			want:    diagnostic("Database Is Deletion Protected", fmt.Sprintf("This plan destroys database %q in region %q", db.name, db.region)),
		},
		{
			name:   "Renamed",
			config: renamed.config(),
			want:   diagnostic("Database Is Deletion Protected", "Changing name replaces database", "first apply deletion_protection = false"),
		},
		{
			name:   "MovedToAnotherRegion",
			config: moved.config(),
			want:   diagnostic("Database Is Deletion Protected", "Changing region replaces database", "first apply deletion_protection = false"),
		},
	} {
		// The framework reports a failed plan as "Error running pre-apply
		// plan": matching it proves the refusal came before any apply.
		steps = append(steps, resource.TestStep{
			Config:      refused.config,
			Destroy:     refused.destroy,
			ExpectError: regexp.MustCompile(`Error running pre-apply plan[\s\S]*` + refused.want.String()),
		})
	}
	steps = append(steps, resource.TestStep{
		PreConfig: func() {
			require.True(t, daemontest.DatabaseExists(t, fleet.admin[db.region], db.name),
				"database %s is gone from PostgreSQL after plans that were refused", db.id())
		},
		Config: unprotected.config(),
		ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
			plancheck.ExpectResourceAction(databaseAddress, plancheck.ResourceActionUpdate),
		}},
		ConfigStateChecks: []statecheck.StateCheck{
			statecheck.ExpectKnownValue(databaseAddress, tfjsonpath.New("deletion_protection"), knownvalue.Bool(false)),
			samePassword.AddStateValue(databaseAddress, tfjsonpath.New("password")),
			checkOwnersConnect(),
		},
	})

	resource.ParallelTest(t, testCase(t, steps))
}

// TestAccDatabase_Import imports a database by region/name, with the
// terraform import command and with an import block, and refuses IDs that
// are malformed or name no database.
func TestAccDatabase_Import(t *testing.T) {
	db := setup(t, "acc_import")
	db.protected = new(false)

	steps := []resource.TestStep{{Config: db.config()}}
	for _, bad := range []struct {
		id   string
		want *regexp.Regexp
	}{
		{"nope", diagnostic("Invalid Import ID", `expected an import ID of the form region/name`, `got "nope"`)},
		{"westeurope/Orders", diagnostic("Invalid Import ID", `got "westeurope/Orders"`)},
		{"westeurope/" + db.name + "/extra", diagnostic("Invalid Import ID")},
		{db.id() + "_missing", diagnostic("Cannot import non-existent remote object")},
		{"mars/" + db.name, diagnostic("Cannot import non-existent remote object")},
	} {
		steps = append(steps, resource.TestStep{
			ResourceName:  databaseAddress,
			ImportState:   true,
			ImportStateId: bad.id,
			ExpectError:   bad.want,
		})
	}
	steps = append(steps,
		resource.TestStep{
			ResourceName:      databaseAddress,
			ImportState:       true,
			ImportStateId:     db.id(),
			ImportStateVerify: true,
			// The reconciler may have checked the database between the
			// create and the import, adding its conditions.
			ImportStateVerifyIgnore: []string{"conditions"},
		},
		resource.TestStep{
			// A plannable import: the plan must import and change nothing.
			ResourceName:    databaseAddress,
			ImportState:     true,
			ImportStateKind: resource.ImportBlockWithID,
			ImportStateId:   db.id(),
		},
	)

	resource.ParallelTest(t, testCase(t, steps))
}

// TestAccDatabase_Destroy destroys a database and asks PostgreSQL that it
// and its owner are gone; dbfleetd keeps a pg_dump of it unless
// skip_final_backup is true.
func TestAccDatabase_Destroy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		keepFinalBackup bool
	}{
		{"KeepsFinalBackup", true},
		{"SkipsFinalBackup", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := setup(t, "acc_destroy")
			db.protected = new(false)
			db.keepFinalBackup = tc.keepFinalBackup
			if c := capabilities(t, db.region); tc.keepFinalBackup && !c.CanTakeFinalBackups {
				refuseUnbackedDestroy(t, db, c)
				return
			}
			resource.ParallelTest(t, testCase(t,
				[]resource.TestStep{{Config: db.config(), ConfigStateChecks: []statecheck.StateCheck{writeOrders()}}},
				checkFinalBackup(db, tc.keepFinalBackup),
			))
		})
	}
}

// refuseUnbackedDestroy destroys d in a region whose server is newer than every pg_dump dbfleetd
// found: terraform destroy fails at plan time naming the pg_dump it needs, and so does the API's
// DELETE, and nothing is dropped; once skip_final_backup = true is applied, the destroy goes
// through without a backup.
func refuseUnbackedDestroy(t *testing.T, d database, c apiv1.RegionCapabilities) {
	skipping := d
	skipping.keepFinalBackup = false
	resource.ParallelTest(t, testCase(t, []resource.TestStep{
		{Config: d.config(), ConfigStateChecks: []statecheck.StateCheck{writeOrders()}},
		{
			Config:  d.config(),
			Destroy: true,
			ExpectError: diagnostic("Final Backup Impossible", fmt.Sprintf("region %q cannot", d.region),
				fmt.Sprintf("pg_dump %d or newer (the server runs PostgreSQL %s", c.ServerVersionNum/10000, c.ServerVersion),
				"set skip_final_backup = true"),
		},
		{
			PreConfig: func() {
				resp := fleet.api().Do(t, http.MethodDelete, databasePath(d.region, d.name), nil)
				require.Equal(t, http.StatusConflict, resp.Status, "DELETE %s: %s", d.id(), resp.Body)
				var body apiv1.ErrorResponse
				resp.Decode(t, &body)
				require.Equal(t, apiv1.CodeFailedPrecondition, body.Error.Code)
				require.Equal(t, "skip_final_backup", body.Error.Details[apiv1.DetailField])
				require.Contains(t, body.Error.Message, "install pg_dump")
				require.Equal(t, apiv1.DatabaseStatusReady, getDatabase(t, d).Status, "the refused deletes dropped nothing")
			},
			Config: skipping.config(),
		},
	}, checkFinalBackup(d, false)))
}

// TestAccDatabase_RemovedOutsideTerraform deletes a database through
// dbfleetd's API behind Terraform's back: the next plan must notice that it
// is gone (Read removes it from state) and create it again.
func TestAccDatabase_RemovedOutsideTerraform(t *testing.T) {
	db := setup(t, "acc_removed")
	unprotected := db
	unprotected.protected = new(false)
	newPassword := statecheck.CompareValue(compare.ValuesDiffer())

	resource.ParallelTest(t, testCase(t, []resource.TestStep{
		{
			Config:            db.config(),
			ConfigStateChecks: []statecheck.StateCheck{newPassword.AddStateValue(databaseAddress, tfjsonpath.New("password"))},
		},
		{
			PreConfig: func() { deleteThroughAPI(t, db) },
			Config:    db.config(),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(databaseAddress, plancheck.ResourceActionCreate),
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				newPassword.AddStateValue(databaseAddress, tfjsonpath.New("password")),
				checkOwnersConnect(),
			},
		},
		{Config: unprotected.config()},
	}))
}

// TestAccDatabase_FailedCreateIsTainted makes the create operation fail in
// PostgreSQL and checks that the database stays tracked, by Terraform as a
// tainted resource that the next plan replaces and by dbfleetd as failed,
// and that destroying it leaves nothing behind.
//
// The failure is real: someone else creates a database of that name after
// the plan and the PUT found the name free (which they check, see
// TestAccDatabase_PlanRefusesTakenName), while the create operation waits
// to make the owner role, and dbfleetd refuses to take it over.
func TestAccDatabase_FailedCreateIsTainted(t *testing.T) {
	db := setup(t, "acc_foreign")
	db.protected = new(false)
	admin := fleet.admin[db.region]
	ctx := context.Background()
	foreignOwner := func() string {
		var owner string
		require.NoError(t, admin.QueryRow(ctx, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1`, db.name).Scan(&owner))
		return owner
	}
	planted := make(chan error, 1)

	resource.ParallelTest(t, testCase(t, []resource.TestStep{
		{
			PreConfig: func() { plantWhileRoleWaits(t, db, planted) },
			Config:    db.config(),
			ExpectError: diagnostic("Unable to Create Database", "Error code: name_taken",
				"was not created by dbfleet", "Terraform keeps the database in state as tainted"),
		},
		{
			PreConfig: func() {
				require.NoError(t, <-planted, "the foreign database was made while the create waited")
				got := getDatabase(t, db)
				require.Equal(t, apiv1.DatabaseStatusFailed, got.Status, "dbfleetd's status of %s", db.id())
				require.Equal(t, fleet.regions[db.region].SuperuserUser, foreignOwner(), "dbfleetd took over the foreign database %s", db.id())
				_, err := admin.Exec(ctx, "DROP DATABASE "+db.name)
				require.NoError(t, err)
			},
			// With the cause gone, the next apply replaces the tainted
			// resource and succeeds.
			Config: db.config(),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(databaseAddress, plancheck.ResourceActionReplace),
			}},
			Check: resource.TestCheckResourceAttr(databaseAddress, "status", apiv1.DatabaseStatusReady),
		},
	}))
}

// recorded tells whether dbfleetd has a record of d, without failing a test from a goroutine.
func recorded(ctx context.Context, d database) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fleet.endpoint+databasePath(d.region, d.name), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+fleet.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// plantWhileRoleWaits holds the region's role catalog (pg_authid) locked, so that the create of
// d waits in its ensure_role step, after the plan and the PUT; once dbfleetd has recorded d and
// its admin waits on the lock to create a role, it creates a database of d's name as the
// superuser and lets go. It reports on done.
func plantWhileRoleWaits(t *testing.T, d database, done chan<- error) {
	ctx := context.Background()
	admin := fleet.admin[d.region]
	lock, err := admin.Begin(ctx)
	require.NoError(t, err)
	_, err = lock.Exec(ctx, `LOCK TABLE pg_catalog.pg_authid IN SHARE ROW EXCLUSIVE MODE`)
	require.NoError(t, err)
	go func() {
		defer func() { _ = lock.Rollback(ctx) }()
		deadline := time.Now().Add(time.Minute)
		for {
			// The wait may be on the owner role or, first in a fleet, on dbfleet's marker role;
			// the database's record says it is this test's create that waits.
			var waiting bool
			err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event_type = 'Lock'
				AND usename = $1 AND query LIKE 'CREATE ROLE %')`, fleet.regions[d.region].AdminUser).Scan(&waiting)
			if err == nil && waiting {
				waiting, err = recorded(ctx, d)
			}
			switch {
			case err != nil:
				done <- err
				return
			case waiting:
				_, err := admin.Exec(ctx, "CREATE DATABASE "+d.name)
				done <- err
				return
			case time.Now().After(deadline):
				var waits []string
				_ = admin.QueryRow(ctx, `SELECT coalesce(array_agg(left(query, 120)), '{}') FROM pg_stat_activity
					WHERE wait_event_type = 'Lock'`).Scan(&waits)
				done <- fmt.Errorf("no statement of dbfleetd's waited on the role catalog for %s within a minute; waiting: %q", d.name, waits)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
}
