// Package cmdline holds the command-line conventions that dbfleetd and
// dbfleet-runner share: `--help`, `-h` and `help` print a command's usage on
// stdout and exit 0; a usage error (an unknown command or flag, a bad or
// missing argument) prints one plain line and the usage on stderr and exits
// 2; any other error is the program's to report, with exit status 1.
//
// A command's function returns *Help or *UsageError instead of printing, and
// main passes what it returned to Exit.
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Command is one command or subcommand as its usage presents it.
type Command struct {
	// Name is the command line that runs it, such as "dbfleetd token
	// create"; a usage error's line starts with it.
	Name string
	// Usage is printed above the flags: a first line "usage: ..." and,
	// where it helps, a paragraph on what the command does.
	Usage string
	// Flags are the command's flags, printed below Usage; nil when it has
	// none. Parse sets their output to io.Discard: Exit prints.
	Flags *flag.FlagSet
}

// Help is what a command returns when its help was asked for.
type Help struct {
	Command *Command
}

func (h *Help) Error() string { return "help requested for " + h.Command.Name }

// UsageError is a command line that does not fit the command's usage.
type UsageError struct {
	Command *Command
	Err     error
}

func (e *UsageError) Error() string { return e.Command.Name + ": " + e.Err.Error() }

func (e *UsageError) Unwrap() error { return e.Err }

// IsHelp reports whether arg asks for help: -h, -help, --help or help.
func IsHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// Parse parses args with c's flags, flags and positional arguments in any
// order, and returns the positional ones. Help asked for with a flag or
// with a first argument "help" is a *Help, any other failure a *UsageError.
func (c *Command) Parse(args []string) ([]string, error) {
	if len(args) > 0 && args[0] == "help" {
		return nil, &Help{Command: c}
	}
	flags := c.Flags
	if flags == nil {
		flags = flag.NewFlagSet(c.Name, flag.ContinueOnError)
	}
	flags.SetOutput(io.Discard)
	var positional []string
	for {
		if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
			return nil, &Help{Command: c}
		} else if err != nil {
			return nil, &UsageError{Command: c, Err: err}
		}
		if flags.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, flags.Arg(0))
		args = flags.Args()[1:]
	}
}

// Errorf returns a *UsageError of c.
func (c *Command) Errorf(format string, args ...any) error {
	return &UsageError{Command: c, Err: fmt.Errorf(format, args...)}
}

// NoArguments returns a *UsageError when positional holds anything.
func (c *Command) NoArguments(positional []string) error {
	if len(positional) > 0 {
		return c.Errorf("takes no arguments, got %q", strings.Join(positional, " "))
	}
	return nil
}

// PrintUsage writes c's usage and flags to w.
func (c *Command) PrintUsage(w io.Writer) {
	fmt.Fprint(w, strings.TrimRight(c.Usage, "\n")+"\n")
	if c.Flags == nil {
		return
	}
	hasFlags := false
	c.Flags.VisitAll(func(*flag.Flag) { hasFlags = true })
	if !hasFlags {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	out := c.Flags.Output()
	c.Flags.SetOutput(w)
	c.Flags.PrintDefaults()
	c.Flags.SetOutput(out)
}

// Exit prints what err asks for and returns the exit status, with handled
// true, when err is nil, a *Help (usage on stdout, 0) or a *UsageError (its
// line and the usage on stderr, 2). Any other error is left to the caller,
// which reports it and exits 1: handled is false.
func Exit(err error, stdout, stderr io.Writer) (status int, handled bool) {
	var help *Help
	var usage *UsageError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &help):
		help.Command.PrintUsage(stdout)
		return 0, true
	case errors.As(err, &usage):
		fmt.Fprintln(stderr, usage.Error())
		usage.Command.PrintUsage(stderr)
		return 2, true
	}
	return 1, false
}
