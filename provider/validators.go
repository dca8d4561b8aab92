package provider

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
)

// identifierPattern is what dbfleet accepts as a region or database name:
// an unquoted PostgreSQL identifier in lower case.
var identifierPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// identifierRule says in words what identifierPattern accepts.
const identifierRule = "must start with a lowercase letter and hold only lowercase letters, digits and underscores, at most 63 characters"

// identifier validates a region or database name.
func identifier() validator.String {
	return stringvalidator.RegexMatches(identifierPattern, identifierRule)
}

// positiveDuration validates a duration string such as "30s".
func positiveDuration() validator.String {
	return positiveDurationValidator{}
}

type positiveDurationValidator struct{}

// Description says what the validator accepts.
func (v positiveDurationValidator) Description(context.Context) string {
	return `must be a positive duration such as "30s" or "2m"`
}

// MarkdownDescription says what the validator accepts.
func (v positiveDurationValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

// ValidateString adds an attribute error unless the value parses as a
// positive duration. Null and unknown values pass.
func (v positiveDurationValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	if d, err := time.ParseDuration(s); err != nil || d <= 0 {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Duration",
			fmt.Sprintf("Attribute %s %s, got %q.", req.Path, v.Description(ctx), s))
	}
}
