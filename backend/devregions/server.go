package devregions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

const (
	// previousServerWait bounds the wait for a previous postmaster of a cluster that is still
	// shutting down, typically one whose dbfleetd was killed a moment ago.
	previousServerWait = 30 * time.Second
	// immediateStopWait bounds the wait for a server after an immediate shutdown.
	immediateStopWait = 10 * time.Second
)

// server is one running postmaster.
type server struct {
	proc   *os.Process
	pid    int
	exited chan struct{} // closed once the process has exited
	err    error         // the process's exit error; set before exited is closed
	// stopping is set once a shutdown was asked for, so that the exit is not reported as a fault.
	stopping atomic.Bool
}

// startServer starts cmd and reaps it in the background.
//
// cmd carries Pdeathsig so that the server shuts down when this process dies, even by SIGKILL.
// Linux sends that signal when the thread that forked the child exits, not the process
// (golang/go#27505), so the goroutine that forks the server stays locked to its thread until the
// server has exited.
func startServer(cmd *exec.Cmd, log zerolog.Logger) (*server, error) {
	s := &server{exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		s.proc = cmd.Process
		s.pid = cmd.Process.Pid
		started <- nil
		s.err = cmd.Wait()
		if !s.stopping.Load() {
			log.Warn().Int("pid", s.pid).Err(s.err).Msg("PostgreSQL server exited")
		}
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	return s, nil
}

// running reports whether the process has not exited yet.
func (s *server) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// shutdown asks for a fast shutdown (SIGINT: sessions are ended, the server checkpoints and
// exits) and waits for the exit. When ctx ends first it falls back to an immediate shutdown
// (SIGQUIT), waits a little longer and reports ctx's error.
func (s *server) shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	// os.Process.Signal never reaches another process that reused the pid of an exited server.
	if err := s.proc.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling PostgreSQL server %d: %w", s.pid, err)
	}
	select {
	case <-s.exited:
		return nil
	case <-ctx.Done():
	}
	_ = s.proc.Signal(syscall.SIGQUIT) // best effort: it may have exited meanwhile
	select {
	case <-s.exited:
	case <-time.After(immediateStopWait):
	}
	return fmt.Errorf("fast shutdown of PostgreSQL server %d did not finish: %w", s.pid, ctx.Err())
}

// waitForPreviousServer waits until the postmaster recorded in pgdata/postmaster.pid, if alive,
// has exited. A stale postmaster.pid of a dead process is left to postgres, which handles it.
func waitForPreviousServer(ctx context.Context, pgdata string, log zerolog.Logger) error {
	pid, ok := postmasterPID(filepath.Join(pgdata, "postmaster.pid"))
	if !ok || !processAlive(pid) {
		return nil
	}
	log.Info().Int("pid", pid).Msg("Found previous PostgreSQL server still running")
	deadline := time.Now().Add(previousServerWait)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("a previous PostgreSQL server (pid %d) of %s still runs after %v: stop it (kill -INT %d) and start again",
				pid, pgdata, previousServerWait, pid)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	log.Info().Int("pid", pid).Msg("Saw previous PostgreSQL server exit")
	return nil
}

// postmasterPID reads the process id on the first line of a postmaster.pid file.
func postmasterPID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	return pid, err == nil && pid > 0
}

// processAlive reports whether a process with this id exists (EPERM: it exists, as another user)
// and is not a zombie: an exited server whose new parent has not reaped it yet is done.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name, which is in parentheses and may itself hold any byte.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || !strings.HasPrefix(string(stat[i+1:]), " Z")
}
