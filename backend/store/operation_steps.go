package store

import (
	"context"
	"fmt"
	"time"
)

// OperationStep records when a step of an operation started. A step ends
// when the next one starts, or when the operation ends.
type OperationStep struct {
	OperationID string
	Step        string
	StartedAt   time.Time
}

func (q queries) OperationStepStart(ctx context.Context, s *OperationStep) error {
	// A step run again (a retry, a resumed job) keeps its first start.
	if _, err := q.q.exec(ctx, `INSERT INTO operation_steps (operation_id, step, started_at) VALUES (?, ?, ?)
		ON CONFLICT (operation_id, step) DO NOTHING`, s.OperationID, s.Step, s.StartedAt.UnixMicro()); err != nil {
		return fmt.Errorf("record step %s of operation %s: %w", s.Step, s.OperationID, err)
	}
	return nil
}

func (q queries) OperationStepList(ctx context.Context, operationID string) ([]*OperationStep, error) {
	rows, err := q.q.query(ctx, `SELECT step, started_at FROM operation_steps WHERE operation_id = ?
		ORDER BY started_at, step`, operationID)
	if err != nil {
		return nil, fmt.Errorf("list steps of operation %s: %w", operationID, err)
	}
	defer rows.Close()
	var out []*OperationStep
	for rows.Next() {
		s := &OperationStep{OperationID: operationID}
		var at int64
		if err := rows.Scan(&s.Step, &at); err != nil {
			return nil, fmt.Errorf("list steps of operation %s: %w", operationID, err)
		}
		s.StartedAt = time.UnixMicro(at).UTC()
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list steps of operation %s: %w", operationID, err)
	}
	return out, nil
}
