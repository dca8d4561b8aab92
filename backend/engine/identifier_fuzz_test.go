package engine

import (
	"testing"
	"unicode/utf8"
)

// validIdentifier is ValidateIdentifier's rule written out by hand, as the
// fuzz target's reference.
func validIdentifier(s string) bool {
	if len(s) < 1 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// FuzzValidateIdentifier holds ValidateIdentifier to the hand-written rule,
// checks that what it accepts needs no escaping when quoted (so quoting can
// never be what stands between a name and SQL), and that its errors stay
// short, printable and valid UTF-8 whatever the input.
func FuzzValidateIdentifier(f *testing.F) {
	for _, seed := range []string{"orders", "a", "Robert'); DROP TABLE x;--", `a"b`, "orders\n", "bestellungen_ä",
		"a\x00b", "_x", "1x", "\xff\xfe", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateIdentifier("database", name)
		if want := validIdentifier(name); (err == nil) != want {
			t.Fatalf("ValidateIdentifier(%q) = %v, want valid=%v", name, err, want)
		}
		if err == nil {
			if got := quoteIdentifier(name); got != `"`+name+`"` {
				t.Fatalf("accepted %q needs escaping: %s", name, got)
			}
			return
		}
		msg := err.Error()
		if len(msg) > 600 { // 80 input bytes at most, each at most 4 once quoted
			t.Fatalf("error message is %d bytes long for a %d-byte input", len(msg), len(name))
		}
		if !utf8.ValidString(msg) {
			t.Fatalf("error message is not valid UTF-8: %q", msg)
		}
		for _, r := range msg {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("error message carries a control character: %q", msg)
			}
		}
	})
}
