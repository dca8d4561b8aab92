package engine

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Capabilities is what a region's server is and what its admin role may do there, as probed.
type Capabilities struct {
	// ServerVersionNum is server_version_num, such as 160004; ServerVersion the readable form.
	ServerVersionNum int
	ServerVersion    string
	// Superuser: the admin role is a superuser. Every right below is then present.
	Superuser bool
	// The admin role's attributes.
	CreateDB    bool
	CreateRole  bool
	Replication bool
	// Monitor: the admin role has the privileges of pg_monitor.
	Monitor bool
	// CreateSubscription: the admin has the privileges of pg_create_subscription (16+).
	CreateSubscription bool
	// WalLevel is the server's wal_level; publishing needs "logical".
	WalLevel string
	// FreeReplicationSlots, FreeWalSenders and FreeReplicationWorkers are what is left of
	// max_replication_slots, max_wal_senders and max_logical_replication_workers.
	FreeReplicationSlots   int
	FreeWalSenders         int
	FreeReplicationWorkers int
	// PgDump is the pg_dump final backups of this server use: the oldest one found whose major
	// version is at least the server's. Nil when none is; PgDumpsFound then lists what was.
	PgDump       *pgbin.PgDump
	PgDumpsFound []pgbin.PgDump
}

// Major is the server's major version, such as 16.
func (c *Capabilities) Major() int { return c.ServerVersionNum / 10000 }

// capabilitiesQuery reads the server's version and settings and the admin role's rights. Every
// object it names is qualified: it runs on the admin's pinned search_path, but says so anyway.
const capabilitiesQuery = `SELECT pg_catalog.current_setting('server_version_num')::pg_catalog.int4,
	pg_catalog.current_setting('server_version'),
	r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication,
	pg_catalog.pg_has_role(r.oid, 'pg_monitor', 'USAGE'),
	CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'pg_create_subscription')
		THEN pg_catalog.pg_has_role(r.oid, 'pg_create_subscription', 'USAGE') ELSE false END,
	pg_catalog.current_setting('wal_level'),
	pg_catalog.current_setting('max_replication_slots')::pg_catalog.int4
		OPERATOR(pg_catalog.-) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_replication_slots)::pg_catalog.int4,
	pg_catalog.current_setting('max_wal_senders')::pg_catalog.int4
		OPERATOR(pg_catalog.-) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_replication)::pg_catalog.int4,
	pg_catalog.current_setting('max_logical_replication_workers')::pg_catalog.int4
		OPERATOR(pg_catalog.-) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_subscription
			WHERE pid IS NOT NULL)::pg_catalog.int4
FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER`

// RegionCapabilities returns what a region's server and its admin role may do, probed at most
// Options.CapabilitiesTTL ago: the probe is a round trip, and plans and region listings ask
// often. It changes nothing. The caller must not modify the result.
func (f *Fleet) RegionCapabilities(ctx context.Context, name string) (*Capabilities, error) {
	return f.probes.get(ctx, name, f.probeCapabilities)
}

// probeCapabilities probes a region's server and its admin role's rights.
func (f *Fleet) probeCapabilities(ctx context.Context, name string) (*Capabilities, error) {
	var c Capabilities
	err := f.readPooled(ctx, name, func(pool *pgxpool.Pool) error {
		return pool.QueryRow(ctx, capabilitiesQuery).Scan(&c.ServerVersionNum, &c.ServerVersion,
			&c.Superuser, &c.CreateDB, &c.CreateRole, &c.Replication, &c.Monitor, &c.CreateSubscription,
			&c.WalLevel, &c.FreeReplicationSlots, &c.FreeWalSenders, &c.FreeReplicationWorkers)
	})
	if err != nil {
		return nil, fmt.Errorf("probe capabilities of region %s: %w", name, err)
	}
	if c.Superuser {
		c.CreateDB, c.CreateRole, c.Replication, c.Monitor = true, true, true, true
		c.CreateSubscription = c.Major() >= 16
	}
	if p, ok := pgbin.PgDumpFor(f.pgDumps, c.Major()); ok {
		c.PgDump = &p
	} else {
		c.PgDumpsFound = f.pgDumps
	}
	return &c, nil
}

// capabilityCache keeps each region's last probe for a while.
type capabilityCache struct {
	ttl time.Duration
	mu  sync.Mutex
	by  map[string]capabilityProbe
}

type capabilityProbe struct {
	caps *Capabilities
	at   time.Time
}

func newCapabilityCache(ttl time.Duration) *capabilityCache {
	return &capabilityCache{ttl: cmp.Or(ttl, 10*time.Second), by: map[string]capabilityProbe{}}
}

// get returns the region's cached probe while it is fresh, else probes again. A failed probe is
// not kept: an unreachable region is asked again next time.
func (c *capabilityCache) get(ctx context.Context, region string, probe func(context.Context, string) (*Capabilities, error)) (*Capabilities, error) {
	c.mu.Lock()
	p, ok := c.by[region]
	c.mu.Unlock()
	if ok && time.Since(p.at) < c.ttl {
		return p.caps, nil
	}
	caps, err := probe(ctx, region)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.by[region] = capabilityProbe{caps: caps, at: time.Now()}
	c.mu.Unlock()
	return caps, nil
}

// MissingForDatabases names what the admin role lacks to create and drop databases and their
// owner roles; nil when nothing is missing.
func (c *Capabilities) MissingForDatabases() []string {
	var missing []string
	if !c.CreateDB {
		missing = append(missing, "CREATEDB")
	}
	if !c.CreateRole {
		missing = append(missing, "CREATEROLE")
	}
	return missing
}

// MissingForPublishing names what the region lacks to be the source of replicas: a replication
// login role for the replicas to connect as, which only a superuser may create before
// PostgreSQL 16 (from 16 a CREATEROLE role that has REPLICATION itself may), and wal_level
// logical. Nil when nothing is missing.
func (c *Capabilities) MissingForPublishing() []string {
	var missing []string
	switch {
	case c.Superuser:
	case c.Major() < 16:
		missing = append(missing, "superuser (before PostgreSQL 16 only a superuser may create a role with REPLICATION)")
	default:
		if !c.CreateRole {
			missing = append(missing, "CREATEROLE")
		}
		if !c.Replication {
			missing = append(missing, "REPLICATION")
		}
	}
	if c.WalLevel != "logical" {
		missing = append(missing, fmt.Sprintf("wal_level = logical (the server has %s)", c.WalLevel))
	}
	return missing
}

// MissingForSubscribing names what the region lacks to hold replicas; nil when nothing is missing.
// PostgreSQL 14's apply workers run as the subscription's owner, which must be a superuser, so a
// tenant's triggers on a replica would run as a superuser there: dbfleet never subscribes on 14.
// On 15 only a superuser may create a subscription (dbfleet then gives it to the database's
// owner, so that it applies with the owner's rights); from 16 pg_create_subscription is enough.
func (c *Capabilities) MissingForSubscribing() []string {
	switch {
	case c.Major() < 15:
		return []string{"PostgreSQL 15 or newer (on 14 a subscription applies changes as a superuser, which would run the tenant's triggers with a superuser's rights)"}
	case c.Major() == 15 && !c.Superuser:
		return []string{"superuser (on PostgreSQL 15 only a superuser may create a subscription; 16 and newer accept pg_create_subscription)"}
	case !c.Superuser && !c.CreateSubscription:
		return []string{"membership in pg_create_subscription"}
	}
	return nil
}

// MissingForFinalBackup names what the region lacks to take a final backup before a database is
// dropped: a pg_dump at least as new as the server. Nil when nothing is missing.
func (c *Capabilities) MissingForFinalBackup() []string {
	if c.PgDump != nil {
		return nil
	}
	found := "none was found"
	if len(c.PgDumpsFound) > 0 {
		names := make([]string, len(c.PgDumpsFound))
		for i, p := range c.PgDumpsFound {
			names[i] = p.String()
		}
		found = "found only " + strings.Join(names, ", ")
	}
	return []string{fmt.Sprintf("pg_dump %d or newer (the server runs PostgreSQL %s; %s)", c.Major(), c.ServerVersion, found)}
}

// MissingError is a region lacking a right an action needs.
type MissingError struct {
	Region string
	// Action is what could not be done, such as "hold replicas".
	Action  string
	Missing []string
	// Hint says what the user can do about it; empty when the missing rights say enough.
	Hint string
}

func (e *MissingError) Error() string {
	msg := fmt.Sprintf("region %s cannot %s: missing %s", e.Region, e.Action, strings.Join(e.Missing, "; "))
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}
