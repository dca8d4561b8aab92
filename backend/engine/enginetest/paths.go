package enginetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// Path is one admin path of the engine, as dbfleetd's operations and reconciler drive it.
type Path struct {
	Name string
	Run  func(e *env) error
	// Missing names what the region lacks for the path; when it is not empty the path must
	// refuse with a *engine.MissingError.
	Missing func(e *env) []string
}

// catchUp bounds a wait for a replica.
const catchUp = 60 * time.Second

// Paths are the admin paths each vector goes through, in order.
var Paths = []Path{
	{Name: "create", Run: func(e *env) error {
		for _, r := range e.regions() {
			if err := e.target.Fleet.RoleEnsure(e.ctx, r, e.owner, e.pw); err != nil {
				return err
			}
			if err := e.target.Fleet.DatabaseEnsure(e.ctx, r, e.db, e.owner); err != nil {
				return err
			}
		}
		return nil
	}},
	{Name: "migrate", Run: migrate},
	{Name: "validate", Run: func(e *env) error {
		migErr, err := e.target.Fleet.ValidateMigrations(e.ctx, e.target.Source, e.migrations())
		if err == nil && migErr != nil {
			err = migErr
		}
		return err
	}},
	{Name: "publish", Missing: missingForPublishing, Run: func(e *env) error {
		return e.target.Fleet.PublicationEnsure(e.ctx, e.target.Source, e.db, e.owner, e.src().ReplPassword)
	}},
	{Name: "subscribe", Missing: missingForReplicas, Run: func(e *env) error {
		if err := e.target.Fleet.SubscriptionEnsure(e.ctx, e.target.Replica, e.db, e.src()); err != nil {
			return err
		}
		return e.target.Fleet.AwaitReplica(e.ctx, e.target.Replica, e.db, e.src(), catchUp)
	}},
	{Name: "stream", Run: func(e *env) error {
		err := e.asOwner(e.target.Source, e.db, `INSERT INTO public.kv VALUES ('c', '3');
UPDATE app.items SET v = v || '!' WHERE id <= 5; DELETE FROM app.items WHERE id = 40;
TRUNCATE public.kv; INSERT INTO public.kv VALUES ('a', '1'), ('b', '2'), ('d', '4')`)
		if err != nil || len(missingForReplicas(e)) > 0 {
			return err
		}
		return e.target.Fleet.AwaitReplica(e.ctx, e.target.Replica, e.db, e.src(), catchUp)
	}},
	{Name: "verify", Run: verify},
	{Name: "inspect", Run: inspect},
	{Name: "heal_ledger", Run: func(e *env) error {
		entries := []engine.LedgerEntry{{Version: 1, Checksum: "base"}, {Version: 2, Checksum: "vector-rewritten"}}
		for _, r := range e.regions() {
			if _, err := e.target.Fleet.LedgerRebuild(e.ctx, e.ownerOf(r), entries, false, "op-heal"); err != nil {
				return err
			}
		}
		return nil
	}},
	{Name: "heal_ownership", Run: healOwnership},
	{Name: "heal_roles", Run: func(e *env) error {
		for _, r := range e.regions() {
			if err := e.target.Fleet.RoleEnsure(e.ctx, r, e.owner, e.pw); err != nil {
				return err
			}
			if err := e.target.Fleet.DatabaseOwnerSet(e.ctx, r, e.db, e.owner); err != nil {
				return err
			}
		}
		return nil
	}},
	{Name: "resync", Missing: missingForReplicas, Run: func(e *env) error {
		if err := e.target.Fleet.SubscriptionDrop(e.ctx, e.target.Replica, e.db); err != nil {
			return err
		}
		if err := e.target.Fleet.SubscriptionResync(e.ctx, e.ownerOf(e.target.Replica), e.src()); err != nil {
			return err
		}
		return e.target.Fleet.AwaitReplica(e.ctx, e.target.Replica, e.db, e.src(), catchUp)
	}},
	{Name: "parameters", Run: func(e *env) error {
		for _, r := range e.regions() {
			if err := e.target.Fleet.ParametersApply(e.ctx, r, e.db, map[string]string{"work_mem": "8MB"}); err != nil {
				return err
			}
		}
		return nil
	}},
	{Name: "dump", Missing: func(e *env) []string {
		if c := e.caps[e.target.Source]; c.PgDump == nil {
			return c.MissingForFinalBackup()
		}
		return nil
	}, Run: func(e *env) error {
		return e.target.Fleet.DatabaseDump(e.ctx, e.ownerOf(e.target.Source), e.backupPath())
	}},
	{Name: "delete", Run: func(e *env) error {
		e.removeOutsidePlants()
		if err := e.superSessionsGone(); err != nil {
			return err
		}
		f := e.target.Fleet
		if err := f.SubscriptionDrop(e.ctx, e.target.Replica, e.db); err != nil {
			return err
		}
		for _, r := range e.regions() {
			if err := f.DatabaseDrop(e.ctx, r, e.db); err != nil {
				return err
			}
			if err := f.RoleDrop(e.ctx, r, e.owner); err != nil {
				return err
			}
		}
		return f.RoleDrop(e.ctx, e.target.Source, engine.ReplicationRoleName(e.db))
	}},
}

func missingForPublishing(e *env) []string { return e.caps[e.target.Source].MissingForPublishing() }

func missingForReplicas(e *env) []string {
	return append(missingForPublishing(e), e.caps[e.target.Replica].MissingForSubscribing()...)
}

func (e *env) migrations() []engine.Migration {
	return []engine.Migration{
		{Version: 1, SQL: e.expand(baseSchema), Checksum: "base"},
		{Version: 2, SQL: e.expand("SELECT 1;\n" + e.vector.Migration), Checksum: "vector"},
	}
}

// migrate applies the two migrations as the owner, the replica first as dbfleetd orders it,
// then plants what the owner does over its own login: the source's rows, what only the
// replica has, and what it puts in other databases.
func migrate(e *env) error {
	for _, r := range e.regions() {
		conn, err := e.target.Fleet.OpenOwner(e.ctx, e.ownerOf(r))
		if err != nil {
			return err
		}
		if _, err := conn.Ledger(e.ctx); err != nil {
			conn.Close(e.ctx)
			return err
		}
		for _, m := range e.migrations() {
			if err := conn.MigrationApply(e.ctx, m, "op-migrate"); err != nil {
				conn.Close(e.ctx)
				return fmt.Errorf("migration %d in %s: %w", m.Version, r, err)
			}
		}
		conn.Close(e.ctx)
	}
	if err := e.asOwner(e.target.Source, e.db, baseSeed+"\n"+e.vector.Seed); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if e.vector.Replica != "" {
		if err := e.asOwner(e.target.Replica, e.db, e.vector.Replica); err != nil {
			return fmt.Errorf("plant on the replica: %w", err)
		}
	}
	for _, db := range e.vector.outsideDatabases() {
		for _, r := range e.regions() {
			err := e.asOwner(r, db, e.expand(e.vector.Outside[db]))
			planted := err == nil
			// PUBLIC may create in public before PostgreSQL 15 only.
			if want := e.caps[r].Major() < 15; planted != want {
				return fmt.Errorf("planting in %s of %s: got error %v, want planted=%t", db, r, err, want)
			}
		}
	}
	return nil
}

// asOwner runs sql in a database over the owner's own login.
func (e *env) asOwner(region, db, sql string) error {
	host, port, err := e.target.Fleet.Endpoint(region)
	if err != nil {
		return err
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(e.owner, e.pw), Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: "/" + db}
	conn, err := pgx.Connect(e.ctx, u.String())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(e.ctx))
	_, err = conn.Exec(e.ctx, sql, pgx.QueryExecModeSimpleProtocol)
	return err
}

// removeOutsidePlants drops, as the superuser, what the owner planted in other databases, so
// that its role can go and no later database meets it.
func (e *env) removeOutsidePlants() {
	for _, db := range e.vector.outsideDatabases() {
		for r := range e.super {
			conn, err := e.superConn(r, db)
			if err != nil {
				e.t.Errorf("clean %s of %s: %v", db, r, err)
				continue
			}
			var exists bool
			err = conn.QueryRow(e.ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1)`, e.owner).Scan(&exists)
			if err == nil && exists {
				_, err = conn.Exec(e.ctx, "DROP OWNED BY "+quote(e.owner))
			}
			if err != nil {
				e.t.Errorf("clean %s of %s: %v", db, r, err)
			}
			conn.Close(e.ctx)
		}
	}
}

func verify(e *env) error {
	cmp, err := e.target.Fleet.CompareReplica(e.ctx, e.ownerOf(e.target.Source), e.ownerOf(e.target.Replica), 7)
	if err != nil || len(missingForReplicas(e)) > 0 {
		return err
	}
	if len(cmp) == 0 {
		return errors.New("the consistency check compared no table")
	}
	diverged := false
	for _, t := range cmp {
		if !t.Consistent() {
			diverged = true
		}
	}
	if diverged != e.vector.Diverges {
		return fmt.Errorf("consistency check found differences=%t, want %t: %+v", diverged, e.vector.Diverges, cmp)
	}
	return nil
}

func inspect(e *env) error {
	f := e.target.Fleet
	for _, r := range e.regions() {
		got, err := f.CatalogInspect(e.ctx, r, []engine.CatalogQuery{{Database: e.db, Owner: e.owner}})
		if err != nil {
			return err
		}
		if db := got[e.db]; db == nil || !db.Exists || db.Owner != e.owner {
			return fmt.Errorf("catalog of %s: %+v", r, db)
		}
		ledger, err := f.LedgerInspect(e.ctx, e.ownerOf(r))
		if err != nil {
			return err
		}
		if len(ledger.Entries) != 2 || !ledger.HasObjects {
			return fmt.Errorf("ledger of %s: %+v", r, ledger)
		}
	}
	st, err := f.ReplicationStatusOf(e.ctx, e.target.Replica, e.db, e.src())
	if err != nil {
		return err
	}
	if want := len(missingForReplicas(e)) == 0; (st.State == "streaming") != want {
		return fmt.Errorf("replication status %+v, want streaming=%t", st, want)
	}
	return nil
}

// healOwnership gives a table to the admin, as REASSIGN OWNED before a DROP ROLE leaves it, and
// has OwnershipRestore give it back.
func healOwnership(e *env) error {
	for _, r := range e.regions() {
		conn, err := e.superConn(r, e.db)
		if err != nil {
			return err
		}
		_, err = conn.Exec(e.ctx, "ALTER TABLE public.kv OWNER TO "+quote(e.target.Admin))
		conn.Close(e.ctx)
		if err != nil {
			return err
		}
		n, err := e.target.Fleet.OwnershipRestore(e.ctx, r, e.db, e.owner)
		if err != nil {
			return err
		}
		if n < 1 {
			return fmt.Errorf("ownership restore in %s gave back %d objects", r, n)
		}
	}
	return nil
}

// superSessionsGone waits until the sessions the checks opened as the superuser in the
// vector's database have ended: a managed admin's DROP DATABASE ... WITH (FORCE) may not end a
// superuser's session, and a closed connection's backend exits a moment after the client.
func (e *env) superSessionsGone() error {
	for _, r := range e.regions() {
		for deadline := time.Now().Add(10 * time.Second); ; {
			var n int
			err := e.super[r].QueryRow(e.ctx, `SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity a
				JOIN pg_catalog.pg_roles r ON r.rolname OPERATOR(pg_catalog.=) a.usename
				WHERE a.datname OPERATOR(pg_catalog.=) $1 AND r.rolsuper AND a.backend_type OPERATOR(pg_catalog.=) 'client backend'`, e.db).Scan(&n)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d superuser sessions stay in %s of %s", n, e.db, r)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}
