package store

import (
	"context"
	"fmt"
	"time"
)

// LagSample is a replica's replication lag at one time.
type LagSample struct {
	Region     string
	Name       string
	Time       time.Time
	LagBytes   int64
	LagSeconds float64
}

// LagSamplesKept is how long LagSampleInsert keeps a replica's samples: the
// dashboard charts the last hour, the rest is slack for a late reader.
const LagSamplesKept = 2 * time.Hour

// LagSampleListParams selects one replica's samples since a time, oldest
// first.
type LagSampleListParams struct {
	Region string
	Name   string
	Since  time.Time
}

func (q queries) LagSampleInsert(ctx context.Context, s *LagSample) error {
	// A sample at the same microsecond replaces the first: the monitor's
	// retry of a pass must not fail on its own earlier row.
	if _, err := q.q.exec(ctx, `INSERT INTO lag_samples (region, name, time, lag_bytes, lag_micros) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (region, name, time) DO UPDATE SET lag_bytes = excluded.lag_bytes, lag_micros = excluded.lag_micros`,
		s.Region, s.Name, s.Time.UnixMicro(), s.LagBytes, int64(s.LagSeconds*1e6)); err != nil {
		return fmt.Errorf("insert lag sample of %s/%s: %w", s.Region, s.Name, err)
	}
	if _, err := q.q.exec(ctx, `DELETE FROM lag_samples WHERE region = ? AND name = ? AND time < ?`,
		s.Region, s.Name, s.Time.Add(-LagSamplesKept).UnixMicro()); err != nil {
		return fmt.Errorf("prune lag samples of %s/%s: %w", s.Region, s.Name, err)
	}
	return nil
}

func (q queries) LagSampleList(ctx context.Context, params *LagSampleListParams) ([]*LagSample, error) {
	rows, err := q.q.query(ctx, `SELECT time, lag_bytes, lag_micros FROM lag_samples
		WHERE region = ? AND name = ? AND time >= ? ORDER BY time`, params.Region, params.Name, params.Since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("list lag samples of %s/%s: %w", params.Region, params.Name, err)
	}
	defer rows.Close()
	var out []*LagSample
	for rows.Next() {
		s := &LagSample{Region: params.Region, Name: params.Name}
		var at, micros int64
		if err := rows.Scan(&at, &s.LagBytes, &micros); err != nil {
			return nil, fmt.Errorf("list lag samples of %s/%s: %w", params.Region, params.Name, err)
		}
		s.Time, s.LagSeconds = time.UnixMicro(at).UTC(), float64(micros)/1e6
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list lag samples of %s/%s: %w", params.Region, params.Name, err)
	}
	return out, nil
}
