package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

func (q queries) SchemaGet(ctx context.Context, name string) (*Schema, error) {
	s := Schema{Name: name}
	var rollout string
	var created, updated int64
	err := q.q.queryRow(ctx, `SELECT rollout, created_at, updated_at FROM schemas WHERE name = ?`, name).
		Scan(&rollout, &created, &updated)
	if errors.Is(err, errNoRows) {
		return nil, fmt.Errorf("get schema %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get schema %s: %w", name, err)
	}
	if err := json.Unmarshal([]byte(rollout), &s.Rollout); err != nil {
		return nil, fmt.Errorf("decode rollout policy of schema %s: %w", name, err)
	}
	s.CreatedAt, s.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	rows, err := q.q.query(ctx, `SELECT version, up, down, checksum FROM schema_migrations
		WHERE schema_name = ? ORDER BY version`, name)
	if err != nil {
		return nil, fmt.Errorf("get migrations of schema %s: %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var m Migration
		if err := rows.Scan(&m.Version, &m.Up, &m.Down, &m.Checksum); err != nil {
			return nil, fmt.Errorf("get migrations of schema %s: %w", name, err)
		}
		s.Migrations = append(s.Migrations, m)
	}
	return &s, rows.Err()
}

func (q queries) SchemaPut(ctx context.Context, s *Schema) error {
	rollout, err := json.Marshal(s.Rollout)
	if err != nil {
		return fmt.Errorf("encode rollout policy of schema %s: %w", s.Name, err)
	}
	if _, err := q.q.exec(ctx, `INSERT INTO schemas (name, rollout, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET rollout = excluded.rollout, updated_at = excluded.updated_at`,
		s.Name, string(rollout), s.CreatedAt.UnixMicro(), s.UpdatedAt.UnixMicro()); err != nil {
		return fmt.Errorf("put schema %s: %w", s.Name, err)
	}
	if _, err := q.q.exec(ctx, `DELETE FROM schema_migrations WHERE schema_name = ?`, s.Name); err != nil {
		return fmt.Errorf("put migrations of schema %s: %w", s.Name, err)
	}
	for _, m := range s.Migrations {
		if _, err := q.q.exec(ctx, `INSERT INTO schema_migrations (schema_name, version, up, down, checksum) VALUES (?, ?, ?, ?, ?)`,
			s.Name, m.Version, m.Up, m.Down, m.Checksum); err != nil {
			return fmt.Errorf("put migration %d of schema %s: %w", m.Version, s.Name, err)
		}
	}
	return nil
}

func (q queries) SchemaDelete(ctx context.Context, name string) error {
	for _, stmt := range []string{
		`DELETE FROM schemas WHERE name = ?`,
		`DELETE FROM schema_migrations WHERE schema_name = ?`,
		`DELETE FROM rollouts WHERE schema_name = ?`,
	} {
		if _, err := q.q.exec(ctx, stmt, name); err != nil {
			return fmt.Errorf("delete schema %s: %w", name, err)
		}
	}
	return nil
}

func (q queries) RolloutList(ctx context.Context, schema string) ([]*Rollout, error) {
	rows, err := q.q.query(ctx, `SELECT version, state, halt, updated_at FROM rollouts WHERE schema_name = ? ORDER BY version`, schema)
	if err != nil {
		return nil, fmt.Errorf("list rollouts of schema %s: %w", schema, err)
	}
	defer rows.Close()
	var out []*Rollout
	for rows.Next() {
		r := Rollout{Schema: schema}
		var halt string
		var updated int64
		if err := rows.Scan(&r.Version, &r.State, &halt, &updated); err != nil {
			return nil, fmt.Errorf("list rollouts of schema %s: %w", schema, err)
		}
		if err := json.Unmarshal([]byte(halt), &r.Halt); err != nil {
			return nil, fmt.Errorf("decode rollout %s/%d: %w", schema, r.Version, err)
		}
		r.UpdatedAt = time.UnixMicro(updated).UTC()
		out = append(out, &r)
	}
	return out, rows.Err()
}

func (q queries) RolloutPut(ctx context.Context, r *Rollout) error {
	halt, err := json.Marshal(r.Halt)
	if err != nil {
		return fmt.Errorf("encode rollout %s/%d: %w", r.Schema, r.Version, err)
	}
	if _, err := q.q.exec(ctx, `INSERT INTO rollouts (schema_name, version, state, halt, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (schema_name, version) DO UPDATE SET state = excluded.state, halt = excluded.halt, updated_at = excluded.updated_at`,
		r.Schema, r.Version, r.State, string(halt), r.UpdatedAt.UnixMicro()); err != nil {
		return fmt.Errorf("put rollout %s/%d: %w", r.Schema, r.Version, err)
	}
	return nil
}

func (q queries) RolloutDelete(ctx context.Context, schema string, version int64) error {
	if _, err := q.q.exec(ctx, `DELETE FROM rollouts WHERE schema_name = ? AND version = ?`, schema, version); err != nil {
		return fmt.Errorf("delete rollout %s/%d: %w", schema, version, err)
	}
	return nil
}

func (q queries) DatabaseMigrationList(ctx context.Context, schema string, version int64) ([]*DatabaseMigration, error) {
	rows, err := q.q.query(ctx, `SELECT m.region, m.name, m.version, m.applied_at FROM database_migrations m
		JOIN databases d ON d.region = m.region AND d.name = m.name
		WHERE d.schema_name = ? AND m.version = ? ORDER BY m.region, m.name`, schema, version)
	if err != nil {
		return nil, fmt.Errorf("list migrations of schema %s version %d: %w", schema, version, err)
	}
	defer rows.Close()
	var out []*DatabaseMigration
	for rows.Next() {
		var m DatabaseMigration
		var applied int64
		if err := rows.Scan(&m.Region, &m.Name, &m.Version, &applied); err != nil {
			return nil, fmt.Errorf("list migrations of schema %s version %d: %w", schema, version, err)
		}
		m.AppliedAt = time.UnixMicro(applied).UTC()
		out = append(out, &m)
	}
	return out, rows.Err()
}

func (q queries) DatabaseMigrationPut(ctx context.Context, m *DatabaseMigration) error {
	// The first time a database reached a version stands: a re-run of the
	// step that recorded it does not restart the bake.
	if _, err := q.q.exec(ctx, `INSERT INTO database_migrations (region, name, version, applied_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (region, name, version) DO NOTHING`, m.Region, m.Name, m.Version, m.AppliedAt.UnixMicro()); err != nil {
		return fmt.Errorf("record version %d of %s/%s: %w", m.Version, m.Region, m.Name, err)
	}
	return nil
}

func (q queries) DatabaseMigrationDelete(ctx context.Context, region, name string, version int64) error {
	if _, err := q.q.exec(ctx, `DELETE FROM database_migrations WHERE region = ? AND name = ? AND version = ?`,
		region, name, version); err != nil {
		return fmt.Errorf("forget version %d of %s/%s: %w", version, region, name, err)
	}
	return nil
}
