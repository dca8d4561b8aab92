package apiclient_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGeneratedClientIsCurrent regenerates the client from backend/api/openapi.json with the
// oapi-codegen that tools/go.mod pins, as go generate does, and fails when apiclient.gen.go
// differs: a change to the document must come with the regenerated client.
func TestGeneratedClientIsCurrent(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "apiclient.gen.go")
	cmd := exec.CommandContext(t.Context(), "go", "tool", "-modfile=../../../tools/go.mod", "oapi-codegen",
		"-config", "oapi-codegen.yaml", "-o", out, "../openapi.json")
	log, err := cmd.CombinedOutput()
	require.NoError(t, err, "oapi-codegen refused backend/api/openapi.json:\n%s", log)
	want, err := os.ReadFile(out)
	require.NoError(t, err)
	got, err := os.ReadFile("apiclient.gen.go")
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got),
		"apiclient.gen.go is stale: run go generate ./backend/api/apiclient/ and commit it")
}
