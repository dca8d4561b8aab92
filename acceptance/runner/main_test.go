package runner

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
)

const (
	// envAcc turns on the tests that need a dbfleetd dev, as for the
	// acceptance suites.
	envAcc = "TF_ACC"
	// envChild makes the test binary act as a runner process that a test
	// kills (see TestSweepRemovesOnlyDeadRunsLeftovers).
	envChild = "DBFLEET_RUNNER_TEST_CHILD"
	// envChildResults and envChildPrefix configure that child.
	envChildResults = "DBFLEET_RUNNER_TEST_RESULTS"
	envChildPrefix  = "DBFLEET_RUNNER_TEST_PREFIX"
	// fleetStartTimeout bounds dbfleetd dev's start: three initdb runs.
	fleetStartTimeout = 3 * time.Minute
)

// fleet is the dbfleetd dev TestMain runs; nil without TF_ACC.
var fleet *devFleet

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		os.Exit(runChild())
	}
	if os.Getenv(envAcc) == "" {
		os.Exit(m.Run())
	}
	// dbfleetd gets SIGTERM when the thread that started it exits (see
	// startFleet); the main goroutine keeps this thread until os.Exit.
	runtime.LockOSThread()
	f, err := startFleet()
	if err != nil {
		fmt.Fprintf(os.Stderr, "runner tests: starting dbfleetd dev: %v\n", err)
		os.Exit(1)
	}
	fleet = f
	code := m.Run()
	if err := f.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "runner tests: stopping dbfleetd dev: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

// runChild runs the load scenario forever with a short lease, as a run
// that the sweeper test kills.
func runChild() int {
	ctx := context.Background()
	results, err := OpenResults(ctx, os.Getenv(envChildResults))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	load, err := SelectScenarios([]string{"load"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_, err = Run(ctx, Config{
		Endpoint: os.Getenv("DBFLEET_ENDPOINT"), Token: os.Getenv("DBFLEET_TOKEN"), Env: "dev",
		Prefix: os.Getenv(envChildPrefix), Scenarios: load, LoadDatabases: 3, Results: results,
		Lease: 2 * time.Second, SweepEvery: -1, Logger: zerolog.New(os.Stderr),
		// The test's own temporary directory: the work directory the killed
		// run cannot remove goes with the test.
		WorkDir: filepath.Dir(os.Getenv(envChildResults)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// devFleet is the dbfleetd dev the tests run against.
type devFleet struct {
	cmd    *exec.Cmd
	exited chan error
	runDir string
	// dataDir is dbfleetd's data directory, logPath its log.
	dataDir  string
	logPath  string
	endpoint string
	token    string
	// provider is the provider binary built for the Terraform scenarios;
	// terraform the Terraform CLI.
	provider  string
	terraform string

	mu sync.Mutex
	// restarted are regions a test restarted outside dbfleetd, which
	// stop must stop itself.
	restarted map[string]bool
}

// requireFleet returns the fleet, skipping the test without TF_ACC.
func requireFleet(t *testing.T) *devFleet {
	t.Helper()
	if fleet == nil {
		t.Skipf("set %s=1 to run the runner against a dbfleetd dev (make test does)", envAcc)
	}
	return fleet
}

// startFleet builds dbfleetd and the provider and starts `dbfleetd dev` in
// a new temporary directory; it returns once dbfleetd printed its exports.
func startFleet() (_ *devFleet, err error) {
	tf := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if tf == "" {
		if tf, err = exec.LookPath("terraform"); err != nil {
			return nil, errors.New("TF_ACC is set but TF_ACC_TERRAFORM_PATH is not, and there is no terraform on PATH")
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	runDir, err := os.MkdirTemp("", "dbfleet-runner-test-")
	if err != nil {
		return nil, err
	}
	f := &devFleet{runDir: runDir, dataDir: filepath.Join(runDir, "data"), logPath: filepath.Join(runDir, "dbfleetd.log"),
		terraform: tf, provider: filepath.Join(runDir, "provider", "terraform-provider-dbfleet"), restarted: map[string]bool{}}
	defer func() {
		if err != nil {
			f.removeFiles()
		}
	}()
	bin := filepath.Join(runDir, "dbfleetd")
	for _, build := range [][]string{{"-o", bin, "./backend/cmd/dbfleetd"}, {"-o", f.provider, "."}} {
		cmd := exec.Command("go", append([]string{"build"}, build...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %w\n%s", strings.Join(build, " "), err, out)
		}
	}
	logFile, err := os.Create(f.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	f.cmd = exec.Command(bin, "dev", "--data-dir", f.dataDir, "--listen", "127.0.0.1:0")
	f.cmd.Stderr = logFile
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdout, err := f.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := f.cmd.Start(); err != nil {
		return nil, err
	}
	f.exited = make(chan error, 1)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		f.exited <- f.cmd.Wait()
	}()
	timeout := time.After(fleetStartTimeout)
	for f.endpoint == "" || f.token == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				return nil, fmt.Errorf("dbfleetd dev exited before it was ready; see %s", f.logPath)
			}
			if v, found := strings.CutPrefix(line, "export DBFLEET_ENDPOINT="); found {
				f.endpoint = v
			}
			if v, found := strings.CutPrefix(line, "export DBFLEET_TOKEN="); found {
				f.token = v
			}
		case <-timeout:
			_ = f.stop()
			return nil, fmt.Errorf("dbfleetd dev not ready after %s; see %s", fleetStartTimeout, f.logPath)
		}
	}
	go func() {
		for range lines { //nolint:revive // drain: dbfleetd must never block on stdout
		}
	}()
	return f, nil
}

// stop stops dbfleetd (which stops its regions) and the regions a test
// restarted, and removes the files.
func (f *devFleet) stop() error {
	var errs []error
	if f.cmd != nil && f.cmd.Process != nil {
		_ = f.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-f.exited:
			if err != nil {
				errs = append(errs, fmt.Errorf("dbfleetd exited with %w", err))
			}
		case <-time.After(time.Minute):
			_ = f.cmd.Process.Kill()
			errs = append(errs, errors.New("dbfleetd did not stop within a minute of SIGTERM"))
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for name := range f.restarted {
		if err := f.pgCtl(name, "stop", "-m", "fast"); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		f.removeFiles()
	} else {
		errs = append(errs, fmt.Errorf("kept %s", f.runDir))
	}
	return errors.Join(errs...)
}

// removeFiles removes the run directory and the clusters dbfleetd kept
// outside it.
func (f *devFleet) removeFiles() {
	_ = devregions.RemoveClusters(f.dataDir)
	_ = os.RemoveAll(f.runDir)
}

// region returns what the fleet remembers of a region.
func (f *devFleet) region(t *testing.T, name string) devregions.Region {
	t.Helper()
	r, err := devregions.ReadRegion(f.dataDir, name)
	require.NoError(t, err)
	return r
}

// stopRegion stops a region's PostgreSQL server behind dbfleetd's back (a
// fast shutdown, as an outage would) and waits until it is down.
func (f *devFleet) stopRegion(t *testing.T, name string) {
	t.Helper()
	pidFile := filepath.Join(f.region(t, name).ClusterDir, "data", "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(b), "\n")
	var pid int
	_, err = fmt.Sscanf(first, "%d", &pid)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGINT))
	require.Eventually(t, func() bool {
		_, err := os.Stat(pidFile)
		return errors.Is(err, os.ErrNotExist)
	}, 30*time.Second, 50*time.Millisecond, "region %s's server did not stop", name)
}

// startRegion starts a region stopped by stopRegion again, with the
// settings dbfleetd started it with (pg_ctl restart reads them from
// postmaster.opts), and waits until it accepts connections.
func (f *devFleet) startRegion(t *testing.T, name string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NoError(t, f.pgCtl(name, "restart", "-w", "-t", "60"))
	f.restarted[name] = true
}

// pgCtl runs pg_ctl on a region's cluster as the user that owns it.
func (f *devFleet) pgCtl(name string, args ...string) error {
	r, err := devregions.ReadRegion(f.dataDir, name)
	if err != nil {
		return err
	}
	pgCtl, err := pgbin.Path("pg_ctl")
	if err != nil {
		return err
	}
	data := filepath.Join(r.ClusterDir, "data")
	cmd := exec.Command(pgCtl, append([]string{args[0], "-D", data, "-l", filepath.Join(r.ClusterDir, "pg_ctl.log")}, args[1:]...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	if os.Geteuid() == 0 {
		fi, err := os.Stat(data)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("no owner for %s", data)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: st.Uid, Gid: st.Gid}}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl %s for region %s: %w\n%s", args[0], name, err, out)
	}
	return nil
}

// pgDatabases returns the names of the databases PostgreSQL itself holds in
// a region.
func (f *devFleet) pgDatabases(t *testing.T, region string) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, f.region(t, region).AdminDSN())
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database")
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}

// moduleRoot is the directory of go.mod, found from the working directory up.
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

// logBuffer collects a run's log lines; zerolog writes from several
// goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
