package apiv1

import (
	"strconv"
	"unicode/utf8"
)

// QuotedValueMax is how many bytes of a bad value an error message quotes.
const QuotedValueMax = 80

// cutPrefix returns the first QuotedValueMax bytes of value, cut at a rune
// boundary, and whether anything was cut.
func cutPrefix(value string) (string, bool) {
	if len(value) <= QuotedValueMax {
		return value, false
	}
	cut := QuotedValueMax
	for cut > 0 && !utf8.RuneStart(value[cut]) {
		cut--
	}
	return value[:cut], true
}

// Quote returns value Go-quoted for an error message, cut to its first
// QuotedValueMax bytes and marked as cut with its full length, so that a
// huge value never comes back whole.
func Quote(value string) string {
	prefix, cut := cutPrefix(value)
	if !cut {
		return strconv.Quote(value)
	}
	return strconv.Quote(prefix) + "… (cut; " + strconv.Itoa(len(value)) + " bytes in all)"
}

// CutString returns value unquoted, cut like Quote and marked "…" when cut.
func CutString(value string) string {
	prefix, cut := cutPrefix(value)
	if cut {
		return prefix + "…"
	}
	return value
}
