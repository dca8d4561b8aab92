package pgbin

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PgDump is a pg_dump program and the PostgreSQL release it comes from.
type PgDump struct {
	// Path is the program's absolute path.
	Path string
	// Version is the release as pg_dump --version prints it, such as "15.18".
	Version string
	// Major is the major version, such as 15 (9 for 9.6: older than any supported server).
	Major int
}

// String is the program and its version, for messages.
func (p PgDump) String() string { return p.Path + " (" + p.Version + ")" }

// versionTimeout bounds `pg_dump --version`: a program that hangs is not one to back up with.
const versionTimeout = 5 * time.Second

// FindPgDumps finds every pg_dump program the machine has and reads its version, so that each
// server gets one at least as new as itself. It looks at configured, each a pg_dump program or
// a directory holding one, then DBFLEET_PG_BIN_DIR, `pg_config --bindir` and every
// /usr/lib/postgresql/*/bin. A path found twice counts once; a configured path that is no
// working pg_dump is an error, since the configuration promised one. The result is sorted by
// major version, then path.
func FindPgDumps(ctx context.Context, configured []string) ([]PgDump, error) {
	return dumpFinder{
		getenv:      os.Getenv,
		pgConfigDir: pgConfigBinDir,
		versionRoot: "/usr/lib/postgresql",
	}.find(ctx, configured)
}

// dumpFinder holds the sources FindPgDumps consults, so that tests can replace them.
type dumpFinder struct {
	getenv      func(string) string
	pgConfigDir func() (string, error)
	versionRoot string
}

func (d dumpFinder) find(ctx context.Context, configured []string) ([]PgDump, error) {
	var found []PgDump
	seen := map[string]bool{}
	add := func(path string, required bool) error {
		p, err := readPgDump(ctx, path)
		if err != nil {
			if required {
				return err
			}
			return nil
		}
		if !seen[p.Path] {
			seen[p.Path] = true
			found = append(found, p)
		}
		return nil
	}
	for _, c := range configured {
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			c = filepath.Join(c, "pg_dump")
		}
		if err := add(c, true); err != nil {
			return nil, fmt.Errorf("configured pg_dump %s: %w", c, err)
		}
	}
	var dirs []string
	if dir := d.getenv(EnvBinDir); dir != "" {
		dirs = append(dirs, dir)
	}
	if dir, err := d.pgConfigDir(); err == nil {
		dirs = append(dirs, dir)
	}
	if matches, err := filepath.Glob(filepath.Join(d.versionRoot, "*", "bin")); err == nil {
		dirs = append(dirs, matches...)
	}
	for _, dir := range dirs {
		_ = add(filepath.Join(dir, "pg_dump"), false)
	}
	slices.SortFunc(found, func(a, b PgDump) int { return cmp.Or(cmp.Compare(a.Major, b.Major), cmp.Compare(a.Path, b.Path)) })
	return found, nil
}

// versionPattern finds the release in `pg_dump --version`, as in
// "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" or "pg_dump (PostgreSQL) 18beta1".
var versionPattern = regexp.MustCompile(`\(PostgreSQL\) ((\d+)(?:\.\d+)*\S*)`)

// readPgDump runs path --version and reads the release it names.
func readPgDump(ctx context.Context, path string) (PgDump, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return PgDump{}, fmt.Errorf("resolve %s: %w", path, err)
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	if !isExecutable(abs) {
		return PgDump{}, fmt.Errorf("%s is missing or not executable", abs)
	}
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, abs, "--version").Output()
	if err != nil {
		return PgDump{}, fmt.Errorf("run %s --version: %w", abs, err)
	}
	m := versionPattern.FindStringSubmatch(string(out))
	if m == nil {
		return PgDump{}, fmt.Errorf("%s --version printed %q, not a PostgreSQL pg_dump's version", abs, strings.TrimSpace(string(out)))
	}
	major, err := strconv.Atoi(m[2])
	if err != nil {
		return PgDump{}, fmt.Errorf("%s --version: major version %q: %w", abs, m[2], err)
	}
	return PgDump{Path: abs, Version: m[1], Major: major}, nil
}

// PgDumpFor returns the oldest of dumps (sorted as FindPgDumps sorts them) whose major version is
// at least serverMajor: pg_dump refuses servers newer than itself, and the oldest one that can
// dump a server writes the archive the most pg_restore versions read.
func PgDumpFor(dumps []PgDump, serverMajor int) (PgDump, bool) {
	i := slices.IndexFunc(dumps, func(p PgDump) bool { return p.Major >= serverMajor })
	if i < 0 {
		return PgDump{}, false
	}
	return dumps[i], true
}
