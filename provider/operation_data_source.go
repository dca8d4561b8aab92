package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

var _ datasource.DataSourceWithConfigure = (*operationDataSource)(nil)

// operationStates are the values of the state attribute, in the order an
// operation goes through them.
var operationStates = []string{
	apiv1.OperationPending,
	apiv1.OperationRunning,
	apiv1.OperationSucceeded,
	apiv1.OperationFailed,
	apiv1.OperationCancelled,
}

// operationKinds are the values of the kind attribute.
var operationKinds = []string{
	apiv1.OperationKindApplyDatabase,
	apiv1.OperationKindDeleteDatabase,
	apiv1.OperationKindRollbackDatabase,
	apiv1.OperationKindVerifyDatabase,
}

// operationErrorAttrTypes are the attribute types of the error attribute.
var operationErrorAttrTypes = map[string]attr.Type{
	"code":    types.StringType,
	"message": types.StringType,
	"region":  types.StringType,
	"step":    types.StringType,
}

func newOperationDataSource() datasource.DataSource {
	return &operationDataSource{}
}

// operationDataSource is dbfleet_operation: one long-running operation of
// dbfleetd.
type operationDataSource struct {
	client *client.Client
}

// operationDataSourceModel is dbfleet_operation's state.
type operationDataSourceModel struct {
	ID        types.String `tfsdk:"id"`
	Kind      types.String `tfsdk:"kind"`
	Target    types.String `tfsdk:"target"`
	State     types.String `tfsdk:"state"`
	Done      types.Bool   `tfsdk:"done"`
	Progress  types.String `tfsdk:"progress"`
	Error     types.Object `tfsdk:"error"`
	CreatedAt types.String `tfsdk:"created_at"`
	UpdatedAt types.String `tfsdk:"updated_at"`
}

// Metadata names the data source dbfleet_operation.
func (d *operationDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_operation"
}

// Schema describes dbfleet_operation.
func (d *operationDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(description string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: description, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "One of dbfleetd's long-running operations: creating, changing, deleting, rolling back " +
			"or verifying a database. Every error of an apply or destroy that waited for an operation names its ID; " +
			"read it here to see where the operation is, or where and why it failed.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The operation's ID, as an error of the apply or the `operation_id` of the " +
					"`dbfleet_database` data source names it.",
				Required:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"kind":   computed("What the operation does: one of " + quotedList(operationKinds) + "."),
			"target": computed("What the operation works on, such as `databases/westeurope/orders`."),
			"state": computed("Where the operation is: one of " + quotedList(operationStates) + ". An upgrade that " +
				"waits on its rollout gate is `" + apiv1.OperationPending + "`, with the gate in `progress`."),
			"done": schema.BoolAttribute{
				MarkdownDescription: "Whether the operation is over: `" + apiv1.OperationSucceeded + "`, `" +
					apiv1.OperationFailed + "` or `" + apiv1.OperationCancelled + "`.",
				Computed: true,
			},
			"progress": computed("What the operation is doing or waiting for, such as its step or the rollout wave " +
				"and the time left of a bake. Null when it says nothing."),
			"error": schema.SingleNestedAttribute{
				MarkdownDescription: "Why the operation failed. Null unless it failed or was cancelled.",
				Computed:            true,
				Attributes: map[string]schema.Attribute{
					"code": computed("The error code, which stays the same across versions, such as `" +
						apiv1.CodeStepFailed + "` or `" + apiv1.CodeRolloutHalted + "`."),
					"message": computed("What happened, for a person."),
					"region":  computed("The region where it happened. Null when no region in particular."),
					"step":    computed("The operation's step that failed, such as `migrate`. Null when no step in particular."),
				},
			},
			"created_at": computed("When the operation was started, " + timestampRule + "."),
			"updated_at": computed("When the operation last changed, " + timestampRule + "."),
		},
	}
}

// Configure takes the API client that the provider configured.
func (d *operationDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = configuredClient(req.ProviderData, "Data Source", &resp.Diagnostics)
}

// Read reads the operation.
func (d *operationDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var config operationDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := config.ID.ValueString()
	op, err := d.client.OperationGet(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		resp.Diagnostics.AddAttributeError(path.Root("id"), "Operation Not Found", fmt.Sprintf("dbfleet has no "+
			"operation %q: %s\n\nCopy the ID from the error that named it.", id, err))
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Unable to Read Operation", fmt.Sprintf("Could not read operation %q: %s", id, err))
		return
	}
	state := newOperationDataSourceModel(op)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// newOperationDataSourceModel converts an operation of the API, with null
// for what it left empty.
func newOperationDataSourceModel(op *apiv1.Operation) operationDataSourceModel {
	m := operationDataSourceModel{
		ID:        types.StringValue(op.ID),
		Kind:      types.StringValue(op.Kind),
		Target:    types.StringValue(op.Target),
		State:     types.StringValue(op.State),
		Done:      types.BoolValue(op.Done),
		Progress:  stringOrNull(op.Progress),
		Error:     types.ObjectNull(operationErrorAttrTypes),
		CreatedAt: timestampOrNull(op.CreatedAt),
		UpdatedAt: timestampOrNull(op.UpdatedAt),
	}
	if e := op.Error; e != nil {
		m.Error = types.ObjectValueMust(operationErrorAttrTypes, map[string]attr.Value{
			"code":    types.StringValue(e.Code),
			"message": types.StringValue(e.Message),
			"region":  stringOrNull(e.Region),
			"step":    stringOrNull(e.Step),
		})
	}
	return m
}
