package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// replicaRows is how many rows replica_consistency writes on the source.
const replicaRows = 200

// replicaSchema is replica_consistency's schema.
var replicaSchema = apiv1.SchemaSpec{Migrations: []apiv1.Migration{{
	Version: 1,
	Up:      "CREATE TABLE items (id bigint PRIMARY KEY, note text NOT NULL, touched integer NOT NULL DEFAULT 0);",
	Down:    "DROP TABLE items;",
}}}

// runReplicaConsistency: a database in the first region and its logical
// replica in the second; rows written, changed and deleted on the source;
// a consistency check that must find the replica consistent with the same
// row count; then the replica and the source deleted.
func runReplicaConsistency(ctx context.Context, t *trial) error {
	a := t.env.api
	source, replica := t.regions.all[0], t.regions.all[1]
	schema, err := t.name("rc")
	if err != nil {
		return err
	}
	name, err := t.name("rc")
	if err != nil {
		return err
	}
	for _, c := range []Resource{{Kind: KindSchema, Name: schema}, {Kind: KindDatabase, Region: source, Name: name}, {Kind: KindDatabase, Region: replica, Name: name}} {
		if err := t.claim(ctx, c.Kind, c.Region, c.Name); err != nil {
			return err
		}
	}

	t.setStep("put_schema", "")
	if _, err := a.client.SchemaPut(ctx, schema, replicaSchema); err != nil {
		return err
	}
	t.setStep("create_source", source)
	if err := createDatabase(ctx, t, source, name, apiv1.DatabaseSpec{Schema: schema}); err != nil {
		return err
	}
	t.setStep("create_replica", replica)
	if err := createDatabase(ctx, t, replica, name, apiv1.DatabaseSpec{Schema: schema, ReplicaOf: source}); err != nil {
		return err
	}

	t.setStep("write_source", source)
	want, err := writeRows(ctx, a, source, name)
	if err != nil {
		return err
	}

	t.setStep("verify", replica)
	op, err := a.client.DatabaseVerify(ctx, replica, name)
	if err != nil {
		return err
	}
	if err := a.wait(ctx, op, t.env.opTimeout); err != nil {
		return err
	}
	db, err := a.client.DatabaseGet(ctx, replica, name)
	if err != nil {
		return err
	}
	if db.Consistency == nil || db.Consistency.Result != "consistent" {
		return fmt.Errorf("replica %s/%s after its consistency check: %s", replica, name, describeConsistency(db.Consistency))
	}
	t.setStep("count_replica", replica)
	got, err := countRows(ctx, a, replica, name)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("replica %s/%s holds %d rows, the source %d, yet the check said consistent", replica, name, got, want)
	}

	for _, r := range []string{replica, source} {
		t.setStep("delete", r)
		if err := deleteDatabase(ctx, t, r, name); err != nil {
			return err
		}
	}
	t.setStep("delete_schema", "")
	return a.client.SchemaDelete(ctx, schema)
}

func describeConsistency(c *apiv1.ConsistencyCheck) string {
	if c == nil {
		return "no check recorded"
	}
	s := "result " + c.Result
	if c.Error != "" {
		s += ": " + c.Error
	}
	for _, tc := range c.Tables {
		if !tc.Consistent {
			s += fmt.Sprintf("; table %s: source %d rows, replica %d, %d differing ranges %s", tc.Table, tc.SourceRows, tc.ReplicaRows, len(tc.DifferingRanges), tc.Error)
		}
	}
	return s
}

// createDatabase creates the database name in region with spec (deletion
// protection and final backups off) and waits until it is ready.
func createDatabase(ctx context.Context, t *trial, region, name string, spec apiv1.DatabaseSpec) error {
	spec.DeletionProtection, spec.SkipFinalBackup = new(false), true
	op, err := t.env.api.client.DatabasePut(ctx, region, name, spec)
	if err != nil {
		return err
	}
	err = t.env.api.wait(ctx, op, t.env.opTimeout)
	return err
}

// deleteDatabase deletes the database name in region, waits, and checks it
// is gone.
func deleteDatabase(ctx context.Context, t *trial, region, name string) error {
	op, err := t.env.api.client.DatabaseDelete(ctx, region, name)
	if err != nil {
		return err
	}
	if err := t.env.api.wait(ctx, op, t.env.opTimeout); err != nil {
		return err
	}
	return requireGone(ctx, t.env.api, region, name)
}

// connectOwner connects to the database name in region as its owner, with
// the password the API hands out.
func connectOwner(ctx context.Context, a *api, region, name string) (*pgx.Conn, error) {
	db, err := a.client.DatabaseGet(ctx, region, name)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig("sslmode=disable connect_timeout=10")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.Database, cfg.User, cfg.Password = db.Host, uint16(db.Port), name, db.Owner, db.Password //nolint:gosec // a TCP port fits
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s/%s as its owner: %w", region, name, err)
	}
	return conn, nil
}

// writeRows inserts replicaRows rows into items, changes a third of them and
// deletes a tenth, and returns how many are left.
func writeRows(ctx context.Context, a *api, region, name string) (int64, error) {
	conn, err := connectOwner(ctx, a, region, name)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	statements := []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO items (id, note) SELECT g, 'note ' || g FROM generate_series(1, $1::int) AS g", []any{replicaRows}},
		{"UPDATE items SET touched = touched + 1, note = note || ' changed' WHERE id % 3 = 0", nil},
		{"DELETE FROM items WHERE id % 10 = 0", nil},
	}
	for _, s := range statements {
		if _, err := conn.Exec(ctx, s.sql, s.args...); err != nil {
			return 0, fmt.Errorf("writing rows in %s/%s: %w", region, name, err)
		}
	}
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil {
		return 0, fmt.Errorf("counting rows in %s/%s: %w", region, name, err)
	}
	return n, nil
}

// countRows counts the rows of items in the database name in region.
func countRows(ctx context.Context, a *api, region, name string) (int64, error) {
	conn, err := connectOwner(ctx, a, region, name)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil {
		return 0, fmt.Errorf("counting rows in %s/%s: %w", region, name, err)
	}
	return n, nil
}

// runRapidCalls: successive changes of statement_timeout on one database,
// each sent as soon as the API accepts it (a 409 operation_in_progress
// waits for the running operation), with a read and a plan after each; the
// last change must be what the API and PostgreSQL show.
func runRapidCalls(ctx context.Context, t *trial) error {
	a := t.env.api
	region := t.regions.pick
	name, err := t.name("rp")
	if err != nil {
		return err
	}
	if err := t.claim(ctx, KindDatabase, region, name); err != nil {
		return err
	}
	spec := func(seconds int) apiv1.DatabaseSpec {
		return apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true,
			Parameters: map[string]string{"statement_timeout": strconv.Itoa(seconds) + "s"}}
	}
	t.setStep("create", region)
	if err := createDatabase(ctx, t, region, name, spec(1)); err != nil {
		return err
	}
	t.setStep("rapid_changes", region)
	var last *apiv1.Operation
	final := 1 + t.env.rapidCalls
	for seconds := 2; seconds <= final; seconds++ {
		op, err := putWhenFree(ctx, t, region, name, spec(seconds))
		if err != nil {
			return fmt.Errorf("change %d of %d: %w", seconds-1, t.env.rapidCalls, err)
		}
		t.addOperation(op.ID)
		last = op
		if _, err := a.client.DatabaseGet(ctx, region, name); err != nil {
			return fmt.Errorf("reading during change %d: %w", seconds-1, err)
		}
		if _, err := a.client.DatabasePlan(ctx, region, name, spec(seconds)); err != nil {
			return fmt.Errorf("planning during change %d: %w", seconds-1, err)
		}
	}
	t.setStep("converge", region)
	if err := a.wait(ctx, last, t.env.opTimeout); err != nil {
		return err
	}
	db, err := a.client.DatabaseGet(ctx, region, name)
	if err != nil {
		return err
	}
	want := strconv.Itoa(final) + "s"
	if db.Parameters["statement_timeout"] != want || db.Status != apiv1.DatabaseStatusReady ||
		db.ObservedGeneration != db.Generation || db.OperationID != "" {
		return fmt.Errorf("database %s/%s after %d rapid changes: statement_timeout %q, status %s, generation %d observed %d, operation %q; want %s, ready, observed = generation, none",
			region, name, t.env.rapidCalls, db.Parameters["statement_timeout"], db.Status, db.Generation, db.ObservedGeneration, db.OperationID, want)
	}
	t.setStep("check_postgres", region)
	conn, err := connectOwner(ctx, a, region, name)
	if err != nil {
		return err
	}
	var setting string
	err = conn.QueryRow(ctx, "SHOW statement_timeout").Scan(&setting)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("reading statement_timeout in %s/%s: %w", region, name, err)
	}
	if setting != want {
		return fmt.Errorf("PostgreSQL has statement_timeout %q for %s/%s after the last change, the API %q", setting, region, name, want)
	}
	t.setStep("delete", region)
	return deleteDatabase(ctx, t, region, name)
}

// maxConflictWaits bounds how often putWhenFree waits on a running
// operation before it gives up.
const maxConflictWaits = 10

// putWhenFree puts spec, and while another operation runs on the database
// (409 operation_in_progress), waits for that one and tries again.
func putWhenFree(ctx context.Context, t *trial, region, name string, spec apiv1.DatabaseSpec) (*apiv1.Operation, error) {
	a := t.env.api
	for range maxConflictWaits {
		op, err := a.client.DatabasePut(ctx, region, name, spec)
		if err == nil {
			return op, nil
		}
		if apiErrorCode(err) != apiv1.CodeOperationInProgress {
			return nil, err
		}
		db, getErr := a.client.DatabaseGet(ctx, region, name)
		if getErr != nil {
			return nil, errors.Join(err, getErr)
		}
		if db.OperationID == "" {
			continue // it ended in between
		}
		if err := a.wait(ctx, &apiv1.Operation{ID: db.OperationID}, t.env.opTimeout); err != nil {
			return nil, fmt.Errorf("waiting for the operation a change conflicted with: %w", err)
		}
	}
	return nil, fmt.Errorf("database %s/%s was still busy after %d waits", region, name, maxConflictWaits)
}

// runLoad: loadDatabases databases created at once, spread over the
// regions; all must become ready; then all deleted at once, none left.
func runLoad(ctx context.Context, t *trial) error {
	type target struct{ region, name string }
	var targets []target
	for i := range t.env.loadDatabases {
		name, err := t.name("ld")
		if err != nil {
			return err
		}
		region := t.regions.all[i%len(t.regions.all)]
		if err := t.claim(ctx, KindDatabase, region, name); err != nil {
			return err
		}
		targets = append(targets, target{region, name})
	}
	each := func(fn func(target) error) error {
		errs := make([]error, len(targets))
		var wg sync.WaitGroup
		for i, tg := range targets {
			wg.Go(func() { errs[i] = fn(tg) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	t.setStep("create_all", "")
	if err := each(func(tg target) error { return createDatabase(ctx, t, tg.region, tg.name, apiv1.DatabaseSpec{}) }); err != nil {
		return err
	}
	t.setStep("check_all_ready", "")
	list, err := t.env.api.client.DatabaseList(ctx)
	if err != nil {
		return err
	}
	ready := map[target]bool{}
	for _, db := range list {
		ready[target{db.Region, db.Name}] = db.Status == apiv1.DatabaseStatusReady
	}
	for _, tg := range targets {
		if !ready[tg] {
			return fmt.Errorf("database %s/%s is not listed as ready after its create succeeded", tg.region, tg.name)
		}
	}
	t.setStep("delete_all", "")
	return each(func(tg target) error { return deleteDatabase(ctx, t, tg.region, tg.name) })
}

// runRetryStorm: stormSize copies of one PUT with one Idempotency-Key sent
// at once, twice; every answer must be the same 202 operation or a 409
// idempotency_key_in_flight, never a 5xx; the key with another body is a
// 422; one apply operation results. The same for a DELETE. dbfleetd must
// stay healthy.
func runRetryStorm(ctx context.Context, t *trial) error {
	a := t.env.api
	region := t.regions.pick
	name, err := t.name("rs")
	if err != nil {
		return err
	}
	if err := t.claim(ctx, KindDatabase, region, name); err != nil {
		return err
	}
	path := "/v1/databases/" + region + "/" + name
	spec := apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true,
		Parameters: map[string]string{"work_mem": "8MB"}}

	t.setStep("put_storm", region)
	createKey := uuid.NewString()
	created, err := storm(ctx, t, http.MethodPut, path, createKey, spec)
	if err != nil {
		return err
	}
	t.setStep("key_reused_with_other_body", region)
	other := spec
	other.Parameters = map[string]string{"work_mem": "16MB"}
	ans, err := a.rawAnswer(ctx, http.MethodPut, path, createKey, other)
	if err != nil {
		return err
	}
	t.addRequestID(ans.RequestID)
	if ans.Status != http.StatusUnprocessableEntity {
		return fmt.Errorf("PUT %s with a used Idempotency-Key and another body answered %d (request %s), want 422: %s", path, ans.Status, ans.RequestID, ans.Body)
	}
	t.setStep("wait_create", region)
	if err := a.wait(ctx, created, t.env.opTimeout); err != nil {
		return err
	}
	if err := requireOperations(ctx, a, region, name, apiv1.OperationKindApplyDatabase, 1); err != nil {
		return err
	}

	t.setStep("delete_storm", region)
	deleted, err := storm(ctx, t, http.MethodDelete, path, uuid.NewString(), nil)
	if err != nil {
		return err
	}
	t.setStep("wait_delete", region)
	if err := a.wait(ctx, deleted, t.env.opTimeout); err != nil {
		return err
	}
	if err := requireOperations(ctx, a, region, name, apiv1.OperationKindDeleteDatabase, 1); err != nil {
		return err
	}
	t.setStep("healthy", "")
	for _, p := range []string{"/healthz", "/readyz"} {
		status, err := a.raw(ctx, http.MethodGet, p, "", nil, nil)
		if err != nil {
			return fmt.Errorf("dbfleetd after the storm: %w", err)
		}
		if status != http.StatusOK {
			return fmt.Errorf("dbfleetd after the storm: GET %s answered %d", p, status)
		}
	}
	return requireGone(ctx, a, region, name)
}

// stormRounds is how many rounds of concurrent copies a storm sends.
const stormRounds = 2

// storm sends stormSize copies of one request with one Idempotency-Key at
// once, stormRounds times, and returns the one operation they answered
// with. Any other answer than that 202 or a 409 idempotency_key_in_flight
// fails.
func storm(ctx context.Context, t *trial, method, path, key string, body any) (*apiv1.Operation, error) {
	var mu sync.Mutex
	var first *apiv1.Operation
	var errs []error
	for range stormRounds {
		var wg sync.WaitGroup
		for range t.env.stormSize {
			wg.Go(func() {
				op, err := stormAttempt(ctx, t, method, path, key, body)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					errs = append(errs, err)
				case op == nil:
				case first == nil:
					first = op
					t.addOperation(op.ID)
				case op.ID != first.ID:
					errs = append(errs, fmt.Errorf("%s %s with one Idempotency-Key answered two operations, %s and %s", method, path, first.ID, op.ID))
				}
			})
		}
		wg.Wait()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if first == nil {
		return nil, fmt.Errorf("%s %s: no copy of the request was accepted", method, path)
	}
	return first, nil
}

// stormAttempt sends one copy; it returns the operation of a 202 and nil of
// a 409 idempotency_key_in_flight.
func stormAttempt(ctx context.Context, t *trial, method, path, key string, body any) (*apiv1.Operation, error) {
	ans, err := t.env.api.rawAnswer(ctx, method, path, key, body)
	if err != nil {
		return nil, err
	}
	switch ans.Status {
	case http.StatusAccepted:
		var op apiv1.Operation
		if err := json.Unmarshal(ans.Body, &op); err != nil {
			return nil, err
		}
		return &op, nil
	case http.StatusConflict:
		var e apiv1.ErrorResponse
		if json.Unmarshal(ans.Body, &e) == nil && e.Error.Code == apiv1.CodeIdempotencyInFlight {
			return nil, nil
		}
	}
	t.addRequestID(ans.RequestID)
	return nil, fmt.Errorf("%s %s in a retry storm answered %d (request %s): %s", method, path, ans.Status, ans.RequestID, truncate(string(ans.Body), 512))
}

// requireOperations fails unless the database has exactly want operations
// of kind.
func requireOperations(ctx context.Context, a *api, region, name, kind string, want int) error {
	ops, err := a.operations(ctx, region, name)
	if err != nil {
		return err
	}
	var ids []string
	for _, op := range ops {
		if op.Kind == kind {
			ids = append(ids, op.ID)
		}
	}
	if len(ids) != want {
		return fmt.Errorf("database %s/%s has %d %s operations %v after the storm, want %d", region, name, len(ids), kind, ids, want)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
