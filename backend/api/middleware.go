package api

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

type principalKey struct{}
type requestIDKey struct{}

func principalFrom(ctx context.Context) *store.Token {
	p, _ := ctx.Value(principalKey{}).(*store.Token)
	return p
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

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

// Unwrap lets http.ResponseController reach the connection (read
// deadlines for bodies).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// handle registers a route: request id, authentication, rate limit and
// authorization with the scope the route needs ("" for none), error
// rendering, the audit log, a log line and metrics.
func (s *Server) handle(pattern, scope string, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		requestID := r.Header.Get(apiv1.HeaderRequestID)
		if !requestIDPattern.MatchString(requestID) {
			requestID = uuid.NewString()
		}
		w.Header().Set(apiv1.HeaderRequestID, requestID)
		ctx := context.WithValue(r.Context(), requestIDKey{}, requestID)
		rec := &statusRecorder{ResponseWriter: w}
		r = r.WithContext(ctx)

		var err error
		if scope != "" {
			r, err = s.authorize(rec, r, scope)
		}
		if err == nil {
			err = h(rec, r)
		}
		switch {
		case err != nil && clientGone(r, err):
			// Nobody is left to answer; the log and metrics say so.
			rec.status = statusClientClosed
		case err != nil:
			he := toHTTPError(err)
			if he.status >= 500 {
				s.logger.Error().Str("requestId", requestID).Err(err).Msg("Request failed")
			}
			writeError(rec, requestID, he)
		}
		if scope != "" {
			s.audit(r, rec.status)
		}

		route := r.Pattern
		elapsed := time.Since(start)
		s.metrics.observe(route, r.Method, rec.status, elapsed)
		ev := s.logger.Info()
		switch {
		case rec.status == statusClientClosed:
			ev = s.logger.Warn().Bool("clientClosed", true)
		case rec.status >= 500:
			ev = s.logger.Error()
		}
		ev = ev.Str("requestId", requestID).Str("method", r.Method).Str("route", route).
			Int("status", rec.status).Dur("duration", elapsed)
		if v := r.PathValue("region"); v != "" {
			ev = ev.Str("region", v)
		}
		if v := r.PathValue("id"); v != "" {
			ev = ev.Str("operationId", v)
		}
		if v := r.PathValue("name"); v != "" && strings.Contains(route, "/v1/databases/") {
			ev = ev.Str("database", v)
		}
		if p := principalFrom(r.Context()); p != nil {
			ev = ev.Str("token", p.Name)
		}
		ev.Msg("Served request")
	})
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dbfleet_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dbfleet_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"route", "method"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency)
	}
	return m
}

func (m *httpMetrics) observe(route, method string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(elapsed.Seconds())
}
