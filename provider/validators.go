package provider

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
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

// positiveDuration validates a duration string such as "30s" that must be
// more than zero.
func positiveDuration() validator.String {
	return durationValidator{}
}

// nonNegativeDuration validates a duration string such as "30s" that may be
// zero.
func nonNegativeDuration() validator.String {
	return durationValidator{allowZero: true}
}

type durationValidator struct {
	allowZero bool
}

// Description says what the validator accepts.
func (v durationValidator) Description(context.Context) string {
	if v.allowZero {
		return `must be a duration of zero or more such as "0s", "30s" or "2m"`
	}
	return `must be a positive duration such as "30s" or "2m"`
}

// MarkdownDescription says what the validator accepts.
func (v durationValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

// ValidateString adds an attribute error unless the value parses as a
// duration in range. Null and unknown values pass.
func (v durationValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || (d == 0 && !v.allowZero) {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Duration",
			fmt.Sprintf("Attribute %s %s, got %q.", req.Path, v.Description(ctx), s))
	}
}

// increasingVersions validates a list of migrations: each element's version
// is greater than the one before, so versions are unique and in order.
func increasingVersions() validator.List {
	return increasingVersionsValidator{}
}

type increasingVersionsValidator struct{}

// Description says what the validator accepts.
func (increasingVersionsValidator) Description(context.Context) string {
	return "migration versions must be unique and strictly increasing, in the order the migrations are listed"
}

// MarkdownDescription says what the validator accepts.
func (v increasingVersionsValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

// ValidateList adds an attribute error on the version of each migration
// that is not greater than the last known version before it. Unknown
// versions are skipped.
func (v increasingVersionsValidator) ValidateList(ctx context.Context, req validator.ListRequest, resp *validator.ListResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	var previous types.Int64
	for i, elem := range req.ConfigValue.Elements() {
		migration, ok := elem.(types.Object)
		if !ok || migration.IsNull() || migration.IsUnknown() {
			continue
		}
		version, ok := migration.Attributes()["version"].(types.Int64)
		if !ok || version.IsNull() || version.IsUnknown() {
			continue
		}
		if !previous.IsNull() && version.ValueInt64() <= previous.ValueInt64() {
			resp.Diagnostics.AddAttributeError(req.Path.AtListIndex(i).AtName("version"), "Invalid Migration Version",
				fmt.Sprintf("Version %d comes after version %d, but %s. Give each new migration a version above "+
					"every earlier one and list the migrations in version order.",
					version.ValueInt64(), previous.ValueInt64(), v.Description(ctx)))
		}
		previous = version
	}
}

// regionsOnce validates a list of waves, each a list of regions: no region
// is in two waves, or twice in one.
func regionsOnce() validator.List {
	return regionsOnceValidator{}
}

type regionsOnceValidator struct{}

// Description says what the validator accepts.
func (regionsOnceValidator) Description(context.Context) string {
	return "each region may be named in at most one wave, once"
}

// MarkdownDescription says what the validator accepts.
func (v regionsOnceValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

// ValidateList adds an attribute error on every repeated mention of a
// region. Unknown waves and regions are skipped.
func (v regionsOnceValidator) ValidateList(ctx context.Context, req validator.ListRequest, resp *validator.ListResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	firstWave := make(map[string]int)
	for i, elem := range req.ConfigValue.Elements() {
		wave, ok := elem.(types.List)
		if !ok || wave.IsNull() || wave.IsUnknown() {
			continue
		}
		for j, r := range wave.Elements() {
			region, ok := r.(types.String)
			if !ok || region.IsNull() || region.IsUnknown() {
				continue
			}
			name := region.ValueString()
			first, seen := firstWave[name]
			if !seen {
				firstWave[name] = i
				continue
			}
			where := fmt.Sprintf("wave %d and again in wave %d", first+1, i+1)
			if first == i {
				where = fmt.Sprintf("wave %d twice", i+1)
			}
			resp.Diagnostics.AddAttributeError(req.Path.AtListIndex(i).AtListIndex(j), "Region In More Than One Wave",
				fmt.Sprintf("Region %q is in %s, but %s. Remove it from all waves but one.", name, where, v.Description(ctx)))
		}
	}
}

// allowedParameters validates a map of database parameters with
// apiv1.ValidateParameter: each name is on the allow-list and each value
// has its parameter's form.
func allowedParameters() validator.Map {
	return allowedParametersValidator{}
}

type allowedParametersValidator struct{}

// Description says what the validator accepts.
func (allowedParametersValidator) Description(context.Context) string {
	return "parameter names must be among " + strings.Join(apiv1.DatabaseParameterNames(), ", ") +
		", each with a value of the parameter's form"
}

// MarkdownDescription says what the validator accepts.
func (allowedParametersValidator) MarkdownDescription(context.Context) string {
	return "parameter names must be among " + quotedList(apiv1.DatabaseParameterNames()) +
		", each with a value of the parameter's form"
}

// ValidateMap adds an attribute error on each parameter that dbfleet would
// refuse. Unknown values are skipped.
func (allowedParametersValidator) ValidateMap(_ context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	elems := req.ConfigValue.Elements()
	names := make([]string, 0, len(elems))
	for name := range elems {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		value, ok := elems[name].(types.String)
		if !ok || value.IsNull() || value.IsUnknown() {
			continue
		}
		if err := apiv1.ValidateParameter(name, value.ValueString()); err != nil {
			resp.Diagnostics.AddAttributeError(req.Path.AtMapKey(name), "Invalid Database Parameter",
				fmt.Sprintf("Database parameter %q cannot be set: %s.", name, err))
		}
	}
}
