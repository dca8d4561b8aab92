package devregions

import "path/filepath"

// FallbackParent is the directory under which a fleet on dataDir keeps the clusters it cannot keep
// under dataDir.
func FallbackParent(dataDir string) string {
	return filepath.Dir(fallbackDir(dataDir, "region"))
}

// ParseServerBuilds parses a DBFLEET_PG_VERSIONS value.
var ParseServerBuilds = parseServerBuilds
