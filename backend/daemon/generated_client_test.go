package daemon_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiclient"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/openapitest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

// generatedClient is the client oapi-codegen generates from the API document (backend/api/apiclient),
// set up as a platform team would: the bearer token in a request editor. Its exchanges are held to
// the document too (openapitest.Transport).
func generatedClient(t *testing.T, b *testBundle) *apiclient.ClientWithResponses {
	t.Helper()
	bearer := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+b.client.Token)
		return nil
	}
	c, err := apiclient.NewClientWithResponses(b.client.Endpoint,
		apiclient.WithHTTPClient(&http.Client{Transport: openapitest.Transport(t, nil), Timeout: 2 * time.Minute}),
		apiclient.WithRequestEditorFn(bearer))
	require.NoError(t, err)
	return c
}

// waitGenerated long-polls the operation with :wait until it is done.
func waitGenerated(t *testing.T, c *apiclient.ClientWithResponses, id string) apiclient.Operation {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := c.WaitOperationWithResponse(t.Context(), id, &apiclient.WaitOperationParams{Timeout: new("20s")})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode(), "body: %s", resp.Body)
		if resp.JSON200.Done {
			return *resp.JSON200
		}
		require.True(t, time.Now().Before(deadline), "operation %s is not done after 2 minutes: %+v", id, *resp.JSON200)
	}
}

// TestGeneratedClientDrivesDbfleetd drives a real dbfleetd, on real PostgreSQL regions, through
// the Go client oapi-codegen generates from the API document: it creates a database and waits for
// its operation with :wait, plans a change, cancels an operation, deletes the database, and reads
// 4xx answers into the generated error type. It is not parallel: it holds a region's catalog lock
// (as TestCancelledCreateLeavesAStatusToActOn does) to catch an operation before it finishes.
func TestGeneratedClientDrivesDbfleetd(t *testing.T) {
	b := setup(t)
	c := generatedClient(t, b)
	ctx := t.Context()
	name := daemontest.UniqueName("generated")

	// Create, and wait with :wait.
	spec := apiclient.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: new(true)}
	applied, err := c.ApplyDatabaseWithResponse(ctx, "westeurope", name, &apiclient.ApplyDatabaseParams{}, spec)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, applied.StatusCode(), "body: %s", applied.Body)
	require.Equal(t, "/v1/operations/"+applied.JSON202.Id, applied.HTTPResponse.Header.Get(apiv1.HeaderOperationLocation))
	op := waitGenerated(t, c, applied.JSON202.Id)
	require.Equal(t, apiclient.OperationStateSucceeded, op.State, "operation error: %+v", op.Error)

	got, err := c.GetDatabaseWithResponse(ctx, "westeurope", name)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, got.StatusCode(), "body: %s", got.Body)
	require.Equal(t, apiclient.DatabaseStatus(apiv1.DatabaseStatusReady), got.JSON200.Status)

	// Plan a change: a parameter to set, nothing applied.
	change := spec
	change.Parameters = &map[string]string{"statement_timeout": "15s"}
	plan, err := c.PlanDatabaseWithResponse(ctx, "westeurope", name, change)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, plan.StatusCode(), "body: %s", plan.Body)
	require.NotEmpty(t, plan.JSON200.Actions, "a changed parameter plans an action: %s", plan.Body)
	got, err = c.GetDatabaseWithResponse(ctx, "westeurope", name)
	require.NoError(t, err)
	require.True(t, got.JSON200.Parameters == nil || len(*got.JSON200.Parameters) == 0, "the plan changed the database: %s", got.Body)

	// 4xx answers read into the generated error type: a finished operation cannot be cancelled
	// (409), a database that does not exist (404), a name the API refuses (400).
	cancelled, err := c.CancelOperationWithResponse(ctx, op.Id, &apiclient.CancelOperationParams{})
	require.NoError(t, err)
	require.Equal(t, http.StatusConflict, cancelled.StatusCode(), "body: %s", cancelled.Body)
	require.Equal(t, apiv1.CodeConflict, cancelled.JSON409.Error.Code)
	require.NotEmpty(t, cancelled.JSON409.Error.Message)
	require.NotNil(t, cancelled.JSON409.Error.RequestId)
	require.Equal(t, cancelled.HTTPResponse.Header.Get(apiv1.HeaderRequestID), *cancelled.JSON409.Error.RequestId)

	absent, err := c.GetDatabaseWithResponse(ctx, "westeurope", daemontest.UniqueName("absent"))
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, absent.StatusCode(), "body: %s", absent.Body)
	require.Equal(t, apiv1.CodeNotFound, absent.JSON404.Error.Code)

	bad, err := c.PlanDatabaseWithResponse(ctx, "westeurope", "Not-A-Name", spec)
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, bad.StatusCode(), "body: %s", bad.Body)
	require.Equal(t, apiv1.CodeInvalidArgument, bad.JSON400.Error.Code)

	// Cancel an operation while it waits in ensure_database on the region's locked catalog.
	other := daemontest.UniqueName("generated_cancel")
	release := fleet.LockDatabaseCatalog(t, "eastus")
	started, err := c.ApplyDatabaseWithResponse(ctx, "eastus", other, &apiclient.ApplyDatabaseParams{}, spec)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, started.StatusCode(), "body: %s", started.Body)
	stop, err := c.CancelOperationWithResponse(ctx, started.JSON202.Id, &apiclient.CancelOperationParams{})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, stop.StatusCode(), "body: %s", stop.Body)
	release()
	require.Equal(t, apiclient.OperationStateCancelled, waitGenerated(t, c, started.JSON202.Id).State)

	// Delete the first database, and wait again.
	deleted, err := c.DeleteDatabaseWithResponse(ctx, "westeurope", name, &apiclient.DeleteDatabaseParams{})
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, deleted.StatusCode(), "body: %s", deleted.Body)
	require.Equal(t, apiclient.OperationStateSucceeded, waitGenerated(t, c, deleted.JSON202.Id).State)
	require.False(t, daemontest.DatabaseExists(t, fleet.Admin(t, "westeurope"), name))
}

// documentedTransport checks each request the provider's client sends against the API document,
// body included, and its answer too (openapitest.Transport).
type documentedTransport struct {
	t    *testing.T
	doc  *openapitest.Document
	base http.RoundTripper
	seen map[openapitest.Operation]bool
}

func (d *documentedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.GetBody != nil {
		r, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		if body, err = io.ReadAll(r); err != nil {
			return nil, err
		}
	}
	if err := d.doc.CheckRequest(req, body); err != nil {
		d.t.Errorf("the provider's client sent a request the API document does not describe: %v", err)
	}
	if op, ok := d.doc.Match(req); ok {
		d.seen[op] = true
	}
	return d.base.RoundTrip(req)
}

// TestProviderClientMatchesTheDocument holds the provider's own client, which stays hand-written
// (it retries, waits and maps errors for Terraform), to the API document: a provider's life cycle
// of a schema and a database against a real dbfleetd, every request and answer checked.
func TestProviderClientMatchesTheDocument(t *testing.T) {
	t.Parallel()
	b := setup(t)
	doc, err := openapitest.Shared()
	require.NoError(t, err)
	tr := &documentedTransport{t: t, doc: doc, seen: map[openapitest.Operation]bool{}}
	c, err := client.New(client.Config{Endpoint: b.client.Endpoint, Token: b.client.Token,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			tr.base = openapitest.Transport(t, rt)
			return tr
		}})
	require.NoError(t, err)
	ctx := t.Context()
	schema, name := daemontest.UniqueName("provclient"), daemontest.UniqueName("provclient")
	spec := apiv1.SchemaSpec{Migrations: []apiv1.Migration{{Version: 1, Up: "CREATE TABLE items (id bigint PRIMARY KEY)"}}}

	_, err = c.RegionList(ctx)
	require.NoError(t, err)
	_, err = c.RegionGet(ctx, "westeurope")
	require.NoError(t, err)
	validation, err := c.SchemaValidate(ctx, schema, spec)
	require.NoError(t, err)
	require.Empty(t, validation.Errors)
	_, err = c.SchemaPut(ctx, schema, spec)
	require.NoError(t, err)
	_, err = c.SchemaGet(ctx, schema)
	require.NoError(t, err)
	dbSpec := apiv1.DatabaseSpec{Schema: schema, DeletionProtection: new(false), SkipFinalBackup: true}
	_, err = c.DatabasePlan(ctx, "westeurope", name, dbSpec)
	require.NoError(t, err)
	op, err := c.DatabasePut(ctx, "westeurope", name, dbSpec)
	require.NoError(t, err)
	done, err := c.WaitOperation(ctx, op.ID, nil)
	require.NoError(t, err)
	require.Equal(t, apiv1.OperationSucceeded, done.State)
	_, err = c.OperationGet(ctx, op.ID)
	require.NoError(t, err)
	_, err = c.DatabaseGet(ctx, "westeurope", name)
	require.NoError(t, err)
	_, err = c.DatabaseList(ctx)
	require.NoError(t, err)
	op, err = c.DatabaseDelete(ctx, "westeurope", name)
	require.NoError(t, err)
	done, err = c.WaitOperation(ctx, op.ID, nil)
	require.NoError(t, err)
	require.Equal(t, apiv1.OperationSucceeded, done.State)
	require.NoError(t, c.SchemaDelete(ctx, schema))
	require.Len(t, tr.seen, 13, "the provider's client called these documented operations: %v", tr.seen)
}
