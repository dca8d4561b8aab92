// Package engine drives the PostgreSQL server of each region: it holds one
// connection pool per region and runs every statement dbfleet needs there.
// Identifiers are validated and quoted, never concatenated raw.
package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrUnknownRegion is returned for a region the fleet does not have.
var ErrUnknownRegion = errors.New("unknown region")

// ErrForeignDatabase refuses to manage a database dbfleet did not create.
var ErrForeignDatabase = errors.New("database not managed by dbfleet")

// RegionConfig is how to reach a region's PostgreSQL server.
type RegionConfig struct {
	Name string
	// AdminDSN connects as a role that may create roles and databases.
	AdminDSN string
	Labels   map[string]string
}

// Options tune a Fleet.
type Options struct {
	// PgDump is the pg_dump program used for final backups.
	PgDump string
	// MaxConnsPerRegion caps each region's pool; 0 means 8.
	MaxConnsPerRegion int32
}

// Fleet is the set of regions dbfleetd administers.
type Fleet struct {
	regions map[string]*region
	// names keeps the configuration's order, which rollout waves derive from.
	names  []string
	pgDump string
}

type region struct {
	cfg      RegionConfig
	connCfg  *pgconn.Config
	poolCfg  *pgxpool.Config
	poolOnce sync.Once
	pool     *pgxpool.Pool
	poolErr  error
}

// NewFleet validates the regions' configuration. Pools connect lazily, so a
// region that is down does not stop dbfleetd from starting.
func NewFleet(configs []RegionConfig, opts Options) (*Fleet, error) {
	f := &Fleet{regions: map[string]*region{}, pgDump: opts.PgDump}
	maxConns := opts.MaxConnsPerRegion
	if maxConns == 0 {
		maxConns = 8
	}
	for _, c := range configs {
		if err := ValidateIdentifier("region", c.Name); err != nil {
			return nil, err
		}
		if _, dup := f.regions[c.Name]; dup {
			return nil, fmt.Errorf("region %s is configured twice", c.Name)
		}
		poolCfg, err := pgxpool.ParseConfig(c.AdminDSN)
		if err != nil {
			// pgx's parse errors can quote the DSN, password included.
			return nil, fmt.Errorf("region %s: admin DSN is not a valid PostgreSQL connection string", c.Name)
		}
		poolCfg.MaxConns = maxConns
		f.regions[c.Name] = &region{cfg: c, connCfg: &poolCfg.ConnConfig.Config, poolCfg: poolCfg}
		f.names = append(f.names, c.Name)
	}
	return f, nil
}

// Names returns the regions' names in the configuration's order.
func (f *Fleet) Names() []string { return slices.Clone(f.names) }

// Labels returns a region's labels.
func (f *Fleet) Labels(name string) map[string]string {
	if r, ok := f.regions[name]; ok {
		return r.cfg.Labels
	}
	return nil
}

// Has tells whether the fleet has a region of that name.
func (f *Fleet) Has(name string) bool {
	_, ok := f.regions[name]
	return ok
}

// Endpoint returns the host and port clients use to reach a region.
func (f *Fleet) Endpoint(name string) (string, int, error) {
	r, ok := f.regions[name]
	if !ok {
		return "", 0, fmt.Errorf("region %s: %w", name, ErrUnknownRegion)
	}
	return r.connCfg.Host, int(r.connCfg.Port), nil
}

// Close closes every pool.
func (f *Fleet) Close() {
	for _, r := range f.regions {
		if r.pool != nil {
			r.pool.Close()
		}
	}
}

func (f *Fleet) pool(ctx context.Context, name string) (*pgxpool.Pool, error) {
	r, ok := f.regions[name]
	if !ok {
		return nil, fmt.Errorf("region %s: %w", name, ErrUnknownRegion)
	}
	r.poolOnce.Do(func() {
		r.pool, r.poolErr = pgxpool.NewWithConfig(context.WithoutCancel(ctx), r.poolCfg)
	})
	return r.pool, r.poolErr
}

// Health is what a region's server answered.
type Health struct {
	ServerVersion string
}

// RegionHealth connects to a region and reads its server version.
func (f *Fleet) RegionHealth(ctx context.Context, name string) (*Health, error) {
	pool, err := f.pool(ctx, name)
	if err != nil {
		return nil, err
	}
	var h Health
	if err := pool.QueryRow(ctx, `SHOW server_version`).Scan(&h.ServerVersion); err != nil {
		return nil, fmt.Errorf("check health of region %s: %w", name, err)
	}
	return &h, nil
}

// RoleEnsure creates a login role with the given password, or resets the
// password and attributes of the role if it exists. The role gets no
// privileges beyond logging in.
func (f *Fleet) RoleEnsure(ctx context.Context, regionName, role, password string) error {
	return f.roleEnsure(ctx, regionName, role, password, "NOREPLICATION")
}

// roleEnsure is RoleEnsure with the role's REPLICATION attribute.
func (f *Fleet) roleEnsure(ctx context.Context, regionName, role, password, replication string) error {
	if err := ValidateIdentifier("role", role); err != nil {
		return err
	}
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return err
	}
	verifier, err := scramVerifier(password)
	if err != nil {
		return fmt.Errorf("ensure role %s in %s: %w", role, regionName, err)
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return fmt.Errorf("look up role %s in %s: %w", role, regionName, err)
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	// Utility statements take no bind parameters; the verifier is base64
	// and '$'/':' only, quoted as a literal.
	stmt := fmt.Sprintf("%s ROLE %s WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE %s PASSWORD %s",
		verb, quoteIdentifier(role), replication, quoteLiteral(verifier))
	if _, err := pool.Exec(ctx, stmt); err != nil {
		if verb == "CREATE" && createdConcurrently(err) {
			// Created by a concurrent run of the same step: converge with ALTER.
			return f.roleEnsure(ctx, regionName, role, password, replication)
		}
		return fmt.Errorf("%s role %s in %s: %w", verb, role, regionName, err)
	}
	return nil
}

// DatabaseEnsure creates a database owned by owner, or gives an existing one
// to owner. PUBLIC loses its default right to connect.
//
// A database that exists with another owner was not made by dbfleet (it
// creates each database with its owner in one statement): it is refused
// with ErrForeignDatabase unless adopt is set, which re-owns a database
// dbfleet made and someone gave away since.
func (f *Fleet) DatabaseEnsure(ctx context.Context, regionName, name, owner string, adopt bool) error {
	if err := ValidateIdentifier("database", name); err != nil {
		return err
	}
	if err := ValidateIdentifier("role", owner); err != nil {
		return err
	}
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return err
	}
	var current string
	err = pool.QueryRow(ctx, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1`, name).Scan(&current)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		_, err := pool.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", quoteIdentifier(name), quoteIdentifier(owner)))
		if err != nil && !createdConcurrently(err) {
			return fmt.Errorf("create database %s in %s: %w", name, regionName, err)
		}
	case err != nil:
		return fmt.Errorf("look up database %s in %s: %w", name, regionName, err)
	case current != owner && !adopt:
		return fmt.Errorf("%w: database %s in %s exists, owned by %s; dbfleet does not take over databases it did not create: drop or rename it, or choose another name",
			ErrForeignDatabase, name, regionName, current)
	}
	for _, stmt := range []string{
		fmt.Sprintf("ALTER DATABASE %s OWNER TO %s", quoteIdentifier(name), quoteIdentifier(owner)),
		fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC", quoteIdentifier(name)),
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("configure database %s in %s: %w", name, regionName, err)
		}
	}
	return nil
}

// DatabaseOwner returns the owner of a database, or "" when it does not
// exist.
func (f *Fleet) DatabaseOwner(ctx context.Context, regionName, name string) (string, error) {
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return "", err
	}
	var owner string
	err = pool.QueryRow(ctx, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1`, name).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up owner of %s in %s: %w", name, regionName, err)
	}
	return owner, nil
}

// DatabaseExists tells whether a database exists in a region.
func (f *Fleet) DatabaseExists(ctx context.Context, regionName, name string) (bool, error) {
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return false, err
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return false, fmt.Errorf("look up database %s in %s: %w", name, regionName, err)
	}
	return exists, nil
}

// DatabaseDrop drops a database if it exists, disconnecting its sessions.
func (f *Fleet) DatabaseDrop(ctx context.Context, regionName, name string) error {
	if err := ValidateIdentifier("database", name); err != nil {
		return err
	}
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", quoteIdentifier(name))); err != nil {
		return fmt.Errorf("drop database %s in %s: %w", name, regionName, err)
	}
	return nil
}

// RoleDrop drops a role if it exists.
func (f *Fleet) RoleDrop(ctx context.Context, regionName, role string) error {
	if err := ValidateIdentifier("role", role); err != nil {
		return err
	}
	pool, err := f.pool(ctx, regionName)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf("DROP ROLE IF EXISTS %s", quoteIdentifier(role))); err != nil {
		return fmt.Errorf("drop role %s in %s: %w", role, regionName, err)
	}
	return nil
}

// DatabaseDump writes a pg_dump archive (custom format) of a database to
// path. It writes to a temporary file first and renames it, so path exists
// only when the dump is whole; an existing path is kept as it is.
func (f *Fleet) DatabaseDump(ctx context.Context, regionName, name, path string) error {
	if err := ValidateIdentifier("database", name); err != nil {
		return err
	}
	r, ok := f.regions[regionName]
	if !ok {
		return fmt.Errorf("region %s: %w", regionName, ErrUnknownRegion)
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if f.pgDump == "" {
		return fmt.Errorf("dump database %s in %s: no pg_dump program is configured", name, regionName)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create backup directory for %s in %s: %w", name, regionName, err)
	}
	tmp := path + ".partial"
	c := r.connCfg
	// The password goes through the environment, never the command line.
	cmd := exec.CommandContext(ctx, f.pgDump, "--format=custom", "--file="+tmp,
		"--host="+c.Host, "--port="+strconv.Itoa(int(c.Port)), "--username="+c.User, "--dbname="+name, "--no-password")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+c.Password, "PGSSLMODE="+sslMode(c), "PGCONNECT_TIMEOUT=10")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("dump database %s in %s: %w: %s", name, regionName, err, truncate(string(out), 500))
	}
	// The dump holds the database's data: only dbfleetd's user may read it.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("restrict dump of %s in %s: %w", name, regionName, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("store dump of %s in %s: %w", name, regionName, err)
	}
	return nil
}

// createdConcurrently tells whether a CREATE failed because the object was
// created meanwhile: by another run of the same step, or by the session of a
// dbfleetd that was killed while its statement waited on a lock and that
// PostgreSQL finishes anyway.
func createdConcurrently(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "42710", "42P04": // duplicate_object, duplicate_database
		return true
	case "23505": // unique_violation on the catalog's name index
		return pgErr.ConstraintName == "pg_database_datname_index" || pgErr.ConstraintName == "pg_authid_rolname_index"
	}
	return false
}

func sslMode(c *pgconn.Config) string {
	if c.TLSConfig == nil {
		return "disable"
	}
	return "require"
}

func quoteIdentifier(name string) string { return pgx.Identifier{name}.Sanitize() }

func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}
