package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

func (q queries) ReplicationGet(ctx context.Context, key DatabaseKey) (*Replication, error) {
	r := &Replication{Region: key.Region, Name: key.Name}
	var sealed, status, consistency string
	err := q.q.queryRow(ctx, `SELECT password, status, consistency FROM replication WHERE region = ? AND name = ?`,
		key.Region, key.Name).Scan(&sealed, &status, &consistency)
	if errors.Is(err, errNoRows) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get replication of %s/%s: %w", key.Region, key.Name, err)
	}
	if sealed != "" {
		if r.Password, err = q.box.Open(sealed); err != nil {
			return nil, fmt.Errorf("decrypt replication password of %s/%s: %w", key.Region, key.Name, err)
		}
	}
	if err := json.Unmarshal([]byte(status), &r.Status); err != nil {
		return nil, fmt.Errorf("decode replication status of %s/%s: %w", key.Region, key.Name, err)
	}
	if err := json.Unmarshal([]byte(consistency), &r.Consistency); err != nil {
		return nil, fmt.Errorf("decode consistency check of %s/%s: %w", key.Region, key.Name, err)
	}
	return r, nil
}

func (q queries) ReplicationPut(ctx context.Context, r *Replication) error {
	sealed := ""
	if r.Password != "" {
		var err error
		if sealed, err = q.box.Seal(r.Password); err != nil {
			return fmt.Errorf("encrypt replication password of %s/%s: %w", r.Region, r.Name, err)
		}
	}
	status, err := json.Marshal(r.Status)
	if err != nil {
		return fmt.Errorf("encode replication status of %s/%s: %w", r.Region, r.Name, err)
	}
	consistency, err := json.Marshal(r.Consistency)
	if err != nil {
		return fmt.Errorf("encode consistency check of %s/%s: %w", r.Region, r.Name, err)
	}
	if _, err := q.q.exec(ctx, `INSERT INTO replication (region, name, password, status, consistency) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (region, name) DO UPDATE SET password = excluded.password, status = excluded.status, consistency = excluded.consistency`,
		r.Region, r.Name, sealed, string(status), string(consistency)); err != nil {
		return fmt.Errorf("put replication of %s/%s: %w", r.Region, r.Name, err)
	}
	return nil
}
