package store

import (
	"context"
	"fmt"
	"time"
)

func (q queries) TokenList(ctx context.Context) ([]*Token, error) {
	rows, err := q.q.query(ctx, `SELECT name, hash, scope, created_at FROM api_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []*Token
	for rows.Next() {
		var t Token
		var created int64
		if err := rows.Scan(&t.Name, &t.Hash, &t.Scope, &created); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.CreatedAt = time.UnixMicro(created).UTC()
		out = append(out, &t)
	}
	return out, rows.Err()
}

func (q queries) TokenDelete(ctx context.Context, name string) error {
	n, err := q.q.exec(ctx, `DELETE FROM api_tokens WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete token %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("delete token %s: %w", name, ErrNotFound)
	}
	return nil
}

func (q queries) AuditInsert(ctx context.Context, e *AuditEntry) error {
	if err := q.q.queryRow(ctx, `INSERT INTO audit_log (time, principal, action, target, status, request_id, remote_addr)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.Time.UnixMicro(), e.Principal, e.Action, e.Target, e.Status, e.RequestID, e.RemoteAddr).Scan(&e.ID); err != nil {
		return fmt.Errorf("insert audit entry: %w", err)
	}
	return nil
}

func (q queries) AuditDeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	n, err := q.q.exec(ctx, `DELETE FROM audit_log WHERE time < ?`, t.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete audit entries before %s: %w", t.Format(time.RFC3339), err)
	}
	return n, nil
}

func (q queries) AuditList(ctx context.Context, params *AuditListParams) ([]*AuditEntry, error) {
	limit := params.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.q.query(ctx, `SELECT id, time, principal, action, target, status, request_id, remote_addr
		FROM audit_log WHERE (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?`, params.BeforeID, params.BeforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	defer rows.Close()
	var out []*AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Principal, &e.Action, &e.Target, &e.Status, &e.RequestID, &e.RemoteAddr); err != nil {
			return nil, fmt.Errorf("list audit entries: %w", err)
		}
		e.Time = time.UnixMicro(at).UTC()
		out = append(out, &e)
	}
	return out, rows.Err()
}
