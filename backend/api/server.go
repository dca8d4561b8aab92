// Package api serves dbfleetd's HTTP API (v1): it authenticates requests,
// decodes and validates them, and hands them to the operations manager and
// the store. It never speaks SQL itself.
package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ui"
)

// Operations starts and follows operations.
type Operations interface {
	DatabaseApply(ctx context.Context, params *ops.DatabaseApplyParams) (*store.Operation, error)
	DatabaseDelete(ctx context.Context, params *ops.DatabaseDeleteParams) (*store.Operation, error)
	OperationWait(ctx context.Context, id string, timeout time.Duration) (*store.Operation, error)
	OperationCancel(ctx context.Context, id string) (*store.Operation, error)
	DatabasePlan(ctx context.Context, params *ops.DatabaseApplyParams) (*ops.DatabasePlan, error)
	// DatabaseParametersCheck refuses parameter values the database's
	// region would refuse; it changes nothing.
	DatabaseParametersCheck(ctx context.Context, params *ops.DatabaseApplyParams) error
	SchemaPut(ctx context.Context, name string, spec ops.SchemaSpec) (*ops.SchemaStatus, error)
	SchemaGet(ctx context.Context, name string) (*ops.SchemaStatus, error)
	SchemaWaves(ctx context.Context, name string) ([][]string, error)
	SchemaDelete(ctx context.Context, name string) error
	SchemaValidate(ctx context.Context, name string, spec ops.SchemaSpec) (*ops.SchemaValidation, error)
	RolloutResume(ctx context.Context, schema string, version int64) (*ops.SchemaStatus, error)
	DatabaseVerify(ctx context.Context, region, name, requestID string) (*store.Operation, error)
	DatabasePasswordRotate(ctx context.Context, region, name, requestID string) (*store.Operation, error)
}

// Regions reports on the regions' servers.
type Regions interface {
	Names() []string
	Labels(name string) map[string]string
	Endpoint(name string) (host string, port int, err error)
	RegionHealth(ctx context.Context, name string) (*engine.Health, error)
	RegionCapabilities(ctx context.Context, name string) (*engine.Capabilities, error)
}

// Config holds a Server's dependencies.
type Config struct {
	Store      store.Store
	Operations Operations
	Regions    Regions
	Logger     zerolog.Logger
	// Registry receives the HTTP metrics and is served at /metrics.
	Registry *prometheus.Registry
	// MaxWait caps the timeout of :wait long-polls; 0 means 60 s.
	MaxWait time.Duration
	// RateLimit is each token's request rate limit; zero means
	// DefaultRateLimit.
	RateLimit RateLimit
	// SecretKey is the daemon's secret key, which the dashboard derives
	// its session cookie key from; nil gives the dashboard a random key
	// (sessions on this Server alone).
	SecretKey []byte
	// Limits are the HTTP server's timeouts; zero fields take their
	// defaults.
	Limits Limits
}

// Server is the HTTP API.
type Server struct {
	store      store.Store
	operations Operations
	regions    Regions
	logger     zerolog.Logger
	registry   *prometheus.Registry
	metrics    *httpMetrics
	maxWait    time.Duration
	mux        *http.ServeMux
	// tokenLimits rate-limits each token; authFailureLimits each remote
	// address sending no valid token.
	tokenLimits       *limiters
	authFailureLimits *limiters
	// draining is set when the node is shutting down: it is no longer ready.
	draining atomic.Bool
	// secretKey is handed to the dashboard.
	secretKey []byte
	limits    Limits
	// keysInFlight holds the Idempotency-Keys of requests running on this
	// node, by principal and key.
	keysInFlight sync.Map
}

// Drain makes /readyz answer 503 from now on, so that load balancers send
// requests to other nodes while this one shuts down.
func (s *Server) Drain() { s.draining.Store(true) }

// New returns the API server.
func New(cfg Config) *Server {
	s := &Server{
		store: cfg.Store, operations: cfg.Operations, regions: cfg.Regions,
		logger: cfg.Logger, registry: cfg.Registry, secretKey: cfg.SecretKey,
		metrics: newHTTPMetrics(cfg.Registry),
		maxWait: cfg.MaxWait,
		limits:  cfg.Limits.withDefaults(),
		mux:     http.NewServeMux(),

		tokenLimits:       newLimiters(cfg.RateLimit, DefaultRateLimit, nil),
		authFailureLimits: newLimiters(authFailureLimit, authFailureLimit, nil),
	}
	if s.maxWait == 0 {
		s.maxWait = 60 * time.Second
	}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	read, write := scopeRead, scopeWrite
	s.handle("GET /v1/regions", read, s.regionList)
	s.handle("GET /v1/regions/{name}", read, s.regionGet)
	s.handle("GET /v1/databases", read, s.databaseList)
	s.handle("GET /v1/databases/{region}/{name}", read, s.databaseGet)
	s.handle("GET /v1/databases/{region}/{name}/events", read, s.databaseEvents)
	s.handle("PUT /v1/databases/{region}/{name}", write, s.withBody(databaseBodyLimit, s.idempotent(s.databasePut)))
	s.handle("DELETE /v1/databases/{region}/{name}", write, s.withBody(emptyBodyLimit, s.idempotent(s.databaseDelete)))
	s.handle("POST /v1/databases/{region}/{name}", write, customMethods("name", map[string]handlerFunc{
		"plan":            s.withBody(databaseBodyLimit, s.databasePlan),
		"verify":          s.withBody(emptyBodyLimit, s.idempotent(s.databaseVerify)),
		"rotate_password": s.withBody(emptyBodyLimit, s.idempotent(s.databaseRotatePassword)),
	}))
	s.handle("PUT /v1/schemas/{name}", write, s.withBody(schemaBodyLimit, s.idempotent(s.schemaPut)))
	s.handle("GET /v1/schemas/{name}", read, s.schemaGet)
	s.handle("DELETE /v1/schemas/{name}", write, s.withBody(emptyBodyLimit, s.idempotent(s.schemaDelete)))
	s.handle("POST /v1/schemas/{name}", write, customMethods("name", map[string]handlerFunc{
		"validate": s.withBody(schemaBodyLimit, s.schemaValidate),
	}))
	s.handle("POST /v1/schemas/{name}/rollouts/{version}", write, customMethods("version", map[string]handlerFunc{
		"resume": s.withBody(emptyBodyLimit, s.idempotent(s.rolloutResume)),
	}))
	s.handle("/v1/databases/{region}/{$}", read, func(w http.ResponseWriter, r *http.Request) error {
		return badRequest("database name is empty; use a lower-case letter followed by up to 62 lower-case letters, digits or underscores")
	})
	s.handle("GET /v1/operations", read, s.operationList)
	s.handle("GET /v1/operations/{id}", read, s.operationGet)
	s.handle("POST /v1/operations/{id}", write, customMethods("id", map[string]handlerFunc{
		"wait":   s.withBody(emptyBodyLimit, s.operationWait),
		"cancel": s.withBody(emptyBodyLimit, s.idempotent(s.operationCancel)),
	}))
	s.handle("GET /v1/audit", scopeAdmin, s.auditList)
	s.handle("GET /v1/openapi.json", "", s.openAPI)
	s.handle("GET /healthz", "", func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return nil
	})
	s.handle("GET /readyz", "", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	s.mux.Handle("/ui/", ui.New(ui.Config{Store: s.store, Rollouts: s.operations, Regions: s.regions, Auth: s, Logger: s.logger,
		SecretKey: s.secretKey}))
	s.handle("/", "", func(w http.ResponseWriter, r *http.Request) error {
		return &httpError{status: http.StatusNotFound, code: "not_found", message: "no such endpoint: " + r.Method + " " + r.URL.Path}
	})
}

// handlerFunc is an HTTP handler that returns its error for one place to
// render.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// customMethods serves AIP-136 custom methods (`/v1/operations/{id}:wait`):
// the wildcard matches the whole last segment, which is split on ':' here.
func customMethods(wildcard string, methods map[string]handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		value, method, ok := strings.Cut(r.PathValue(wildcard), ":")
		h, known := methods[method]
		if !ok || !known {
			return &httpError{status: http.StatusNotFound, code: "not_found", message: "no such method: " + r.URL.Path}
		}
		r.SetPathValue(wildcard, value)
		return h(w, r)
	}
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.draining.Load() {
		return &httpError{status: http.StatusServiceUnavailable, code: "unavailable", message: "this node is shutting down"}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return &httpError{status: http.StatusServiceUnavailable, code: "unavailable", message: "the state store is not reachable"}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
