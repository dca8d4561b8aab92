package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/stretchr/testify/require"
)

// validate runs v on value and returns the error summaries.
func validate(v validator.String, value types.String) []string {
	var resp validator.StringResponse
	v.ValidateString(context.Background(), validator.StringRequest{Path: path.Root("name"), ConfigValue: value}, &resp)
	var summaries []string
	for _, d := range resp.Diagnostics.Errors() {
		summaries = append(summaries, d.Summary()+": "+d.Detail())
	}
	return summaries
}

func TestIdentifier(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		value types.String
		valid bool
	}{
		{name: "Word", value: types.StringValue("orders"), valid: true},
		{name: "OneLetter", value: types.StringValue("a"), valid: true},
		{name: "DigitsAndUnderscores", value: types.StringValue("orders_v2_eu"), valid: true},
		{name: "SixtyThreeCharacters", value: types.StringValue("a" + strings.Repeat("b", 62)), valid: true},
		{name: "Null", value: types.StringNull(), valid: true},
		{name: "Unknown", value: types.StringUnknown(), valid: true},
		{name: "SixtyFourCharacters", value: types.StringValue("a" + strings.Repeat("b", 63))},
		{name: "Empty", value: types.StringValue("")},
		{name: "UpperCase", value: types.StringValue("Orders")},
		{name: "LeadingDigit", value: types.StringValue("1orders")},
		{name: "LeadingUnderscore", value: types.StringValue("_orders")},
		{name: "Hyphen", value: types.StringValue("order-items")},
		{name: "Space", value: types.StringValue("order items")},
		{name: "Quote", value: types.StringValue(`orders"; drop`)},
		{name: "NonASCII", value: types.StringValue("bestellungenä")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			errs := validate(identifier(), tt.value)

			if tt.valid {
				require.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1)
			require.Contains(t, errs[0], "must start with a lowercase letter")
		})
	}
}

func TestDurations(t *testing.T) {
	t.Parallel()

	tests := []struct {
		value            string
		validPositive    bool
		validNonNegative bool
	}{
		{value: "30s", validPositive: true, validNonNegative: true},
		{value: "1m30s", validPositive: true, validNonNegative: true},
		{value: "250ms", validPositive: true, validNonNegative: true},
		{value: "0s", validNonNegative: true},
		{value: "0", validNonNegative: true},
		{value: "-5s"},
		{value: "30"},
		{value: "soon"},
		{value: ""},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()

			positive := validate(positiveDuration(), types.StringValue(tt.value))
			nonNegative := validate(nonNegativeDuration(), types.StringValue(tt.value))

			if tt.validPositive {
				require.Empty(t, positive)
			} else {
				require.Len(t, positive, 1)
				require.Contains(t, positive[0], `must be a positive duration such as "30s"`)
			}
			if tt.validNonNegative {
				require.Empty(t, nonNegative)
			} else {
				require.Len(t, nonNegative, 1)
				require.Contains(t, nonNegative[0], `must be a duration of zero or more such as "0s"`)
			}
		})
	}
}

// validateList runs v on value and returns the errors as "path: summary".
func validateList(v validator.List, at path.Path, value types.List) []string {
	var resp validator.ListResponse
	v.ValidateList(context.Background(), validator.ListRequest{Path: at, ConfigValue: value}, &resp)
	return errorsAt(resp.Diagnostics)
}

func TestIncreasingVersions(t *testing.T) {
	t.Parallel()

	versions := func(vs ...types.Int64) types.List {
		elems := make([]attr.Value, len(vs))
		for i, v := range vs {
			elems[i] = types.ObjectValueMust(migrationAttrTypes, map[string]attr.Value{
				"version": v, "up": types.StringValue("SELECT 1"), "down": types.StringNull(),
			})
		}
		return types.ListValueMust(types.ObjectType{AttrTypes: migrationAttrTypes}, elems)
	}
	v := types.Int64Value
	tests := []struct {
		name       string
		value      types.List
		wantErrors []string
	}{
		{name: "Increasing", value: versions(v(1), v(2), v(10))},
		{name: "One", value: versions(v(7))},
		{name: "Null", value: types.ListNull(types.ObjectType{AttrTypes: migrationAttrTypes})},
		{name: "Unknown", value: types.ListUnknown(types.ObjectType{AttrTypes: migrationAttrTypes})},
		{name: "UnknownVersionSkipped", value: versions(v(1), types.Int64Unknown(), v(2))},
		{name: "Duplicate", value: versions(v(1), v(1)), wantErrors: []string{"migrations[1].version: Invalid Migration Version"}},
		{name: "Decreasing", value: versions(v(3), v(2), v(1)), wantErrors: []string{
			"migrations[1].version: Invalid Migration Version",
			"migrations[2].version: Invalid Migration Version",
		}},
		{name: "ComparedWithPreviousNotMax", value: versions(v(5), v(2), v(3)), wantErrors: []string{
			"migrations[1].version: Invalid Migration Version",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := validateList(increasingVersions(), path.Root("migrations"), tt.value)
			if diff := cmp.Diff(tt.wantErrors, got); diff != "" {
				t.Fatalf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRegionsOnce(t *testing.T) {
	t.Parallel()

	at := path.Root("rollout").AtName("waves")
	tests := []struct {
		name       string
		value      types.List
		wantErrors []string
	}{
		{name: "Distinct", value: waves([]string{"westeurope"}, []string{"northeurope", "eastus"})},
		{name: "Null", value: types.ListNull(wavesType.ElemType)},
		{name: "Unknown", value: types.ListUnknown(wavesType.ElemType)},
		{
			name:       "InTwoWaves",
			value:      waves([]string{"westeurope", "eastus"}, []string{"eastus"}),
			wantErrors: []string{"rollout.waves[1][0]: Region In More Than One Wave"},
		},
		{
			name:       "TwiceInOneWave",
			value:      waves([]string{"westeurope", "westeurope"}),
			wantErrors: []string{"rollout.waves[0][1]: Region In More Than One Wave"},
		},
		{
			name:  "InThreeWaves",
			value: waves([]string{"eastus"}, []string{"eastus"}, []string{"eastus"}),
			wantErrors: []string{
				"rollout.waves[1][0]: Region In More Than One Wave",
				"rollout.waves[2][0]: Region In More Than One Wave",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := validateList(regionsOnce(), at, tt.value)
			if diff := cmp.Diff(tt.wantErrors, got); diff != "" {
				t.Fatalf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllowedParameters(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		value      map[string]attr.Value
		wantErrors []string
		wantDetail string
	}{
		{name: "Allowed", value: map[string]attr.Value{
			"statement_timeout":             types.StringValue("30s"),
			"work_mem":                      types.StringValue("64MB"),
			"search_path":                   types.StringValue(`"$user", app, public`),
			"default_transaction_isolation": types.StringValue("serializable"),
		}},
		{name: "UnknownValueSkipped", value: map[string]attr.Value{"work_mem": types.StringUnknown()}},
		{
			name:       "NotAllowed",
			value:      map[string]attr.Value{"shared_buffers": types.StringValue("1GB")},
			wantErrors: []string{`parameters["shared_buffers"]: Invalid Database Parameter`},
			wantDetail: `Database parameter "shared_buffers" cannot be set: parameter "shared_buffers" is not allowed; ` +
				"allowed parameters: [default_transaction_isolation idle_in_transaction_session_timeout lock_timeout " +
				"maintenance_work_mem search_path statement_timeout timezone work_mem].",
		},
		{
			name:       "BadValue",
			value:      map[string]attr.Value{"lock_timeout": types.StringValue("forever")},
			wantErrors: []string{`parameters["lock_timeout"]: Invalid Database Parameter`},
			wantDetail: `lock_timeout = "forever" is not valid: use a duration`,
		},
		{
			name: "EachBadOneInOrder",
			value: map[string]attr.Value{
				"zeta":     types.StringValue("1"),
				"alpha":    types.StringValue("1"),
				"work_mem": types.StringValue("1MB"),
			},
			wantErrors: []string{
				`parameters["alpha"]: Invalid Database Parameter`,
				`parameters["zeta"]: Invalid Database Parameter`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var resp validator.MapResponse
			allowedParameters().ValidateMap(context.Background(), validator.MapRequest{
				Path:        path.Root("parameters"),
				ConfigValue: types.MapValueMust(types.StringType, tt.value),
			}, &resp)

			if diff := cmp.Diff(tt.wantErrors, errorsAt(resp.Diagnostics)); diff != "" {
				t.Fatalf("errors mismatch (-want +got):\n%s", diff)
			}
			if tt.wantDetail != "" {
				require.Contains(t, resp.Diagnostics.Errors()[0].Detail(), tt.wantDetail)
			}
		})
	}
}
