// Package client is the Terraform provider's client for dbfleetd's HTTP API
// (v1). It retries connection errors, 429 and 5xx answers with backoff that
// honours Retry-After, sends one Idempotency-Key per logical mutating request
// so that a retry never acts twice, and turns error answers into *APIError.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// Defaults applied by New to zero Config fields, and used by the provider
// for its own defaults.
const (
	// DefaultRequestTimeout bounds one HTTP attempt when Config.RequestTimeout is zero.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMaxRetries is the provider's default for Config.MaxRetries.
	DefaultMaxRetries = 5
	// DefaultRetryWaitMin is the first backoff when Config.RetryWaitMin is zero.
	DefaultRetryWaitMin = time.Second
	// DefaultRetryWaitMax caps the backoff when Config.RetryWaitMax is zero.
	DefaultRetryWaitMax = 30 * time.Second
)

// maskedToken replaces the token wherever it would reach a log.
const maskedToken = "***"

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// LogFunc receives the client's debug log events: one per attempt, per
// answer, per failed attempt and per unfinished long-poll. Messages are
// constant; fields carry the details. The client masks the token out of both
// before the call.
type LogFunc func(ctx context.Context, msg string, fields map[string]any)

// Config configures a Client.
type Config struct {
	// Endpoint is the base URL of dbfleetd, such as http://127.0.0.1:8580.
	// Required; http or https.
	Endpoint string
	// Token is the bearer token sent on every request. Required. It is never
	// logged.
	Token string
	// CACertPEM holds PEM certificates to trust for the endpoint in addition
	// to the system's roots. Empty trusts the system's roots only.
	CACertPEM string
	// InsecureSkipVerify turns off TLS certificate verification. Only for
	// development endpoints.
	InsecureSkipVerify bool
	// RequestTimeout bounds one HTTP attempt, reading the answer included. A
	// long-poll gets its wait on top. Zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxRetries is how many times a failed attempt is retried; zero never
	// retries.
	MaxRetries int
	// RetryWaitMin is the first wait of the exponential backoff between
	// attempts, used when the server sends no Retry-After. Zero means
	// DefaultRetryWaitMin.
	RetryWaitMin time.Duration
	// RetryWaitMax caps the exponential backoff. Zero means
	// DefaultRetryWaitMax. A Retry-After is honoured even when longer.
	RetryWaitMax time.Duration
	// UserAgent is sent as the User-Agent header when not empty.
	UserAgent string
	// Log receives debug log events. Nil logs nothing.
	Log LogFunc
	// WrapTransport, when not nil, wraps the transport built from the TLS
	// settings; every attempt, retries included, goes through what it
	// returns. Tests use it to observe requests.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Client calls dbfleetd's HTTP API. It is safe for concurrent use.
type Client struct {
	endpoint        string
	token           string
	userAgent       string
	transport       http.RoundTripper
	requestTimeout  time.Duration
	maxRetries      int
	retryWaitMin    time.Duration
	retryWaitMax    time.Duration
	minPollInterval time.Duration
	log             LogFunc
}

// New returns a Client for cfg. A setting that is missing or out of range is
// a *ConfigError.
func New(cfg Config) (*Client, error) {
	endpoint, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, &ConfigError{Field: "token", Message: "must not be empty"}
	}
	if cfg.RequestTimeout < 0 {
		return nil, &ConfigError{Field: "request_timeout", Message: fmt.Sprintf("must be positive, got %s", cfg.RequestTimeout)}
	}
	if cfg.MaxRetries < 0 {
		return nil, &ConfigError{Field: "max_retries", Message: fmt.Sprintf("must be 0 or more, got %d", cfg.MaxRetries)}
	}
	transport, err := newTransport(cfg.CACertPEM, cfg.InsecureSkipVerify)
	if err != nil {
		return nil, err
	}
	var rt http.RoundTripper = transport
	if cfg.WrapTransport != nil {
		rt = cfg.WrapTransport(rt)
	}
	return &Client{
		endpoint:        endpoint,
		token:           cfg.Token,
		userAgent:       cfg.UserAgent,
		transport:       rt,
		requestTimeout:  orDefault(cfg.RequestTimeout, DefaultRequestTimeout),
		maxRetries:      cfg.MaxRetries,
		retryWaitMin:    orDefault(cfg.RetryWaitMin, DefaultRetryWaitMin),
		retryWaitMax:    orDefault(cfg.RetryWaitMax, DefaultRetryWaitMax),
		minPollInterval: minPollInterval,
		log:             cfg.Log,
	}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// parseEndpoint checks that raw is an absolute http(s) URL and returns it
// without a trailing slash, ready for API paths to be appended.
func parseEndpoint(raw string) (string, error) {
	if raw == "" {
		return "", &ConfigError{Field: "endpoint", Message: "must not be empty"}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", &ConfigError{
			Field:   "endpoint",
			Message: fmt.Sprintf("must be an http:// or https:// URL without query or fragment, such as http://127.0.0.1:8580, got %q", raw),
		}
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

func newTransport(caCertPEM string, insecureSkipVerify bool) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone() //nolint:forcetypeassert // net/http declares DefaultTransport as a *Transport.
	t.TLSClientConfig = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: insecureSkipVerify, //nolint:gosec // Opt-in, documented as for development endpoints only.
	}
	if caCertPEM != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(caCertPEM)) {
			return nil, &ConfigError{Field: "ca_cert_pem", Message: "holds no PEM-encoded certificate"}
		}
		t.TLSClientConfig.RootCAs = pool
	}
	return t, nil
}

// request is one logical API call, which may take several attempts.
type request struct {
	method string
	// path is the escaped path below the endpoint, such as /v1/regions.
	path  string
	query url.Values
	// body is sent as JSON when not nil.
	body any
	// mutating requests carry an Idempotency-Key.
	mutating bool
	// wait is how long the server may hold a long-poll; it extends the
	// attempt timeout.
	wait time.Duration
}

// do sends r, retrying as configured, and decodes a 2xx answer into out,
// unless out is nil (a 204 has no body). Any other answer is an *APIError.
func (c *Client) do(ctx context.Context, r request, out any) error {
	// rawBody stays an untyped nil without a body: a nil []byte would be
	// sent as an empty one.
	var rawBody any
	if r.body != nil {
		body, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("encoding the body of %s %s: %w", r.method, r.path, err)
		}
		rawBody = body
	}
	target := c.endpoint + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, r.method, target, rawBody)
	if err != nil {
		return fmt.Errorf("building %s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if rawBody != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if r.mutating {
		// Set once here: every retry of this request sends the same key, so
		// the server answers a retry with the first attempt's result.
		req.Header.Set(apiv1.HeaderIdempotencyKey, uuid.NewString())
	}

	resp, err := c.retryClient(ctx, c.requestTimeout+r.wait).Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := decodeError(resp)
		c.logf(ctx, "dbfleet API returned an error", map[string]any{
			"method":     r.method,
			"path":       r.path,
			"status":     apiErr.Status,
			"code":       apiErr.Code,
			"message":    apiErr.Message,
			"request_id": apiErr.RequestID,
		})
		return apiErr
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding the answer to %s %s: %w", r.method, r.path, err)
	}
	return nil
}

// retryClient returns a retrying client whose attempts each last at most
// attemptTimeout. It is cheap: all share c's transport and its connections.
//
// When ctx has a deadline (a resource's timeouts), retries go on until it,
// however many that takes beyond MaxRetries: a dbfleetd being restarted
// answers again within the time the user gave the change, and the request's
// one Idempotency-Key makes a late retry as safe as an early one. MaxRetries
// zero still never retries.
func (c *Client) retryClient(ctx context.Context, attemptTimeout time.Duration) *retryablehttp.Client {
	retryMax := c.maxRetries
	if _, ok := ctx.Deadline(); ok && retryMax > 0 {
		retryMax = math.MaxInt32
	}
	return &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: c.transport, Timeout: attemptTimeout},
		RetryWaitMin: c.retryWaitMin,
		RetryWaitMax: c.retryWaitMax,
		RetryMax:     retryMax,
		CheckRetry:   c.checkRetry,
		// DefaultBackoff waits as long as Retry-After says on 429 and 503,
		// and backs off exponentially otherwise.
		Backoff:         retryablehttp.DefaultBackoff,
		ErrorHandler:    giveUp,
		RequestLogHook:  c.logAttempt,
		ResponseLogHook: c.logResponse,
	}
}

// checkRetry retries what retryablehttp's default policy retries
// (connection errors, 429, 5xx except 501) and also a 409
// idempotency_key_in_flight: an earlier attempt of the same request is still
// being served, and a later attempt gets its answer.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	retry, checkErr := retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	if err != nil {
		c.logf(ctx, "dbfleet API request attempt failed", map[string]any{"error": err.Error(), "retryable": retry})
	}
	if !retry && checkErr == nil && err == nil && resp.StatusCode == http.StatusConflict {
		retry = peekErrorCode(resp) == apiv1.CodeIdempotencyInFlight
	}
	return retry, checkErr
}

// peekErrorCode returns the error code of resp's body and leaves the body
// readable again.
func peekErrorCode(resp *http.Response) string {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var e apiv1.ErrorResponse
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

// giveUp is called once retrying stops without success. An answer that was
// still retryable (a 503 after the last retry, say) is passed on so that the
// caller reports the server's error; otherwise the error is.
func giveUp(resp *http.Response, err error, attempts int) (*http.Response, error) {
	if err == nil && resp != nil {
		return resp, nil
	}
	if resp != nil {
		resp.Body.Close()
	}
	return nil, fmt.Errorf("giving up after %d attempt(s): %w", attempts, err)
}

func (c *Client) logAttempt(_ retryablehttp.Logger, req *http.Request, retry int) {
	c.logf(req.Context(), "Sending dbfleet API request", map[string]any{
		"method":  req.Method,
		"url":     req.URL.Redacted(),
		"attempt": retry + 1,
	})
}

func (c *Client) logResponse(_ retryablehttp.Logger, resp *http.Response) {
	c.logf(resp.Request.Context(), "Received dbfleet API response", map[string]any{
		"method":     resp.Request.Method,
		"url":        resp.Request.URL.Redacted(),
		"status":     resp.StatusCode,
		"request_id": resp.Header.Get(apiv1.HeaderRequestID),
	})
}

// logf masks the token out of msg and the string fields, then calls c.log.
func (c *Client) logf(ctx context.Context, msg string, fields map[string]any) {
	if c.log == nil {
		return
	}
	for k, v := range fields {
		if s, ok := v.(string); ok {
			fields[k] = strings.ReplaceAll(s, c.token, maskedToken)
		}
	}
	c.log(ctx, strings.ReplaceAll(msg, c.token, maskedToken), fields)
}

// decodeError turns a non-2xx answer into an *APIError, falling back to the
// status and the start of the body when the body is not an API error.
func decodeError(resp *http.Response) *APIError {
	apiErr := &APIError{Status: resp.StatusCode, RequestID: resp.Header.Get(apiv1.HeaderRequestID)}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var e apiv1.ErrorResponse
	switch {
	case err != nil:
		apiErr.Message = fmt.Sprintf("reading the error answer: %v", err)
	case json.Unmarshal(body, &e) == nil && e.Error.Code != "":
		apiErr.Code = e.Error.Code
		apiErr.Message = e.Error.Message
		apiErr.Details = e.Error.Details
		if e.Error.RequestID != "" {
			apiErr.RequestID = e.Error.RequestID
		}
	default:
		apiErr.Message = strings.TrimSpace(string(body))
		if len(apiErr.Message) > 512 {
			apiErr.Message = apiErr.Message[:512] + "…"
		}
	}
	return apiErr
}
