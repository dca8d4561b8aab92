package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/internal/cmdline/cmdlinetest"
)

// runnerBin is the dbfleet-runner that TestMain builds.
var runnerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dbfleet-runner-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runnerBin = filepath.Join(dir, "dbfleet-runner")
	code := 1
	if out, err := exec.Command("go", "build", "-o", runnerBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build dbfleet-runner: %v\n%s", err, out)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestCommandLineConventions runs dbfleet-runner's every command with
// --help, -h, help and a flag it does not have: help goes to stdout with
// exit status 0; the bad flag is a usage error.
func TestCommandLineConventions(t *testing.T) {
	t.Parallel()
	cmdlinetest.Conventions(t, runnerBin, "dbfleet-runner", []cmdlinetest.Command{
		{Subcommands: true},
		{Path: []string{"run"}, Flags: true},
		{Path: []string{"sweep"}, Flags: true},
		{Path: []string{"report"}, Flags: true},
	})
}

// TestUsageErrors runs command lines that do not fit a usage, with no
// DBFLEET_ENDPOINT or DBFLEET_TOKEN: each is a usage error whose line says
// what is wrong, found before anything is opened or contacted.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	endpoint := []string{"-endpoint", "http://127.0.0.1:1", "-token", "t"}
	tests := []struct {
		args []string
		name string
		want string
	}{
		{nil, "dbfleet-runner", "a command is required"},
		{[]string{"watch"}, "dbfleet-runner", `unknown command "watch"`},
		{[]string{"run"}, "dbfleet-runner run", "the endpoint and the token are required"},
		{[]string{"sweep", "-endpoint", "http://127.0.0.1:1"}, "dbfleet-runner sweep", "the endpoint and the token are required"},
		{append([]string{"run", "-scenarios", "nope"}, endpoint...), "dbfleet-runner run", `-scenarios: unknown scenario "nope"`},
		{append([]string{"run", "-log-level", "loud"}, endpoint...), "dbfleet-runner run", "-log-level:"},
		{append([]string{"run", "now"}, endpoint...), "dbfleet-runner run", `takes no arguments, got "now"`},
		{[]string{"report", "-since"}, "dbfleet-runner report", "flag needs an argument: -since"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cmdlinetest.RequireUsageError(t, cmdlinetest.Run(t, dir, runnerBin, tt.args...), tt.name, tt.want)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, entries, "a usage error opens no results store")
		})
	}
}

// TestRuntimeErrorIsNotAUsageError: report on a results store that does
// not exist fits the usage but fails: exit status 1, one line, no usage.
func TestRuntimeErrorIsNotAUsageError(t *testing.T) {
	t.Parallel()
	r := cmdlinetest.Run(t, t.TempDir(), runnerBin, "report", "-results", "missing.db")
	require.Equal(t, 1, r.Status, "stderr:\n%s", r.Stderr)
	require.Empty(t, r.Stdout)
	require.Regexp(t, `^dbfleet-runner: -results: .*missing\.db.*\n$`, r.Stderr)
}
