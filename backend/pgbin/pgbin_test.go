package pgbin

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeBinDir creates dir with executable stand-ins for the named programs.
func fakeBinDir(t *testing.T, dir string, programs ...string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, p := range programs {
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\n"), 0o755))
	}
	return dir
}

func TestLocatorDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	envDir := fakeBinDir(t, filepath.Join(root, "env"), "postgres", "initdb")
	clientOnly := fakeBinDir(t, filepath.Join(root, "client"), "psql", "pg_dump")
	configDir := fakeBinDir(t, filepath.Join(root, "config"), "postgres", "initdb")
	versions := filepath.Join(root, "versions")
	fakeBinDir(t, filepath.Join(versions, "9.6", "bin"), "postgres", "initdb")
	v15 := fakeBinDir(t, filepath.Join(versions, "15", "bin"), "postgres", "initdb")
	fakeBinDir(t, filepath.Join(versions, "16", "bin"), "psql") // client only: skipped
	fakeBinDir(t, filepath.Join(versions, "notaversion", "bin"), "postgres", "initdb")
	empty := filepath.Join(root, "empty")
	require.NoError(t, os.Mkdir(empty, 0o755))

	pgConfig := func(dir string) func() (string, error) {
		return func() (string, error) { return dir, nil }
	}
	noPGConfig := func() (string, error) { return "", errors.New("pg_config: not found") }

	tests := []struct {
		name        string
		env         string
		pgConfigDir func() (string, error)
		versionRoot string
		want        string
		wantErr     string
	}{
		{name: "EnvWins", env: envDir, pgConfigDir: pgConfig(configDir), versionRoot: versions, want: envDir},
		{name: "EnvWithoutServerIsAnError", env: clientOnly, pgConfigDir: pgConfig(configDir), versionRoot: versions, wantErr: EnvBinDir + "=" + clientOnly},
		{name: "PGConfigWithServer", pgConfigDir: pgConfig(configDir), versionRoot: versions, want: configDir},
		{name: "PGConfigClientOnlyFallsBack", pgConfigDir: pgConfig(clientOnly), versionRoot: versions, want: v15},
		{name: "NoPGConfigTakesHighestVersion", pgConfigDir: noPGConfig, versionRoot: versions, want: v15},
		{name: "NothingFound", pgConfigDir: noPGConfig, versionRoot: empty, wantErr: `apt-get install -y postgresql`},
		{name: "MissingVersionRoot", pgConfigDir: noPGConfig, versionRoot: filepath.Join(root, "missing"), wantErr: `apt-get install -y postgresql`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := locator{
				getenv:      func(string) string { return tt.env },
				pgConfigDir: tt.pgConfigDir,
				versionRoot: tt.versionRoot,
			}
			got, err := l.dir()
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestPathOnThisMachine checks the real lookup: PostgreSQL's server programs are installed on
// every machine that runs the tests (scripts/ensure-postgres.sh).
func TestPathOnThisMachine(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"initdb", "postgres", "pg_ctl", "pg_dump", "pg_restore", "psql"} {
		p, err := Path(name)
		require.NoError(t, err, name)
		require.True(t, filepath.IsAbs(p), p)
		require.Equal(t, name, filepath.Base(p))
	}
	_, err := Path("no_such_program")
	require.ErrorContains(t, err, "no_such_program")
}
