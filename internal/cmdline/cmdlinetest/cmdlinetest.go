// Package cmdlinetest checks a built program against package cmdline's
// conventions by running it: help on stdout with exit status 0, usage errors
// as one plain line and the usage on stderr with exit status 2.
package cmdlinetest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Result is what one run of a program printed and its exit status.
type Result struct {
	Stdout, Stderr string
	Status         int
}

// Run runs bin with args in dir, with no environment beyond PATH and HOME
// (dir), so that the caller's DBFLEET_* variables cannot change the outcome,
// and fails the test unless it ran to an exit status.
func Run(t *testing.T, dir, bin string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running %s %q: %v", bin, args, err)
	}
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Status: cmd.ProcessState.ExitCode()}
}

// RequireUsageError checks r for a usage error: exit status 2, nothing on
// stdout, and on stderr one plain line that starts with the command's name
// and holds want, then the command's usage; no JSON log line.
func RequireUsageError(t *testing.T, r Result, name, want string) {
	t.Helper()
	require.Equal(t, 2, r.Status, "stderr:\n%s", r.Stderr)
	require.Empty(t, r.Stdout)
	first, rest, _ := strings.Cut(r.Stderr, "\n")
	require.True(t, strings.HasPrefix(first, name+": "), "first line %q starts with %q", first, name+": ")
	require.Contains(t, first, want)
	require.True(t, strings.HasPrefix(rest, "usage:"), "the usage follows the line:\n%s", r.Stderr)
	require.NotContains(t, r.Stderr, "{", "no JSON log line")
}

// Command is one command or subcommand of the program under test.
type Command struct {
	// Path is what follows the program's name, such as {"token", "create"};
	// empty for the program itself.
	Path []string
	// Subcommands says the command's first argument is a subcommand, so an
	// unknown flag there is an unknown command.
	Subcommands bool
	// Flags says the command's usage lists flags.
	Flags bool
}

// Conventions runs program (built at bin) with each command's path and
// --help, -h, help and a flag none has, each in a new directory in which it
// must make no file: help prints the usage on stdout, nothing on stderr,
// exits 0, and is what `program help PATH...` prints; the flag is a usage
// error.
func Conventions(t *testing.T, bin, program string, commands []Command) {
	t.Helper()
	for _, c := range commands {
		name := strings.Join(append([]string{program}, c.Path...), " ")
		for _, arg := range []string{"--help", "-h", "help", "--no-such-flag"} {
			t.Run(strings.Join(append(append([]string{}, c.Path...), arg), "_"), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				r := Run(t, dir, bin, append(append([]string{}, c.Path...), arg)...)
				entries, err := os.ReadDir(dir)
				require.NoError(t, err)
				require.Empty(t, entries, "the command made files")
				if arg == "--no-such-flag" {
					want := "flag provided but not defined: -no-such-flag"
					if c.Subcommands {
						// "unknown command" or "unknown token command"
						want = `command "--no-such-flag"`
					}
					RequireUsageError(t, r, name, want)
					return
				}
				require.Equal(t, 0, r.Status, "stderr:\n%s", r.Stderr)
				require.Empty(t, r.Stderr)
				require.True(t, strings.HasPrefix(r.Stdout, "usage:"), "stdout:\n%s", r.Stdout)
				require.Contains(t, r.Stdout, name)
				if c.Flags {
					require.Contains(t, r.Stdout, "\nFlags:\n")
				}
				require.Equal(t, r, Run(t, dir, bin, append([]string{"help"}, c.Path...)...), "help %s", strings.Join(c.Path, " "))
			})
		}
	}
}
