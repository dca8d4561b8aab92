package ops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// Schema errors callers branch on.
var (
	// ErrPublishedVersionChanged refuses to change or drop a version a
	// database has run.
	ErrPublishedVersionChanged = errors.New("published migration changed")
	// ErrInUse refuses to delete a schema databases still run.
	ErrInUse = errors.New("in use")
)

// SchemaSpec is a schema's desired migrations and rollout policy.
type SchemaSpec struct {
	Migrations []store.Migration
	Rollout    store.RolloutPolicy
}

// SchemaStatus is a schema with its resolved waves and each version's
// rollout.
type SchemaStatus struct {
	*store.Schema
	Waves    [][]string
	Rollouts []*store.Rollout
}

// LatestVersion is the schema's highest version, 0 without migrations.
func (s *SchemaStatus) LatestVersion() int64 { return latestVersion(s.Schema) }

// Checksum covers every version and its SQL's checksum.
func (s *SchemaStatus) Checksum() string {
	h := sha256.New()
	for _, m := range s.Migrations {
		fmt.Fprintf(h, "%d:%s\n", m.Version, m.Checksum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func latestVersion(s *store.Schema) int64 {
	if len(s.Migrations) == 0 {
		return 0
	}
	return s.Migrations[len(s.Migrations)-1].Version
}

// checkSchemaSpec validates a spec's structure and sets its checksums.
func (m *Manager) checkSchemaSpec(name string, spec *SchemaSpec) error {
	if err := engine.ValidateIdentifier("schema", name); err != nil {
		return invalidArgument("name", "%s", err)
	}
	if len(spec.Migrations) == 0 {
		return invalidArgument("migrations", "schema %s has no migrations: a schema has at least one", name)
	}
	var previous int64
	for i := range spec.Migrations {
		mig := &spec.Migrations[i]
		if mig.Version <= previous {
			return invalidArgument("migrations", "migration versions must be positive and strictly increasing: %d follows %d", mig.Version, previous)
		}
		previous = mig.Version
		if strings.TrimSpace(mig.Up) == "" {
			return invalidArgument("migrations", "migration %d has no up SQL", mig.Version)
		}
		sum := sha256.Sum256([]byte(mig.Up))
		mig.Checksum = hex.EncodeToString(sum[:])
	}
	p := &spec.Rollout
	if p.OnFailure == "" {
		p.OnFailure = apiv1.OnFailureHalt
	}
	if p.OnFailure != apiv1.OnFailureHalt && p.OnFailure != apiv1.OnFailureRollback {
		return invalidArgument("rollout.on_failure", "rollout on_failure must be %q or %q, not %s", apiv1.OnFailureHalt, apiv1.OnFailureRollback, apiv1.Quote(p.OnFailure))
	}
	if p.BakeTime < 0 {
		return invalidArgument("rollout.bake_time", "rollout bake_time must not be negative")
	}
	if len(p.Waves) > 0 && p.WaveSize > 0 {
		return invalidArgument("rollout.waves", "rollout sets both waves and wave_size; set one")
	}
	if p.WaveSize < 0 {
		return invalidArgument("rollout.wave_size", "rollout wave_size must be positive")
	}
	seen := map[string]bool{}
	for i, wave := range p.Waves {
		if len(wave) == 0 {
			return invalidArgument("rollout.waves", "rollout wave %d is empty", i+1)
		}
		for _, region := range wave {
			if !m.regions.Has(region) {
				return invalidArgument("rollout.waves", "rollout wave %d names region %s, which is not configured; configured regions: %v", i+1, apiv1.Quote(region), m.regions.Names())
			}
			if seen[region] {
				return invalidArgument("rollout.waves", "rollout waves name region %s more than once", region)
			}
			seen[region] = true
		}
	}
	return nil
}

// publishedChanges lists the versions a database has run whose SQL the new
// spec changes or drops.
func publishedChanges(current *store.Schema, dbs []*store.Database, spec *SchemaSpec) []error {
	var ran int64
	for _, db := range dbs {
		ran = max(ran, db.AppliedVersion)
	}
	var errs []error
	for _, old := range current.Migrations {
		if old.Version > ran {
			continue
		}
		i := slices.IndexFunc(spec.Migrations, func(m store.Migration) bool { return m.Version == old.Version })
		switch {
		case i < 0:
			errs = append(errs, versionError(old.Version, "migration %d has been run by a database and cannot be removed", old.Version))
		case spec.Migrations[i].Checksum != old.Checksum:
			errs = append(errs, versionError(old.Version, "migration %d has been run by a database, so its up SQL is immutable; publish the change as a new version", old.Version))
		}
	}
	return errs
}

// VersionError is an error about one migration version.
type VersionError struct {
	Version int64
	Message string
}

func (e *VersionError) Error() string { return e.Message }

func (e *VersionError) Unwrap() error { return ErrPublishedVersionChanged }

func versionError(version int64, format string, args ...any) error {
	return &VersionError{Version: version, Message: fmt.Sprintf(format, args...)}
}

// SchemaPut creates a schema or extends it. Versions a database has run are
// immutable. Changing a version no database has run clears a halt of its
// rollout: the fix is the new SQL.
func (m *Manager) SchemaPut(ctx context.Context, name string, spec SchemaSpec) (*SchemaStatus, error) {
	if err := m.checkSchemaSpec(name, &spec); err != nil {
		return nil, err
	}
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		now := m.now()
		schema := &store.Schema{Name: name, Migrations: spec.Migrations, Rollout: spec.Rollout, CreatedAt: now, UpdatedAt: now}
		current, err := schemaForUpdate(ctx, tx, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			schema.CreatedAt = current.CreatedAt
			dbs, err := tx.DatabaseList(ctx, &store.DatabaseListParams{Schema: name})
			if err != nil {
				return err
			}
			if errs := publishedChanges(current, dbs, &spec); len(errs) > 0 {
				return errs[0]
			}
			for _, old := range current.Migrations {
				i := slices.IndexFunc(spec.Migrations, func(m store.Migration) bool { return m.Version == old.Version })
				if i < 0 || spec.Migrations[i].Checksum != old.Checksum {
					if err := tx.RolloutDelete(ctx, name, old.Version); err != nil {
						return err
					}
				}
			}
		}
		return tx.SchemaPut(ctx, schema)
	})
	if err != nil {
		return nil, err
	}
	m.logger.Info().Str("schema", name).Int("versions", len(spec.Migrations)).Msg("Put schema")
	return m.SchemaGet(ctx, name)
}

// SchemaWaves returns a schema's resolved rollout waves. Unlike SchemaGet it
// does not work out each version's rollout from every database of the
// schema, so its cost does not grow with the fleet: it is what a read of one
// database needs.
func (m *Manager) SchemaWaves(ctx context.Context, name string) ([][]string, error) {
	schema, err := m.store.SchemaGet(ctx, name)
	if err != nil {
		return nil, err
	}
	return resolveWaves(schema.Rollout, m.regions.Names()), nil
}

// SchemaGet returns a schema with its waves and rollouts.
func (m *Manager) SchemaGet(ctx context.Context, name string) (*SchemaStatus, error) {
	schema, err := m.store.SchemaGet(ctx, name)
	if err != nil {
		return nil, err
	}
	stopped, err := m.store.RolloutList(ctx, name)
	if err != nil {
		return nil, err
	}
	dbs, err := m.store.DatabaseList(ctx, &store.DatabaseListParams{Schema: name})
	if err != nil {
		return nil, err
	}
	status := &SchemaStatus{Schema: schema, Waves: resolveWaves(schema.Rollout, m.regions.Names())}
	for _, mig := range schema.Migrations {
		i := slices.IndexFunc(stopped, func(r *store.Rollout) bool { return r.Version == mig.Version })
		if i >= 0 {
			status.Rollouts = append(status.Rollouts, stopped[i])
			continue
		}
		r := &store.Rollout{Schema: name, Version: mig.Version, State: apiv1.RolloutCompleted, UpdatedAt: schema.UpdatedAt}
		targeted := false
		for _, db := range dbs {
			if db.SchemaVersion >= mig.Version {
				targeted = true
				if db.AppliedVersion < mig.Version {
					r.State = apiv1.RolloutInProgress
				}
			}
		}
		if targeted {
			status.Rollouts = append(status.Rollouts, r)
		}
	}
	return status, nil
}

// SchemaDelete deletes a schema no database runs.
func (m *Manager) SchemaDelete(ctx context.Context, name string) error {
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := schemaForUpdate(ctx, tx, name); err != nil {
			return err
		}
		dbs, err := tx.DatabaseList(ctx, &store.DatabaseListParams{Schema: name})
		if err != nil {
			return err
		}
		if len(dbs) > 0 {
			return fmt.Errorf("%w: schema %s is run by %d databases (%s/%s first); delete them or move them off it first",
				ErrInUse, name, len(dbs), dbs[0].Region, dbs[0].Name)
		}
		return tx.SchemaDelete(ctx, name)
	})
	if err == nil {
		m.metrics.schemaDeleted(name)
	}
	return err
}

// SchemaValidation is the result of a dry run.
type SchemaValidation struct {
	Region string
	Errors []ValidationError
}

// ValidationError locates a problem in one migration.
type ValidationError struct {
	Version int64
	Line    int
	Code    string
	Message string
}

// SchemaValidate dry-runs a spec: it checks published versions against the
// stored schema and runs the migrations in a scratch database of the
// canary region, as an owner would, then drops it. Nothing else changes.
// Migrations that ran clean there within validationTTL are not run again.
func (m *Manager) SchemaValidate(ctx context.Context, name string, spec SchemaSpec) (*SchemaValidation, error) {
	if err := m.checkSchemaSpec(name, &spec); err != nil {
		return nil, err
	}
	waves := resolveWaves(spec.Rollout, m.regions.Names())
	if len(waves) == 0 {
		return nil, invalidArgument("rollout.waves", "no region is configured to validate migrations in")
	}
	out := &SchemaValidation{Region: waves[0][0]}
	current, err := m.store.SchemaGet(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		dbs, err := m.store.DatabaseList(ctx, &store.DatabaseListParams{Schema: name})
		if err != nil {
			return nil, err
		}
		for _, e := range publishedChanges(current, dbs, &spec) {
			var ve *VersionError
			errors.As(e, &ve)
			out.Errors = append(out.Errors, ValidationError{Version: ve.Version, Code: apiv1.CodePublishedVersion, Message: ve.Message})
		}
	}
	migrations := make([]engine.Migration, 0, len(spec.Migrations))
	for _, mig := range spec.Migrations {
		migrations = append(migrations, engine.Migration{Version: mig.Version, SQL: mig.Up, Checksum: mig.Checksum})
	}
	key := validationKey(out.Region, migrations)
	if m.validations.clean(key) {
		return out, nil
	}
	failed, err := m.regions.ValidateMigrations(ctx, out.Region, migrations)
	if err != nil {
		return nil, fmt.Errorf("validate schema %s in %s: %w", name, out.Region, err)
	}
	if failed == nil {
		m.validations.remember(key)
	}
	if failed != nil {
		out.Errors = append(out.Errors, ValidationError{Version: failed.Version, Line: failed.Line, Code: apiv1.CodeMigrationInvalid,
			Message: fmt.Sprintf("%s (SQLSTATE %s)", failed.Message, failed.Code)})
	}
	return out, nil
}

// RolloutResume lets a halted or rolled back rollout go on.
func (m *Manager) RolloutResume(ctx context.Context, schema string, version int64) (*SchemaStatus, error) {
	err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		s, err := schemaForUpdate(ctx, tx, schema)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(s.Migrations, func(mig store.Migration) bool { return mig.Version == version }) {
			return fmt.Errorf("schema %s has no version %d: %w", schema, version, store.ErrNotFound)
		}
		return tx.RolloutDelete(ctx, schema, version)
	})
	if err != nil {
		return nil, err
	}
	m.logger.Info().Str("schema", schema).Int64("version", version).Msg("Resumed rollout")
	return m.SchemaGet(ctx, schema)
}

// resolveWaves turns a policy into waves over the configured regions: the
// policy's waves, then a last wave of the regions they leave out; or waves
// of wave_size regions in configuration order; or one wave of all.
func resolveWaves(p store.RolloutPolicy, regions []string) [][]string {
	var waves [][]string
	switch {
	case len(p.Waves) > 0:
		named := map[string]bool{}
		for _, w := range p.Waves {
			waves = append(waves, slices.Clone(w))
			for _, r := range w {
				named[r] = true
			}
		}
		var rest []string
		for _, r := range regions {
			if !named[r] {
				rest = append(rest, r)
			}
		}
		if len(rest) > 0 {
			waves = append(waves, rest)
		}
	case p.WaveSize > 0:
		for start := 0; start < len(regions); start += p.WaveSize {
			waves = append(waves, slices.Clone(regions[start:min(start+p.WaveSize, len(regions))]))
		}
	case len(regions) > 0:
		waves = [][]string{slices.Clone(regions)}
	}
	return waves
}

// waveOf returns the 0-based wave of a region, or -1.
func waveOf(waves [][]string, region string) int {
	for i, w := range waves {
		if slices.Contains(w, region) {
			return i
		}
	}
	return -1
}

// ParseVersion parses a path's schema version.
func ParseVersion(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, invalidArgument("version", "version %s is not a positive integer", apiv1.Quote(s))
	}
	return v, nil
}
