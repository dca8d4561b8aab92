package apiv1

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestQuote(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, value, want string
	}{
		{"Short", "64MB", `"64MB"`},
		{"AtTheLimit", strings.Repeat("a", QuotedValueMax), `"` + strings.Repeat("a", QuotedValueMax) + `"`},
		{"Long", strings.Repeat("a", 1<<20), `"` + strings.Repeat("a", QuotedValueMax) + `"… (cut; 1048576 bytes in all)`},
		{"CutAtARuneBoundary", strings.Repeat("a", QuotedValueMax-1) + "é and more", `"` + strings.Repeat("a", QuotedValueMax-1) + `"… (cut; 90 bytes in all)`},
		{"ControlCharacters", "a\nb", `"a\nb"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, Quote(tc.value))
			cut := CutString(tc.value)
			require.True(t, utf8.ValidString(cut))
			require.LessOrEqual(t, len(cut), QuotedValueMax+len("…"))
		})
	}
}
