package client

import (
	"context"
	"fmt"
	"net/http"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// DatabaseRotatePassword starts giving the owner role of the database name
// in region a new password that dbfleetd generates, and returns the
// operation doing so; DatabaseGet returns the new password once it is done.
// A database that does not exist is an error matching ErrNotFound; an
// operation already running on it an *APIError with code
// operation_in_progress.
func (c *Client) DatabaseRotatePassword(ctx context.Context, region, name string) (*apiv1.Operation, error) {
	var op apiv1.Operation
	err := c.do(ctx, request{method: http.MethodPost, path: databasePath(region, name) + ":rotate_password", mutating: true}, &op)
	if err != nil {
		return nil, fmt.Errorf("rotating the password of database %s/%s: %w", region, name, err)
	}
	return &op, nil
}
