package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// databaseSelectColumns are databaseColumns and the columns that only
// dedicated writes change.
const databaseSelectColumns = databaseColumns + `, conditions`

func decodeConditions(raw string, d *Database) error {
	if raw == "" || raw == "[]" || raw == "null" {
		d.Conditions = nil
		return nil
	}
	if err := json.Unmarshal([]byte(raw), &d.Conditions); err != nil {
		return fmt.Errorf("decode conditions of %s/%s: %w", d.Region, d.Name, err)
	}
	return nil
}

func (q queries) DatabaseConditionsPut(ctx context.Context, key DatabaseKey, conditions []Condition) error {
	raw := []byte("[]")
	if len(conditions) > 0 {
		var err error
		if raw, err = json.Marshal(conditions); err != nil {
			return fmt.Errorf("encode conditions of %s/%s: %w", key.Region, key.Name, err)
		}
	}
	n, err := q.q.exec(ctx, `UPDATE databases SET conditions = ? WHERE region = ? AND name = ?`, string(raw), key.Region, key.Name)
	if err != nil {
		return fmt.Errorf("put conditions of %s/%s: %w", key.Region, key.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("put conditions of %s/%s: %w", key.Region, key.Name, ErrNotFound)
	}
	return nil
}

func (q queries) DatabaseEventInsert(ctx context.Context, e *DatabaseEvent) error {
	if err := q.q.queryRow(ctx, `INSERT INTO database_events (region, name, time, type, reason, message) VALUES (?, ?, ?, ?, ?, ?)
		RETURNING id`, e.Region, e.Name, e.Time.UnixMicro(), e.Type, e.Reason, e.Message).Scan(&e.ID); err != nil {
		return fmt.Errorf("insert event of %s/%s: %w", e.Region, e.Name, err)
	}
	if _, err := q.q.exec(ctx, `DELETE FROM database_events WHERE region = ? AND name = ? AND id <= ?`,
		e.Region, e.Name, e.ID-DatabaseEventsKept); err != nil {
		return fmt.Errorf("prune events of %s/%s: %w", e.Region, e.Name, err)
	}
	return nil
}

func (q queries) DatabaseEventList(ctx context.Context, params *DatabaseEventListParams) ([]*DatabaseEvent, error) {
	limit := params.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.q.query(ctx, `SELECT id, region, name, time, type, reason, message FROM database_events
		WHERE region = ? AND name = ? ORDER BY id DESC LIMIT ?`, params.Region, params.Name, limit)
	if err != nil {
		return nil, fmt.Errorf("list events of %s/%s: %w", params.Region, params.Name, err)
	}
	defer rows.Close()
	var out []*DatabaseEvent
	for rows.Next() {
		var e DatabaseEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.Region, &e.Name, &at, &e.Type, &e.Reason, &e.Message); err != nil {
			return nil, fmt.Errorf("list events of %s/%s: %w", params.Region, params.Name, err)
		}
		e.Time = time.UnixMicro(at).UTC()
		out = append(out, &e)
	}
	return out, rows.Err()
}

const reconcileStateColumns = `region, name, generation, checked_at, next_check_at, failures, findings, claimed_until`

func scanReconcileState(row interface{ Scan(...any) error }) (*ReconcileState, error) {
	var s ReconcileState
	var checked, next, claimed int64
	var findings string
	err := row.Scan(&s.Region, &s.Name, &s.Generation, &checked, &next, &s.Failures, &findings, &claimed)
	if errors.Is(err, errNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if findings != "[]" && findings != "" {
		if err := json.Unmarshal([]byte(findings), &s.Findings); err != nil {
			return nil, fmt.Errorf("decode findings of %s/%s: %w", s.Region, s.Name, err)
		}
	}
	s.CheckedAt, s.NextCheckAt = time.UnixMicro(checked).UTC(), time.UnixMicro(next).UTC()
	if claimed != 0 {
		s.ClaimedUntil = time.UnixMicro(claimed).UTC()
	}
	return &s, nil
}

func (q queries) ReconcileStateGet(ctx context.Context, key DatabaseKey) (*ReconcileState, error) {
	s, err := scanReconcileState(q.q.queryRow(ctx, `SELECT `+reconcileStateColumns+` FROM reconcile_state
		WHERE region = ? AND name = ?`, key.Region, key.Name))
	if err != nil {
		return nil, fmt.Errorf("get reconcile state of %s/%s: %w", key.Region, key.Name, err)
	}
	return s, nil
}

func (q queries) ReconcileStateList(ctx context.Context) ([]*ReconcileState, error) {
	rows, err := q.q.query(ctx, `SELECT `+reconcileStateColumns+` FROM reconcile_state ORDER BY region, name`)
	if err != nil {
		return nil, fmt.Errorf("list reconcile states: %w", err)
	}
	defer rows.Close()
	var out []*ReconcileState
	for rows.Next() {
		s, err := scanReconcileState(rows)
		if err != nil {
			return nil, fmt.Errorf("list reconcile states: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (q queries) ReconcileStatePut(ctx context.Context, s *ReconcileState) error {
	findings := []byte("[]")
	if len(s.Findings) > 0 {
		var err error
		if findings, err = json.Marshal(s.Findings); err != nil {
			return fmt.Errorf("encode findings of %s/%s: %w", s.Region, s.Name, err)
		}
	}
	var claimed int64
	if !s.ClaimedUntil.IsZero() {
		claimed = s.ClaimedUntil.UnixMicro()
	}
	if _, err := q.q.exec(ctx, `INSERT INTO reconcile_state (`+reconcileStateColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (region, name) DO UPDATE SET generation = excluded.generation, checked_at = excluded.checked_at,
			next_check_at = excluded.next_check_at, failures = excluded.failures, findings = excluded.findings,
			claimed_until = excluded.claimed_until`,
		s.Region, s.Name, s.Generation, s.CheckedAt.UnixMicro(), s.NextCheckAt.UnixMicro(), s.Failures, string(findings), claimed); err != nil {
		return fmt.Errorf("put reconcile state of %s/%s: %w", s.Region, s.Name, err)
	}
	return nil
}
