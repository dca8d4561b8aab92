package apiv1

import (
	"fmt"
	"regexp"
	"sort"
)

// ParameterRule says what values a database parameter takes.
type ParameterRule struct {
	// Description says what the values look like, for errors and docs.
	Description string
	pattern     *regexp.Regexp
}

var (
	durationValue = ParameterRule{"a duration: an integer of milliseconds or an integer with one of the units us, ms, s, min, h, d (\"30s\")",
		regexp.MustCompile(`^[0-9]{1,9} ?(us|ms|s|min|h|d)?$`)}
	memoryValue = ParameterRule{"a size: an integer of kilobytes or an integer with one of the units kB, MB, GB, TB (\"64MB\")",
		regexp.MustCompile(`^[0-9]{1,9} ?(kB|MB|GB|TB)?$`)}
)

// DatabaseParameters are the database-level settings a database may set
// (ALTER DATABASE ... SET), each with the values it takes. Anything else is
// refused: these are the settings that are safe for a tenant to change.
var DatabaseParameters = map[string]ParameterRule{
	"statement_timeout":                   durationValue,
	"lock_timeout":                        durationValue,
	"idle_in_transaction_session_timeout": durationValue,
	"work_mem":                            memoryValue,
	"maintenance_work_mem":                memoryValue,
	"search_path": {"a comma-separated list of lower-case schema names, \"$user\" allowed (\"app, public\")",
		regexp.MustCompile(`^( *("\$user"|[a-z_][a-z0-9_]{0,62}) *)(, *("\$user"|[a-z_][a-z0-9_]{0,62}) *){0,15}$`)},
	"timezone": {"a time zone name such as UTC or Europe/Amsterdam",
		regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$`)},
	"default_transaction_isolation": {"one of \"read committed\", \"repeatable read\", \"serializable\"",
		regexp.MustCompile(`^(read committed|repeatable read|serializable)$`)},
}

// DatabaseParameterNames returns the allowed parameter names, sorted.
func DatabaseParameterNames() []string {
	names := make([]string, 0, len(DatabaseParameters))
	for n := range DatabaseParameters {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ValidateParameter checks a parameter's name against the allow-list and its
// value against the parameter's rule.
func ValidateParameter(name, value string) error {
	rule, ok := DatabaseParameters[name]
	if !ok {
		return fmt.Errorf("parameter %s is not allowed; allowed parameters: %v", Quote(name), DatabaseParameterNames())
	}
	if !rule.pattern.MatchString(value) {
		return fmt.Errorf("parameter %s = %s is not valid: use %s", name, Quote(value), rule.Description)
	}
	return nil
}
