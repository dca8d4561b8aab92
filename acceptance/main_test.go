package acceptance

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
)

const (
	// startTimeout bounds how long dbfleetd dev may take to print its
	// exports: three initdb runs and server starts.
	startTimeout = 2 * time.Minute
	// stopTimeout bounds how long dbfleetd may take to stop its clusters
	// after SIGTERM before it is killed.
	stopTimeout = time.Minute
	// envTerraformPath names the Terraform CLI that terraform-plugin-testing
	// runs: Terraform or OpenTofu.
	envTerraformPath = "TF_ACC_TERRAFORM_PATH"
	// envProviderHost is the host of the provider address under which
	// terraform-plugin-testing serves the provider to the CLI.
	envProviderHost = "TF_ACC_PROVIDER_HOST"
	// envWantCLI, when set, is the CLI the run must be under, terraform or
	// opentofu: make test sets it, so that a test skipped under one CLI
	// cannot go untested because the other's run fell back to the first.
	envWantCLI = "DBFLEET_ACC_CLI"
	// openTofuHost is the host OpenTofu puts in the address of a provider
	// that a configuration names without one ("dbfleet/dbfleet" or just
	// "dbfleet"); Terraform's is terraform-plugin-testing's default.
	openTofuHost = "registry.opentofu.org"
)

// fleet is the `dbfleetd dev` that TestMain runs for the whole test binary;
// nil when TF_ACC is not set.
var fleet *devFleet

// devFleet is a running `dbfleetd dev` and what the tests need of it.
type devFleet struct {
	cmd *exec.Cmd
	// exited receives cmd.Wait's result once dbfleetd exits.
	exited <-chan error

	// runDir holds the dbfleetd binary, its log and dataDir.
	runDir  string
	dataDir string
	logPath string

	endpoint string
	token    string
	// regions are the dev regions by name, as their region.json holds them.
	regions map[string]devregions.Region
	// admin are superuser pools on each region's postgres database: the
	// superuser, not the admin dbfleetd gets, which is a managed-like role
	// without superuser under DBFLEET_DEV_ADMIN=managed.
	admin map[string]*pgxpool.Pool
	// secrets are what dbfleetd's log must never hold.
	secrets *secretSet
}

func TestMain(m *testing.M) {
	if os.Getenv(resource.EnvTfAcc) == "" {
		// resource.Test skips every test; there is nothing to start.
		os.Exit(m.Run())
	}
	os.Exit(runAgainstFleet(m))
}

// runAgainstFleet starts dbfleetd dev, runs the tests against it, stops it,
// removes its files and checks its log for secrets. It returns the exit code.
func runAgainstFleet(m *testing.M) int {
	// Terraform must not phone home: the tests talk to loopback only.
	os.Setenv("CHECKPOINT_DISABLE", "1")
	if err := pinTerraform(); err != nil {
		fmt.Fprintf(os.Stderr, "acceptance: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "acceptance: the CLI is %s, serving the provider under host %s\n",
		os.Getenv(envTerraformPath), cmp.Or(os.Getenv(envProviderHost), "registry.terraform.io"))
	// The kernel signals dbfleetd when the thread that started it exits (see
	// sysProcAttr); the main goroutine keeps this thread until os.Exit.
	runtime.LockOSThread()

	started := time.Now()
	f, err := startFleet()
	if err != nil {
		fmt.Fprintf(os.Stderr, "acceptance: starting dbfleetd dev: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "acceptance: dbfleetd dev ready at %s in %s, its regions' admin a %s\n",
		f.endpoint, time.Since(started).Round(time.Millisecond), f.regions[devregions.DefaultNames[0]].AdminKind)
	fleet = f
	os.Setenv("DBFLEET_ENDPOINT", f.endpoint)
	os.Setenv("DBFLEET_TOKEN", f.token)

	code := m.Run()

	if err := f.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "acceptance: stopping dbfleetd dev: %v\n", err)
		code = 1
	}
	if leaks, err := f.leakedSecrets(); err != nil {
		fmt.Fprintf(os.Stderr, "acceptance: scanning dbfleetd's log for secrets: %v\n", err)
		code = 1
	} else if len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "acceptance: FAIL: dbfleetd's log %s holds secrets it must never log:\n  %s\n",
			f.logPath, strings.Join(leaks, "\n  "))
		code = 1
	} else {
		fmt.Fprintf(os.Stderr, "acceptance: dbfleetd's log holds none of the %d secrets the run saw\n", f.secrets.count())
	}
	f.removeFiles(code != 0)
	return code
}

// pinTerraform makes sure terraform-plugin-testing runs a CLI on this
// machine: without TF_ACC_TERRAFORM_PATH it would download the latest
// Terraform release when none is on PATH. When the CLI is OpenTofu, it
// serves the provider under OpenTofu's host unless TF_ACC_PROVIDER_HOST
// says otherwise: under Terraform's, OpenTofu would look for the provider
// in the registry. It fails when DBFLEET_ACC_CLI names the other CLI.
func pinTerraform() error {
	tf := os.Getenv(envTerraformPath)
	if tf == "" {
		var err error
		if tf, err = exec.LookPath("terraform"); err != nil {
			return fmt.Errorf("TF_ACC is set but %s is not, and there is no terraform on PATH: set %s to Terraform 1.5.7 "+
				"or OpenTofu 1.12.6 (make testacc does, with scripts/ensure-terraform.sh or scripts/ensure-opentofu.sh)", envTerraformPath, envTerraformPath)
		}
		if err := os.Setenv(envTerraformPath, tf); err != nil {
			return err
		}
	}
	// OpenTofu warns of a CLI configuration file that is named but missing
	// on stdout, where terraform-plugin-testing reads the version.
	if config := os.Getenv("TF_CLI_CONFIG_FILE"); config != "" {
		if _, err := os.Stat(config); errors.Is(err, fs.ErrNotExist) {
			os.Unsetenv("TF_CLI_CONFIG_FILE")
		}
	}
	tofu, err := isOpenTofu(tf)
	if err != nil {
		return err
	}
	got := "terraform"
	if tofu {
		got = "opentofu"
	}
	if want := os.Getenv(envWantCLI); want != "" && want != got {
		return fmt.Errorf("%s is %s, but %s=%s", tf, got, envWantCLI, want)
	}
	if !tofu || os.Getenv(envProviderHost) != "" {
		return nil
	}
	return os.Setenv(envProviderHost, openTofuHost)
}

// isOpenTofu reports whether the CLI at path is OpenTofu, whose version
// says "OpenTofu v…" where Terraform's says "Terraform v…" (after any
// warning, such as one about a missing CLI configuration file).
func isOpenTofu(path string) (bool, error) {
	out, err := exec.Command(path, "version").Output()
	if err != nil {
		return false, fmt.Errorf("%s version: %w", path, err)
	}
	return openTofuVersion.Match(out), nil
}

// openTofuVersion matches the line of OpenTofu's version output that names it.
var openTofuVersion = regexp.MustCompile(`(?m)^OpenTofu v[0-9]`)

// startFleet builds dbfleetd and starts `dbfleetd dev` on a loopback port in
// a new temporary directory, and returns once it printed its exports.
func startFleet() (_ *devFleet, err error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	runDir, err := os.MkdirTemp("", "dbfleet-acc-")
	if err != nil {
		return nil, err
	}
	f := &devFleet{
		runDir:  runDir,
		dataDir: filepath.Join(runDir, "data"),
		logPath: filepath.Join(runDir, "dbfleetd.log"),
		secrets: newSecretSet(),
	}
	defer func() {
		if err != nil {
			f.removeFiles(false)
		}
	}()

	bin := filepath.Join(runDir, "dbfleetd")
	build := exec.Command("go", "build", "-o", bin, "./backend/cmd/dbfleetd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./backend/cmd/dbfleetd in %s: %w\n%s", root, err, out)
	}

	logFile, err := os.OpenFile(f.logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // dbfleetd holds its own descriptor
	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	f.cmd = exec.Command(bin, devArgs(f.dataDir)...)
	f.cmd.Stdout = stdoutW
	f.cmd.Stderr = logFile
	f.cmd.SysProcAttr = sysProcAttr()
	err = f.cmd.Start()
	stdoutW.Close()
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	f.exited = exited
	go func() { exited <- f.cmd.Wait() }()

	exports := make(chan map[string]string, 1)
	go readExports(stdout, exports)
	select {
	case env := <-exports:
		f.endpoint, f.token = env["DBFLEET_ENDPOINT"], env["DBFLEET_TOKEN"]
	case err := <-exited:
		f.exited = nil
		return nil, fmt.Errorf("dbfleetd dev exited before it was ready (%v); last lines of %s:\n%s", err, f.logPath, logTail(f.logPath))
	case <-time.After(startTimeout):
		_ = f.stop()
		return nil, fmt.Errorf("dbfleetd dev was not ready after %s; last lines of %s:\n%s", startTimeout, f.logPath, logTail(f.logPath))
	}
	defer func() {
		if err != nil {
			_ = f.stop()
		}
	}()
	if !strings.HasPrefix(f.endpoint, "http://127.0.0.1:") || f.token == "" {
		return nil, fmt.Errorf("dbfleetd dev printed endpoint %q and a token of %d characters; want a loopback endpoint and a token", f.endpoint, len(f.token))
	}
	f.secrets.add(f.token, "the API token")

	f.regions = map[string]devregions.Region{}
	f.admin = map[string]*pgxpool.Pool{}
	for _, name := range devregions.DefaultNames {
		r, err := devregions.ReadRegion(f.dataDir, name)
		if err != nil {
			return nil, err
		}
		f.regions[name] = r
		f.secrets.add(r.AdminPassword, "the admin password of region "+name)
		f.secrets.add(r.SuperuserPassword, "the superuser password of region "+name)
		cfg, err := pgxpool.ParseConfig(r.SuperuserDSN())
		if err != nil {
			return nil, fmt.Errorf("region %s: superuser DSN: %w", name, err)
		}
		cfg.MaxConns = 4
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			return nil, fmt.Errorf("region %s: %w", name, err)
		}
		f.admin[name] = pool
	}
	return f, nil
}

// devArgs are the command line of `dbfleetd dev`: the suite runs with the
// admin kind DBFLEET_DEV_ADMIN names and on the PostgreSQL programs
// DBFLEET_PG_BIN_DIR names (make test runs it with a managed admin on 15
// and 18), passed as flags so that dbfleetd's log shows what it was asked.
func devArgs(dataDir string) []string {
	args := []string{"dev", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}
	if admin := os.Getenv(devregions.EnvAdmin); admin != "" {
		args = append(args, "--admin", admin)
	}
	if binDir := os.Getenv(pgbin.EnvBinDir); binDir != "" {
		args = append(args, "--pg-bin-dir", binDir)
	}
	return args
}

// readExports reads `export NAME=VALUE` lines from r and sends them once it
// has both DBFLEET_ENDPOINT and DBFLEET_TOKEN. It reads r to its end, so that
// dbfleetd never blocks on a full pipe.
func readExports(r io.ReadCloser, out chan<- map[string]string) {
	defer r.Close()
	env := map[string]string{}
	sent := false
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		name, value, ok := strings.Cut(strings.TrimPrefix(scanner.Text(), "export "), "=")
		if !ok || sent {
			continue
		}
		env[name] = value
		if env["DBFLEET_ENDPOINT"] != "" && env["DBFLEET_TOKEN"] != "" {
			out <- env
			sent = true
		}
	}
}

// stop closes the admin pools, sends dbfleetd SIGTERM so that it stops its
// clusters, and waits for it; it kills dbfleetd after stopTimeout. Calling it
// again does nothing.
func (f *devFleet) stop() error {
	for _, pool := range f.admin {
		pool.Close()
	}
	f.admin = nil
	if f.exited == nil {
		return nil
	}
	exited := f.exited
	f.exited = nil
	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sending SIGTERM to dbfleetd (pid %d): %w", f.cmd.Process.Pid, err)
	}
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("dbfleetd exited with %w; last lines of %s:\n%s", err, f.logPath, logTail(f.logPath))
		}
		return nil
	case <-time.After(stopTimeout):
		_ = f.cmd.Process.Kill()
		return fmt.Errorf("dbfleetd (pid %d) did not stop within %s of SIGTERM and was killed (%v); its PostgreSQL servers may still run", f.cmd.Process.Pid, stopTimeout, <-exited)
	}
}

// removeFiles removes the run directory and the regions' clusters, which
// may live outside it (under /var/tmp). With keepLog it keeps dbfleetd's log
// for whoever looks into a failed run.
func (f *devFleet) removeFiles(keepLog bool) {
	_ = devregions.RemoveClusters(f.dataDir)
	if !keepLog {
		_ = os.RemoveAll(f.runDir)
		return
	}
	entries, _ := os.ReadDir(f.runDir)
	for _, e := range entries {
		if p := filepath.Join(f.runDir, e.Name()); p != f.logPath {
			_ = os.RemoveAll(p)
		}
	}
	fmt.Fprintf(os.Stderr, "acceptance: kept dbfleetd's log at %s\n", f.logPath)
}

// leakedSecrets describes each secret that dbfleetd's log holds.
func (f *devFleet) leakedSecrets() ([]string, error) {
	log, err := os.ReadFile(f.logPath)
	if err != nil {
		return nil, err
	}
	return f.secrets.foundIn(log), nil
}

// api returns a client of dbfleetd's HTTP API with the dev token.
func (f *devFleet) api() *daemontest.Client {
	return &daemontest.Client{Endpoint: f.endpoint, Token: f.token, HTTP: &http.Client{Timeout: 2 * time.Minute}}
}

// moduleRoot is the directory of go.mod, found from the working directory
// up (go test runs in the package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// logTail returns the last lines of the file at path.
func logTail(path string) string {
	const lines = 30
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(len(all)-lines, 0):], "\n")
}

// secretSet holds values that must never appear in a log, each with a
// description that names it without showing it.
type secretSet struct {
	mu   sync.Mutex
	what map[string]string
}

func newSecretSet() *secretSet {
	return &secretSet{what: map[string]string{}}
}

// add records secret; an empty one is ignored.
func (s *secretSet) add(secret, what string) {
	if secret == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.what[secret] = what
}

// foundIn describes, sorted, each secret that log holds.
func (s *secretSet) foundIn(log []byte) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []string
	for secret, what := range s.what {
		if bytes.Contains(log, []byte(secret)) {
			found = append(found, what)
		}
	}
	slices.Sort(found)
	return found
}

// count is how many secrets the set holds.
func (s *secretSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.what)
}
