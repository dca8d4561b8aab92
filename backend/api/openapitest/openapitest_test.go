package openapitest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/openapitest"
)

const testDocument = `{
  "openapi": "3.0.3",
  "info": {"title": "t", "version": "1"},
  "paths": {
    "/v1/things/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}}
    },
    "/v1/things/{id}:start": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "post": {"responses": {"202": {"description": "started",
        "headers": {"Operation-Location": {"required": true, "schema": {"type": "string"}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}}
    }
  },
  "components": {"schemas": {
    "Thing": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}, "size": {"type": "integer"}}},
    "ErrorResponse": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"],
      "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}
  }}
}`

func TestCheckResponse(t *testing.T) {
	t.Parallel()
	doc, err := openapitest.Parse([]byte(testDocument))
	require.NoError(t, err)
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	withLocation := http.Header{"Content-Type": {"application/json"}, "Operation-Location": {"/v1/operations/1"}}
	for _, tc := range []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		wantErr            string
	}{
		{"Documented", http.MethodGet, "/v1/things/a", 200, jsonHeader, `{"id": "a", "size": 3}`, ""},
		{"UndocumentedField", http.MethodGet, "/v1/things/a", 200, jsonHeader, `{"id": "a", "colour": "red"}`, "colour"},
		{"MissingRequiredField", http.MethodGet, "/v1/things/a", 200, jsonHeader, `{"size": 3}`, "id"},
		{"WrongType", http.MethodGet, "/v1/things/a", 200, jsonHeader, `{"id": "a", "size": "big"}`, "size"},
		{"UndocumentedStatus", http.MethodGet, "/v1/things/a", 409, jsonHeader, `{"error": {"code": "c", "message": "m"}}`, "status is not supported"},
		{"CustomMethodNotTakenForTheResource", http.MethodPost, "/v1/things/a:start", 202, withLocation, `{"id": "a"}`, ""},
		{"MissingRequiredHeader", http.MethodPost, "/v1/things/a:start", 202, jsonHeader, `{"id": "a"}`, "Operation-Location"},
		{"UndocumentedPathRefused", http.MethodGet, "/v1/elsewhere", 404, jsonHeader, `{"error": {"code": "not_found", "message": "no"}}`, ""},
		{"UndocumentedPathRefusedWithoutErrorBody", http.MethodGet, "/v1/elsewhere", 404, jsonHeader, `{"nope": 1}`, "ErrorResponse"},
		{"UndocumentedPathAnswered", http.MethodGet, "/v1/elsewhere", 200, jsonHeader, `{}`, "no operation"},
		{"UndocumentedMethod", http.MethodDelete, "/v1/things/a", 200, jsonHeader, `{}`, "no operation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tc.method, "http://dbfleetd"+tc.path, nil)
			err := doc.CheckResponse(req, tc.status, tc.header, []byte(tc.body))
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestOperationsAndMatch(t *testing.T) {
	t.Parallel()
	doc, err := openapitest.Parse([]byte(testDocument))
	require.NoError(t, err)
	require.Equal(t, []openapitest.Operation{"GET /v1/things/{id}", "POST /v1/things/{id}:start"}, doc.Operations())
	op, ok := doc.Match(httptest.NewRequest(http.MethodPost, "/v1/things/x:start", nil))
	require.True(t, ok)
	require.Equal(t, openapitest.Operation("POST /v1/things/{id}:start"), op)
	_, ok = doc.Match(httptest.NewRequest(http.MethodPost, "/v1/things/x", nil))
	require.False(t, ok)
}

func TestCheckRequest(t *testing.T) {
	t.Parallel()
	doc, err := openapitest.Parse([]byte(strings.Replace(testDocument, `"post": {"responses"`,
		`"post": {"requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}, "responses"`, 1)))
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/v1/things/a:start", nil)
	req.Header.Set("Content-Type", "application/json")
	require.NoError(t, doc.CheckRequest(req, []byte(`{"id": "a"}`)))
	require.ErrorContains(t, doc.CheckRequest(req, []byte(`{"id": "a", "extra": true}`)), "extra")
}

func TestShippedDocumentParses(t *testing.T) {
	t.Parallel()
	doc, err := openapitest.Shared()
	require.NoError(t, err)
	require.Contains(t, doc.Operations(), openapitest.Operation("POST /v1/operations/{id}:wait"))
}
