package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// Body size limits, per endpoint: a database spec is a few settings, a
// schema carries its migrations' SQL, the other mutating calls carry no body.
const (
	databaseBodyLimit = 64 << 10
	schemaBodyLimit   = 4 << 20
	emptyBodyLimit    = 1 << 10
)

// strictJSON are the decoding rules of every request body: member names
// match case-sensitively, a name given twice is an error, and so is a name
// the wire type does not have (JSON v2 semantics; the first two are its
// defaults, spelled out here because they are the contract).
var strictJSON = json.JoinOptions(
	json.RejectUnknownMembers(true),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
	json.MatchCaseInsensitiveNames(false),
)

// withBody caps the request body of a route at limit bytes and gives the
// client the Limits' BodyReadTimeout to send it: a body sent a byte a second
// must not hold a connection and a handler.
func (s *Server) withBody(limit int64, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		body, err := readBody(w, r, s.limits.BodyReadTimeout)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		return h(w, r)
	}
}

// readBody reads the whole body within timeout, then lifts the deadline
// again so that the connection's background read does not end the request.
func readBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) ([]byte, error) {
	rc := http.NewResponseController(w)
	// A ResponseWriter that cannot set deadlines (a test recorder) reads
	// without one.
	hasDeadline := rc.SetReadDeadline(time.Now().Add(timeout)) == nil
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// The rest of the body is not worth waiting for: answer and close
		// the connection, keeping the deadline for what the server would
		// otherwise read and discard.
		w.Header().Set("Connection", "close")
	} else if hasDeadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, badRequest(fmt.Sprintf("request body is larger than this endpoint's limit of %d bytes", tooLarge.Limit))
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		return nil, err
	case err != nil:
		return nil, badRequest(fmt.Sprintf("request body could not be read within %s", timeout))
	}
	return body, nil
}

// decodeBody decodes a JSON body into v by the strictJSON rules: exactly one
// JSON value, nothing after it. A body that is empty, whitespace or null is
// missing: an error when required, the zero value otherwise.
func decodeBody(r *http.Request, v any, required bool) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return badRequest("request body could not be read")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		if required {
			return fieldError("body", "request body is required: send a JSON object")
		}
		return nil
	}
	if trimmed[0] != '{' {
		return fieldError("body", "request body must be a JSON object")
	}
	if err := json.Unmarshal(body, v, strictJSON); err != nil {
		return decodeError(err)
	}
	return nil
}

// decodeError turns a decoding error into a 400 naming the field at fault,
// quoting no more of the body than a cut name.
func decodeError(err error) error {
	var syntax *jsontext.SyntacticError
	var semantic *json.SemanticError
	switch {
	case errors.As(err, &syntax):
		field := fieldOf(syntax.JSONPointer)
		if errors.Is(syntax.Err, jsontext.ErrDuplicateName) {
			return fieldError(field, fmt.Sprintf("request body names %s more than once", describePointer(syntax.JSONPointer)))
		}
		return fieldError(field, fmt.Sprintf("request body is not valid JSON at byte %d: %s", syntax.ByteOffset, cutMessage(syntax.Err)))
	case errors.As(err, &semantic):
		field := fieldOf(semantic.JSONPointer)
		if errors.Is(semantic.Err, json.ErrUnknownName) {
			return fieldError(field, fmt.Sprintf("request body has unknown field %s (names are case-sensitive)", describePointer(semantic.JSONPointer)))
		}
		return fieldError(field, fmt.Sprintf("request body field %s must be %s", describePointer(semantic.JSONPointer), kindOf(semantic.GoType)))
	}
	return fieldError("body", "request body is not valid JSON")
}

// fieldOf names the request field a JSON pointer is in, the way error
// details name it ("rollout.bake_time", "migrations", "parameters"): the
// path stops at an array (its items are the array's) and at the parameters
// map (its keys are values).
func fieldOf(p jsontext.Pointer) string {
	var parts []string
	for token := range p.Tokens() {
		if _, err := strconv.Atoi(token); err == nil {
			break
		}
		parts = append(parts, token)
		if token == "parameters" {
			break
		}
	}
	if len(parts) == 0 {
		return "body"
	}
	return apiv1.CutString(strings.Join(parts, "."))
}

func describePointer(p jsontext.Pointer) string {
	if p == "" {
		return "the body"
	}
	return apiv1.Quote(string(p))
}

// cutMessage is a syntax error's text, which may quote the body, cut short.
func cutMessage(err error) string {
	if err == nil {
		return "unexpected input"
	}
	return apiv1.CutString(err.Error())
}

func kindOf(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "of type " + t.Kind().String()
}

// fieldError is a 400 invalid_argument about one request field.
func fieldError(field, message string) error {
	return &httpError{status: http.StatusBadRequest, code: apiv1.CodeInvalidArgument, message: message,
		details: map[string]string{"field": field}}
}
