package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// queries are the store's reads and writes, written once for every SQL
// dialect the store runs on (see querier).

type queries struct {
	q   querier
	box SecretBox
}

const databaseColumns = `region, name, owner, password, deletion_protection, skip_final_backup, status,
	generation, observed_generation, operation_id, created_at, updated_at,
	schema_name, schema_version, applied_version, parameters, replica_of, drift_policy,
	check_pending_version, revert_pending_version`

func (q queries) scanDatabase(row interface{ Scan(...any) error }) (*Database, error) {
	var d Database
	var created, updated int64
	var sealed, params, conditions string
	err := row.Scan(&d.Region, &d.Name, &d.Owner, &sealed, &d.DeletionProtection, &d.SkipFinalBackup, &d.Status,
		&d.Generation, &d.ObservedGeneration, &d.OperationID, &created, &updated,
		&d.Schema, &d.SchemaVersion, &d.AppliedVersion, &params, &d.ReplicaOf, &d.DriftPolicy,
		&d.CheckPendingVersion, &d.RevertPendingVersion, &conditions)
	if errors.Is(err, errNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if d.Password, err = q.box.Open(sealed); err != nil {
		return nil, fmt.Errorf("decrypt password of %s/%s: %w", d.Region, d.Name, err)
	}
	if err := json.Unmarshal([]byte(params), &d.Parameters); err != nil {
		return nil, fmt.Errorf("decode parameters of %s/%s: %w", d.Region, d.Name, err)
	}
	if err := decodeConditions(conditions, &d); err != nil {
		return nil, err
	}
	d.CreatedAt, d.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return &d, nil
}

func (q queries) DatabaseGet(ctx context.Context, key DatabaseKey) (*Database, error) {
	d, err := q.scanDatabase(q.q.queryRow(ctx, `SELECT `+databaseSelectColumns+` FROM databases WHERE region = ? AND name = ?`, key.Region, key.Name))
	if err != nil {
		return nil, fmt.Errorf("get database %s/%s: %w", key.Region, key.Name, err)
	}
	return d, nil
}

func (q queries) DatabaseList(ctx context.Context, params *DatabaseListParams) ([]*Database, error) {
	rows, err := q.q.query(ctx, `SELECT `+databaseSelectColumns+` FROM databases
		WHERE (? = '' OR region = ?) AND (? = '' OR schema_name = ?) AND (? = '' OR name = ?) ORDER BY region, name`,
		params.Region, params.Region, params.Schema, params.Schema, params.Name, params.Name)
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	defer rows.Close()
	var out []*Database
	for rows.Next() {
		d, err := q.scanDatabase(rows)
		if err != nil {
			return nil, fmt.Errorf("list databases: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (q queries) DatabaseCountByRegion(ctx context.Context) (map[string]int, error) {
	rows, err := q.q.query(ctx, `SELECT region, count(*) FROM databases GROUP BY region`)
	if err != nil {
		return nil, fmt.Errorf("count databases by region: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var region string
		var n int
		if err := rows.Scan(&region, &n); err != nil {
			return nil, fmt.Errorf("count databases by region: %w", err)
		}
		counts[region] = n
	}
	return counts, rows.Err()
}

func (q queries) DatabasePut(ctx context.Context, d *Database) error {
	sealed, err := q.box.Seal(d.Password)
	if err != nil {
		return fmt.Errorf("encrypt password of %s/%s: %w", d.Region, d.Name, err)
	}
	params, err := json.Marshal(d.Parameters)
	if err != nil {
		return fmt.Errorf("encode parameters of %s/%s: %w", d.Region, d.Name, err)
	}
	_, err = q.q.exec(ctx, `INSERT INTO databases (`+databaseColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (region, name) DO UPDATE SET owner = excluded.owner, password = excluded.password,
			deletion_protection = excluded.deletion_protection, skip_final_backup = excluded.skip_final_backup,
			status = excluded.status, generation = excluded.generation, observed_generation = excluded.observed_generation,
			operation_id = excluded.operation_id, updated_at = excluded.updated_at,
			schema_name = excluded.schema_name, schema_version = excluded.schema_version,
			applied_version = excluded.applied_version, parameters = excluded.parameters, replica_of = excluded.replica_of,
			drift_policy = excluded.drift_policy, check_pending_version = excluded.check_pending_version,
			revert_pending_version = excluded.revert_pending_version`,
		d.Region, d.Name, d.Owner, sealed, d.DeletionProtection, d.SkipFinalBackup, d.Status,
		d.Generation, d.ObservedGeneration, d.OperationID, d.CreatedAt.UnixMicro(), d.UpdatedAt.UnixMicro(),
		d.Schema, d.SchemaVersion, d.AppliedVersion, string(params), d.ReplicaOf, d.DriftPolicy,
		d.CheckPendingVersion, d.RevertPendingVersion)
	if err != nil {
		return fmt.Errorf("put database %s/%s: %w", d.Region, d.Name, err)
	}
	return nil
}

func (q queries) DatabaseDelete(ctx context.Context, key DatabaseKey) error {
	for _, stmt := range []string{
		`DELETE FROM databases WHERE region = ? AND name = ?`,
		`DELETE FROM database_migrations WHERE region = ? AND name = ?`,
		`DELETE FROM replication WHERE region = ? AND name = ?`,
		`DELETE FROM database_events WHERE region = ? AND name = ?`,
		`DELETE FROM reconcile_state WHERE region = ? AND name = ?`,
	} {
		if _, err := q.q.exec(ctx, stmt, key.Region, key.Name); err != nil {
			return fmt.Errorf("delete database %s/%s: %w", key.Region, key.Name, err)
		}
	}
	return nil
}

const operationColumns = `id, kind, region, database, state, step, progress, error, generation, request_id,
	cancel_requested, created_at, updated_at`

func scanOperation(row interface{ Scan(...any) error }) (*Operation, error) {
	var o Operation
	var errJSON *string
	var created, updated int64
	err := row.Scan(&o.ID, &o.Kind, &o.Region, &o.Database, &o.State, &o.Step, &o.Progress, &errJSON, &o.Generation,
		&o.RequestID, &o.CancelRequested, &created, &updated)
	if errors.Is(err, errNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if errJSON != nil && *errJSON != "" {
		o.Error = &OperationError{}
		if err := json.Unmarshal([]byte(*errJSON), o.Error); err != nil {
			return nil, fmt.Errorf("decode error of operation %s: %w", o.ID, err)
		}
	}
	o.CreatedAt, o.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return &o, nil
}

// operationErrorColumn encodes an operation's error; nil is NULL.
func operationErrorColumn(e *OperationError) (*string, error) {
	if e == nil {
		return nil, nil
	}
	b, err := json.Marshal(e)
	s := string(b)
	return &s, err
}

func (q queries) OperationGet(ctx context.Context, id string) (*Operation, error) {
	o, err := scanOperation(q.q.queryRow(ctx, `SELECT `+operationColumns+` FROM operations WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("get operation %s: %w", id, err)
	}
	return o, nil
}

func (q queries) OperationList(ctx context.Context, params *OperationListParams) ([]*Operation, error) {
	limit := params.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.q.query(ctx, `SELECT `+operationColumns+` FROM operations
		WHERE (? = '' OR region = ?) AND (? = '' OR database = ?) ORDER BY created_at DESC, id DESC LIMIT ?`,
		params.Region, params.Region, params.Database, params.Database, limit)
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	defer rows.Close()
	var out []*Operation
	for rows.Next() {
		o, err := scanOperation(rows)
		if err != nil {
			return nil, fmt.Errorf("list operations: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

func (q queries) OperationInsert(ctx context.Context, o *Operation) error {
	errCol, err := operationErrorColumn(o.Error)
	if err != nil {
		return fmt.Errorf("insert operation %s: %w", o.ID, err)
	}
	_, err = q.q.exec(ctx, `INSERT INTO operations (`+operationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.Kind, o.Region, o.Database, o.State, o.Step, o.Progress, errCol, o.Generation, o.RequestID,
		o.CancelRequested, o.CreatedAt.UnixMicro(), o.UpdatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("insert operation %s: %w", o.ID, err)
	}
	return nil
}

func (q queries) OperationUpdate(ctx context.Context, o *Operation) error {
	errCol, err := operationErrorColumn(o.Error)
	if err != nil {
		return fmt.Errorf("update operation %s: %w", o.ID, err)
	}
	n, err := q.q.exec(ctx, `UPDATE operations SET state = ?, step = ?, progress = ?, error = ?, updated_at = ?
		WHERE id = ? AND state NOT IN ('succeeded', 'failed', 'cancelled')`,
		o.State, o.Step, o.Progress, errCol, o.UpdatedAt.UnixMicro(), o.ID)
	if err != nil {
		return fmt.Errorf("update operation %s: %w", o.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("update operation %s: %w", o.ID, q.whyUnchanged(ctx, o.ID))
	}
	return nil
}

func (q queries) OperationRequestCancel(ctx context.Context, id string, at time.Time) error {
	n, err := q.q.exec(ctx, `UPDATE operations SET cancel_requested = ?, updated_at = ?
		WHERE id = ? AND state NOT IN ('succeeded', 'failed', 'cancelled')`, true, at.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("request cancel of operation %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("request cancel of operation %s: %w", id, q.whyUnchanged(ctx, id))
	}
	return nil
}

// whyUnchanged tells why a conditional update of an operation changed no
// row: it does not exist, or it has finished.
func (q queries) whyUnchanged(ctx context.Context, id string) error {
	if _, err := q.OperationGet(ctx, id); err != nil {
		return err
	}
	return ErrOperationFinished
}

func (q queries) IdempotencyKeyGet(ctx context.Context, principal, key string) (*IdempotencyKey, error) {
	var k IdempotencyKey
	var headers string
	var created, locked int64
	err := q.q.queryRow(ctx, `SELECT principal, key, request_hash, state, status, headers, body, created_at, locked_until
		FROM idempotency_keys WHERE principal = ? AND key = ?`, principal, key).
		Scan(&k.Principal, &k.Key, &k.RequestHash, &k.State, &k.Status, &headers, &k.Body, &created, &locked)
	if errors.Is(err, errNoRows) {
		return nil, fmt.Errorf("get idempotency key: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get idempotency key: %w", err)
	}
	if err := json.Unmarshal([]byte(headers), &k.Headers); err != nil {
		return nil, fmt.Errorf("decode idempotency key headers: %w", err)
	}
	k.CreatedAt, k.LockedUntil = time.UnixMicro(created).UTC(), time.UnixMicro(locked).UTC()
	return &k, nil
}

func (q queries) IdempotencyKeyPut(ctx context.Context, k *IdempotencyKey) error {
	headers, err := json.Marshal(k.Headers)
	if err != nil {
		return fmt.Errorf("encode idempotency key headers: %w", err)
	}
	_, err = q.q.exec(ctx, `INSERT INTO idempotency_keys (principal, key, request_hash, state, status, headers, body, created_at, locked_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (principal, key) DO UPDATE SET request_hash = excluded.request_hash, state = excluded.state,
			status = excluded.status, headers = excluded.headers, body = excluded.body,
			created_at = excluded.created_at, locked_until = excluded.locked_until`,
		k.Principal, k.Key, k.RequestHash, k.State, k.Status, string(headers), k.Body, k.CreatedAt.UnixMicro(), k.LockedUntil.UnixMicro())
	if err != nil {
		return fmt.Errorf("put idempotency key: %w", err)
	}
	return nil
}

func (q queries) IdempotencyKeyClaim(ctx context.Context, k *IdempotencyKey) (bool, error) {
	headers, err := json.Marshal(k.Headers)
	if err != nil {
		return false, fmt.Errorf("encode idempotency key headers: %w", err)
	}
	n, err := q.q.exec(ctx, `INSERT INTO idempotency_keys (principal, key, request_hash, state, status, headers, body, created_at, locked_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (principal, key) DO NOTHING`,
		k.Principal, k.Key, k.RequestHash, k.State, k.Status, string(headers), k.Body, k.CreatedAt.UnixMicro(), k.LockedUntil.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("claim idempotency key: %w", err)
	}
	return n == 1, nil
}

func (q queries) IdempotencyKeyReplace(ctx context.Context, k, prev *IdempotencyKey) (bool, error) {
	headers, err := json.Marshal(k.Headers)
	if err != nil {
		return false, fmt.Errorf("encode idempotency key headers: %w", err)
	}
	n, err := q.q.exec(ctx, `UPDATE idempotency_keys SET request_hash = ?, state = ?, status = ?, headers = ?, body = ?,
			created_at = ?, locked_until = ?
		WHERE principal = ? AND key = ? AND state = ? AND created_at = ? AND locked_until = ?`,
		k.RequestHash, k.State, k.Status, string(headers), k.Body, k.CreatedAt.UnixMicro(), k.LockedUntil.UnixMicro(),
		k.Principal, k.Key, prev.State, prev.CreatedAt.UnixMicro(), prev.LockedUntil.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("replace idempotency key: %w", err)
	}
	return n == 1, nil
}

func (q queries) IdempotencyKeyDelete(ctx context.Context, principal, key string) error {
	if _, err := q.q.exec(ctx, `DELETE FROM idempotency_keys WHERE principal = ? AND key = ?`, principal, key); err != nil {
		return fmt.Errorf("delete idempotency key: %w", err)
	}
	return nil
}

func (q queries) IdempotencyKeysDeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	n, err := q.q.exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, t.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete idempotency keys made before %s: %w", t.Format(time.RFC3339), err)
	}
	return n, nil
}

func (q queries) TokenGetByHash(ctx context.Context, hash string) (*Token, error) {
	var t Token
	var created int64
	err := q.q.queryRow(ctx, `SELECT name, hash, scope, created_at FROM api_tokens WHERE hash = ?`, hash).
		Scan(&t.Name, &t.Hash, &t.Scope, &created)
	if errors.Is(err, errNoRows) {
		return nil, fmt.Errorf("get token: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get token: %w", err)
	}
	t.CreatedAt = time.UnixMicro(created).UTC()
	return &t, nil
}

func (q queries) TokenPut(ctx context.Context, t *Token) error {
	_, err := q.q.exec(ctx, `INSERT INTO api_tokens (name, hash, scope, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, scope = excluded.scope`,
		t.Name, t.Hash, t.Scope, t.CreatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("put token %s: %w", t.Name, err)
	}
	return nil
}
