package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// queryParams returns a request's query parameters, checked like its path:
// a query string that does not parse, a parameter the route does not take,
// or one given twice is a 400 naming it.
func queryParams(r *http.Request, allowed ...string) (url.Values, error) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fieldError("query", "the query string is not valid URL encoding")
	}
	for name, vs := range values {
		if !slices.Contains(allowed, name) {
			takes := "no query parameters"
			if len(allowed) > 0 {
				takes = "only " + strings.Join(allowed, ", ")
			}
			return nil, fieldError(apiv1.CutString(name), fmt.Sprintf("query parameter %s is not known here; this endpoint takes %s", apiv1.Quote(name), takes))
		}
		if len(vs) > 1 {
			return nil, fieldError(name, fmt.Sprintf("query parameter %s is given %d times; give it once", name, len(vs)))
		}
	}
	return values, nil
}

// parseTarget checks ?target=databases/{region}/{name} like the path of a
// database and returns its region and name.
func parseTarget(target string) (region, name string, err error) {
	parts := strings.Split(target, "/")
	if len(parts) != 3 || parts[0] != "databases" {
		return "", "", fieldError("target", fmt.Sprintf("target %s must look like databases/<region>/<name>", apiv1.Quote(target)))
	}
	if err := engine.ValidateIdentifier("region", parts[1]); err != nil {
		return "", "", fieldError("target", "target: "+err.Error())
	}
	if err := engine.ValidateIdentifier("database", parts[2]); err != nil {
		return "", "", fieldError("target", "target: "+err.Error())
	}
	return parts[1], parts[2], nil
}
