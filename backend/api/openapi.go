package api

import (
	"bytes"
	_ "embed"
	"net/http"
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI document served at /v1/openapi.json,
// for tests that hold the API's answers to it.
func OpenAPIDocument() []byte { return bytes.Clone(openAPIDocument) }

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPIDocument)
	return err
}
