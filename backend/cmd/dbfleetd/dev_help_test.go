package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDevHelpSaysWhereTheFilesLive runs `dbfleetd dev --help`: it succeeds, says where the files
// live and how the clusters under /var/tmp go, and makes no data directory.
func TestDevHelpSaysWhereTheFilesLive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	cmd := exec.Command(dbfleetd, "dev", "--help")
	cmd.Dir = dir
	cmd.Stdout = &out
	cmd.Stderr = &out
	require.NoError(t, cmd.Run(), out.String())
	for _, want := range []string{"DATA-DIR/regions/NAME/", "/var/tmp/dbfleet-dev-HASH/NAME/", "/var/tmp/dbfleet-dev-HASH/owner", "delete DATA-DIR", "-data-dir"} {
		require.Contains(t, out.String(), want)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "--help starts nothing")
}
