package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// How dbfleet_database shows drift in a plan.
//
// dbfleetd's reconciler repairs what it can (drift_policy = "heal") and
// records the rest as a Drifted condition: everything with drift_policy =
// "report", and what it never repairs, such as a dropped source database.
// Read copies the reason of that condition into the computed attribute
// drift, and every plan plans drift as null, since the configuration always
// asks for a database without drift. So while dbfleetd reports drift, the
// plan shows the database changing in place, `drift = "DatabaseMissing" ->
// null`, with a warning that says what was found and what applying does;
// no setting changes, and what dbfleet observes (status, conditions,
// replication, consistency) is left unknown for the apply to tell. Applying
// puts the configuration again, and its result holds the planned null. A
// Drifted condition observed for an earlier generation of the settings is
// out of date and not reported.
//
// The null comes from a plan modifier rather than a Default: a default
// would differ from the state before the framework marks the computed
// attributes unknown, so the plan would show every one of them changing.
// A computed attribute that Read sets alone cannot do this: Terraform never
// plans a change of a computed value that the configuration does not set.
// Nor can status: it reports dbfleetd's lifecycle (provisioning, ready,
// ...), which stays true while the region drifts, and making it
// configurable would invite users to set it.

// driftAttribute is the description of dbfleet_database's drift.
var driftAttribute = "Why the database differs from its configuration in a way that dbfleet does not repair by itself, " +
	"as dbfleet's reconciler last found it: the reason of its `" + apiv1.ConditionDrifted + "` condition, such as `" +
	apiv1.ReasonDatabaseMissing + "` (the database was dropped outside dbfleet) or `" + apiv1.ReasonParametersDrifted +
	"`. Null when the database matches its configuration, or when the reconciler repaired what it found. " +
	"With `drift_policy = \"" + apiv1.DriftPolicyReport + "\"` every finding stays here; with `\"" +
	apiv1.DriftPolicyHeal + "\"` only what the reconciler cannot repair, such as a dropped source database, which " +
	"is never recreated empty by itself. Refreshing sets it, and every plan plans it as null, so while it is set " +
	"`terraform plan` shows the database changing in place (`drift = \"" + apiv1.ReasonDatabaseMissing +
	"\" -> null`) and warns with what the reconciler found. Applying that plan puts the configuration to dbfleet " +
	"again, which runs every step of creating the database once more (owner role, database, parameters, " +
	"migrations, replication) and so repairs what those steps cover; a dropped database comes back empty, a " +
	"replica with its source's rows."

// noDrift plans drift as null, what the configuration asks for.
type noDrift struct{}

var _ planmodifier.String = noDrift{}

// Description says what the plan modifier does.
func (noDrift) Description(context.Context) string {
	return "plans no drift, so that a refreshed drift shows as a change"
}

// MarkdownDescription says what the plan modifier does.
func (m noDrift) MarkdownDescription(ctx context.Context) string {
	return m.Description(ctx)
}

// PlanModifyString plans null unless the resource is destroyed.
func (noDrift) PlanModifyString(_ context.Context, req planmodifier.StringRequest, resp *planmodifier.StringResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	resp.PlanValue = types.StringNull()
}

// reportedDrift returns db's Drifted condition when it is True for the
// current generation of the database's settings, nil otherwise. A
// condition observed for an earlier generation is out of date: an apply
// has changed the settings since, and put them all again, and the
// reconciler has not yet checked the result.
func reportedDrift(db *apiv1.Database) *apiv1.Condition {
	for i := range db.Conditions {
		c := &db.Conditions[i]
		if c.Type != apiv1.ConditionDrifted || c.Status != apiv1.ConditionTrue {
			continue
		}
		if c.ObservedGeneration != 0 && c.ObservedGeneration < db.Generation {
			return nil
		}
		return c
	}
	return nil
}

// driftValue is the drift attribute for db.
func driftValue(db *apiv1.Database) types.String {
	if c := reportedDrift(db); c != nil {
		return types.StringValue(c.Reason)
	}
	return types.StringNull()
}

// addDriftWarning warns, on the drift attribute, about the drift that
// dbfleetd reports for db, if any: what it found, and what applying does.
func addDriftWarning(diags *diag.Diagnostics, db *apiv1.Database) {
	c := reportedDrift(db)
	if c == nil {
		return
	}
	detail := fmt.Sprintf("dbfleet's reconciler found that database %q in region %q differs from its configuration "+
		"(%s): %s\n\n", db.Name, db.Region, c.Reason, c.Message)
	switch {
	case c.Reason == apiv1.ReasonDatabaseMissing && db.ReplicaOf != "":
		detail += fmt.Sprintf("The replica is gone from its region. Applying creates it again and copies its "+
			"source's rows from region %q anew.", db.ReplicaOf)
	case c.Reason == apiv1.ReasonDatabaseMissing:
		detail += "The database is gone from its region, and dbfleet never recreates a dropped database by itself: " +
			"it would come back empty. Applying creates it again, empty, with its schema's migrations. If you need " +
			"its data, restore it from your own backups instead (dbfleet keeps a final backup only of databases it " +
			"deletes itself), then refresh."
	case db.DriftPolicy == apiv1.DriftPolicyReport:
		detail += "Its drift_policy is \"report\", so dbfleet records drift without repairing it. Applying puts the " +
			"configuration again, which repairs it; set drift_policy = \"heal\" to let dbfleet repair drift by itself."
	default:
		detail += "dbfleet could not repair this by itself. Applying puts the configuration again, which repairs " +
			"what creating the database covers; otherwise fix the cause in PostgreSQL, as the message above says."
	}
	if !db.UpdatedAt.IsZero() && c.LastTransitionTime.Before(db.UpdatedAt) {
		detail += fmt.Sprintf("\n\nThe reconciler found this at %s, before the database's last operation ended, at %s. "+
			"If that operation (an apply, say) repaired it, the reconciler says so at its next check of the database, "+
			"and plans show no drift from then on.", c.LastTransitionTime.UTC().Format(time.RFC3339),
			db.UpdatedAt.UTC().Format(time.RFC3339))
	}
	diags.AddAttributeWarning(path.Root("drift"), "Database Drifted", detail)
}
