package acceptance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/stretchr/testify/require"
)

// Routes of dbfleetd's API as requestCounter and dbfleetd's log name them.
const (
	routeDatabasePut    = "PUT /v1/databases/{region}/{name}"
	routeDatabaseGet    = "GET /v1/databases/{region}/{name}"
	routeDatabaseDelete = "DELETE /v1/databases/{region}/{name}"
	routeDatabasePlan   = "POST /v1/databases/{region}/{name}:plan"
	routeOperationWait  = "POST /v1/operations/{id}:wait"
	// routeDatabaseCustom is how dbfleetd's log names every custom method
	// on a database, :plan included.
	routeDatabaseCustom = "POST /v1/databases/{region}/{name}"
)

// TestAccDatabase_RequestsPerCreate counts the HTTP requests the provider
// sends to create, refresh and destroy one database, through a counting
// proxy on loopback, and cross-checks them with dbfleetd's log.
//
// Creating is one :plan from the plan's ModifyPlan and one more from the
// apply's (Terraform plans each resource again when it applies), then one
// PUT, one :wait long-poll (the operation takes well under the 30s of one)
// and one GET to read the database back. Each plan that refreshes reads each
// database once; a plan that changes nothing asks no :plan; the framework's
// -refresh=false plans and its destroy read nothing.
func TestAccDatabase_RequestsPerCreate(t *testing.T) {
	db := setup(t, "acc_requests")
	db.protected = new(false)
	counter := newRequestCounter(t)
	db.endpoint = counter.url()

	expect := func(phase string, want map[string]int) error {
		got := counter.take()
		t.Logf("requests to %s: %v", phase, got)
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("requests to %s (-want +got):\n%s", phase, diff)
		}
		return nil
	}

	resource.ParallelTest(t, testCase(t,
		[]resource.TestStep{
			{
				// Step 1: a plan with nothing to refresh, then the apply.
				Config: db.config(),
				Check: func(*terraform.State) error {
					return expect("create", map[string]int{routeDatabasePlan: 2, routeDatabasePut: 1, routeOperationWait: 1, routeDatabaseGet: 1})
				},
			},
			{
				// Step 1 ended with a plan without refresh and one with.
				PreConfig: func() {
					require.NoError(t, expect("the plans after the create", map[string]int{routeDatabaseGet: 1}))
				},
				// Step 2: a plan that refreshes and finds nothing to do.
				Config: db.config(),
				Check: func(*terraform.State) error {
					if err := expect("a plan without changes", map[string]int{routeDatabaseGet: 1}); err != nil {
						return err
					}
					// Everything so far reached dbfleetd once: no retries.
					want := map[string]int{routeDatabaseCustom: 2, routeDatabasePut: 1, routeDatabaseGet: 3}
					if diff := cmp.Diff(want, servedFor(t, db.name)); diff != "" {
						return fmt.Errorf("dbfleetd's log of requests for %s (-want +got):\n%s", db.id(), diff)
					}
					return nil
				},
			},
		},
		func(*terraform.State) error {
			// Step 2's refreshing plan, then terraform destroy.
			return expect("the plans after step 2 and the destroy", map[string]int{routeDatabaseGet: 1, routeDatabaseDelete: 1, routeOperationWait: 1})
		},
	))
}

// requestCounter is a reverse proxy on loopback in front of dbfleetd that
// counts, by route, the requests of a provider configured with its URL.
type requestCounter struct {
	server *httptest.Server
	mu     sync.Mutex
	counts map[string]int
}

// newRequestCounter starts a requestCounter, closed when the test ends.
func newRequestCounter(t *testing.T) *requestCounter {
	t.Helper()
	target, err := url.Parse(fleet.endpoint)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	c := &requestCounter{counts: map[string]int{}}
	c.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.counts[route(r)]++
		c.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(c.server.Close)
	return c
}

// url is the proxy's URL, for the provider's endpoint.
func (c *requestCounter) url() string {
	return c.server.URL
}

// take returns the counts since the previous take.
func (c *requestCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts := c.counts
	c.counts = map[string]int{}
	return counts
}

// route names r's route as dbfleetd's log does, but with custom methods
// (:plan, :wait) spelled out.
func route(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1/databases/"):
		return r.Method + " /v1/databases/{region}/{name}" + customMethod(p)
	case strings.HasPrefix(p, "/v1/operations/"):
		return r.Method + " /v1/operations/{id}" + customMethod(p)
	}
	return r.Method + " " + p
}

// customMethod is the ":method" that ends p, or "".
func customMethod(p string) string {
	if _, method, ok := strings.Cut(path.Base(p), ":"); ok {
		return ":" + method
	}
	return ""
}

// servedFor counts, by route, the requests for database name that
// dbfleetd's log says it served. Only database routes name the database
// (:wait lines do not say which operation they waited for), and the log's
// route leaves out custom methods.
func servedFor(t *testing.T, name string) map[string]int {
	t.Helper()
	log, err := os.ReadFile(fleet.logPath)
	require.NoError(t, err)
	counts := map[string]int{}
	scanner := bufio.NewScanner(bytes.NewReader(log))
	scanner.Buffer(nil, 1<<20)
	for scanner.Scan() {
		var line struct {
			Message  string `json:"message"`
			Route    string `json:"route"`
			Database string `json:"database"`
		}
		if json.Unmarshal(scanner.Bytes(), &line) != nil || line.Message != "Served request" || line.Database != name {
			continue
		}
		counts[line.Route]++
	}
	require.NoError(t, scanner.Err())
	return counts
}
