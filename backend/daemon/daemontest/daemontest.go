// Package daemontest helps tests run dbfleetd against real dev regions and
// talk to it over HTTP.
package daemontest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/openapitest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
)

// Fleet is a set of dev regions shared by a test binary's tests.
type Fleet struct {
	*devregions.Fleet
	dataDir string
}

// FleetOptions configures StartFleetWith.
type FleetOptions struct {
	// Names are the regions; empty means devregions.DefaultNames.
	Names []string
	// BinDir is the PostgreSQL build the regions run (a devregions.ServerBuild's); empty means
	// the machine's, found by pgbin (DBFLEET_PG_BIN_DIR first).
	BinDir string
	// Admin is the kind of admin the regions hand dbfleetd; empty means what DBFLEET_DEV_ADMIN
	// says, or devregions.AdminSuperuser.
	Admin devregions.AdminKind
}

// StartFleet starts dev regions for a TestMain, with the admin kind
// DBFLEET_DEV_ADMIN names (superuser when unset), so that a suite can run
// under a managed-like admin; Stop removes every file they made.
func StartFleet(names ...string) (*Fleet, error) {
	return StartFleetWith(FleetOptions{Names: names})
}

// StartFleetWith starts dev regions as opts says; Stop removes every file
// they made. Suites that run on several PostgreSQL versions and admin kinds
// start one fleet per pair with it.
func StartFleetWith(opts FleetOptions) (*Fleet, error) {
	admin := opts.Admin
	if admin == "" {
		var err error
		if admin, err = devregions.AdminKindFromEnv(); err != nil {
			return nil, fmt.Errorf("start dev regions: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "dbfleet-regions-")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, err := devregions.Start(ctx, devregions.Options{
		DataDir: dir,
		Names:   opts.Names,
		Logger:  zerolog.Nop(),
		BinDir:  opts.BinDir,
		Admin:   admin,
	})
	if err != nil {
		_ = devregions.RemoveClusters(dir, opts.Names...) // a failed start may have made some
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start dev regions: %w", err)
	}
	return &Fleet{Fleet: f, dataDir: dir}, nil
}

// Stop stops the regions and removes their files.
func (f *Fleet) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = f.Fleet.Stop(ctx)
	var names []string
	for _, r := range f.Regions() {
		names = append(names, r.Name)
	}
	_ = devregions.RemoveClusters(f.dataDir, names...)
	_ = os.RemoveAll(f.dataDir)
}

// Region returns the named region.
func (f *Fleet) Region(t testing.TB, name string) devregions.Region {
	t.Helper()
	for _, r := range f.Regions() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no dev region %s", name)
	return devregions.Region{}
}

// Admin returns a pool connected to a region as its superuser (not the
// admin dbfleetd gets, which may be a managed-like role that cannot see
// everything), closed when the test ends.
func (f *Fleet) Admin(t testing.TB, region string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), f.Region(t, region).SuperuserDSN())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// DatabaseExists asks PostgreSQL itself whether a database exists.
func DatabaseExists(t testing.TB, admin *pgxpool.Pool, name string) bool {
	t.Helper()
	var exists bool
	require.NoError(t, admin.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists))
	return exists
}

// RoleExists asks PostgreSQL itself whether a role exists.
func RoleExists(t testing.TB, admin *pgxpool.Pool, name string) bool {
	t.Helper()
	var exists bool
	require.NoError(t, admin.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&exists))
	return exists
}

// Client calls a dbfleetd's API.
type Client struct {
	Endpoint string
	Token    string
	HTTP     *http.Client
	// Validate is called with every request Do sends (its body apart) and
	// the answer. Nil checks the answer against the OpenAPI document
	// dbfleetd serves (openapitest), failing the test when the document
	// does not describe it; NoValidation turns that off.
	Validate func(t testing.TB, req *http.Request, body []byte, resp *Response)
}

// NoValidation is a Client.Validate that checks nothing, for a test that
// means to see an answer the OpenAPI document does not describe.
func NoValidation(testing.TB, *http.Request, []byte, *Response) {}

// ValidateResponse fails t unless the OpenAPI document dbfleetd serves
// describes resp, the answer to req. It is what a Client with no Validate
// does.
func ValidateResponse(t testing.TB, req *http.Request, _ []byte, resp *Response) {
	t.Helper()
	doc, err := openapitest.Shared()
	require.NoError(t, err)
	require.NoError(t, doc.CheckResponse(req, resp.Status, resp.Header, resp.Body))
}

// ValidateExchange fails t unless the OpenAPI document describes both req,
// with its body, and resp: for tests that send only well-formed requests.
func ValidateExchange(t testing.TB, req *http.Request, body []byte, resp *Response) {
	t.Helper()
	doc, err := openapitest.Shared()
	require.NoError(t, err)
	require.NoError(t, doc.CheckRequest(req, body))
	require.NoError(t, doc.CheckResponse(req, resp.Status, resp.Header, resp.Body))
}

// Response is an answer, its body kept raw.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode decodes the body into v.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "body: %s", r.Body)
}

// ErrorCode returns the error code of an error answer.
func (r *Response) ErrorCode(t testing.TB) string {
	t.Helper()
	var e apiv1.ErrorResponse
	r.Decode(t, &e)
	return e.Error.Code
}

// Do sends a request; body, when not nil, is encoded as JSON; headers are
// name, value pairs.
func (c *Client) Do(t testing.TB, method, path string, body any, headers ...string) *Response {
	t.Helper()
	var reader io.Reader
	var sent []byte
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		reader, sent = bytes.NewReader(b), b
	}
	req, err := http.NewRequest(method, c.Endpoint+path, reader)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	httpClient := c.HTTP
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	answer := &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	validate := c.Validate
	if validate == nil {
		validate = ValidateResponse
	}
	validate(t, req, sent, answer)
	return answer
}

// Wait long-polls an operation until it is done, failing the test after
// timeout.
func (c *Client) Wait(t testing.TB, id string, timeout time.Duration) apiv1.Operation {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp := c.Do(t, http.MethodPost, "/v1/operations/"+id+":wait?timeout=10s", nil)
		require.Equal(t, http.StatusOK, resp.Status, "wait: %s", resp.Body)
		var op apiv1.Operation
		resp.Decode(t, &op)
		if op.Done {
			return op
		}
	}
	t.Fatalf("operation %s not done after %s", id, timeout)
	return apiv1.Operation{}
}

// Operation decodes an accepted mutation's operation, failing unless the
// status is 202.
func (r *Response) Operation(t testing.TB) apiv1.Operation {
	t.Helper()
	require.Equal(t, http.StatusAccepted, r.Status, "body: %s", r.Body)
	var op apiv1.Operation
	r.Decode(t, &op)
	return op
}

// AdminDB returns a superuser pool on one database of a region.
func (f *Fleet) AdminDB(t testing.TB, region, database string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(f.Region(t, region).SuperuserDSN())
	require.NoError(t, err)
	cfg.ConnConfig.Database = database
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// UniqueName gives a database name no other test, nor a repeated run
// (-count) on the same regions, uses.
func UniqueName(base string) string {
	return fmt.Sprintf("%s_%d", base, time.Now().UnixNano()%1_000_000_000)
}

// Ledger reads the versions a database's own ledger (dbfleet.migrations)
// holds, with when each was applied, asking PostgreSQL.
func (f *Fleet) Ledger(t testing.TB, region, database string) map[int64]time.Time {
	t.Helper()
	rows, err := f.AdminDB(t, region, database).Query(context.Background(), `SELECT version, applied_at FROM dbfleet.migrations`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var v int64
		var at time.Time
		require.NoError(t, rows.Scan(&v, &at))
		out[v] = at
	}
	require.NoError(t, rows.Err())
	return out
}

// LockDatabaseCatalog blocks CREATE and DROP DATABASE in the region (they
// take ROW EXCLUSIVE on pg_database), so that an operation waits in its
// ensure_database or drop_database step, until release runs. The lock also
// ends with the test; release may run more than once.
func (f *Fleet) LockDatabaseCatalog(t testing.TB, region string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.Region(t, region).SuperuserDSN())
	require.NoError(t, err)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `LOCK TABLE pg_database IN SHARE ROW EXCLUSIVE MODE`)
	require.NoError(t, err)
	release = sync.OnceFunc(func() {
		_ = tx.Rollback(ctx)
		_ = conn.Close(ctx)
	})
	t.Cleanup(release)
	return release
}
