package devregions

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// EnvVersions names the environment variable that lists the PostgreSQL server builds tests run
// against, as major=bindir pairs separated by commas: "14=/var/cache/dbfleet/postgresql/14/bin,
// 15=…". `make test` sets it from scripts/ensure-postgres-versions.sh.
const EnvVersions = "DBFLEET_PG_VERSIONS"

// ServerBuild is a PostgreSQL server build a test can start a fleet on (Options.BinDir).
type ServerBuild struct {
	// Major is the major version, such as 18; 0 for the machine's default server when
	// DBFLEET_PG_VERSIONS is unset, whose version this package does not ask.
	Major int
	// BinDir is the build's program directory; empty for the machine's default server.
	BinDir string
}

// Name is how tests name the build in subtests: "pg18", or "default".
func (b ServerBuild) Name() string {
	if b.Major == 0 {
		return "default"
	}
	return "pg" + strconv.Itoa(b.Major)
}

// ServerBuilds returns the builds DBFLEET_PG_VERSIONS lists, by ascending major, or, when it is
// unset or empty, the machine's default server alone.
func ServerBuilds() ([]ServerBuild, error) {
	return parseServerBuilds(os.Getenv(EnvVersions))
}

func parseServerBuilds(list string) ([]ServerBuild, error) {
	if strings.TrimSpace(list) == "" {
		return []ServerBuild{{}}, nil
	}
	var builds []ServerBuild
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		majorText, dir, ok := strings.Cut(entry, "=")
		major, err := strconv.Atoi(majorText)
		if !ok || err != nil || major <= 0 || dir == "" {
			return nil, fmt.Errorf("reading %s: entry %q is not <major>=<bin dir>", EnvVersions, entry)
		}
		if slices.ContainsFunc(builds, func(b ServerBuild) bool { return b.Major == major }) {
			return nil, fmt.Errorf("reading %s: major %d is listed twice", EnvVersions, major)
		}
		builds = append(builds, ServerBuild{Major: major, BinDir: dir})
	}
	if len(builds) == 0 {
		return []ServerBuild{{}}, nil
	}
	slices.SortFunc(builds, func(a, b ServerBuild) int { return cmp.Compare(a.Major, b.Major) })
	return builds, nil
}
