package provider

import (
	"context"
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// The owner password of a dbfleet_database: whether Terraform keeps it in
// state (password_in_state) and when dbfleet rotates it
// (password_version). An ephemeral dbfleet_database_credentials reads it
// without state on CLIs that have ephemeral values.

// passwordInStateAttribute is password_in_state.
func passwordInStateAttribute() schema.BoolAttribute {
	return schema.BoolAttribute{
		MarkdownDescription: "Whether Terraform keeps the owner role's password in its state and plan, as the " +
			"`password` attribute. Defaults to `true`, as before this setting existed. With `false`, `password` is " +
			"always null, so the password is in neither state nor plan files; read it when it is needed with the " +
			"ephemeral resource `dbfleet_database_credentials` (Terraform 1.10+, OpenTofu 1.11+), or from dbfleetd's " +
			"API with a write-scoped token. Changing it changes only what Terraform stores, in place: the password " +
			"stays the same (a state written before the change still holds it; `terraform apply` rewrites the " +
			"state without it). It must be known when Terraform plans, since it decides what the plan holds. An " +
			"imported database keeps its password in state until the first apply with `false`.",
		Optional: true,
		Computed: true,
		Default:  booldefault.StaticBool(true),
	}
}

// passwordVersionAttribute is password_version.
func passwordVersionAttribute() schema.Int64Attribute {
	return schema.Int64Attribute{
		MarkdownDescription: "A number whose change makes dbfleet rotate the owner role's password: on the " +
			"`terraform apply` that changes it (in place, after any other change of the database), dbfleetd " +
			"generates a new password, sets it on the role in the region, and from then on the old password no " +
			"longer logs in (sessions already open stay open). dbfleet's reconciler keeps the new one. Any change " +
			"rotates, up or down, to or from null; creating a database does not rotate (its password is new). " +
			"Leave it out to never rotate; set it from, for example, a `time_rotating` resource's `unix` to rotate " +
			"on a schedule. With `password_in_state = true` the plan shows `password` as known after apply.",
		Optional: true,
	}
}

// passwordPlan plans password: null when password_in_state is false;
// unknown when password_version changes on an existing database; otherwise
// what the modifiers before it planned (the state's value).
type passwordPlan struct{}

func (passwordPlan) Description(context.Context) string {
	return "Null unless password_in_state; unknown when password_version changes."
}

func (p passwordPlan) MarkdownDescription(ctx context.Context) string { return p.Description(ctx) }

func (passwordPlan) PlanModifyString(ctx context.Context, req planmodifier.StringRequest, resp *planmodifier.StringResponse) {
	var inState types.Bool
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("password_in_state"), &inState)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if inState.IsUnknown() {
		resp.Diagnostics.AddAttributeError(path.Root("password_in_state"), "Password In State Unknown At Plan",
			"password_in_state decides whether the plan and state hold the database's password, so Terraform must know "+
				"it when it plans: set it to true or false, or to a value known before the apply (a variable, not another "+
				"resource's attribute).")
		return
	}
	if !inState.ValueBool() {
		resp.PlanValue = types.StringNull()
		return
	}
	if req.State.Raw.IsNull() {
		return
	}
	var planned, prior types.Int64
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("password_version"), &planned)...)
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("password_version"), &prior)...)
	if !planned.Equal(prior) {
		resp.PlanValue = types.StringUnknown()
	}
}

// passwordValue is what state holds as password: the password only when
// password_in_state is true (or null, as right after an import).
func passwordValue(inState types.Bool, password string) types.String {
	if !inState.IsNull() && !inState.ValueBool() {
		return types.StringNull()
	}
	return types.StringValue(password)
}

// rotatesPassword reports whether an update from state to plan rotates the
// database's password.
func rotatesPassword(plan, state *databaseResourceModel) bool {
	return !plan.PasswordVersion.Equal(state.PasswordVersion)
}

// rotatePassword rotates the password of the database name in region and
// waits for the operation. The error says in full sentences what failed.
func (r *databaseResource) rotatePassword(ctx context.Context, region, name string) error {
	tflog.Info(ctx, "Rotating database password")
	op, err := r.client.DatabaseRotatePassword(ctx, region, name)
	if err != nil {
		return errors.New(requestFailureDetail("rotate the password of", region, name, err))
	}
	return r.waitForOperation(ctx, op, "update", region, name)
}
