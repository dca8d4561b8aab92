package acceptance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/stretchr/testify/require"
)

// cliTimeout bounds one run of the Terraform CLI.
const cliTimeout = 5 * time.Minute

// cliProvider is the provider binary that tests which run the Terraform
// CLI themselves use, built once per test binary, and the CLI
// configuration that points Terraform at it.
var cliProvider struct {
	once       sync.Once
	configFile string
	err        error
}

// terraformCLIConfig builds the provider from this module into the fleet's
// run directory, which TestMain removes, and writes a CLI configuration
// whose dev_overrides make Terraform use it for dbfleet/dbfleet. It
// returns the configuration's path. Under dev_overrides Terraform needs no
// terraform init (which would ask the registry), and the test does not
// depend on what `make install` put in the local mirror.
func terraformCLIConfig(t *testing.T) string {
	t.Helper()
	cliProvider.once.Do(func() {
		cliProvider.configFile, cliProvider.err = buildCLIProvider()
	})
	require.NoError(t, cliProvider.err)
	return cliProvider.configFile
}

func buildCLIProvider() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(fleet.runDir, "provider")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	build := exec.Command("go", "build", "-ldflags", "-X main.version=acc", "-o", filepath.Join(dir, "terraform-provider-dbfleet"), ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build of the provider in %s: %w\n%s", root, err, out)
	}
	// The same configuration serves both CLIs: "dbfleet/dbfleet" is the
	// first address to Terraform, the second to OpenTofu.
	config := fmt.Sprintf(`provider_installation {
  dev_overrides {
    "registry.terraform.io/dbfleet/dbfleet" = %[1]s
    "registry.opentofu.org/dbfleet/dbfleet" = %[1]s
  }
  direct {}
}
`, hclString(dir))
	path := filepath.Join(dir, "terraform.rc")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// terraformCLI runs the Terraform CLI under test in a working directory,
// with the provider that terraformCLIConfig built and the dev fleet's
// endpoint and token (which TestMain exported).
type terraformCLI struct {
	t   *testing.T
	dir string
	env []string
}

// newTerraformCLI returns a terraformCLI for dir.
func newTerraformCLI(t *testing.T, dir string) *terraformCLI {
	t.Helper()
	config := terraformCLIConfig(t)
	env := append(os.Environ(),
		"TF_CLI_CONFIG_FILE="+config,
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"CHECKPOINT_DISABLE=1",
	)
	return &terraformCLI{t: t, dir: dir, env: env}
}

// run runs terraform with args, without colour, and returns what it
// printed on stdout; an error holds both outputs.
func (c *terraformCLI) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	chdir, args := args[0], args[1:]
	cmd := exec.CommandContext(ctx, os.Getenv(envTerraformPath), append([]string{"-chdir=" + filepath.Join(c.dir, chdir)}, args...)...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	err := cmd.Run()
	c.t.Logf("terraform -chdir=%s %s: %s", chdir, strings.Join(args, " "), time.Since(started).Round(time.Millisecond))
	if err != nil {
		return stdout.String(), fmt.Errorf("terraform -chdir=%s %s: %w\nstdout:\n%s\nstderr:\n%s",
			chdir, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// mustRun runs terraform and fails the test if it fails.
func (c *terraformCLI) mustRun(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	require.NoError(c.t, err)
	return out
}

// outputJSON decodes `terraform output -json name` in chdir, with extra
// args (such as -state=), into v.
func (c *terraformCLI) outputJSON(v any, chdir, name string, extra ...string) error {
	args := append([]string{chdir, "output", "-no-color", "-json"}, extra...)
	out, err := c.run(append(args, name)...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("decoding output %s: %w: %s", name, err, out)
	}
	return nil
}

// decodeState decodes the output of `terraform show -json` without a plan.
func decodeState(out string) (*tfjson.State, error) {
	var state tfjson.State
	if err := json.Unmarshal([]byte(out), &state); err != nil {
		return nil, fmt.Errorf("decoding terraform show -json: %w", err)
	}
	return &state, nil
}
