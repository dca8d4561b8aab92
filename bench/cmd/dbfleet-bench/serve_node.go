package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to read a PostgreSQL store

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

// serveNode is one `dbfleetd serve` process of a nodeCluster.
type serveNode struct {
	config  string
	logPath string
	cmd     *exec.Cmd
	exited  chan error
	// endpoint, id and client are those of the node's last start.
	endpoint string
	id       string
	client   *client.Client
}

// nodeCluster is one or more `dbfleetd serve` nodes on one state store
// (SQLite for a single node, else a PostgreSQL database they share),
// administering the same regions.
type nodeCluster struct {
	bin   string
	token string
	nodes []*serveNode
	// state reads the store: river_leader, river_job, operations and
	// operation_steps.
	state    *sql.DB
	postgres bool
}

// startNodeCluster writes the configuration of n nodes in dir and starts
// them one after another, so that the first leads first. storeDSN is a
// postgres:// URL, or "" for one node on a SQLite file of its own.
func startNodeCluster(ctx context.Context, bin, dir, storeDSN string, n int, regions []devregions.Region) (*nodeCluster, error) {
	if storeDSN == "" && n != 1 {
		return nil, errors.New("a SQLite store has one node")
	}
	c := &nodeCluster{bin: bin, token: "dbf_bench_" + strings.ToLower(rand.Text()), postgres: storeDSN != ""}
	if err := c.writeConfigs(dir, storeDSN, n, regions); err != nil {
		return nil, err
	}
	var err error
	if c.postgres {
		c.state, err = sql.Open("pgx", storeDSN)
	} else {
		c.state, err = sql.Open("sqlite", "file:"+filepath.Join(dir, "node-1", "state.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	}
	if err != nil {
		return nil, fmt.Errorf("open the state store of %s: %w", dir, err)
	}
	for _, node := range c.nodes {
		if err := c.start(ctx, node); err != nil {
			c.stop()
			return nil, err
		}
	}
	return c, nil
}

// writeConfigs writes each node's serve configuration, with a token and a
// secret key the nodes share.
func (c *nodeCluster) writeConfigs(dir, storeDSN string, n int, regions []devregions.Region) error {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	tokenFile, keyFile := filepath.Join(dir, "token"), filepath.Join(dir, "secret.key")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(tokenFile, []byte(c.token), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		return err
	}
	for i := range n {
		nodeDir := filepath.Join(dir, fmt.Sprintf("node-%d", i+1))
		if err := os.MkdirAll(nodeDir, 0o700); err != nil {
			return err
		}
		storeLine := "state_path: " + filepath.Join(nodeDir, "state.db")
		if storeDSN != "" {
			storeLine = fmt.Sprintf("store: %q", storeDSN)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "listen: 127.0.0.1:0\n%s\nbackup_dir: %s\nbootstrap_token_file: %s\nsecret_key_file: %s\nrate_limit:\n  requests_per_second: -1\nregions:\n",
			storeLine, filepath.Join(nodeDir, "backups"), tokenFile, keyFile)
		for _, r := range regions {
			fmt.Fprintf(&b, "  - name: %s\n    admin_dsn: %q\n", r.Name, r.AdminDSN())
		}
		node := &serveNode{config: filepath.Join(nodeDir, "dbfleetd.yaml"), logPath: filepath.Join(nodeDir, "dbfleetd.log")}
		if err := os.WriteFile(node.config, []byte(b.String()), 0o600); err != nil {
			return err
		}
		c.nodes = append(c.nodes, node)
	}
	return nil
}

// start starts node and returns once it serves and is ready.
func (c *nodeCluster) start(ctx context.Context, node *serveNode) error {
	logFile, err := os.OpenFile(node.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	logStart, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.bin, "serve", "--config", node.config)
	cmd.Stderr = logFile
	// The nodes stop when the benchmark dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s serve: %w", c.bin, err)
	}
	node.cmd, node.exited = cmd, make(chan error, 1)
	go func() { node.exited <- cmd.Wait() }()
	if err := c.awaitReady(ctx, node, logStart); err != nil {
		node.kill()
		return fmt.Errorf("node %s: %w; see %s", node.config, err, node.logPath)
	}
	return nil
}

// awaitReady waits for the node's "Serving" log line (written after
// logStart) and then for /readyz to answer 200.
func (c *nodeCluster) awaitReady(ctx context.Context, node *serveNode, logStart int64) error {
	deadline := time.Now().Add(time.Minute)
	for node.endpoint = ""; node.endpoint == ""; {
		if time.Now().After(deadline) {
			return errors.New("not serving after a minute")
		}
		select {
		case err := <-node.exited:
			node.exited <- err
			return fmt.Errorf("exited at start: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		endpoint, id, err := servingLine(node.logPath, logStart)
		if err != nil {
			return err
		}
		node.endpoint, node.id = endpoint, id
	}
	var err error
	if node.client, err = client.New(client.Config{Endpoint: node.endpoint, Token: c.token, MaxRetries: client.DefaultMaxRetries}); err != nil {
		return err
	}
	for time.Now().Before(deadline) {
		if resp, err := http.Get(node.endpoint + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("not ready after a minute")
}

// servingLine finds the "Serving" line in the log after offset and returns
// its endpoint and node ID; none yet is "".
func servingLine(logPath string, offset int64) (endpoint, id string, err error) {
	f, err := os.Open(logPath)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "", "", err
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var entry struct {
			Message  string `json:"message"`
			Endpoint string `json:"endpoint"`
			Node     string `json:"node"`
		}
		if json.Unmarshal(sc.Bytes(), &entry) == nil && entry.Message == "Serving" {
			return entry.Endpoint, entry.Node, nil
		}
	}
	return "", "", sc.Err()
}

// kill sends SIGKILL: no shutdown code runs.
func (n *serveNode) kill() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	err := <-n.exited
	n.exited <- err
	n.cmd = nil
}

// terminate sends SIGTERM and waits for the node to drain and exit.
func (n *serveNode) terminate() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.exited:
		n.exited <- err
		n.cmd = nil
	case <-time.After(40 * time.Second):
		n.kill()
	}
}

// stop stops every node and closes the store.
func (c *nodeCluster) stop() {
	for _, n := range c.nodes {
		n.terminate()
	}
	_ = c.state.Close()
}

// running are the nodes that run.
func (c *nodeCluster) running() []*serveNode {
	var out []*serveNode
	for _, n := range c.nodes {
		if n.cmd != nil {
			out = append(out, n)
		}
	}
	return out
}

// nodeByID is the running node with that River client ID, or nil.
func (c *nodeCluster) nodeByID(id string) *serveNode {
	for _, n := range c.running() {
		if n.id == id {
			return n
		}
	}
	return nil
}

// pollInterval is how often the benchmark looks at the store while it
// waits for something; figures timed by polling carry up to this much.
const pollInterval = 10 * time.Millisecond

// pollTimeout is how long poll waits: four River leadership terms, far
// beyond what anything awaited should take.
const pollTimeout = time.Minute

// poll calls check every pollInterval until it returns true or an error, or
// pollTimeout has passed; what names what is awaited, for the error.
func poll(ctx context.Context, what string, check func(ctx context.Context) (bool, error)) error {
	deadline := time.Now().Add(pollTimeout)
	for {
		done, err := check(ctx)
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s within %s", what, pollTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// liveLeader is the node River's table names leader with an unexpired term
// when it is a running node, else "".
func (c *nodeCluster) liveLeader(ctx context.Context) (string, error) {
	var id string
	err := c.state.QueryRowContext(ctx, `SELECT leader_id FROM river_leader WHERE expires_at > now()`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && c.nodeByID(id) == nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read river_leader: %w", err)
	}
	return id, nil
}

// awaitSteady waits until a running node leads and every running node has
// heartbeated in the last two seconds. The store's own server must also
// have run for twice the node timeout, since until then it takes no node
// for stopped (see store.Postgres.JobsRequeueOrphans).
func (c *nodeCluster) awaitSteady(ctx context.Context) error {
	return poll(ctx, "steady cluster", func(ctx context.Context) (bool, error) {
		leader, err := c.liveLeader(ctx)
		if err != nil || leader == "" {
			return false, err
		}
		var beating int
		var storeSettled bool
		err = c.state.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM dbfleet_nodes WHERE heartbeat_at > now() - interval '2 seconds'),
			pg_postmaster_start_time() < now() - 2 * make_interval(secs => $1)`, nodeTimeout.Seconds()).Scan(&beating, &storeSettled)
		if err != nil {
			return false, fmt.Errorf("read dbfleet_nodes: %w", err)
		}
		return storeSettled && beating == len(c.running()), nil
	})
}

// jobRunner is the node whose River client runs the operation's job, or ""
// when no node runs it.
func (c *nodeCluster) jobRunner(ctx context.Context, operationID string) (string, error) {
	var id string
	err := c.state.QueryRowContext(ctx, `SELECT attempted_by[cardinality(attempted_by)] FROM river_job
		WHERE state = 'running' AND args->>'operation_id' = $1`, operationID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the runner of operation %s: %w", operationID, err)
	}
	return id, nil
}

// stepStarted says whether the store records that the operation's step
// started.
func (c *nodeCluster) stepStarted(ctx context.Context, operationID, step string) (bool, error) {
	var started bool
	err := c.state.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM operation_steps WHERE operation_id = $1 AND step = $2)`,
		operationID, step).Scan(&started)
	if err != nil {
		return false, fmt.Errorf("read the steps of operation %s: %w", operationID, err)
	}
	return started, nil
}

// pickUps returns, by operation ID, the time from each operation's
// creation (the transaction that also queued its job) to its first step's
// start, as the store records both.
func (c *nodeCluster) pickUps(ctx context.Context) (map[string]time.Duration, error) {
	rows, err := c.state.QueryContext(ctx, `SELECT o.id, min(s.started_at) - o.created_at
		FROM operations o JOIN operation_steps s ON s.operation_id = o.id GROUP BY o.id, o.created_at`)
	if err != nil {
		return nil, fmt.Errorf("read operation steps: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Duration{}
	for rows.Next() {
		var id string
		var micros int64
		if err := rows.Scan(&id, &micros); err != nil {
			return nil, fmt.Errorf("read operation steps: %w", err)
		}
		out[id] = time.Duration(micros) * time.Microsecond
	}
	return out, rows.Err()
}
