// Package pgbin locates the PostgreSQL server programs (initdb, postgres, pg_ctl, pg_dump,
// pg_restore, psql) of the machine.
package pgbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// EnvBinDir is the environment variable that names the directory of the PostgreSQL programs. When
// set, it is the only place looked at.
const EnvBinDir = "DBFLEET_PG_BIN_DIR"

// installHint ends every "not found" error: the programs come from the distribution's package.
const installHint = `install them with "apt-get install -y postgresql" (Debian/Ubuntu) or set ` + EnvBinDir + ` to their directory`

// Dir returns the directory of the PostgreSQL server programs. It tries, in order, the directory
// named by DBFLEET_PG_BIN_DIR, the output of `pg_config --bindir` (only when that directory holds
// the server programs: pg_config alone also comes with client-only packages), and the highest
// version of /usr/lib/postgresql/*/bin.
func Dir() (string, error) {
	return locator{
		getenv:      os.Getenv,
		pgConfigDir: pgConfigBinDir,
		versionRoot: "/usr/lib/postgresql",
	}.dir()
}

// Path returns the absolute path of the PostgreSQL program name (for example "initdb" or
// "pg_dump") in Dir.
func Path(name string) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	if !isExecutable(p) {
		return "", fmt.Errorf("finding PostgreSQL program %s: %s is missing or not executable; %s", name, p, installHint)
	}
	return p, nil
}

// locator holds the sources Dir consults, so that tests can replace them.
type locator struct {
	getenv      func(string) string
	pgConfigDir func() (string, error)
	versionRoot string
}

func (l locator) dir() (string, error) {
	if d := l.getenv(EnvBinDir); d != "" {
		if !hasServer(d) {
			return "", fmt.Errorf("finding PostgreSQL programs: %s=%s has no executable postgres and initdb; %s", EnvBinDir, d, installHint)
		}
		return filepath.Abs(d)
	}
	if d, err := l.pgConfigDir(); err == nil && hasServer(d) {
		return d, nil
	}
	if d, ok := highestVersionDir(l.versionRoot); ok {
		return d, nil
	}
	return "", fmt.Errorf("finding PostgreSQL programs: no postgres and initdb in %s, `pg_config --bindir` or %s/*/bin; %s",
		EnvBinDir, l.versionRoot, installHint)
}

// pgConfigBinDir asks the pg_config on PATH for its bindir.
func pgConfigBinDir() (string, error) {
	out, err := exec.Command("pg_config", "--bindir").Output()
	if err != nil {
		return "", fmt.Errorf("running pg_config --bindir: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// highestVersionDir returns root/<version>/bin of the highest numeric version that holds the
// server programs.
func highestVersionDir(root string) (string, bool) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", false
	}
	type candidate struct {
		version []int
		dir     string
	}
	var found []candidate
	for _, e := range entries {
		v, ok := parseVersion(e.Name())
		if !ok {
			continue
		}
		d := filepath.Join(root, e.Name(), "bin")
		if hasServer(d) {
			found = append(found, candidate{version: v, dir: d})
		}
	}
	if len(found) == 0 {
		return "", false
	}
	best := slices.MaxFunc(found, func(a, b candidate) int { return slices.Compare(a.version, b.version) })
	return best.dir, true
}

// parseVersion parses a directory name such as "15" or "9.6" into its numeric components.
func parseVersion(name string) ([]int, bool) {
	parts := strings.Split(name, ".")
	v := make([]int, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

// hasServer reports whether dir holds the programs a cluster needs to be created and run.
func hasServer(dir string) bool {
	return isExecutable(filepath.Join(dir, "postgres")) && isExecutable(filepath.Join(dir, "initdb"))
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
