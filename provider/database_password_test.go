package provider

import (
	"context"
	"net/url"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

func TestPasswordPlan(t *testing.T) {
	t.Parallel()
	withPassword := func(inState types.Bool, version types.Int64) *databaseResourceModel {
		m := database("westeurope", "orders", true)
		m.PasswordInState, m.PasswordVersion = inState, version
		return m
	}
	on, off := types.BoolValue(true), types.BoolValue(false)
	tests := []struct {
		name      string
		state     *databaseResourceModel
		plan      *databaseResourceModel
		planned   types.String // what UseStateForUnknown left
		want      types.String
		wantError string
	}{
		{"KeepsStatePasswordWithoutRotation", withPassword(on, types.Int64Value(1)), withPassword(on, types.Int64Value(1)),
			types.StringValue("pw"), types.StringValue("pw"), ""},
		{"UnknownWhenVersionChanges", withPassword(on, types.Int64Value(1)), withPassword(on, types.Int64Value(2)),
			types.StringValue("pw"), types.StringUnknown(), ""},
		{"UnknownWhenVersionIsSet", withPassword(on, types.Int64Null()), withPassword(on, types.Int64Value(1)),
			types.StringValue("pw"), types.StringUnknown(), ""},
		{"UnknownWhenVersionIsRemoved", withPassword(on, types.Int64Value(3)), withPassword(on, types.Int64Null()),
			types.StringValue("pw"), types.StringUnknown(), ""},
		{"UnknownOnCreate", nil, withPassword(on, types.Int64Value(1)),
			types.StringUnknown(), types.StringUnknown(), ""},
		{"NullOutOfState", withPassword(on, types.Int64Value(1)), withPassword(off, types.Int64Value(2)),
			types.StringValue("pw"), types.StringNull(), ""},
		{"NullOutOfStateOnCreate", nil, withPassword(off, types.Int64Null()),
			types.StringUnknown(), types.StringNull(), ""},
		{"RefusesUnknownPasswordInState", nil, withPassword(types.BoolUnknown(), types.Int64Null()),
			types.StringUnknown(), types.StringUnknown(), "password_in_state: Password In State Unknown At Plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := databaseSchema(t)
			req := planmodifier.StringRequest{
				Path:      path.Root("password"),
				Plan:      tfsdk.Plan(databaseState(t, s, tt.plan)),
				State:     databaseState(t, s, tt.state),
				PlanValue: tt.planned,
			}
			resp := planmodifier.StringResponse{PlanValue: tt.planned}

			passwordPlan{}.PlanModifyString(context.Background(), req, &resp)

			if tt.wantError != "" {
				require.Equal(t, []string{tt.wantError}, errorsAt(resp.Diagnostics))
				return
			}
			require.False(t, resp.Diagnostics.HasError(), "%v", resp.Diagnostics)
			require.Equal(t, tt.want, resp.PlanValue)
		})
	}
}

func TestPasswordValue(t *testing.T) {
	t.Parallel()
	require.Equal(t, types.StringValue("pw"), passwordValue(types.BoolValue(true), "pw"))
	require.Equal(t, types.StringValue("pw"), passwordValue(types.BoolNull(), "pw"), "an import keeps today's behaviour")
	require.Equal(t, types.StringNull(), passwordValue(types.BoolValue(false), "pw"))
}

func TestSetDatabaseKeepsPasswordOutOfState(t *testing.T) {
	t.Parallel()
	m := database("westeurope", "orders", true)
	m.PasswordInState = types.BoolValue(false)
	require.False(t, m.setDatabase(context.Background(), &apiv1.Database{Region: "westeurope", Name: "orders", Password: "s3cret"}).HasError())
	require.True(t, m.Password.IsNull())

	imported := database("westeurope", "orders", true)
	imported.PasswordInState = types.BoolNull()
	require.False(t, imported.setDatabase(context.Background(), &apiv1.Database{Region: "westeurope", Name: "orders", Password: "s3cret"}).HasError())
	require.Equal(t, types.StringValue("s3cret"), imported.Password)
	require.Equal(t, types.BoolValue(true), imported.PasswordInState, "the default, so that the next plan is empty")
}

func TestConnectionURI(t *testing.T) {
	t.Parallel()
	got := connectionURI(&apiv1.Database{Name: "orders", Owner: "orders_owner", Password: "p@ss/w:rd", Host: "::1", Port: 5432})

	u, err := url.Parse(got)
	require.NoError(t, err)
	require.Equal(t, "postgresql", u.Scheme)
	require.Equal(t, "[::1]:5432", u.Host)
	require.Equal(t, "/orders", u.Path)
	password, _ := u.User.Password()
	require.Equal(t, "orders_owner", u.User.Username())
	require.Equal(t, "p@ss/w:rd", password, "the password survives percent-encoding")
}

func TestDatabaseCredentialsValidateConfig(t *testing.T) {
	t.Parallel()
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	null := tftypes.NewValue(tftypes.String, nil)
	tests := []struct {
		name                 string
		id, region, database tftypes.Value
		want                 []string
	}{
		{"ByID", str("westeurope/orders"), null, null, nil},
		{"ByUnknownID", tftypes.NewValue(tftypes.String, tftypes.UnknownValue), null, null, nil},
		{"ByRegionAndName", null, str("westeurope"), str("orders"), nil},
		{"RefusesBoth", str("westeurope/orders"), str("westeurope"), null, []string{"id: Conflicting Database Credentials Arguments"}},
		{"RefusesNameAlone", null, null, str("orders"), []string{": Missing Database Credentials Arguments"}},
		{"RefusesNothing", null, null, null, []string{": Missing Database Credentials Arguments"}},
		{"RefusesBadID", str("orders"), null, null, []string{"id: Invalid Database ID"}},
		{"RefusesBadName", null, str("westeurope"), str("Orders"), []string{"name: Invalid Attribute Value Match"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var s ephemeral.SchemaResponse
			newDatabaseCredentialsEphemeralResource().Schema(ctx, ephemeral.SchemaRequest{}, &s)
			typ := s.Schema.Type().TerraformType(ctx)
			values := map[string]tftypes.Value{}
			for name, at := range typ.(tftypes.Object).AttributeTypes {
				values[name] = tftypes.NewValue(at, nil)
			}
			values["id"], values["region"], values["name"] = tt.id, tt.region, tt.database
			dv, err := tfprotov6.NewDynamicValue(typ, tftypes.NewValue(typ, values))
			require.NoError(t, err)
			server, err := providerserver.NewProtocol6WithError(New("test")())()
			require.NoError(t, err)

			resp, err := server.ValidateEphemeralResourceConfig(ctx, &tfprotov6.ValidateEphemeralResourceConfigRequest{
				TypeName: "dbfleet_database_credentials", Config: &dv})

			require.NoError(t, err)
			var got []string
			for _, d := range resp.Diagnostics {
				if d.Severity == tfprotov6.DiagnosticSeverityError {
					got = append(got, renderAttributePath(d.Attribute)+": "+d.Summary)
				}
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDatabaseImportByIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var idResp resource.IdentitySchemaResponse
	(&databaseResource{}).IdentitySchema(ctx, resource.IdentitySchemaRequest{}, &idResp)
	identity := func(region, name string) *tfsdk.ResourceIdentity {
		id := &tfsdk.ResourceIdentity{Schema: idResp.IdentitySchema,
			Raw: tftypes.NewValue(idResp.IdentitySchema.Type().TerraformType(ctx), nil)}
		require.False(t, id.Set(ctx, databaseIdentity(region, name)).HasError())
		return id
	}
	tests := []struct {
		name               string
		req                resource.ImportStateRequest
		wantRegion, wantDB string
		wantErrors         []string
	}{
		{"ByID", resource.ImportStateRequest{ID: "westeurope/orders"}, "westeurope", "orders", nil},
		{"ByIdentity", resource.ImportStateRequest{Identity: identity("eastus", "billing")}, "eastus", "billing", nil},
		{"RefusesBadID", resource.ImportStateRequest{ID: "orders"}, "", "", []string{": Invalid Import ID"}},
		{"RefusesBadIdentity", resource.ImportStateRequest{Identity: identity("eastus", "Billing")}, "", "", []string{": Invalid Import Identity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			region, name, diags := databaseImportKey(ctx, tt.req)
			require.Equal(t, tt.wantErrors, errorsAt(diags))
			if tt.wantErrors == nil {
				require.Equal(t, tt.wantRegion, region)
				require.Equal(t, tt.wantDB, name)
			}
		})
	}
}
