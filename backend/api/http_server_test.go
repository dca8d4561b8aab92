package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// limitsBundle is an API server with the given limits on a real loopback
// listener, served the way dbfleetd serves it.
type limitsBundle struct {
	addr   string
	token  string
	ops    *fakeOperations
	logs   *lockedBuffer
	server *Server
}

// lockedBuffer collects logs written from handler goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func setupLimits(t *testing.T, limits Limits, maxConnections int) *limitsBundle {
	t.Helper()
	st := openSQLite(t)
	_, token, err := TokenCreate(context.Background(), st, "writer", scopeWrite)
	require.NoError(t, err)
	b := &limitsBundle{token: token, ops: &fakeOperations{holdWaits: true}, logs: &lockedBuffer{}}
	b.server = New(Config{Store: st, Operations: b.ops, Regions: fakeRegions{}, Logger: zerolog.New(b.logs),
		Registry: prometheus.NewRegistry(), RateLimit: RateLimit{PerSecond: -1}, MaxWait: 5 * time.Second, Limits: limits})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := b.server.HTTPServer()
	go func() { _ = srv.Serve(LimitListener(l, maxConnections)) }()
	t.Cleanup(func() { _ = srv.Close() })
	b.addr = l.Addr().String()
	return b
}

// dial opens a raw connection that fails the test's reads after a bound.
func (b *limitsBundle) dial(t *testing.T) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", b.addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	return conn
}

func (b *limitsBundle) head(method, path string, contentLength int) string {
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: dbfleet\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		method, path, b.token, contentLength)
}

func TestHTTPServerLimits(t *testing.T) {
	t.Parallel()

	t.Run("SlowBodyIsCutAtItsDeadline", func(t *testing.T) {
		t.Parallel()
		b := setupLimits(t, Limits{BodyReadTimeout: time.Second}, DefaultMaxConnections)
		conn := b.dial(t)
		body := `{"skip_final_backup": true, "schema": "` + strings.Repeat("a", 60) + `"}`
		start := time.Now()
		_, err := io.WriteString(conn, b.head(http.MethodPut, "/v1/databases/westeurope/orders", len(body)))
		require.NoError(t, err)
		answered := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(conn).ReadString('\n')
			answered <- line
		}()
		// A byte every 100 ms: the whole body would take 10 s.
		var line string
	send:
		for i := 0; i < len(body); i++ {
			select {
			case line = <-answered:
				break send
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := io.WriteString(conn, body[i:i+1]); err != nil {
				line = <-answered
				break
			}
		}
		elapsed := time.Since(start)
		require.Less(t, elapsed, 4*time.Second, "the server let a slow body run for %s", elapsed)
		require.True(t, line == "" || strings.Contains(line, " 400 "), "answer: %q", line)
		require.Zero(t, b.ops.reached.Load(), "nothing starts from a body that never arrived")
	})

	t.Run("IdleKeepAliveIsClosed", func(t *testing.T) {
		t.Parallel()
		b := setupLimits(t, Limits{IdleTimeout: 300 * time.Millisecond}, DefaultMaxConnections)
		conn := b.dial(t)
		_, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: dbfleet\r\n\r\n")
		require.NoError(t, err)
		reader := bufio.NewReader(conn)
		resp, err := http.ReadResponse(reader, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		start := time.Now()
		_, err = reader.ReadByte()
		require.ErrorIs(t, err, io.EOF, "the server closes an idle connection")
		require.Less(t, time.Since(start), 3*time.Second)
	})

	t.Run("LongPollOutlastsTheTimeouts", func(t *testing.T) {
		t.Parallel()
		short := 300 * time.Millisecond
		b := setupLimits(t, Limits{ReadHeaderTimeout: short, BodyReadTimeout: short, IdleTimeout: short}, DefaultMaxConnections)
		start := time.Now()
		req, err := http.NewRequest(http.MethodPost, "http://"+b.addr+"/v1/operations/op-1:wait?timeout=1500ms", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+b.token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond, "the wait ran to its timeout")
	})

	t.Run("ConnectionsAreCapped", func(t *testing.T) {
		t.Parallel()
		b := setupLimits(t, Limits{}, 2)
		held := []net.Conn{b.dial(t), b.dial(t)}
		for _, conn := range held {
			_, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: dbfleet\r\n\r\n")
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			resp.Body.Close()
		}
		third := b.dial(t)
		_, err := io.WriteString(third, "GET /healthz HTTP/1.1\r\nHost: dbfleet\r\n\r\n")
		require.NoError(t, err)
		require.NoError(t, third.SetReadDeadline(time.Now().Add(500*time.Millisecond)))
		_, err = bufio.NewReader(third).ReadByte()
		require.Error(t, err, "a third connection waits while two are open")
		require.NoError(t, held[0].Close())
		require.NoError(t, third.SetReadDeadline(time.Now().Add(5*time.Second)))
		resp, err := http.ReadResponse(bufio.NewReader(third), nil)
		require.NoError(t, err, "it is served once one closes")
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})

	t.Run("AbandonedRequestIsLoggedAs499", func(t *testing.T) {
		t.Parallel()
		b := setupLimits(t, Limits{}, DefaultMaxConnections)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+b.addr+"/v1/operations/op-1:wait?timeout=4s", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+b.token)
		_, err = http.DefaultClient.Do(req)
		require.Error(t, err)
		require.Eventually(t, func() bool { return strings.Contains(b.logs.String(), `"status":499`) }, 5*time.Second, 20*time.Millisecond)
		require.NotContains(t, b.logs.String(), "Request failed", "an abandoned request is no fault")
		require.Equal(t, 1.0, testutil.ToFloat64(b.server.metrics.requests.WithLabelValues("POST /v1/operations/{id}", http.MethodPost, "499")))
	})
}
