package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

// capabilitiesHint points at where a region's capabilities are shown.
const capabilitiesHint = "The dbfleet_regions data source shows what each region can do (its capabilities) and what it lacks."

// regionRefusalBlames are the attributes of dbfleet_database that dbfleetd's failed_precondition
// and name_taken answers can be about: what a region cannot do, or a name it already has.
var regionRefusalBlames = []blame{
	{attribute: path.Root("region"), field: "region", summary: "Region Cannot Hold Databases", hint: capabilitiesHint},
	{attribute: path.Root("replica_of"), field: "replica_of", summary: "Region Cannot Replicate", hint: capabilitiesHint},
	{attribute: path.Root("name"), field: "name", summary: "Name Taken",
		hint: "dbfleet creates, changes and drops only databases and roles it created itself, and does not take over " +
			"existing ones. Choose another name, or drop or rename the existing object."},
	{attribute: path.Root("skip_final_backup"), field: "skip_final_backup", summary: "Final Backup Impossible"},
}

// addRegionRefusal adds an error for apiErr, a failed_precondition or name_taken answer of
// dbfleetd, on the attribute whose value asks for what the region cannot do.
func addRegionRefusal(diags *diag.Diagnostics, apiErr *client.APIError, region, name string) {
	addBlamedError(diags, apiErr, regionRefusalBlames, "Region Cannot Do This",
		fmt.Sprintf("dbfleetd refused database %q in region %q: %s", name, region, apiErr))
}

// refuseUnbackedDelete fails a plan that deletes a database (destroying or replacing it) whose
// final backup its region cannot take, because dbfleetd has no pg_dump as new as the region's
// server: dbfleetd would refuse the delete, and the plan says so first.
func (r *databaseResource) refuseUnbackedDelete(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if resp.Diagnostics.HasError() || (!req.Plan.Raw.IsNull() && len(resp.RequiresReplace) == 0) {
		return
	}
	var state databaseResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || state.SkipFinalBackup.ValueBool() || state.DeletionProtection.ValueBool() {
		return
	}
	region, name := state.Region.ValueString(), state.Name.ValueString()
	got, err := r.client.RegionGet(ctx, region)
	if err != nil || got.Capabilities == nil {
		// A region that does not answer is the delete's to find out about.
		tflog.Warn(ctx, "Could not check the region's final backups", map[string]any{"region": region, "error": fmt.Sprint(err)})
		return
	}
	if got.Capabilities.CanTakeFinalBackups {
		return
	}
	detail := fmt.Sprintf("This plan deletes database %q in region %q, and dbfleetd would refuse: it takes a final "+
		"backup first, and region %q cannot: missing %s.\n\nTo delete it without a backup, set skip_final_backup = true "+
		"in its configuration and apply that first. Or install a pg_dump at least as new as the server where dbfleetd "+
		"runs (pg_dump_paths in its configuration names more).", name, region, region,
		strings.Join(got.Capabilities.MissingForFinalBackups, "; "))
	const summary = "Final Backup Impossible"
	if req.Plan.Raw.IsNull() {
		resp.Diagnostics.AddError(summary, detail)
		return
	}
	resp.Diagnostics.AddAttributeError(path.Root("skip_final_backup"), summary, detail)
}
