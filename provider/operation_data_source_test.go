package provider

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// readOperationDataSource reads dbfleet_operation id from a fake backend
// with replies, and returns the state and the errors as "path: summary".
func readOperationDataSource(t *testing.T, replies map[string]fakeReply, id string) (operationDataSourceModel, []string) {
	t.Helper()
	ctx := context.Background()
	_, c := newFakeBackend(t, replies)
	var schemaResp datasource.SchemaResponse
	newOperationDataSource().Schema(ctx, datasource.SchemaRequest{}, &schemaResp)
	require.False(t, schemaResp.Diagnostics.HasError())
	s := schemaResp.Schema
	typ := s.Type().TerraformType(ctx).(tftypes.Object)
	attrs := make(map[string]tftypes.Value, len(typ.AttributeTypes))
	for n, at := range typ.AttributeTypes {
		attrs[n] = tftypes.NewValue(at, nil)
	}
	attrs["id"] = tftypes.NewValue(tftypes.String, id)
	req := datasource.ReadRequest{Config: tfsdk.Config{Schema: s, Raw: tftypes.NewValue(typ, attrs)}}
	resp := datasource.ReadResponse{State: tfsdk.State{Schema: s, Raw: tftypes.NewValue(typ, nil)}}

	(&operationDataSource{client: c}).Read(ctx, req, &resp)

	var got operationDataSourceModel
	if !resp.Diagnostics.HasError() {
		require.False(t, resp.State.Get(ctx, &got).HasError())
	}
	return got, errorsAt(resp.Diagnostics)
}

func TestOperationDataSourceRead(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

	tests := []struct {
		name       string
		reply      *fakeReply
		want       operationDataSourceModel
		wantErrors []string
	}{
		{
			name: "Succeeded",
			reply: &fakeReply{status: http.StatusOK, body: apiv1.Operation{
				ID: "op-1", Kind: apiv1.OperationKindVerifyDatabase, Target: "databases/eastus/orders",
				State: apiv1.OperationSucceeded, Done: true, Progress: "consistent: 1 table",
				CreatedAt: created, UpdatedAt: created.Add(1500 * time.Millisecond),
			}},
			want: operationDataSourceModel{
				ID: types.StringValue("op-1"), Kind: types.StringValue(apiv1.OperationKindVerifyDatabase),
				Target: types.StringValue("databases/eastus/orders"), State: types.StringValue(apiv1.OperationSucceeded),
				Done: types.BoolValue(true), Progress: types.StringValue("consistent: 1 table"),
				Error:     types.ObjectNull(operationErrorAttrTypes),
				CreatedAt: types.StringValue("2026-05-01T12:00:00Z"), UpdatedAt: types.StringValue("2026-05-01T12:00:01Z"),
			},
		},
		{
			name: "Failed",
			reply: &fakeReply{status: http.StatusOK, body: apiv1.Operation{
				ID: "op-1", Kind: apiv1.OperationKindApplyDatabase, Target: "databases/westeurope/orders",
				State: apiv1.OperationFailed, Done: true, CreatedAt: created, UpdatedAt: created,
				Error: &apiv1.OperationError{Code: apiv1.CodeStepFailed, Message: "syntax error", Step: "migrate"},
			}},
			want: operationDataSourceModel{
				ID: types.StringValue("op-1"), Kind: types.StringValue(apiv1.OperationKindApplyDatabase),
				Target: types.StringValue("databases/westeurope/orders"), State: types.StringValue(apiv1.OperationFailed),
				Done: types.BoolValue(true), Progress: types.StringNull(),
				Error: types.ObjectValueMust(operationErrorAttrTypes, map[string]attr.Value{
					"code": types.StringValue(apiv1.CodeStepFailed), "message": types.StringValue("syntax error"),
					"region": types.StringNull(), "step": types.StringValue("migrate"),
				}),
				CreatedAt: types.StringValue("2026-05-01T12:00:00Z"), UpdatedAt: types.StringValue("2026-05-01T12:00:00Z"),
			},
		},
		{name: "NotFound", wantErrors: []string{"id: Operation Not Found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			replies := map[string]fakeReply{}
			if tt.reply != nil {
				replies["GET /v1/operations/op-1"] = *tt.reply
			}

			got, errs := readOperationDataSource(t, replies, "op-1")

			require.Equal(t, tt.wantErrors, errs)
			if tt.wantErrors == nil {
				require.Equal(t, tt.want, got)
			}
		})
	}
}
