package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

func databasePath(region, name string) string {
	return "/v1/databases/" + url.PathEscape(region) + "/" + url.PathEscape(name)
}

// DatabasePut creates the database name in region, or changes it to spec,
// and returns the operation doing so. An operation already running on the
// database is an *APIError with code operation_in_progress and its id in
// Details["operation_id"].
func (c *Client) DatabasePut(ctx context.Context, region, name string, spec apiv1.DatabaseSpec) (*apiv1.Operation, error) {
	var op apiv1.Operation
	err := c.do(ctx, request{method: http.MethodPut, path: databasePath(region, name), body: spec, mutating: true}, &op)
	if err != nil {
		return nil, fmt.Errorf("putting database %s/%s: %w", region, name, err)
	}
	return &op, nil
}

// DatabaseGet returns the database name in region, password included. A
// database that does not exist is an error matching ErrNotFound.
func (c *Client) DatabaseGet(ctx context.Context, region, name string) (*apiv1.Database, error) {
	var db apiv1.Database
	if err := c.do(ctx, request{method: http.MethodGet, path: databasePath(region, name)}, &db); err != nil {
		return nil, fmt.Errorf("getting database %s/%s: %w", region, name, err)
	}
	return &db, nil
}

// DatabaseDelete starts deleting the database name in region and returns the
// operation doing so. A database that does not exist is an error matching
// ErrNotFound; one with deletion protection on is an *APIError with code
// deletion_protected.
func (c *Client) DatabaseDelete(ctx context.Context, region, name string) (*apiv1.Operation, error) {
	var op apiv1.Operation
	err := c.do(ctx, request{method: http.MethodDelete, path: databasePath(region, name), mutating: true}, &op)
	if err != nil {
		return nil, fmt.Errorf("deleting database %s/%s: %w", region, name, err)
	}
	return &op, nil
}

// DatabaseList returns every database the backend manages.
func (c *Client) DatabaseList(ctx context.Context) ([]apiv1.Database, error) {
	var list apiv1.DatabaseList
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/databases"}, &list); err != nil {
		return nil, fmt.Errorf("listing databases: %w", err)
	}
	return list.Databases, nil
}

// DatabasePlan asks dbfleetd what putting spec on the database name in region
// would do: the actions, the schema versions and the rollout wave and gate.
// It changes nothing. An unknown region, schema, version or parameter is an
// *APIError with code invalid_argument; a downgrade past a version without
// down SQL one with code downgrade_impossible; a target version whose rollout
// halted one with code rollout_halted.
func (c *Client) DatabasePlan(ctx context.Context, region, name string, spec apiv1.DatabaseSpec) (*apiv1.DatabasePlan, error) {
	var plan apiv1.DatabasePlan
	err := c.do(ctx, request{method: http.MethodPost, path: databasePath(region, name) + ":plan", body: spec}, &plan)
	if err != nil {
		return nil, fmt.Errorf("planning database %s/%s: %w", region, name, err)
	}
	return &plan, nil
}

// DatabaseVerify starts a consistency check of the replica name in region
// against its source and returns the operation doing so; the result lands
// in the database's consistency once the operation is done. A database that
// is not a replica is an *APIError with code invalid_argument.
func (c *Client) DatabaseVerify(ctx context.Context, region, name string) (*apiv1.Operation, error) {
	var op apiv1.Operation
	err := c.do(ctx, request{method: http.MethodPost, path: databasePath(region, name) + ":verify", mutating: true}, &op)
	if err != nil {
		return nil, fmt.Errorf("verifying database %s/%s: %w", region, name, err)
	}
	return &op, nil
}
