package devregions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
)

const (
	// loopback is the only address the dev servers listen on.
	loopback = "127.0.0.1"
	// stopTimeout bounds the fast shutdown of the clusters Start started before it failed.
	stopTimeout = 30 * time.Second
	// readyTimeout bounds how long a started server may take to accept connections (crash
	// recovery included).
	readyTimeout = 2 * time.Minute
	// readyPoll is the pause between looks at a starting server's postmaster.pid.
	readyPoll = 10 * time.Millisecond
	// portAttempts is how often a start is tried with a fresh port when the port was taken between
	// picking it and postgres binding it.
	portAttempts = 3
)

// errPortInUse marks a start that failed because another process holds the port.
var errPortInUse = errors.New("port already in use")

// programs are the PostgreSQL executables a cluster runs.
type programs struct {
	initdb   string
	postgres string
}

// cluster is one region's PostgreSQL cluster.
type cluster struct {
	name    string
	dataDir string
	user    serverUser
	prog    programs
	admin   AdminKind
	log     zerolog.Logger
	// dirMu is shared by the fleet's clusters, which may create the same fallback parent
	// directory at once.
	dirMu *sync.Mutex

	lifecycle sync.Mutex // serializes start and stop

	mu    sync.Mutex // guards state and srv
	state regionState
	srv   *server
}

// metaDir is the region's directory under the data directory; it holds region.json.
func (c *cluster) metaDir() string {
	return filepath.Join(c.dataDir, "regions", c.name)
}

func (c *cluster) statePath() string {
	return filepath.Join(c.metaDir(), "region.json")
}

func (c *cluster) region() Region {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.regionFor(c.state)
}

func (c *cluster) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.srv != nil && c.srv.running()
}

// start creates the cluster if needed, starts its server and waits until it accepts connections.
func (c *cluster) start(ctx context.Context) error {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	if c.running() {
		return nil
	}
	begin := time.Now()
	st, err := c.prepare(ctx)
	if err != nil {
		return fmt.Errorf("starting region %s: %w", c.name, err)
	}
	if err := waitForPreviousServer(ctx, filepath.Join(st.ClusterDir, "data"), c.log); err != nil {
		return fmt.Errorf("starting region %s: %w", c.name, err)
	}
	for attempt := 1; ; attempt++ {
		if err := c.choosePort(&st); err != nil {
			return fmt.Errorf("starting region %s: %w", c.name, err)
		}
		srv, err := c.launch(ctx, st)
		if errors.Is(err, errPortInUse) && attempt < portAttempts {
			c.log.Warn().Int("port", st.Port).Msg("Found port taken at server start")
			st.Port = 0
			continue
		}
		if err != nil {
			return fmt.Errorf("starting region %s: %w", c.name, err)
		}
		c.mu.Lock()
		c.srv = srv
		c.mu.Unlock()
		c.log.Info().Int("port", st.Port).Int("pid", srv.pid).Dur("elapsed", time.Since(begin)).Msg("Started PostgreSQL server")
		return nil
	}
}

// stop shuts the server down (fast) and waits for it to exit.
func (c *cluster) stop(ctx context.Context) error {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	c.mu.Lock()
	srv := c.srv
	c.srv = nil
	c.mu.Unlock()
	if srv == nil || !srv.running() {
		return nil
	}
	begin := time.Now()
	if err := srv.shutdown(ctx); err != nil {
		return fmt.Errorf("stopping region %s: %w", c.name, err)
	}
	c.log.Info().Int("pid", srv.pid).Dur("elapsed", time.Since(begin)).Msg("Stopped PostgreSQL server")
	return nil
}

// prepare readies the region's state and directories and runs initdb when the cluster does not
// exist yet.
func (c *cluster) prepare(ctx context.Context) (regionState, error) {
	st, err := c.prepareDirs()
	if err != nil {
		return regionState{}, err
	}
	if !exists(pgVersionFile(st.ClusterDir)) {
		if err := c.initdb(ctx, st); err != nil {
			return regionState{}, err
		}
	}
	return st, nil
}

// prepareDirs loads or creates the region's state and places and checks its cluster directory.
func (c *cluster) prepareDirs() (regionState, error) {
	c.dirMu.Lock()
	defer c.dirMu.Unlock()
	metaDir := c.metaDir()
	// 0755: the server user may have to pass through to metaDir/cluster; region.json itself is 0600.
	if err := os.MkdirAll(metaDir, 0o755); err != nil {
		return regionState{}, fmt.Errorf("creating %s: %w", metaDir, err)
	}
	st, found, err := loadRegionState(c.statePath(), c.admin)
	if err != nil {
		return regionState{}, err
	}
	if st.ClusterDir == "" || !exists(pgVersionFile(st.ClusterDir)) {
		// A new cluster, or its files are gone: place it (again).
		p, err := placeCluster(c.dataDir, metaDir, c.name, c.user)
		if err != nil {
			return regionState{}, err
		}
		if !found && exists(pgVersionFile(p.dir)) {
			return regionState{}, fmt.Errorf("cluster %s exists but its credentials file %s is missing: remove %s to create the cluster anew",
				p.dir, c.statePath(), p.dir)
		}
		if p.reason != "" {
			c.log.Info().Str("clusterDir", p.dir).Str("reason", p.reason).Msg("Placed cluster outside the data directory")
		}
		st.ClusterDir = p.dir
		if err := st.save(c.statePath()); err != nil {
			return regionState{}, err
		}
	}
	c.setState(st)
	if st.ClusterDir != filepath.Join(metaDir, "cluster") {
		if err := claimFallbackParent(filepath.Dir(st.ClusterDir), c.dataDir, c.user); err != nil {
			return regionState{}, err
		}
	}
	if err := ensurePrivateDir(st.ClusterDir, c.user); err != nil {
		return regionState{}, err
	}
	return st, nil
}

func (c *cluster) setState(st regionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = st
}

// initdb creates the cluster in st.ClusterDir/data. It builds it in data-init and renames that
// when initdb succeeded, so that a data directory always holds a complete cluster.
func (c *cluster) initdb(ctx context.Context, st regionState) error {
	begin := time.Now()
	initDir := filepath.Join(st.ClusterDir, "data-init")
	if err := os.RemoveAll(initDir); err != nil { // left by an interrupted initdb
		return fmt.Errorf("removing %s: %w", initDir, err)
	}
	pwFile := filepath.Join(st.ClusterDir, "admin-password.tmp")
	if err := os.WriteFile(pwFile, []byte(st.SuperuserPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", pwFile, err)
	}
	defer os.Remove(pwFile)
	if err := c.user.chown(pwFile); err != nil {
		return err
	}
	logPath := filepath.Join(st.ClusterDir, "initdb.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", logPath, err)
	}
	defer logFile.Close()

	cmd := exec.CommandContext(ctx, c.prog.initdb,
		"--pgdata="+initDir,
		"--username="+st.SuperuserUser,
		"--pwfile="+pwFile,
		"--auth-host=scram-sha-256",
		// The socket directory is private to the server user (and root), so trust is safe there.
		"--auth-local=trust",
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync",
	)
	cmd.Dir = st.ClusterDir
	cmd.Env = serverEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.user.credential(), Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("running initdb for %s: %w; %s ends with:\n%s", initDir, err, logPath, logTail(logPath, 0))
	}
	dataDir := filepath.Join(st.ClusterDir, "data")
	if err := os.Rename(initDir, dataDir); err != nil {
		return fmt.Errorf("moving the new cluster into place: %w", err)
	}
	c.log.Info().Str("clusterDir", st.ClusterDir).Dur("elapsed", time.Since(begin)).Msg("Created PostgreSQL cluster")
	return nil
}

// choosePort keeps st.Port when it is free and otherwise picks and remembers a free one.
func (c *cluster) choosePort(st *regionState) error {
	if st.Port != 0 && portFree(st.Port) {
		return nil
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	if st.Port != 0 {
		c.log.Warn().Int("oldPort", st.Port).Int("port", port).Msg("Moved region to a new port")
	}
	st.Port = port
	if err := st.save(c.statePath()); err != nil {
		return err
	}
	c.setState(*st)
	return nil
}

// launch starts postgres on st.Port and waits until it accepts connections, and in a managed
// region until the admin role exists. The server's own output goes to ClusterDir/postgres.log.
func (c *cluster) launch(ctx context.Context, st regionState) (*server, error) {
	logPath := filepath.Join(st.ClusterDir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", logPath, err)
	}
	defer logFile.Close() // the server has its own descriptor once started
	fi, err := logFile.Stat()
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", logPath, err)
	}

	major, err := clusterMajor(st.ClusterDir)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.prog.postgres, serverArgs(c.name, st, major)...)
	cmd.Dir = st.ClusterDir
	cmd.Env = serverEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: c.user.credential(),
		// Own process group: a Ctrl-C meant for dbfleetd does not reach the server; dbfleetd stops
		// it in order.
		Setpgid: true,
		// Fast shutdown when dbfleetd dies, however it dies.
		Pdeathsig: syscall.SIGINT,
	}
	srv, err := startServer(cmd, c.log)
	if err != nil {
		return nil, err
	}
	err = waitReady(ctx, srv, c.regionFor(st), logPath, fi.Size())
	if err == nil && st.AdminKind == AdminManaged {
		// Every start, not only the first: a start cut short after initdb finishes the role here.
		err = ensureManagedAdmin(ctx, c.regionFor(st))
	}
	if err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		return nil, errors.Join(err, srv.shutdown(stopCtx))
	}
	return srv, nil
}

func (c *cluster) regionFor(st regionState) Region {
	return Region{
		Name:              c.name,
		Host:              loopback,
		Port:              st.Port,
		AdminKind:         st.AdminKind,
		AdminUser:         st.AdminUser,
		AdminPassword:     st.AdminPassword,
		SuperuserUser:     st.SuperuserUser,
		SuperuserPassword: st.SuperuserPassword,
		ClusterDir:        st.ClusterDir,
	}
}

// serverArgs are the postgres command line. Settings are given here rather than in
// postgresql.conf so that every start applies the current ones, to old clusters too.
//
// Dev clusters trade durability for speed: fsync, synchronous_commit and full_page_writes are
// off, so an operating system crash or power loss (not a crash of dbfleetd or postgres) can lose
// or corrupt their data. They hold test and demo data only.
func serverArgs(name string, st regionState, major int) []string {
	settings := []string{
		"listen_addresses=" + loopback,
		"port=" + strconv.Itoa(st.Port),
		`unix_socket_directories="` + st.ClusterDir + `"`,
		"unix_socket_permissions=0700",
		"cluster_name=dbfleet-" + name,
		"max_connections=100",
		"shared_buffers=32MB",
		"wal_level=logical",
		// Room for a few dozen replicas at once, as the parallel tests make:
		// each holds an apply worker, a slot and a WAL sender, and needs a
		// table sync worker and a temporary slot while it copies; with too few,
		// a new replica's tables wait for a free worker and never sync.
		"max_wal_senders=64",
		"max_replication_slots=64",
		"max_logical_replication_workers=32",
		"max_worker_processes=40",
		"fsync=off",
		"synchronous_commit=off",
		"full_page_writes=off",
	}
	if major >= 18 {
		// 18 counts replication origins apart from slots (10 by default): an
		// apply worker beyond them fails with "could not find free replication
		// state slot" and its replica never catches up.
		settings = append(settings, "max_active_replication_origins=64")
	}
	args := []string{"-D", filepath.Join(st.ClusterDir, "data")}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	return args
}

// serverEnv is the environment of initdb and postgres: none of dbfleetd's (which may hold
// secrets), and the C locale so that server messages are predictable.
func serverEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
}

// waitReady waits until the server reports itself ready in its postmaster.pid, as pg_ctl does,
// and then connects once as the superuser. It fails early when the server exits. Asking the
// server's own pid file rather than polling the port never mistakes another process that holds
// the port for the server.
func waitReady(ctx context.Context, srv *server, r Region, logPath string, logOffset int64) error {
	pidFile := filepath.Join(r.ClusterDir, "data", "postmaster.pid")
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for !postmasterReady(pidFile, srv.pid) {
		select {
		case <-srv.exited:
			tail := logTail(logPath, logOffset)
			if strings.Contains(tail, "Address already in use") {
				return fmt.Errorf("binding port %d: %w", r.Port, errPortInUse)
			}
			return fmt.Errorf("PostgreSQL server exited before accepting connections (%v); %s ends with:\n%s", srv.err, logPath, tail)
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("PostgreSQL server did not accept connections within %v; see %s", readyTimeout, logPath)
		case <-tick.C:
		}
	}
	cfg, err := pgx.ParseConfig(r.SuperuserDSN())
	if err != nil {
		return fmt.Errorf("parsing the superuser connection settings: %w", err)
	}
	cfg.ConnectTimeout = 10 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting to the server as %s: %w (if the cluster in %s was created with other credentials, remove it to create it anew)",
			r.SuperuserUser, err, r.ClusterDir)
	}
	return conn.Close(ctx)
}

// postmasterReady reports whether the postmaster.pid file at path belongs to pid and says the
// server accepts connections (its eighth line, PM_STATUS_READY).
func postmasterReady(path string, pid int) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) >= 8 && strings.TrimSpace(lines[0]) == strconv.Itoa(pid) && strings.TrimSpace(lines[7]) == "ready"
}

// logTail returns the end (at most 4 KiB) of the log file at path after offset.
func logTail(path string, offset int64) string {
	const maxTail = 4 << 10
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	offset = max(offset, fi.Size()-maxTail)
	b, err := io.ReadAll(io.NewSectionReader(f, offset, fi.Size()-offset))
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	return strings.TrimSpace(string(b))
}

// portFree reports whether nothing listens on the loopback port.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	return l.Close() == nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		return 0, fmt.Errorf("picking a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil //nolint:forcetypeassert // A "tcp" listener's address is a *TCPAddr.
}

func pgVersionFile(clusterDir string) string {
	return filepath.Join(clusterDir, "data", "PG_VERSION")
}

// clusterMajor is the major version of the cluster's data directory.
func clusterMajor(clusterDir string) (int, error) {
	data, err := os.ReadFile(pgVersionFile(clusterDir))
	if err != nil {
		return 0, fmt.Errorf("reading the cluster's version: %w", err)
	}
	major, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("reading the cluster's version from %s: %w", pgVersionFile(clusterDir), err)
	}
	return major, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
