package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/dbfleet/terraform-provider-dbfleet/internal/cmdline"
)

// version and commit say what dbfleetd was built from; make build sets them
// with -ldflags "-X main.version=0.1.0 -X main.commit=<git commit>". Without
// a commit, runVersion prints the revision the go command stamped into the
// binary, if any.
var (
	version = "dev"
	commit  = ""
)

// versionHelp is what `dbfleetd version --help` prints.
const versionHelp = `usage: dbfleetd version
       dbfleetd --version

Prints dbfleetd's version and the commit it was built from.`

// runVersion prints "dbfleetd VERSION (commit COMMIT)".
func runVersion(args []string, stdout io.Writer) error {
	cmd := &cmdline.Command{Name: "dbfleetd version", Usage: versionHelp}
	positional, err := cmd.Parse(args)
	if err != nil {
		return err
	}
	if err := cmd.NoArguments(positional); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "dbfleetd %s (commit %s)\n", version, buildCommit())
	return err
}

// buildCommit is commit, else the VCS revision in the binary's build
// information (12 digits, "-dirty" when the tree had changes), else
// "unknown".
func buildCommit() string {
	if commit != "" {
		return commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var revision, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value[:min(len(s.Value), 12)]
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if revision == "" {
		return "unknown"
	}
	return revision + dirty
}
