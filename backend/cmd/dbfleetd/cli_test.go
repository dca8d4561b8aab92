package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/internal/cmdline/cmdlinetest"
)

// TestCommandLineConventions runs dbfleetd's every command and subcommand
// with --help, -h, help and a flag it does not have: help goes to stdout
// with exit status 0 and starts nothing; the bad flag is a usage error.
func TestCommandLineConventions(t *testing.T) {
	t.Parallel()
	cmdlinetest.Conventions(t, dbfleetd, "dbfleetd", []cmdlinetest.Command{
		{Subcommands: true},
		{Path: []string{"dev"}, Flags: true},
		{Path: []string{"serve"}, Flags: true},
		{Path: []string{"token"}, Subcommands: true},
		{Path: []string{"token", "create"}, Flags: true},
		{Path: []string{"token", "list"}, Flags: true},
		{Path: []string{"token", "revoke"}, Flags: true},
		{Path: []string{"version"}},
	})
}

// TestUsageErrors runs command lines that do not fit a usage: each is a
// usage error whose line says what is wrong.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		name string
		want string
	}{
		{nil, "dbfleetd", "a command is required"},
		{[]string{"launch"}, "dbfleetd", `unknown command "launch"`},
		{[]string{"help", "launch"}, "dbfleetd", `unknown command "launch"`},
		{[]string{"dev", "now"}, "dbfleetd dev", `takes no arguments, got "now"`},
		{[]string{"dev", "--admin", "root"}, "dbfleetd dev", "--admin:"},
		{[]string{"dev", "--listen"}, "dbfleetd dev", "flag needs an argument: -listen"},
		{[]string{"serve", "--config", "a.yaml", "b.yaml"}, "dbfleetd serve", `takes no arguments, got "b.yaml"`},
		{[]string{"token"}, "dbfleetd token", "a token command is required"},
		{[]string{"token", "rotate"}, "dbfleetd token", `unknown token command "rotate"`},
		{[]string{"token", "create", "--data-dir", "."}, "dbfleetd token create", "--scope is required"},
		{[]string{"token", "list"}, "dbfleetd token list", "--config FILE (serve) or --data-dir DIR (dev)"},
		{[]string{"token", "list", "--scope", "read", "--data-dir", "."}, "dbfleetd token list", "flag provided but not defined: -scope"},
		{[]string{"token", "list", "--config", "a.yaml", "--data-dir", "."}, "dbfleetd token list", "not both"},
		{[]string{"token", "revoke", "--data-dir", "."}, "dbfleetd token revoke", "takes the token's name, got 0 arguments"},
		{[]string{"version", "--short"}, "dbfleetd version", "flag provided but not defined: -short"},
		{[]string{"--version", "now"}, "dbfleetd version", `takes no arguments, got "now"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			t.Parallel()
			cmdlinetest.RequireUsageError(t, cmdlinetest.Run(t, t.TempDir(), dbfleetd, tt.args...), tt.name, tt.want)
		})
	}
}

// TestRuntimeErrorIsLoggedNotAUsageError: a command line that fits the
// usage but fails (a configuration or state file that does not exist) exits
// 1 with the error logged, not with the usage.
func TestRuntimeErrorIsLoggedNotAUsageError(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"serve", "--config", "missing.yaml"},
		{"token", "list", "--data-dir", "missing"},
	} {
		r := cmdlinetest.Run(t, t.TempDir(), dbfleetd, args...)
		require.Equal(t, 1, r.Status, "%q: stderr:\n%s", args, r.Stderr)
		require.Contains(t, r.Stderr, `"message":"dbfleetd failed"`)
		require.NotContains(t, r.Stderr, "usage:")
	}
}

// TestServeRefusesBadSettings: serve stops at start, before it opens
// anything, on a setting it cannot honour, naming the file and the key.
func TestServeRefusesBadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, setting, want string
	}{
		{"UnknownDeadlineKind", "operation_deadlines: {create_database: 1h}", "create_database"},
		{"NonPositiveDeadline", "operation_deadline: -1m", "operation_deadline"},
		{"NegativeReconcileInterval", "reconcile_interval: -5s", "reconcile_interval must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			config := "state_path: " + filepath.Join(dir, "state.db") + "\nbackup_dir: " + dir +
				"\nbootstrap_token_file: " + filepath.Join(dir, "token") +
				"\nregions:\n  - name: westeurope\n    admin_dsn: postgres://admin@127.0.0.1:1/postgres\n" + tt.setting + "\n"
			path := filepath.Join(dir, "dbfleetd.yaml")
			require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
			r := cmdlinetest.Run(t, dir, dbfleetd, "serve", "--config", path)
			require.Equal(t, 1, r.Status, "stderr:\n%s", r.Stderr)
			require.Contains(t, r.Stderr, path)
			require.Contains(t, r.Stderr, tt.want)
		})
	}
}

// TestVersion runs `dbfleetd version` and `dbfleetd --version` on the
// test's build, whose commit is the revision the go command stamped, and
// on a build whose version and commit come from -ldflags, as make build
// sets them.
func TestVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stamped := filepath.Join(dir, "dbfleetd")
	build := exec.Command("go", "build", "-o", stamped, "-ldflags", "-X main.version=1.2.3 -X main.commit=0123abcd", ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	tests := []struct {
		bin  string
		want *regexp.Regexp
	}{
		{dbfleetd, regexp.MustCompile(`^dbfleetd dev \(commit ([0-9a-f]{12}(-dirty)?|unknown)\)\n$`)},
		{stamped, regexp.MustCompile(`^dbfleetd 1\.2\.3 \(commit 0123abcd\)\n$`)},
	}
	for _, tt := range tests {
		for _, arg := range []string{"version", "--version"} {
			r := cmdlinetest.Run(t, dir, tt.bin, arg)
			require.Equal(t, 0, r.Status, "stderr:\n%s", r.Stderr)
			require.Empty(t, r.Stderr)
			require.Regexp(t, tt.want, r.Stdout)
		}
	}
}
