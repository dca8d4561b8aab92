package pgbin

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakePgDump writes an executable at dir/pg_dump that prints versionLine, as pg_dump --version
// would: the machine has one pg_dump release, and the search is about several.
func fakePgDump(t *testing.T, dir, versionLine string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	p := filepath.Join(dir, "pg_dump")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\necho '"+versionLine+"'\n"), 0o755))
	return p
}

func TestFindPgDumps(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	versions := filepath.Join(root, "versions")
	v15 := fakePgDump(t, filepath.Join(versions, "15", "bin"), "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)")
	v17 := fakePgDump(t, filepath.Join(versions, "17", "bin"), "pg_dump (PostgreSQL) 17.6")
	fakeBinDir(t, filepath.Join(versions, "16", "bin"), "psql") // no pg_dump: skipped
	fakePgDump(t, filepath.Join(versions, "bogus", "bin"), "not a pg_dump")
	envDir := filepath.Join(root, "env")
	v18 := fakePgDump(t, envDir, "pg_dump (PostgreSQL) 18beta1")
	configuredDir := filepath.Join(root, "opt", "pg16")
	v16 := fakePgDump(t, configuredDir, "pg_dump (PostgreSQL) 16.10")
	link := filepath.Join(root, "pg_dump15")
	require.NoError(t, os.Symlink(v15, link))

	noPGConfig := func() (string, error) { return "", errors.New("pg_config: not found") }
	tests := []struct {
		name       string
		env        string
		pgConfig   func() (string, error)
		configured []string
		want       []PgDump
		wantErr    string
	}{
		{
			name: "EveryPlace", env: envDir, pgConfig: func() (string, error) { return filepath.Dir(v17), nil },
			configured: []string{configuredDir, link},
			want: []PgDump{
				{Path: v15, Version: "15.18", Major: 15}, {Path: v16, Version: "16.10", Major: 16},
				{Path: v17, Version: "17.6", Major: 17}, {Path: v18, Version: "18beta1", Major: 18},
			},
		},
		{
			name: "VersionDirectoriesOnly", pgConfig: noPGConfig,
			want: []PgDump{{Path: v15, Version: "15.18", Major: 15}, {Path: v17, Version: "17.6", Major: 17}},
		},
		{name: "ConfiguredMissing", pgConfig: noPGConfig, configured: []string{filepath.Join(root, "nope", "pg_dump")}, wantErr: "missing or not executable"},
		{name: "ConfiguredNotPgDump", pgConfig: noPGConfig, configured: []string{filepath.Join(versions, "bogus", "bin")}, wantErr: "not a PostgreSQL pg_dump's version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := dumpFinder{getenv: func(string) string { return tt.env }, pgConfigDir: tt.pgConfig, versionRoot: versions}
			got, err := d.find(context.Background(), tt.configured)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestPgDumpFor(t *testing.T) {
	t.Parallel()
	dumps := []PgDump{{Path: "/a", Major: 15}, {Path: "/b", Major: 17}, {Path: "/c", Major: 18}}
	tests := []struct {
		server int
		want   string
	}{{14, "/a"}, {15, "/a"}, {16, "/b"}, {17, "/b"}, {18, "/c"}, {19, ""}}
	for _, tt := range tests {
		got, ok := PgDumpFor(dumps, tt.server)
		require.Equal(t, tt.want != "", ok, "server %d", tt.server)
		require.Equal(t, tt.want, got.Path, "server %d", tt.server)
	}
}

// TestFindPgDumpsOnThisMachine finds the machine's real pg_dump (scripts/ensure-postgres.sh
// installs one) with the version it prints itself.
func TestFindPgDumpsOnThisMachine(t *testing.T) {
	t.Parallel()
	path, err := Path("pg_dump")
	require.NoError(t, err)
	out, err := exec.Command(path, "--version").Output()
	require.NoError(t, err)
	dumps, err := FindPgDumps(context.Background(), nil)
	require.NoError(t, err)
	resolved, err := filepath.EvalSymlinks(path)
	require.NoError(t, err)
	var found *PgDump
	for i := range dumps {
		if dumps[i].Path == resolved {
			found = &dumps[i]
		}
	}
	require.NotNil(t, found, "found %v, not %s", dumps, resolved)
	require.Contains(t, string(out), found.Version)
	require.GreaterOrEqual(t, found.Major, 14)
}
