package daemon_test

import (
	"bytes"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/openapitest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

// Every daemontest.Client checks each answer against the OpenAPI document
// (daemontest.ValidateResponse), so every backend suite holds the API to
// it. The tests here make sure the document covers the whole API: every
// route the server registers is documented, and one realistic session calls
// every documented operation, its requests checked too.

// routePattern matches a route registration in backend/api/server.go, such
// as s.handle("GET /v1/regions", ...).
var routePattern = regexp.MustCompile(`s\.handle\("([A-Z]+) (/[^"]*)"`)

// customMethodPattern matches one custom method of a customMethods table,
// such as "plan":   s.databasePlan.
var customMethodPattern = regexp.MustCompile(`^\s*"([a-z]+)":\s+s\.`)

// serverRoutes reads the routes backend/api/server.go registers, custom
// methods spelled out as the document spells them ({name}:plan).
func serverRoutes(t *testing.T) []openapitest.Operation {
	t.Helper()
	src, err := os.ReadFile("../api/server.go")
	require.NoError(t, err)
	var routes []openapitest.Operation
	var custom string // the route whose customMethods table is being read
	for _, line := range strings.Split(string(src), "\n") {
		if m := routePattern.FindStringSubmatch(line); m != nil {
			route := m[1] + " " + m[2]
			custom = ""
			if strings.Contains(line, "customMethods(") {
				custom = route
				continue
			}
			routes = append(routes, openapitest.Operation(route))
			continue
		}
		if custom == "" {
			continue
		}
		if m := customMethodPattern.FindStringSubmatch(line); m != nil {
			routes = append(routes, openapitest.Operation(custom+":"+m[1]))
		} else if strings.Contains(line, "}))") {
			custom = ""
		}
	}
	require.NotEmpty(t, routes, "no routes found in server.go; has the registration changed shape?")
	return routes
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	doc, err := openapitest.Shared()
	require.NoError(t, err)
	documented := doc.Operations()
	for _, route := range serverRoutes(t) {
		require.Contains(t, documented, route, "backend/api/openapi.json does not describe a route that server.go registers")
	}
}

// recorder validates every exchange of a well-formed session, requests
// included, and records which documented operations answered what.
type recorder struct {
	doc  *openapitest.Document
	mu   sync.Mutex
	seen map[openapitest.Operation][]int
}

func (rec *recorder) validate(t testing.TB, req *http.Request, body []byte, resp *daemontest.Response) {
	t.Helper()
	if op, ok := rec.doc.Match(req); ok {
		require.NoError(t, rec.doc.CheckRequest(req, body))
		rec.mu.Lock()
		rec.seen[op] = append(rec.seen[op], resp.Status)
		rec.mu.Unlock()
	}
	require.NoError(t, rec.doc.CheckResponse(req, resp.Status, resp.Header, resp.Body))
}

// TestOpenAPIConformance runs a session that calls every operation of the
// document against a real dbfleetd, successes and the errors a client must
// handle, and checks every request and answer against the document.
func TestOpenAPIConformance(t *testing.T) {
	t.Parallel()
	doc, err := openapitest.Shared()
	require.NoError(t, err)
	rec := &recorder{doc: doc, seen: map[openapitest.Operation][]int{}}
	b := setup(t)
	c := &daemontest.Client{Endpoint: b.client.Endpoint, Token: b.client.Token, Validate: rec.validate}
	anonymous := &daemontest.Client{Endpoint: b.client.Endpoint, Validate: rec.validate}
	schema := daemontest.UniqueName("conformance")
	name := daemontest.UniqueName("conform")
	status := func(want int, resp *daemontest.Response) *daemontest.Response {
		t.Helper()
		require.Equal(t, want, resp.Status, "body: %s", resp.Body)
		return resp
	}

	// Unauthenticated endpoints.
	status(http.StatusOK, anonymous.Do(t, http.MethodGet, "/healthz", nil))
	status(http.StatusOK, anonymous.Do(t, http.MethodGet, "/readyz", nil))
	status(http.StatusOK, anonymous.Do(t, http.MethodGet, "/metrics", nil))
	served := status(http.StatusOK, anonymous.Do(t, http.MethodGet, "/v1/openapi.json", nil))
	require.True(t, bytes.Equal(api.OpenAPIDocument(), served.Body), "the served document is the embedded one")
	require.Equal(t, apiv1.CodeUnauthenticated, status(http.StatusUnauthorized, anonymous.Do(t, http.MethodGet, "/v1/regions", nil)).ErrorCode(t))
	status(http.StatusNotFound, c.Do(t, http.MethodGet, "/v1/nothing-here", nil))

	// Regions.
	status(http.StatusOK, c.Do(t, http.MethodGet, "/v1/regions", nil))
	status(http.StatusOK, c.Do(t, http.MethodGet, "/v1/regions/westeurope", nil))
	status(http.StatusNotFound, c.Do(t, http.MethodGet, "/v1/regions/nowhere", nil))

	// A schema: validated, published, read.
	policy := &apiv1.RolloutPolicy{Waves: [][]string{{"westeurope"}, {"eastus"}}, BakeTime: "1s", OnFailure: apiv1.OnFailureHalt,
		HealthChecks: &apiv1.HealthChecks{Connectable: new(true)}}
	v1 := []apiv1.Migration{{Version: 1, Up: itemsTable, Down: "DROP TABLE items"}}
	var validation apiv1.SchemaValidation
	status(http.StatusOK, c.Do(t, http.MethodPost, "/v1/schemas/"+schema+":validate", apiv1.SchemaSpec{Migrations: v1, Rollout: policy})).Decode(t, &validation)
	require.True(t, validation.Valid)
	status(http.StatusOK, c.Do(t, http.MethodPost, "/v1/schemas/"+schema+":validate",
		apiv1.SchemaSpec{Migrations: []apiv1.Migration{{Version: 1, Up: "CREAT TABLE x (id int)"}}})).Decode(t, &validation)
	require.False(t, validation.Valid)
	status(http.StatusOK, c.Do(t, http.MethodPut, "/v1/schemas/"+schema, apiv1.SchemaSpec{Migrations: v1, Rollout: policy}))
	status(http.StatusOK, c.Do(t, http.MethodGet, "/v1/schemas/"+schema, nil))
	status(http.StatusNotFound, c.Do(t, http.MethodGet, "/v1/schemas/"+daemontest.UniqueName("missing"), nil))
	status(http.StatusBadRequest, c.Do(t, http.MethodPut, "/v1/schemas/"+schema, apiv1.SchemaSpec{Migrations: v1,
		Rollout: &apiv1.RolloutPolicy{BakeTime: "soon"}}))

	// A database: planned, created, read, listed.
	spec := apiv1.DatabaseSpec{Schema: schema, Parameters: map[string]string{"statement_timeout": "30s"}}
	var plan apiv1.DatabasePlan
	status(http.StatusOK, c.Do(t, http.MethodPost, "/v1/databases/westeurope/"+name+":plan", spec)).Decode(t, &plan)
	require.Equal(t, 1, plan.Wave)
	key := "conformance-" + name
	created := status(http.StatusAccepted, c.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, spec, apiv1.HeaderIdempotencyKey, key))
	op := created.Operation(t)
	require.Equal(t, "/v1/operations/"+op.ID, created.Header.Get(apiv1.HeaderOperationLocation))
	status(http.StatusAccepted, c.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, spec, apiv1.HeaderIdempotencyKey, key))
	other := spec
	other.Parameters = map[string]string{"statement_timeout": "10s"}
	status(http.StatusUnprocessableEntity, c.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, other, apiv1.HeaderIdempotencyKey, key))
	status(http.StatusOK, c.Do(t, http.MethodGet, "/v1/operations/"+op.ID, nil))
	status(http.StatusOK, c.Do(t, http.MethodGet, "/v1/operations?target=databases/westeurope/"+name, nil))
	require.Equal(t, apiv1.OperationSucceeded, c.Wait(t, op.ID, time.Minute).State)
	require.Equal(t, apiv1.CodeConflict, status(http.StatusConflict, c.Do(t, http.MethodPost, "/v1/operations/"+op.ID+":cancel", nil)).ErrorCode(t))
	status(http.StatusNotFound, c.Do(t, http.MethodGet, "/v1/operations/"+daemontest.UniqueName("nope"), nil))
	got := status(http.StatusOK, c.Do(t, http.MethodGet, "/v1/databases/westeurope/"+name, nil))
	require.NotEmpty(t, got.Header.Get("ETag"))
	status(http.StatusOK, c.Do(t, http.MethodGet, "/v1/databases", nil))
	status(http.StatusOK, c.Do(t, http.MethodGet, "/v1/databases?region=westeurope", nil))
	status(http.StatusOK, c.Do(t, http.MethodGet, "/v1/databases/westeurope/"+name+"/events", nil))
	status(http.StatusNotFound, c.Do(t, http.MethodGet, "/v1/databases/westeurope/"+daemontest.UniqueName("absent"), nil))
	status(http.StatusPreconditionFailed, c.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, spec, "If-Match", `"stale"`))

	// A replica in the second wave, verified against its source.
	replica := spec
	replica.ReplicaOf = "westeurope"
	replica.SkipFinalBackup = true
	op = status(http.StatusAccepted, c.Do(t, http.MethodPut, "/v1/databases/eastus/"+name, replica)).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, c.Wait(t, op.ID, time.Minute).State)
	op = status(http.StatusAccepted, c.Do(t, http.MethodPost, "/v1/databases/eastus/"+name+":verify", nil)).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, c.Wait(t, op.ID, time.Minute).State)
	status(http.StatusOK, c.Do(t, http.MethodGet, "/v1/databases/eastus/"+name, nil))
	require.Equal(t, apiv1.OperationSucceeded, c.Wait(t, status(http.StatusAccepted, c.Do(t, http.MethodPost, "/v1/databases/eastus/"+name+":rotate_password", nil)).Operation(t).ID, time.Minute).State)

	// A version that fails in the canary halts its rollout; a resume clears
	// the halt.
	broken := append(slices.Clone(v1), apiv1.Migration{Version: 2, Up: "ALTER TABLE no_such_table ADD COLUMN x int"})
	status(http.StatusOK, c.Do(t, http.MethodPut, "/v1/schemas/"+schema, apiv1.SchemaSpec{Migrations: broken, Rollout: policy}))
	upgrade := spec
	upgrade.SchemaVersion = 2
	standalone := daemontest.UniqueName("conform_halt")
	op = status(http.StatusAccepted, c.Do(t, http.MethodPut, "/v1/databases/westeurope/"+standalone, apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 1, DeletionProtection: new(false), SkipFinalBackup: true})).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, c.Wait(t, op.ID, time.Minute).State)
	op = status(http.StatusAccepted, c.Do(t, http.MethodPut, "/v1/databases/westeurope/"+standalone, apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2, DeletionProtection: new(false), SkipFinalBackup: true})).Operation(t)
	failed := c.Wait(t, op.ID, time.Minute)
	require.Equal(t, apiv1.OperationFailed, failed.State)
	require.NotNil(t, failed.Error)
	var halted apiv1.Schema
	status(http.StatusOK, c.Do(t, http.MethodGet, "/v1/schemas/"+schema, nil)).Decode(t, &halted)
	require.True(t, slices.ContainsFunc(halted.Rollouts, func(r apiv1.Rollout) bool { return r.Version == 2 && r.State == apiv1.RolloutHalted }), "%+v", halted.Rollouts)
	require.Equal(t, apiv1.CodeRolloutHalted, status(http.StatusConflict, c.Do(t, http.MethodPost, "/v1/databases/westeurope/"+name+":plan", upgrade)).ErrorCode(t))
	status(http.StatusOK, c.Do(t, http.MethodPost, "/v1/schemas/"+schema+"/rollouts/2:resume", nil))
	status(http.StatusNotFound, c.Do(t, http.MethodPost, "/v1/schemas/"+schema+"/rollouts/9:resume", nil))

	// Deleting: refused while protected or in use, then done.
	status(http.StatusConflict, c.Do(t, http.MethodDelete, "/v1/databases/westeurope/"+name, nil))
	status(http.StatusConflict, c.Do(t, http.MethodDelete, "/v1/schemas/"+schema, nil))
	for _, region := range []string{"eastus", "westeurope"} {
		unprotected := spec
		unprotected.DeletionProtection = new(false)
		unprotected.SkipFinalBackup = true
		unprotected.SchemaVersion = 1 // version 2 is the broken one
		if region == "eastus" {
			unprotected.ReplicaOf = "westeurope"
		}
		op = status(http.StatusAccepted, c.Do(t, http.MethodPut, "/v1/databases/"+region+"/"+name, unprotected)).Operation(t)
		require.Equal(t, apiv1.OperationSucceeded, c.Wait(t, op.ID, time.Minute).State)
		op = status(http.StatusAccepted, c.Do(t, http.MethodDelete, "/v1/databases/"+region+"/"+name, nil)).Operation(t)
		require.Equal(t, apiv1.OperationSucceeded, c.Wait(t, op.ID, time.Minute).State)
	}
	op = status(http.StatusAccepted, c.Do(t, http.MethodDelete, "/v1/databases/westeurope/"+standalone, nil)).Operation(t)
	require.Equal(t, apiv1.OperationSucceeded, c.Wait(t, op.ID, time.Minute).State)
	status(http.StatusNoContent, c.Do(t, http.MethodDelete, "/v1/schemas/"+schema, nil))

	// The audit log has the session's mutations.
	var audit apiv1.AuditList
	status(http.StatusOK, c.Do(t, http.MethodGet, "/v1/audit?limit=500", nil)).Decode(t, &audit)
	require.NotEmpty(t, audit.Entries)

	var missed []openapitest.Operation
	for _, op := range doc.Operations() {
		if _, ok := rec.seen[op]; !ok {
			missed = append(missed, op)
		}
	}
	require.Empty(t, missed, "the session called no documented operation of these; extend it so that the document stays tested")
}
