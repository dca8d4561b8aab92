package acceptance

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// driftTimeout bounds how long dbfleetd's reconciler may take to find or
// settle drift: its interval (30 s in dbfleetd dev) with jitter, and a tick.
const driftTimeout = 90 * time.Second

// TestAccDatabase_DriftShowsInPlan changes a database's parameter behind
// dbfleet's back, with ALTER DATABASE as the superuser:
//
//  1. With drift_policy = "report", the reconciler records the drift and
//     repairs nothing: PostgreSQL keeps the changed value.
//  2. terraform plan shows it, through the real CLI: the database changes in
//     place, and the only setting that changes is drift, from
//     "ParametersDrifted" to null (what dbfleet observes, such as status,
//     is left to the apply).
//  3. Applying drift_policy = "heal" puts the settings again; the plan right
//     after is empty, since the reconciler's finding was for the settings
//     before that change.
//  4. Once the reconciler has checked the database again, it reports it in
//     sync, PostgreSQL holds the configured value, and the plan is empty.
func TestAccDatabase_DriftShowsInPlan(t *testing.T) {
	db := setup(t, "acc_drift")
	config := func(policy string) string {
		return fmt.Sprintf(`resource "dbfleet_database" "test" {
  region              = %q
  name                = %q
  deletion_protection = false
  skip_final_backup   = true
  drift_policy        = %q

  parameters = {
    work_mem = "64MB"
  }
}
`, db.region, db.name, policy)
	}

	resource.ParallelTest(t, testCase(t, []resource.TestStep{
		{
			Config: config(apiv1.DriftPolicyReport),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(databaseAddress, tfjsonpath.New("drift_policy"), knownvalue.StringExact(apiv1.DriftPolicyReport)),
				statecheck.ExpectKnownValue(databaseAddress, tfjsonpath.New("drift"), knownvalue.Null()),
			},
		},
		{
			PreConfig: func() {
				adminExecIn(t, db.region, "postgres", fmt.Sprintf(`ALTER DATABASE %s SET work_mem = '1MB'`, db.name))
				awaitDrifted(t, db, func(c *apiv1.Condition) bool {
					return c.Status == apiv1.ConditionTrue && c.Reason == apiv1.ReasonParametersDrifted
				})
				require.Equal(t, "work_mem=1MB", databaseSetting(t, db, "work_mem"), "report repairs nothing")
			},
			Config:             config(apiv1.DriftPolicyReport),
			PlanOnly:           true,
			ExpectNonEmptyPlan: true,
			ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(databaseAddress, plancheck.ResourceActionUpdate),
				expectOnlyChange(databaseAddress, "drift", apiv1.ReasonParametersDrifted),
			}},
		},
		{
			Config: config(apiv1.DriftPolicyHeal),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(databaseAddress, plancheck.ResourceActionUpdate),
				plancheck.ExpectKnownValue(databaseAddress, tfjsonpath.New("drift"), knownvalue.Null()),
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(databaseAddress, tfjsonpath.New("drift_policy"), knownvalue.StringExact(apiv1.DriftPolicyHeal)),
				statecheck.ExpectKnownValue(databaseAddress, tfjsonpath.New("drift"), knownvalue.Null()),
			},
		},
		{
			PreConfig: func() {
				awaitDrifted(t, db, func(c *apiv1.Condition) bool { return c.Status == apiv1.ConditionFalse })
				require.Equal(t, "work_mem=64MB", databaseSetting(t, db, "work_mem"))
			},
			Config:   config(apiv1.DriftPolicyHeal),
			PlanOnly: true,
		},
	}))
}

// awaitDrifted polls dbfleetd until the database's Drifted condition, for
// the current generation of its settings, satisfies ok.
func awaitDrifted(t *testing.T, d database, ok func(*apiv1.Condition) bool) {
	t.Helper()
	started := time.Now()
	var last []apiv1.Condition
	for time.Since(started) < driftTimeout {
		resp := replicaAPI().Do(t, http.MethodGet, databasePath(d.region, d.name), nil)
		require.Equal(t, http.StatusOK, resp.Status, "GET %s: %s", d.id(), resp.Body)
		var got apiv1.Database
		resp.Decode(t, &got)
		fleet.secrets.add(got.Password, "the password of database "+d.id())
		last = got.Conditions
		i := slices.IndexFunc(got.Conditions, func(c apiv1.Condition) bool { return c.Type == apiv1.ConditionDrifted })
		if i >= 0 && got.Conditions[i].ObservedGeneration == got.Generation && ok(&got.Conditions[i]) {
			t.Logf("%s: Drifted is %s (%s) after %s", d.id(), got.Conditions[i].Status, got.Conditions[i].Reason,
				time.Since(started).Round(time.Millisecond))
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: the reconciler did not report the expected Drifted condition within %s; last conditions: %+v", d.id(), driftTimeout, last)
}

// databaseSetting reads a database-level setting of d, as ALTER DATABASE
// SET stores it ("name=value"), from PostgreSQL's catalog; empty when none.
func databaseSetting(t *testing.T, d database, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	var settings []string
	err := fleet.admin[d.region].QueryRow(ctx, `SELECT coalesce(s.setconfig, '{}') FROM pg_database d
		LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0 WHERE d.datname = $1`, d.name).Scan(&settings)
	require.NoError(t, err)
	for _, s := range settings {
		if len(s) > len(name) && s[:len(name)+1] == name+"=" {
			return s
		}
	}
	return ""
}

// observedAttributes are what dbfleet observes of a database, which a plan
// that puts the settings again leaves for the apply to tell.
var observedAttributes = []string{"conditions", "consistency", "replication", "status"}

// expectOnlyChange is a plan check that of the resource at address, only
// attribute changes to a known value, from before to null; the others stay
// as they are, but for observedAttributes, which may become unknown.
func expectOnlyChange(address, attribute, before string) plancheck.PlanCheck {
	return planCheck(func(plan *tfjson.Plan) error {
		for _, rc := range plan.ResourceChanges {
			if rc.Address != address {
				continue
			}
			b, _ := rc.Change.Before.(map[string]any)
			a, _ := rc.Change.After.(map[string]any)
			unknown, _ := rc.Change.AfterUnknown.(map[string]any)
			if b[attribute] != before || a[attribute] != nil || unknown[attribute] == true {
				return fmt.Errorf("%s: %s goes from %v to %v, want from %q to null", address, attribute, b[attribute], a[attribute], before)
			}
			var changed []string
			for name := range b {
				switch {
				case unknown[name] == true && slices.Contains(observedAttributes, name):
				case unknown[name] == true:
					changed = append(changed, name+" (to unknown)")
				case fmt.Sprint(b[name]) != fmt.Sprint(a[name]):
					changed = append(changed, name)
				}
			}
			slices.Sort(changed)
			if !slices.Equal(changed, []string{attribute}) {
				return fmt.Errorf("%s: the plan changes %v, want %s alone", address, changed, attribute)
			}
			return nil
		}
		return fmt.Errorf("%s is not in the plan", address)
	})
}

// planCheck turns a function of the plan into a plancheck.PlanCheck.
type planCheck func(*tfjson.Plan) error

// CheckPlan implements plancheck.PlanCheck.
func (f planCheck) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	resp.Error = f(req.Plan)
}
