package engine

import (
	"fmt"
	"regexp"
)

var identifierPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ValidateIdentifier checks that name is a lower-case PostgreSQL identifier
// dbfleet accepts: a letter, then up to 62 letters, digits or underscores.
// kind names what the identifier is ("database", "region") in the error.
func ValidateIdentifier(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s name is empty; use a lower-case letter followed by up to 62 lower-case letters, digits or underscores", kind)
	}
	if !identifierPattern.MatchString(name) {
		return fmt.Errorf("%s name %q is not valid; use a lower-case letter followed by up to 62 lower-case letters, digits or underscores", kind, truncate(name, 80))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
