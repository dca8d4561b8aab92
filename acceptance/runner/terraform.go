package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxDiagnostics bounds how much of Terraform's error output a failure keeps.
const maxDiagnostics = 4 << 10

// terraform runs the real CLI, Terraform or OpenTofu, with the real
// provider: through a CLI configuration whose dev_overrides point at a
// provider binary (no init, which would ask the registry), or, without one,
// through the implicit local mirror, which `make install` fills for both.
type terraform struct {
	path string
	// cliConfig is the CLI configuration file with the dev_overrides; empty
	// when the provider comes from the local mirror.
	cliConfig string
	// env is the environment every command runs with: the endpoint and
	// token (never logged), no checkpoint calls, no input.
	env []string
}

// newTerraform returns a terraform that runs the CLI at path against
// endpoint. With providerBinary it writes a CLI configuration into workDir
// that overrides dbfleet/dbfleet with that binary.
func newTerraform(path, providerBinary, workDir, endpoint, token string) (*terraform, error) {
	if _, err := exec.LookPath(path); err != nil {
		return nil, fmt.Errorf("finding the Terraform CLI %q: %w", path, err)
	}
	tf := &terraform{path: path}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "DBFLEET_ENDPOINT", "DBFLEET_TOKEN", "TF_LOG", "TF_LOG_PATH", "TF_CLI_CONFIG_FILE", "TF_LOG_PROVIDER":
			continue
		}
		tf.env = append(tf.env, kv)
	}
	tf.env = append(tf.env, "DBFLEET_ENDPOINT="+endpoint, "DBFLEET_TOKEN="+token,
		"CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_INPUT=0")
	if providerBinary == "" {
		return tf, nil
	}
	abs, err := filepath.Abs(providerBinary)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("finding the provider binary: %w", err)
	}
	// "dbfleet/dbfleet" is the first address to Terraform, the second to
	// OpenTofu.
	config := fmt.Sprintf("provider_installation {\n  dev_overrides {\n"+
		"    \"registry.terraform.io/dbfleet/dbfleet\" = %[1]s\n"+
		"    \"registry.opentofu.org/dbfleet/dbfleet\" = %[1]s\n"+
		"  }\n  direct {}\n}\n", strconv.Quote(filepath.Dir(abs)))
	tf.cliConfig = filepath.Join(workDir, "terraform.rc")
	if err := os.WriteFile(tf.cliConfig, []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("writing the Terraform CLI configuration: %w", err)
	}
	tf.env = append(tf.env, "TF_CLI_CONFIG_FILE="+tf.cliConfig)
	return tf, nil
}

// TerraformError is a Terraform command that failed, with the diagnostics
// it printed.
type TerraformError struct {
	Args        []string
	Err         error
	Diagnostics string
}

func (e *TerraformError) Error() string {
	return fmt.Sprintf("terraform %s: %v: %s", strings.Join(e.Args, " "), e.Err, e.Diagnostics)
}

func (e *TerraformError) Unwrap() error { return e.Err }

var (
	// operationIDPattern finds dbfleet operation ids in Terraform's output.
	operationIDPattern = regexp.MustCompile(`op-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	// requestIDPattern finds the request ids the provider's errors name.
	requestIDPattern = regexp.MustCompile(`request ID ([A-Za-z0-9._-]{1,64})`)
	// ansiEscape strips colour, should any come through.
	ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*m")
)

// init prepares dir when the provider comes from the local mirror; under
// dev_overrides there is nothing to do.
func (tf *terraform) init(ctx context.Context, dir string) error {
	if tf.cliConfig != "" {
		return nil
	}
	_, err := tf.run(ctx, dir, "init", "-input=false", "-no-color")
	return err
}

// run runs terraform in dir and returns its stdout. A failure is a
// *TerraformError; the operation and request ids its output names are
// recorded in the context's trial either way.
func (tf *terraform) run(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, tf.path, append([]string{"-chdir=" + dir}, args...)...)
	cmd.Env = tf.env
	// A cancelled run gets SIGINT first, so that Terraform saves its state.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stdout.String() + stderr.String()
	if t := trialFrom(ctx); t != nil {
		for _, id := range operationIDPattern.FindAllString(out, -1) {
			t.addOperation(id)
		}
		for _, m := range requestIDPattern.FindAllStringSubmatch(out, -1) {
			t.addRequestID(m[1])
		}
	}
	if err != nil {
		return stdout.String(), &TerraformError{Args: args, Err: err, Diagnostics: diagnostics(stderr.String(), stdout.String())}
	}
	return stdout.String(), nil
}

// planIsEmpty runs terraform plan -detailed-exitcode and reports whether it
// shows no changes.
func (tf *terraform) planIsEmpty(ctx context.Context, dir string) (bool, string, error) {
	out, err := tf.run(ctx, dir, "plan", "-input=false", "-no-color", "-detailed-exitcode")
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() == 2 {
		return false, out, nil
	}
	return err == nil, out, err
}

// diagnostics is the part of Terraform's output that says what failed: its
// error blocks, else the end of stdout.
func diagnostics(stderr, stdout string) string {
	s := strings.TrimSpace(ansiEscape.ReplaceAllString(stderr, ""))
	if s == "" {
		s = strings.TrimSpace(ansiEscape.ReplaceAllString(stdout, ""))
	}
	if i := strings.Index(s, "Error:"); i >= 0 {
		s = s[i:]
	}
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "│", " ")), " ")
	if len(s) > maxDiagnostics {
		s = s[:maxDiagnostics] + "…"
	}
	return s
}
