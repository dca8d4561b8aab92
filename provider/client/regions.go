package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

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

// RegionGet returns one region, with its health and capabilities.
func (c *Client) RegionGet(ctx context.Context, name string) (*apiv1.Region, error) {
	var region apiv1.Region
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/regions/" + url.PathEscape(name)}, &region); err != nil {
		return nil, fmt.Errorf("reading region %s: %w", name, err)
	}
	return &region, nil
}
