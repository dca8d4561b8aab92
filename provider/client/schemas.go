package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

func schemaPath(name string) string {
	return "/v1/schemas/" + url.PathEscape(name)
}

// SchemaPut creates the schema name, or changes it to spec, and returns it
// with its latest version and checksum. Versions that are not unique and
// increasing, or waves that name unknown regions or a region twice, are an
// *APIError with code invalid_argument; changing or removing a version that
// a database has run is one with code published_version_changed.
func (c *Client) SchemaPut(ctx context.Context, name string, spec apiv1.SchemaSpec) (*apiv1.Schema, error) {
	var s apiv1.Schema
	err := c.do(ctx, request{method: http.MethodPut, path: schemaPath(name), body: spec, mutating: true}, &s)
	if err != nil {
		return nil, fmt.Errorf("putting schema %s: %w", name, err)
	}
	return &s, nil
}

// SchemaGet returns the schema name. A schema that does not exist is an
// error matching ErrNotFound.
func (c *Client) SchemaGet(ctx context.Context, name string) (*apiv1.Schema, error) {
	var s apiv1.Schema
	if err := c.do(ctx, request{method: http.MethodGet, path: schemaPath(name)}, &s); err != nil {
		return nil, fmt.Errorf("getting schema %s: %w", name, err)
	}
	return &s, nil
}

// SchemaDelete deletes the schema name. A schema that does not exist is an
// error matching ErrNotFound; one that databases still use is an *APIError
// with code conflict.
func (c *Client) SchemaDelete(ctx context.Context, name string) error {
	if err := c.do(ctx, request{method: http.MethodDelete, path: schemaPath(name), mutating: true}, nil); err != nil {
		return fmt.Errorf("deleting schema %s: %w", name, err)
	}
	return nil
}

// SchemaValidate asks dbfleetd whether spec would be a valid next version of
// the schema name: it runs the migrations in a scratch database and rolls
// back, and checks that no version a database has run changed. It changes
// nothing. Problems in the migrations are in the answer's Errors; a spec
// that is structurally wrong is an *APIError with code invalid_argument.
func (c *Client) SchemaValidate(ctx context.Context, name string, spec apiv1.SchemaSpec) (*apiv1.SchemaValidation, error) {
	var v apiv1.SchemaValidation
	if err := c.do(ctx, request{method: http.MethodPost, path: schemaPath(name) + ":validate", body: spec}, &v); err != nil {
		return nil, fmt.Errorf("validating schema %s: %w", name, err)
	}
	return &v, nil
}

// RolloutResume resumes the halted rollout of version of the schema name and
// returns the schema.
func (c *Client) RolloutResume(ctx context.Context, name string, version int64) (*apiv1.Schema, error) {
	path := schemaPath(name) + "/rollouts/" + strconv.FormatInt(version, 10) + ":resume"
	var s apiv1.Schema
	if err := c.do(ctx, request{method: http.MethodPost, path: path, mutating: true}, &s); err != nil {
		return nil, fmt.Errorf("resuming the rollout of schema %s version %d: %w", name, version, err)
	}
	return &s, nil
}
