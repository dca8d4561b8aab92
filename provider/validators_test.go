package provider

import (
	"context"
	"strings"
	"testing"

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

func TestPositiveDuration(t *testing.T) {
	t.Parallel()

	tests := []struct {
		value string
		valid bool
	}{
		{value: "30s", valid: true},
		{value: "1m30s", valid: true},
		{value: "250ms", valid: true},
		{value: "0s"},
		{value: "-5s"},
		{value: "30"},
		{value: "soon"},
		{value: ""},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()

			errs := validate(positiveDuration(), types.StringValue(tt.value))

			if tt.valid {
				require.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1)
			require.Contains(t, errs[0], `must be a positive duration such as "30s"`)
		})
	}
}
