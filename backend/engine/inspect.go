package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Inspection errors callers branch on.
var (
	// ErrOwnerLogin: the owner role could not log in to its database (the
	// role is gone, lost LOGIN, or has another password).
	ErrOwnerLogin = errors.New("owner cannot log in")
	// ErrLedgerUnreadable: the owner may not read its ledger, because
	// another role owns it.
	ErrLedgerUnreadable = errors.New("ledger is not readable by the owner")
	// ErrDatabaseMissing: the database does not exist.
	ErrDatabaseMissing = errors.New("database does not exist")
)

// CatalogQuery names a database and the role that should own it.
type CatalogQuery struct {
	Database string
	Owner    string
}

// CatalogDatabase is what a region's catalog says about a database and the
// role that should own it.
type CatalogDatabase struct {
	Name   string
	Exists bool
	// Owner is the role that owns the database; empty when it does not
	// exist.
	Owner string
	// OwnerRoleExists and OwnerCanLogin describe the role that should own
	// the database.
	OwnerRoleExists bool
	OwnerCanLogin   bool
	// Settings are the database's own settings (ALTER DATABASE ... SET),
	// names lower-cased.
	Settings map[string]string
}

// CatalogInspect reads, in one query for all of them, whether each database
// exists, which role owns it, whether the role that should own it exists and
// may log in, and the database's settings. It changes nothing.
func (f *Fleet) CatalogInspect(ctx context.Context, region string, queries []CatalogQuery) (map[string]*CatalogDatabase, error) {
	names := make([]string, len(queries))
	owners := make([]string, len(queries))
	for i, q := range queries {
		names[i], owners[i] = q.Database, q.Owner
	}
	var out map[string]*CatalogDatabase
	err := f.readPooled(ctx, region, func(pool *pgxpool.Pool) error {
		var err error
		out, err = catalogRead(ctx, pool, names, owners)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("inspect catalog of %s: %w", region, err)
	}
	return out, nil
}

func catalogRead(ctx context.Context, pool *pgxpool.Pool, names, owners []string) (map[string]*CatalogDatabase, error) {
	rows, err := pool.Query(ctx, `SELECT q.datname, d.oid IS NOT NULL, coalesce(o.rolname::pg_catalog.text, ''),
			r.oid IS NOT NULL, coalesce(r.rolcanlogin, false), coalesce(s.setconfig, '{}')
		FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) AS q (datname, owner)
		LEFT JOIN pg_catalog.pg_database d ON d.datname OPERATOR(pg_catalog.=) q.datname::pg_catalog.name
		LEFT JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) d.datdba
		LEFT JOIN pg_catalog.pg_roles r ON r.rolname OPERATOR(pg_catalog.=) q.owner::pg_catalog.name
		LEFT JOIN pg_catalog.pg_db_role_setting s ON s.setdatabase OPERATOR(pg_catalog.=) d.oid
			AND s.setrole OPERATOR(pg_catalog.=) 0::pg_catalog.oid`, names, owners)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*CatalogDatabase, len(names))
	var name, owner string
	var exists, roleExists, canLogin bool
	var settings []string
	_, err = pgx.ForEachRow(rows, []any{&name, &exists, &owner, &roleExists, &canLogin, &settings}, func() error {
		db := &CatalogDatabase{Name: name, Exists: exists, Owner: owner, OwnerRoleExists: roleExists, OwnerCanLogin: canLogin,
			Settings: make(map[string]string, len(settings))}
		for _, s := range settings {
			k, v, _ := strings.Cut(s, "=")
			db.Settings[strings.ToLower(k)] = v
		}
		out[name] = db
		return nil
	})
	return out, err
}

// SettingsDiff says how a database's settings (got) differ from the wanted
// ones, one sorted line per setting; nil when they match.
func SettingsDiff(want, got map[string]string) []string {
	var diff []string
	for _, name := range slices.Sorted(maps.Keys(want)) {
		value, ok := got[name]
		switch {
		case !ok:
			diff = append(diff, fmt.Sprintf("%s is not set (want %q)", name, want[name]))
		case normalizeSetting(name, value) != normalizeSetting(name, want[name]):
			diff = append(diff, fmt.Sprintf("%s is %q (want %q)", name, value, want[name]))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[name]; !ok {
			diff = append(diff, fmt.Sprintf("%s is set to %q (want it unset)", name, got[name]))
		}
	}
	return diff
}

// normalizeSetting renders a value the way ParametersApply's SET stores it:
// a list setting's elements quoted one by one come back as "app, public".
func normalizeSetting(name, value string) string {
	if name != "search_path" {
		return value
	}
	var elems []string
	for _, e := range strings.Split(value, ",") {
		elems = append(elems, strings.Trim(strings.TrimSpace(e), `"`))
	}
	return strings.Join(elems, ", ")
}

// ownedObjectsQuery lists, as ALTER statements' kind and target, the objects
// in a database's own schemas that the connected role owns: schemas (but
// public), tables, views, materialized views, foreign tables, sequences not
// owned by a column, routines, and enum, domain, range and composite types.
// Members of extensions are left out. Targets come quoted by PostgreSQL.
const ownedObjectsQuery = `WITH me AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER),
own AS (SELECT oid, nspname FROM pg_catalog.pg_namespace
	WHERE nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema}'::pg_catalog.name[])
	AND nspname::pg_catalog.text OPERATOR(pg_catalog.!~) '^pg_'),
ext AS (SELECT classid, objid FROM pg_catalog.pg_depend WHERE deptype OPERATOR(pg_catalog.=) 'e'::pg_catalog."char")
SELECT 'SCHEMA', pg_catalog.quote_ident(n.nspname::pg_catalog.text) FROM own n JOIN pg_catalog.pg_namespace x ON x.oid OPERATOR(pg_catalog.=) n.oid, me
	WHERE x.nspowner OPERATOR(pg_catalog.=) me.oid AND n.nspname OPERATOR(pg_catalog.<>) 'public'::pg_catalog.name
	AND NOT EXISTS (SELECT FROM ext WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass AND objid OPERATOR(pg_catalog.=) n.oid)
UNION ALL
SELECT 'TABLE', pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c JOIN own n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace, me
	WHERE c.relowner OPERATOR(pg_catalog.=) me.oid AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,v,m,f,S}'::pg_catalog."char"[])
	AND NOT EXISTS (SELECT FROM ext WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND objid OPERATOR(pg_catalog.=) c.oid)
	AND NOT (c.relkind OPERATOR(pg_catalog.=) 'S'::pg_catalog."char" AND EXISTS (SELECT FROM pg_catalog.pg_depend d
		WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid OPERATOR(pg_catalog.=) c.oid
		AND d.deptype OPERATOR(pg_catalog.=) ANY ('{a,i}'::pg_catalog."char"[])))
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
	pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))
	FROM pg_catalog.pg_proc p JOIN own n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace, me
	WHERE p.proowner OPERATOR(pg_catalog.=) me.oid
	AND NOT EXISTS (SELECT FROM ext WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass AND objid OPERATOR(pg_catalog.=) p.oid)
UNION ALL
SELECT 'TYPE', pg_catalog.format('%I.%I', n.nspname, t.typname) FROM pg_catalog.pg_type t JOIN own n ON n.oid OPERATOR(pg_catalog.=) t.typnamespace, me
	WHERE t.typowner OPERATOR(pg_catalog.=) me.oid
	AND (t.typtype OPERATOR(pg_catalog.=) ANY ('{e,d,r}'::pg_catalog."char"[]) OR (t.typtype OPERATOR(pg_catalog.=) 'c'::pg_catalog."char"
		AND (SELECT relkind FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) t.typrelid) OPERATOR(pg_catalog.=) 'c'::pg_catalog."char"))
	AND NOT EXISTS (SELECT FROM ext WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass AND objid OPERATOR(pg_catalog.=) t.oid)`

// OwnershipRestore gives owner back the objects in a database's own schemas
// that the region's administrator owns: where REASSIGN OWNED, the usual step
// before DROP ROLE, leaves them. Objects of other roles stay theirs. It
// returns how many objects it gave back, all in one transaction.
func (f *Fleet) OwnershipRestore(ctx context.Context, region, database, owner string) (int, error) {
	if err := ValidateIdentifier("database", database); err != nil {
		return 0, err
	}
	if err := ValidateIdentifier("role", owner); err != nil {
		return 0, err
	}
	conn, err := f.connectAdmin(ctx, region, database)
	if err != nil {
		if sqlStateOf(err) == "3D000" {
			return 0, fmt.Errorf("restore ownership in %s of %s: %w", database, region, ErrDatabaseMissing)
		}
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var restored int
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, ownedObjectsQuery)
		if err != nil {
			return err
		}
		type object struct{ kind, target string }
		var objects []object
		var o object
		if _, err := pgx.ForEachRow(rows, []any{&o.kind, &o.target}, func() error {
			objects = append(objects, o)
			return nil
		}); err != nil {
			return err
		}
		// Schemas first, so that the owner may then use what is in them.
		slices.SortStableFunc(objects, func(a, b object) int {
			switch {
			case a.kind == b.kind || a.kind != "SCHEMA" && b.kind != "SCHEMA":
				return 0
			case a.kind == "SCHEMA":
				return -1
			}
			return 1
		})
		for _, o := range objects {
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER %s %s OWNER TO %s", o.kind, o.target, quoteIdentifier(owner))); err != nil {
				return fmt.Errorf("give %s %s to %s: %w", strings.ToLower(o.kind), o.target, owner, err)
			}
		}
		restored = len(objects)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("restore ownership in %s of %s: %w", database, region, err)
	}
	return restored, nil
}

// LedgerEntry is one row of a database's ledger.
type LedgerEntry struct {
	Version  int64
	Checksum string
}

// Ledger is what a database's ledger holds, read as its owner.
type Ledger struct {
	// Present: the table dbfleet.migrations exists.
	Present bool
	// Corrupt: the table exists but does not have the ledger's columns.
	Corrupt bool
	// Entries maps each recorded version to its checksum.
	Entries map[int64]string
	// HasObjects: the database holds objects of its own outside the
	// dbfleet schema (schemas but public, relations, routines, types), the
	// catalog's evidence that migrations took effect.
	HasObjects bool
}

// hasObjectsQuery tells whether a database holds objects of its own
// outside the dbfleet schema.
const hasObjectsQuery = `SELECT
	EXISTS (SELECT FROM pg_catalog.pg_namespace
		WHERE nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema,public,dbfleet}'::pg_catalog.name[])
		AND nspname::pg_catalog.text OPERATOR(pg_catalog.!~) '^pg_')
	OR EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		WHERE n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema,dbfleet}'::pg_catalog.name[])
		AND n.nspname::pg_catalog.text OPERATOR(pg_catalog.!~) '^pg_')
	OR EXISTS (SELECT FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
		WHERE n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema,dbfleet}'::pg_catalog.name[])
		AND n.nspname::pg_catalog.text OPERATOR(pg_catalog.!~) '^pg_')
	OR EXISTS (SELECT FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) t.typnamespace
		WHERE n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema,dbfleet}'::pg_catalog.name[])
		AND n.nspname::pg_catalog.text OPERATOR(pg_catalog.!~) '^pg_')`

// LedgerInspect connects to a database as its owner and reads its ledger,
// and whether the database holds objects of its own, in one round trip. It
// changes nothing (Ledger, by contrast, creates a missing ledger). A failed
// login is ErrOwnerLogin; a ledger another role owns, ErrLedgerUnreadable.
func (f *Fleet) LedgerInspect(ctx context.Context, o Owner) (*Ledger, error) {
	cfg, err := f.ownerConfig(o)
	if err != nil {
		return nil, err
	}
	// The simple protocol sends the batch as one query string, so that a
	// missing ledger fails its own statement, not the batch's preparation.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, ownerConnectError(fmt.Errorf("connect to %s in %s as %s: %w", o.Database, o.Region, o.Role, err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	batch := &pgx.Batch{}
	batch.Queue(hasObjectsQuery)
	batch.Queue(`SELECT version, checksum FROM dbfleet.migrations`)
	results := conn.SendBatch(ctx, batch)
	defer results.Close()
	ledger := &Ledger{Present: true, Entries: map[int64]string{}}
	if err := results.QueryRow().Scan(&ledger.HasObjects); err != nil {
		return nil, fmt.Errorf("inspect %s in %s: %w", o.Database, o.Region, err)
	}
	rows, err := results.Query()
	if err == nil {
		var version int64
		var checksum string
		_, err = pgx.ForEachRow(rows, []any{&version, &checksum}, func() error {
			ledger.Entries[version] = checksum
			return nil
		})
	}
	switch sqlStateOf(err) {
	case "":
		if err != nil {
			return nil, fmt.Errorf("read ledger of %s in %s: %w", o.Database, o.Region, err)
		}
	case "42P01", "3F000": // undefined_table, invalid_schema_name
		ledger.Present = false
	case "42703", "42804": // undefined_column, datatype_mismatch
		ledger.Corrupt = true
	case "42501": // insufficient_privilege
		return nil, fmt.Errorf("read ledger of %s in %s as %s: %w", o.Database, o.Region, o.Role, ErrLedgerUnreadable)
	default:
		return nil, fmt.Errorf("read ledger of %s in %s: %w", o.Database, o.Region, err)
	}
	return ledger, nil
}

// LedgerRebuildResult says what LedgerRebuild changed.
type LedgerRebuildResult struct {
	Created    bool
	SetAside   string
	Added      []int64
	Rechecksum []int64
}

// LedgerRebuild makes the ledger record entries, as the owner and in one
// transaction: it creates a missing ledger, sets a corrupt one aside (renamed
// to dbfleet.migrations_corrupt_<unix time>, never dropped), adds missing
// rows and corrects checksums. It runs no migration and deletes no row.
func (f *Fleet) LedgerRebuild(ctx context.Context, o Owner, entries []LedgerEntry, setAsideCorrupt bool, operationID string) (*LedgerRebuildResult, error) {
	conn, err := f.connectOwner(ctx, o)
	if err != nil {
		return nil, ownerConnectError(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	res := &LedgerRebuildResult{}
	versions := make([]int64, len(entries))
	checksums := make([]string, len(entries))
	for i, e := range entries {
		versions[i], checksums[i] = e.Version, e.Checksum
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if setAsideCorrupt {
			res.SetAside = fmt.Sprintf("migrations_corrupt_%d", time.Now().Unix())
			if _, err := tx.Exec(ctx, "ALTER TABLE dbfleet.migrations RENAME TO "+quoteIdentifier(res.SetAside)); err != nil {
				return fmt.Errorf("set the corrupt ledger aside: %w", err)
			}
		}
		if err := tx.QueryRow(ctx, `SELECT pg_catalog.to_regclass('dbfleet.migrations') IS NULL`).Scan(&res.Created); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, ledgerDDL, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("create ledger: %w", err)
		}
		rows, err := tx.Query(ctx, `INSERT INTO dbfleet.migrations AS m (version, checksum, operation_id)
			SELECT v, c, $3 FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.text[])) AS e (v, c)
			ON CONFLICT (version) DO UPDATE SET checksum = excluded.checksum WHERE m.checksum IS DISTINCT FROM excluded.checksum
			RETURNING version, xmax OPERATOR(pg_catalog.=) 0`, versions, checksums, operationID)
		if err != nil {
			return fmt.Errorf("write ledger rows: %w", err)
		}
		var version int64
		var inserted bool
		_, err = pgx.ForEachRow(rows, []any{&version, &inserted}, func() error {
			if inserted {
				res.Added = append(res.Added, version)
			} else {
				res.Rechecksum = append(res.Rechecksum, version)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rebuild ledger of %s in %s: %w", o.Database, o.Region, err)
	}
	slices.Sort(res.Added)
	slices.Sort(res.Rechecksum)
	return res, nil
}
