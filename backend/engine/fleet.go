// Package engine drives the PostgreSQL server of each region: it holds one
// connection pool per region and runs every statement dbfleet needs there.
// Identifiers are validated and quoted, never concatenated raw.
package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
)

// ErrUnknownRegion is returned for a region the fleet does not have.
var ErrUnknownRegion = errors.New("unknown region")

// RegionConfig is how to reach a region's PostgreSQL server.
type RegionConfig struct {
	Name string
	// AdminDSN connects as a role that may create roles and databases.
	AdminDSN string
	Labels   map[string]string
}

// Options tune a Fleet.
type Options struct {
	// PgDumps are the pg_dump programs final backups may use (pgbin.FindPgDumps finds them):
	// each region's server gets the oldest one at least as new as itself.
	PgDumps []pgbin.PgDump
	// CapabilitiesTTL is how long a region's probed capabilities are reused; 0 means 10 s.
	CapabilitiesTTL time.Duration
	// MaxConnsPerRegion caps each region's pool; 0 means 8.
	MaxConnsPerRegion int32
}

// Fleet is the set of regions dbfleetd administers.
type Fleet struct {
	regions map[string]*region
	// names keeps the configuration's order, which rollout waves derive from.
	names   []string
	pgDumps []pgbin.PgDump
	probes  *capabilityCache
}

type region struct {
	cfg RegionConfig
	// connCfg is the region's server as configured, without the admin's
	// session pins: owner connections start from it.
	connCfg  *pgconn.Config
	poolCfg  *pgxpool.Config
	poolOnce sync.Once
	pool     *pgxpool.Pool
	poolErr  error
	// tls is how the admin DSN secures connections, for pg_dump and subscriptions.
	tls tlsSettings
}

// NewFleet validates the regions' configuration. Pools connect lazily, so a
// region that is down does not stop dbfleetd from starting.
func NewFleet(configs []RegionConfig, opts Options) (*Fleet, error) {
	f := &Fleet{regions: map[string]*region{}, pgDumps: opts.PgDumps, probes: newCapabilityCache(opts.CapabilitiesTTL)}
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
		tls, err := parseTLSSettings(c.AdminDSN, os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("region %s: admin DSN: %w", c.Name, err)
		}
		poolCfg.MaxConns = maxConns
		base := poolCfg.ConnConfig.Config.Copy()
		pinAdminSession(&poolCfg.ConnConfig.Config)
		f.regions[c.Name] = &region{cfg: c, connCfg: base, poolCfg: poolCfg, tls: tls}
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

// Health is what a region's server answered.
type Health struct {
	ServerVersion string
}

// RegionHealth connects to a region and reads its server version.
func (f *Fleet) RegionHealth(ctx context.Context, name string) (*Health, error) {
	var h Health
	err := f.readPooled(ctx, name, func(pool *pgxpool.Pool) error {
		return pool.QueryRow(ctx, `SHOW server_version`).Scan(&h.ServerVersion)
	})
	if err != nil {
		return nil, fmt.Errorf("check health of region %s: %w", name, err)
	}
	return &h, nil
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
