package client

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// ErrNotFound matches, with errors.Is, an *APIError whose status is 404.
var ErrNotFound = errors.New("not found")

// APIError is an error answer of dbfleetd: a non-2xx status and, when the
// body was an API error, its code, message and details.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the stable error code (apiv1.Code*), empty when the body was
	// not an API error.
	Code string
	// Message says what went wrong; the body's start when it was not an API
	// error.
	Message string
	// Details carries data about the error, such as operation_id for
	// operation_in_progress.
	Details map[string]string
	// RequestID identifies the request in dbfleetd's logs.
	RequestID string
}

// Error renders the status, code, message, details and request ID, for
// example:
//
//	dbfleet API answered 409 Conflict (operation_in_progress): another operation is running; operation_id=op-1; request ID req-9
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dbfleet API answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "; %s=%s", k, e.Details[k])
	}
	if e.RequestID != "" {
		b.WriteString("; request ID " + e.RequestID)
	}
	return b.String()
}

// Is reports whether target is ErrNotFound and e is a 404.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// ConfigError is a Config setting that is missing or out of range. Field
// names the setting as the provider's configuration spells it (endpoint,
// token, ca_cert_pem, request_timeout, max_retries).
type ConfigError struct {
	// Field is the setting at fault.
	Field string
	// Message says what is wrong with it and what is valid.
	Message string
}

// Error renders the field and the message.
func (e *ConfigError) Error() string {
	return e.Field + " " + e.Message
}
