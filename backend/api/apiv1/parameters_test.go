package apiv1

import "testing"

func TestValidateParameter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, value string
		valid       bool
	}{
		{"statement_timeout", "30s", true},
		{"statement_timeout", "5000", true},
		{"statement_timeout", "30 parsecs", false},
		{"statement_timeout", "1s; DROP TABLE x", false},
		{"work_mem", "64MB", true},
		{"work_mem", "64mb", false},
		{"search_path", `"$user", public`, true},
		{"search_path", "app,public", true},
		{"search_path", "app; drop", false},
		{"timezone", "Europe/Amsterdam", true},
		{"timezone", "UTC'", false},
		{"default_transaction_isolation", "serializable", true},
		{"default_transaction_isolation", "chaos", false},
		{"shared_buffers", "1GB", false},
		{"log_statement", "all", false},
	} {
		err := ValidateParameter(tc.name, tc.value)
		if (err == nil) != tc.valid {
			t.Errorf("ValidateParameter(%q, %q) = %v, want valid %v", tc.name, tc.value, err, tc.valid)
		}
	}
}
