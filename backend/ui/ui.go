// Package ui serves dbfleetd's operations dashboard under /ui/: the fleet,
// its rollouts, operations and databases, as server-rendered HTML that
// refreshes itself while open. It reads through the same layers as the API
// (the store's read queries and the operations manager), takes the API's
// tokens at its login page, and loads nothing from any other host.
package ui

import (
	"context"
	"crypto/rand"
	"embed"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Authenticator checks the API tokens people sign in with; the API server
// is one, so that the UI and the API accept the same tokens the same way.
type Authenticator interface {
	// AuthenticateToken returns the stored token a secret names, or an
	// error when it is not valid; when r's address failed too often it also
	// sets Retry-After on w.
	AuthenticateToken(w http.ResponseWriter, r *http.Request, token string) (*store.Token, error)
	// ScopeAllows tells whether a token of scope may do what need allows.
	ScopeAllows(scope, need string) bool
}

// Rollouts reads and resumes schema rollouts; the operations manager is
// one.
type Rollouts interface {
	SchemaGet(ctx context.Context, name string) (*ops.SchemaStatus, error)
	RolloutResume(ctx context.Context, schema string, version int64) (*ops.SchemaStatus, error)
}

// Regions names the configured regions.
type Regions interface {
	Names() []string
}

// Config holds a Handler's dependencies.
type Config struct {
	// Store is read through its Queries; its transactions only append to
	// the audit log.
	Store    store.Store
	Rollouts Rollouts
	Regions  Regions
	Auth     Authenticator
	Logger   zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Refresh is how often open pages fetch their content again; 0 means
	// 2 s.
	Refresh time.Duration
	// SecretKey is the daemon's secret key (daemon.Config.SecretKey). The
	// key that seals session cookies is derived from it, so every node
	// given the same key accepts the sessions of the others, across
	// restarts. Nil means a random key: sessions then work on this Handler
	// alone and end with it.
	SecretKey []byte
}

// Handler serves the dashboard.
type Handler struct {
	store    store.Store
	rollouts Rollouts
	regions  Regions
	auth     Authenticator
	logger   zerolog.Logger
	now      func() time.Time
	refresh  time.Duration
	sealer   *sessionSealer
	pages    *pages
	static   *staticFiles
	mux      *http.ServeMux
}

// New returns the dashboard's handler, to be mounted at /ui/.
func New(cfg Config) *Handler {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	secretKey := cfg.SecretKey
	if len(secretKey) == 0 {
		secretKey = make([]byte, 32)
		_, _ = rand.Read(secretKey) // crypto/rand.Read never fails (Go 1.24+)
	}
	sealer, err := newSessionSealer(secretKey, sessionKeyLabel)
	if err != nil {
		panic(err) // only for a key under 112 bits in FIPS 140-only mode; the daemon's has 256
	}
	h := &Handler{
		store: cfg.Store, rollouts: cfg.Rollouts, regions: cfg.Regions, auth: cfg.Auth,
		logger: cfg.Logger, now: now, refresh: cfg.Refresh,
		sealer: sealer,
		pages:  mustParsePages(),
		static: mustLoadStatic(),
		mux:    http.NewServeMux(),
	}
	if h.refresh == 0 {
		h.refresh = 2 * time.Second
	}
	h.routes()
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Scopes the pages need: any token may look, only admin may resume a
// rollout from the dashboard.
const (
	scopeRead  = "read"
	scopeAdmin = "admin"
)

func (h *Handler) routes() {
	// Cross-origin protection refuses state-changing requests a browser
	// marks as coming from another site, before any handler runs; the
	// CSRF tokens below stay for browsers that send neither Sec-Fetch-Site
	// nor Origin.
	cop := http.NewCrossOriginProtection()
	post := func(pattern string, fn http.HandlerFunc) {
		h.mux.Handle(pattern, h.logged(cop.Handler(fn)))
	}
	get := func(pattern string, fn http.HandlerFunc) { h.mux.Handle(pattern, h.logged(fn)) }

	h.mux.Handle("GET /ui/static/{file}", h.static)
	get("GET /ui/login", h.loginPage)
	post("POST /ui/login", h.login)
	post("POST /ui/logout", h.signedIn(scopeRead, h.logout))
	get("GET /ui/{$}", h.signedIn(scopeRead, h.fleetPage))
	get("GET /ui/rollouts", h.signedIn(scopeRead, h.rolloutsPage))
	get("GET /ui/rollouts/{schema}/{version}/resume", h.signedIn(scopeAdmin, h.resumeConfirmPage))
	post("POST /ui/rollouts/{schema}/{version}/resume", h.signedIn(scopeAdmin, h.resume))
	get("GET /ui/operations", h.signedIn(scopeRead, h.operationsPage))
	get("GET /ui/operations/{id}", h.signedIn(scopeRead, h.operationPage))
	get("GET /ui/databases/{region}/{name}", h.signedIn(scopeRead, h.databasePage))
	get("/ui/", func(w http.ResponseWriter, r *http.Request) {
		h.renderError(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	})
}

// logged sets the headers every page carries and logs the request. Cookies
// and form values are never logged: they hold sessions and tokens.
func (h *Handler) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := h.now()
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "same-origin")
		hdr.Set("Cache-Control", "no-store")
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		ev := h.logger.Info()
		if rec.status >= 500 {
			ev = h.logger.Error()
		}
		ev.Str("method", r.Method).Str("route", r.Pattern).Int("status", rec.status).
			Dur("duration", h.now().Sub(start)).Msg("Served dashboard page")
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}
