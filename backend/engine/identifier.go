package engine

import (
	"fmt"
	"regexp"
	"strings"
)

var identifierPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// reservedDatabases are PostgreSQL's own databases, never dbfleet's.
var reservedDatabases = map[string]bool{"postgres": true, "template0": true, "template1": true}

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
	if strings.HasPrefix(name, "pg_") {
		return fmt.Errorf("%s name %q is not valid: names starting with pg_ are reserved by PostgreSQL", kind, name)
	}
	if kind == "database" && reservedDatabases[name] {
		return fmt.Errorf("database name %q is not valid: it is one of PostgreSQL's own databases", name)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
