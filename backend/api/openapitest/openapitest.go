// Package openapitest holds dbfleetd's HTTP answers to its OpenAPI document
// (backend/api/openapi.json, served at /v1/openapi.json). daemontest.Client
// passes every exchange a test makes to CheckResponse, so each suite that
// talks to dbfleetd also checks the document.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
)

// Document is a parsed OpenAPI document that checks requests and answers
// against it. Object schemas that do not say otherwise take no properties
// beyond those they list, so a field the API adds without documenting it
// fails the check. A Document is safe for concurrent use.
type Document struct {
	doc    *openapi3.T
	routes []*route
}

// route is one operation of the document: a method and a path template.
type route struct {
	method  string
	path    string
	pattern *regexp.Regexp
	params  []string
	// literal is the length of the template's literal text; among
	// templates that match a path, the most literal one wins, so that
	// /v1/operations/{id}:wait is not taken for /v1/operations/{id}.
	literal int
	item    *openapi3.PathItem
	op      *openapi3.Operation
}

// Operation names a documented operation, such as "POST /v1/operations/{id}:wait".
type Operation string

// ErrUndocumented is returned for a request to a path and method that the
// document does not describe, unless dbfleetd refused it with a client
// error (400, 404 or 405) and an error body.
var ErrUndocumented = errors.New("no operation of the OpenAPI document matches the request")

var shared = sync.OnceValues(func() (*Document, error) { return Parse(api.OpenAPIDocument()) })

// Shared returns the document dbfleetd serves, parsed once per test binary.
func Shared() (*Document, error) { return shared() }

// Parse parses and validates an OpenAPI document.
func Parse(data []byte) (*Document, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("parse OpenAPI document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("validate OpenAPI document: %w", err)
	}
	closeObjects(doc)
	d := &Document{doc: doc}
	placeholder := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range doc.Paths.Map() {
		var params []string
		expr, literal, prev := "^", 0, 0
		for _, m := range placeholder.FindAllStringSubmatchIndex(path, -1) {
			expr += regexp.QuoteMeta(path[prev:m[0]]) + `([^/]+)`
			literal += m[0] - prev
			params = append(params, path[m[2]:m[3]])
			prev = m[1]
		}
		expr += regexp.QuoteMeta(path[prev:]) + "$"
		literal += len(path) - prev
		pattern := regexp.MustCompile(expr)
		for method, op := range item.Operations() {
			d.routes = append(d.routes, &route{method: method, path: path, pattern: pattern, params: params, literal: literal, item: item, op: op})
		}
	}
	slices.SortFunc(d.routes, func(a, b *route) int {
		if a.literal != b.literal {
			return b.literal - a.literal
		}
		return strings.Compare(a.method+" "+a.path, b.method+" "+b.path)
	})
	return d, nil
}

// closeObjects makes every object schema that lists properties and says
// nothing of others refuse them.
func closeObjects(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(ref *openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			s.AdditionalProperties.Has = new(false)
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		walk(s.AdditionalProperties.Schema)
		for _, list := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, r := range list {
				walk(r)
			}
		}
	}
	for _, ref := range doc.Components.Schemas {
		walk(ref)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, resp := range op.Responses.Map() {
				if resp.Value == nil {
					continue
				}
				for _, media := range resp.Value.Content {
					walk(media.Schema)
				}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, media := range op.RequestBody.Value.Content {
					walk(media.Schema)
				}
			}
		}
	}
}

// Operations lists every operation the document describes.
func (d *Document) Operations() []Operation {
	ops := make([]Operation, 0, len(d.routes))
	for _, r := range d.routes {
		ops = append(ops, Operation(r.method+" "+r.path))
	}
	slices.Sort(ops)
	return ops
}

// find returns the operation that serves req and its path parameters.
func (d *Document) find(req *http.Request) (*route, map[string]string) {
	for _, r := range d.routes {
		if r.method != req.Method {
			continue
		}
		m := r.pattern.FindStringSubmatch(req.URL.Path)
		if m == nil {
			continue
		}
		params := make(map[string]string, len(r.params))
		for i, name := range r.params {
			params[name] = m[i+1]
		}
		return r, params
	}
	return nil, nil
}

// Match returns the documented operation that serves req, or false.
func (d *Document) Match(req *http.Request) (Operation, bool) {
	r, _ := d.find(req)
	if r == nil {
		return "", false
	}
	return Operation(r.method + " " + r.path), true
}

func (d *Document) input(r *route, req *http.Request, params map[string]string) *openapi3filter.RequestValidationInput {
	options := &openapi3filter.Options{MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	options.WithCustomSchemaErrorFunc(schemaError)
	return &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      &routers.Route{Spec: d.doc, Path: r.path, PathItem: r.item, Method: r.method, Operation: r.op},
		Options:    options,
	}
}

// schemaError says where in the body a value broke which rule, without
// the whole schema that kin-openapi prints by default.
func schemaError(err *openapi3.SchemaError) string {
	return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
}

// CheckRequest returns an error unless the document describes req: its
// path, method, parameters and body (given apart, as req.Body is read).
func (d *Document) CheckRequest(req *http.Request, body []byte) error {
	r, params := d.find(req)
	if r == nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, ErrUndocumented)
	}
	clone := req.Clone(context.Background())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	input := d.input(r, clone, params)
	if err := openapi3filter.ValidateRequest(context.Background(), input); err != nil {
		return fmt.Errorf("request %s %s does not conform to the OpenAPI document (%s %s): %w", req.Method, req.URL.Path, r.method, r.path, err)
	}
	return nil
}

// CheckResponse returns an error unless the document describes the answer
// dbfleetd gave to req: its status, its headers and its body. A request to
// a path or method the document does not describe (an empty database
// name, a mistyped path) must have been refused with 400, 404 or 405 and
// an ErrorResponse body.
func (d *Document) CheckResponse(req *http.Request, status int, header http.Header, body []byte) error {
	r, params := d.find(req)
	if r == nil {
		switch status {
		case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
			return d.checkErrorBody(req, status, body)
		}
		return fmt.Errorf("%s %s answered %d: %w", req.Method, req.URL.Path, status, ErrUndocumented)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	opts.WithCustomSchemaErrorFunc(schemaError)
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: d.input(r, req, params),
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		return fmt.Errorf("answer %d to %s %s does not conform to the OpenAPI document (%s %s): %w\nbody: %s",
			status, req.Method, req.URL.Path, r.method, r.path, err, truncate(body, 2000))
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

// checkErrorBody checks an answer to an undocumented request against the
// ErrorResponse schema.
func (d *Document) checkErrorBody(req *http.Request, status int, body []byte) error {
	schema := d.doc.Components.Schemas["ErrorResponse"]
	if schema == nil || schema.Value == nil {
		return errors.New("the OpenAPI document has no ErrorResponse schema")
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return fmt.Errorf("answer %d to undocumented %s %s is not JSON: %w\nbody: %s", status, req.Method, req.URL.Path, err, truncate(body, 2000))
	}
	if err := schema.Value.VisitJSON(value, openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("answer %d to undocumented %s %s is not an ErrorResponse: %w\nbody: %s", status, req.Method, req.URL.Path, err, truncate(body, 2000))
	}
	return nil
}

// Transport returns an http.RoundTripper that sends each request through
// base (http.DefaultTransport when nil) and fails t, without stopping it,
// when the document does not describe the answer. It is for clients that
// take a transport, such as the provider's (client.Config.WrapTransport).
func Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{t: t, base: base}
}

type transport struct {
	t    testing.TB
	base http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := tr.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	doc, err := Shared()
	if err == nil {
		err = doc.CheckResponse(req, resp.StatusCode, resp.Header, body)
	}
	if err != nil {
		tr.t.Errorf("openapitest: %v", err)
	}
	return resp, nil
}
