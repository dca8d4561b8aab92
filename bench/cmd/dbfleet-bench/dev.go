package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

// devServer is a `dbfleetd dev` the benchmarks started: its own data
// directory, its three regions, its endpoint and admin token.
type devServer struct {
	cmd      *exec.Cmd
	exited   chan error
	dataDir  string
	logPath  string
	Endpoint string
	Token    string
	Regions  map[string]devregions.Region
	client   *client.Client
}

// startDev runs `dbfleetd dev` in dir and returns once it prints its
// endpoint and token. The API rate limit is turned off so that the load
// benchmark measures the server, not the limiter.
func startDev(ctx context.Context, bin, dir string) (*devServer, error) {
	d := &devServer{dataDir: filepath.Join(dir, "dev"), logPath: filepath.Join(dir, "dbfleetd.log"), exited: make(chan error, 1)}
	logFile, err := os.Create(d.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "dev", "--data-dir", d.dataDir, "--listen", "127.0.0.1:0", "--rate-limit", "-1")
	cmd.Stderr = logFile
	// dbfleetd, and so its regions, stop when the benchmark dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s dev: %w", bin, err)
	}
	d.cmd = cmd
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		d.exited <- cmd.Wait()
	}()
	timeout := time.NewTimer(3 * time.Minute)
	defer timeout.Stop()
	for d.Endpoint == "" || d.Token == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				return nil, fmt.Errorf("dbfleetd dev exited before it was ready; see %s", d.logPath)
			}
			if v, found := strings.CutPrefix(line, "export DBFLEET_ENDPOINT="); found {
				d.Endpoint = v
			}
			if v, found := strings.CutPrefix(line, "export DBFLEET_TOKEN="); found {
				d.Token = v
			}
		case <-timeout.C:
			d.stop()
			return nil, fmt.Errorf("dbfleetd dev not ready after 3 minutes; see %s", d.logPath)
		case <-ctx.Done():
			d.stop()
			return nil, ctx.Err()
		}
	}
	d.Regions = map[string]devregions.Region{}
	for _, name := range devregions.DefaultNames {
		r, err := devregions.ReadRegion(d.dataDir, name)
		if err != nil {
			d.stop()
			return nil, err
		}
		d.Regions[name] = r
	}
	if d.client, err = d.newClient(nil); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

// newClient returns the provider's API client for this server, with the
// provider's defaults; wrap, when not nil, sees every request.
func (d *devServer) newClient(wrap func(http.RoundTripper) http.RoundTripper) (*client.Client, error) {
	return client.New(client.Config{Endpoint: d.Endpoint, Token: d.Token, MaxRetries: client.DefaultMaxRetries, WrapTransport: wrap})
}

// stop stops dbfleetd, which stops its regions; their data stays.
func (d *devServer) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		d.exited <- err
	case <-time.After(time.Minute):
		_ = d.cmd.Process.Kill()
	}
	d.cmd = nil
}

// removeClusters removes the regions' clusters that dbfleetd kept outside
// its data directory (the data directory itself goes with the benchmark's
// temporary directory).
func (d *devServer) removeClusters() { _ = devregions.RemoveClusters(d.dataDir) }

// pid is dbfleetd's process id.
func (d *devServer) pid() int { return d.cmd.Process.Pid }

// rss reads a process's resident set size (VmRSS) in KiB.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if value, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if fields := strings.Fields(value); len(fields) > 0 {
				return strconv.ParseInt(fields[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat times:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime reads the CPU time (user and system) a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields after
	// its closing parenthesis. utime and stime are fields 14 and 15.
	_, rest, ok := strings.Cut(string(b), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("read /proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// requestCounts reads dbfleet_http_requests_total from /metrics: requests
// served so far by "METHOD route".
func (d *devServer) requestCounts(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.Endpoint+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseRequestCounts(body), nil
}

// parseRequestCounts sums dbfleet_http_requests_total by method and route.
func parseRequestCounts(exposition []byte) map[string]float64 {
	counts := map[string]float64{}
	for _, line := range bytes.Split(exposition, []byte("\n")) {
		s := string(line)
		rest, ok := strings.CutPrefix(s, "dbfleet_http_requests_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		var method, route string
		for _, kv := range splitLabels(labels) {
			k, v, _ := strings.Cut(kv, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "method":
				method = v
			case "route":
				route = v
			}
		}
		// Routes carry their method already ("GET /v1/..."); the catch-all
		// does not.
		key := route
		if !strings.HasPrefix(route, method+" ") {
			key = method + " " + route
		}
		counts[key] += n
	}
	return counts
}

// splitLabels splits a Prometheus label set on the commas between labels.
func splitLabels(s string) []string {
	var out []string
	inQuotes, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			inQuotes = !inQuotes
		case ',':
			if !inQuotes {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// countsDelta is after minus before, dropping routes that did not change.
func countsDelta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// errExited reports a dbfleetd that is gone.
var errExited = errors.New("dbfleetd exited")

// alive fails once dbfleetd has exited.
func (d *devServer) alive() error {
	if d.cmd == nil {
		return errExited
	}
	select {
	case err := <-d.exited:
		d.exited <- err
		return fmt.Errorf("%w (%v); see %s", errExited, err, d.logPath)
	default:
		return nil
	}
}
