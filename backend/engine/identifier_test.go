package engine

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateIdentifier(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		input string
		valid bool
	}{
		{"Simple", "orders", true},
		{"DigitsAndUnderscores", "orders_2024", true},
		{"SixtyThreeCharacters", "a" + strings.Repeat("b", 62), true},
		{"SixtyFourCharacters", "a" + strings.Repeat("b", 63), false},
		{"Empty", "", false},
		{"LeadingDigit", "1orders", false},
		{"LeadingUnderscore", "_orders", false},
		{"UpperCase", "Orders", false},
		{"Hyphen", "my-db", false},
		{"SQLInjection", "Robert'); DROP", false},
		{"Quote", `a"b`, false},
		{"Unicode", "bestellungen_ä", false},
		{"TrailingNewline", "orders\n", false},
		{"ReservedPrefix", "pg_orders", false},
		{"PostgresOwnDatabase", "postgres", false},
		{"Template", "template1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateIdentifier("database", tc.input)
			if tc.valid {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), "database name")
		})
	}
}

func TestQuoting(t *testing.T) {
	t.Parallel()
	require.Equal(t, `"orders"`, quoteIdentifier("orders"))
	require.Equal(t, `'it''s'`, quoteLiteral("it's"))
}

func TestSCRAMVerifier(t *testing.T) {
	t.Parallel()
	v1, err := scramVerifier("secret")
	require.NoError(t, err)
	require.Regexp(t, `^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$`, v1)
	require.NotContains(t, v1, "secret")
	v2, err := scramVerifier("secret")
	require.NoError(t, err)
	require.NotEqual(t, v1, v2, "each verifier has its own salt")
}
