package runner

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	// runIDTimeLen is how many base-36 digits of the run's start (Unix
	// seconds) begin a run id: seven reach past the year 4000.
	runIDTimeLen = 7
	// runIDRandomLen is how many random base-36 digits follow, so that runs
	// started in the same second differ.
	runIDRandomLen = 4
	// runIDLen is the length of a run id.
	runIDLen = runIDTimeLen + runIDRandomLen
	// maxPrefixLen leaves room in a 63-character identifier for the run id
	// and a scenario's suffix.
	maxPrefixLen = 20
)

// prefixPattern is what a resource prefix may be: the start of a dbfleet
// identifier, ending in an underscore so that names stay readable.
var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,18}_$`)

// identifierPattern is dbfleet's rule for database and schema names.
var identifierPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ValidatePrefix checks a resource prefix: a lower-case letter, then up to
// 18 lower-case letters, digits or underscores, ending with an underscore.
func ValidatePrefix(prefix string) error {
	if len(prefix) > maxPrefixLen || !prefixPattern.MatchString(prefix) {
		return fmt.Errorf("prefix %q must be a lower-case letter followed by up to %d lower-case letters, digits or underscores, ending with an underscore (such as %q)",
			prefix, maxPrefixLen-1, DefaultPrefix)
	}
	return nil
}

// NewRunID returns a run id for a run started at start: seven base-36 digits
// of its Unix second and four random ones, such as "0sb2kq1x7f3".
func NewRunID(start time.Time) (string, error) {
	random, err := rand.Int(rand.Reader, big.NewInt(36*36*36*36))
	if err != nil {
		return "", fmt.Errorf("drawing a run id: %w", err)
	}
	return formatBase36(start.Unix(), runIDTimeLen) + formatBase36(random.Int64(), runIDRandomLen), nil
}

func formatBase36(n int64, width int) string {
	s := strconv.FormatInt(n, 36)
	if len(s) > width {
		return s[len(s)-width:]
	}
	return strings.Repeat("0", width-len(s)) + s
}

// runIDStart is the start time a run id carries.
func runIDStart(runID string) (time.Time, error) {
	if len(runID) != runIDLen {
		return time.Time{}, fmt.Errorf("run id %q has %d characters, want %d", runID, len(runID), runIDLen)
	}
	secs, err := strconv.ParseInt(runID[:runIDTimeLen], 36, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("run id %q: %w", runID, err)
	}
	if _, err := strconv.ParseInt(runID[runIDTimeLen:], 36, 64); err != nil {
		return time.Time{}, fmt.Errorf("run id %q: %w", runID, err)
	}
	return time.Unix(secs, 0), nil
}

// runIDOf returns the run id in a resource name made by resourceName with
// prefix, and false for any other name.
func runIDOf(prefix, name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || len(rest) < runIDLen+1 || rest[runIDLen] != '_' {
		return "", false
	}
	runID := rest[:runIDLen]
	if _, err := runIDStart(runID); err != nil || strings.ToLower(runID) != runID {
		return "", false
	}
	return runID, true
}

// resourceName names a run's resource: <prefix><run id>_<suffix>. It fails
// when the name would not be a valid dbfleet identifier.
func resourceName(prefix, runID, suffix string) (string, error) {
	name := prefix + runID + "_" + suffix
	if !identifierPattern.MatchString(name) {
		return "", fmt.Errorf("resource name %q must match %s", name, identifierPattern)
	}
	return name, nil
}
