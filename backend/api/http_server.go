package api

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Limits are the HTTP server's timeouts. Bodies get
// BodyReadTimeout per request, from the start of the handler, rather than
// a server-wide ReadTimeout: net/http ends a request's context when the
// connection's read deadline passes, which would cut :wait long-polls.
type Limits struct {
	// ReadHeaderTimeout bounds how long a client may take to send its
	// request line and headers; 0 means 10 s.
	ReadHeaderTimeout time.Duration
	// BodyReadTimeout bounds how long a client may take to send a request
	// body; 0 means 15 s.
	BodyReadTimeout time.Duration
	// IdleTimeout closes keep-alive connections that carry no request; 0
	// means 90 s.
	IdleTimeout time.Duration
}

func (l Limits) withDefaults() Limits {
	return Limits{
		ReadHeaderTimeout: cmp.Or(l.ReadHeaderTimeout, 10*time.Second),
		BodyReadTimeout:   cmp.Or(l.BodyReadTimeout, 15*time.Second),
		IdleTimeout:       cmp.Or(l.IdleTimeout, 90*time.Second),
	}
}

const (
	// writeGrace is how much longer than the longest long-poll a response
	// may take to be written.
	writeGrace = 2 * time.Minute
	// maxHeaderBytes caps the request line and headers.
	maxHeaderBytes = 64 << 10
)

// statusClientClosed is what the log and metrics record for a request whose
// client went away before the answer (nginx's 499): not a fault of the
// server, and never written to anyone.
const statusClientClosed = 499

// HTTPServer returns the http.Server to serve s with: header, idle and
// write timeouts that let :wait long-polls run to their maximum.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.limits.ReadHeaderTimeout,
		IdleTimeout:       s.limits.IdleTimeout,
		WriteTimeout:      s.maxWait + writeGrace,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// DefaultMaxConnections is how many connections dbfleetd serves at once;
// more wait in the listen queue.
const DefaultMaxConnections = 1024

// LimitListener caps l at n connections at once. It wraps the TCP listener,
// under TLS: net/http must see the *tls.Conn of each connection.
func LimitListener(l net.Listener, n int) net.Listener { return netutil.LimitListener(l, n) }

// clientGone tells whether err ended a request only because its client went
// away (the request's context was cancelled).
func clientGone(r *http.Request, err error) bool {
	return errors.Is(err, context.Canceled) && errors.Is(r.Context().Err(), context.Canceled)
}
