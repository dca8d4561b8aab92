package apiv1

import (
	"slices"
	"strings"
	"testing"
)

// FuzzValidateParameter checks that an accepted parameter is on the
// allow-list and that its value holds nothing that could end a SQL literal
// or identifier, a statement, or a log line: no quote other than search
// path's "$user", no backslash, semicolon or control character.
func FuzzValidateParameter(f *testing.F) {
	for _, seed := range [][2]string{
		{"statement_timeout", "30s"}, {"statement_timeout", "30 s"}, {"work_mem", "64MB"}, {"lock_timeout", "0"},
		{"search_path", `"$user", public`}, {"search_path", "app,public"}, {"timezone", "Europe/Amsterdam"},
		{"default_transaction_isolation", "serializable"}, {"work_mem", "1'; DROP DATABASE x; --"},
		{"search_path", `public"; DROP`}, {"statement_timeout", "30\ns"}, {"shared_buffers", "1GB"}, {"Work_Mem", "1MB"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		if ValidateParameter(name, value) != nil {
			return
		}
		if !slices.Contains(DatabaseParameterNames(), name) {
			t.Fatalf("accepted %q, which is not on the allow-list", name)
		}
		rest := value
		if name == "search_path" {
			rest = strings.ReplaceAll(rest, `"$user"`, "")
		}
		for _, r := range rest {
			if r < 0x20 || r == 0x7f || r > 0x7e || strings.ContainsRune(`'"\;`, r) {
				t.Fatalf("accepted %s = %q, which holds %q", name, value, r)
			}
		}
		if len(value) > 1100 {
			t.Fatalf("accepted a %d-byte value", len(value))
		}
	})
}
