package client

import (
	"context"
	"fmt"
	"net/http"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// RegionList returns the regions the backend administers, with their health.
func (c *Client) RegionList(ctx context.Context) ([]apiv1.Region, error) {
	var list apiv1.RegionList
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/regions"}, &list); err != nil {
		return nil, fmt.Errorf("listing regions: %w", err)
	}
	return list.Regions, nil
}
