package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
)

// SubscriptionName names the subscription of a replica, which is also the
// name of its replication slot on the source's server: unique per source
// server across databases and replica regions.
func SubscriptionName(database, replicaRegion string) string {
	return shortName("dbfleet_"+replicaRegion+"_"+database, "")
}

// Source says where a replica's source database is and how to reach it.
type Source struct {
	Region       string
	Database     string
	ReplPassword string
}

// SubscriptionEnsure subscribes a replica database to its source's
// publication (copying the existing rows first), or refreshes an existing
// subscription so it picks up tables the source's migrations added.
//
// Its workers never apply changes with the admin's rights, which would run
// the tenant's ENABLE ALWAYS and ENABLE REPLICA triggers, index expressions,
// defaults and domain checks as the admin:
//   - 16 and newer: run_as_owner = false, so each change is applied as the
//     table's owner, in a restricted context it cannot leave (RESET ROLE is
//     refused there); password_required = true, so the connection must
//     authenticate with the replication role's password.
//   - 15: a subscription runs as its owner, and only a superuser may own
//     one. dbfleet creates it disabled and hands it to the database's owner
//     before any worker starts (atomic: the owner is a superuser only inside
//     the uncommitted transaction that changes the subscription's owner, so
//     no session ever sees it as one).
//   - 14: apply workers run as a superuser whoever owns the subscription:
//     refused with a *MissingError.
func (f *Fleet) SubscriptionEnsure(ctx context.Context, region, database string, src Source) error {
	srcRegion, ok := f.regions[src.Region]
	if !ok {
		return fmt.Errorf("source region %s: %w", src.Region, ErrUnknownRegion)
	}
	caps, err := f.subscribable(ctx, region)
	if err != nil {
		return err
	}
	conn, err := f.connectAdmin(ctx, region, database)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	name := SubscriptionName(database, region)
	var sub subscriptionState
	err = conn.QueryRow(ctx, subscriptionStateQuery, name).Scan(&sub.dbOwner, &sub.dbOwnerSuper, &sub.exists, &sub.enabled, &sub.owner)
	if err != nil {
		return fmt.Errorf("look up subscription of %s in %s: %w", database, region, err)
	}
	q := quoteIdentifier(name)
	if !sub.exists {
		// A subscription dropped while its source was away leaves its slot
		// there; an inactive leftover would refuse the new one.
		if err := f.slotDropInactive(ctx, src.Region, name); err != nil {
			return err
		}
		failpoint.At(failpoint.SubscriptionSlotCleared)
		c := srcRegion.connCfg
		conninfo := fmt.Sprintf("host=%s port=%d dbname=%s user=%s password=%s %s connect_timeout=10",
			conninfoValue(c.Host), c.Port, conninfoValue(src.Database), conninfoValue(ReplicationRoleName(src.Database)),
			conninfoValue(src.ReplPassword), srcRegion.tls.conninfo())
		options := "run_as_owner = false, password_required = true"
		if caps.Major() < 16 {
			options = "enabled = false"
		}
		stmt := fmt.Sprintf("CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION %s WITH (%s)",
			q, quoteLiteral(conninfo), publicationName, options)
		if err := subscriptionExec(ctx, conn, stmt); err != nil {
			return fmt.Errorf("subscribe %s in %s to %s: %w", database, region, src.Region, err)
		}
		failpoint.At(failpoint.SubscriptionCreated)
		// The admin owns the new subscription; on 15 it is disabled until handed over.
		sub.enabled, sub.owner = caps.Major() >= 16, ""
	}
	if caps.Major() < 16 && sub.owner != sub.dbOwner {
		if err := handOver(ctx, conn, name, sub); err != nil {
			return fmt.Errorf("give the subscription of %s in %s to its owner %s: %w", database, region, sub.dbOwner, err)
		}
		failpoint.At(failpoint.SubscriptionHandedOver)
	}
	var stmts []string
	if !sub.enabled {
		stmts = append(stmts, "ALTER SUBSCRIPTION "+q+" ENABLE")
	}
	if sub.exists {
		stmts = append(stmts, "ALTER SUBSCRIPTION "+q+" REFRESH PUBLICATION")
	}
	for _, stmt := range stmts {
		if err := subscriptionExec(ctx, conn, stmt); err != nil {
			return fmt.Errorf("subscribe %s in %s to %s: %w", database, region, src.Region, err)
		}
	}
	return nil
}

// subscribable returns a region's capabilities, or a *MissingError when it
// cannot hold replicas.
func (f *Fleet) subscribable(ctx context.Context, region string) (*Capabilities, error) {
	caps, err := f.RegionCapabilities(ctx, region)
	if err != nil {
		return nil, err
	}
	if missing := caps.MissingForSubscribing(); len(missing) > 0 {
		return nil, &MissingError{Region: region, Action: "hold replicas", Missing: missing}
	}
	return caps, nil
}

// subscriptionState is a replica database's owner and its subscription.
type subscriptionState struct {
	dbOwner      string
	dbOwnerSuper bool
	exists       bool
	enabled      bool
	owner        string
}

// subscriptionStateQuery reads, in the replica's database, its owner and
// the subscription named $1, if any.
const subscriptionStateQuery = `SELECT pg_catalog.pg_get_userbyid(d.datdba),
	coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) d.datdba), false),
	s.oid IS NOT NULL, coalesce(s.subenabled, false), coalesce(pg_catalog.pg_get_userbyid(s.subowner), '')
FROM pg_catalog.pg_database d
LEFT JOIN pg_catalog.pg_subscription s ON s.subdbid OPERATOR(pg_catalog.=) d.oid AND s.subname OPERATOR(pg_catalog.=) $1
WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()`

// handOver gives a PostgreSQL 15 subscription to the database's owner, which
// 15 accepts only for a superuser owner: the owner is made one, given the
// subscription and made NOSUPERUSER again in one transaction, which no other
// session sees until it is done. A superuser admin is the only one that gets
// here (MissingForSubscribing). A database a superuser owns is refused: it
// would lose the attribute.
func handOver(ctx context.Context, conn *pgx.Conn, subscription string, sub subscriptionState) error {
	if sub.dbOwnerSuper {
		return fmt.Errorf("the database's owner %s is a superuser; dbfleet only subscribes databases an ordinary role owns", sub.dbOwner)
	}
	owner := quoteIdentifier(sub.dbOwner)
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, stmt := range []string{
			"ALTER ROLE " + owner + " SUPERUSER",
			"ALTER SUBSCRIPTION " + quoteIdentifier(subscription) + " OWNER TO " + owner,
			"ALTER ROLE " + owner + " NOSUPERUSER",
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
}

// subscriptionExec runs a statement that may hold the subscription's
// connection string; its error names only PostgreSQL's message.
func subscriptionExec(ctx context.Context, conn *pgx.Conn, stmt string) error {
	_, err := conn.Exec(ctx, stmt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return fmt.Errorf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	}
	if err != nil {
		return errors.New("the statement failed before PostgreSQL answered")
	}
	return nil
}

// SubscriptionResync empties a replica's application tables and subscribes
// it again, copying every row from the source: for a replica whose
// subscription was lost, whose tables may hold rows the source no longer
// has. The tables are emptied over the owner's own login, so that their
// TRUNCATE triggers run with the owner's rights, not the admin's. Only
// permanent tables are emptied: unlogged and temporary ones are not
// replicated, so the copy would not fill them again.
func (f *Fleet) SubscriptionResync(ctx context.Context, o Owner, src Source) error {
	// Refused before anything is emptied.
	if _, err := f.subscribable(ctx, o.Region); err != nil {
		return err
	}
	conn, err := f.connectOwner(ctx, o)
	if err != nil {
		return ownerConnectError(err)
	}
	rows, err := conn.Query(ctx, replicatedTablesQuery)
	var tables []string
	if err == nil {
		tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("list tables of %s in %s: %w", o.Database, o.Region, err)
	}
	if len(tables) > 0 {
		if _, err := conn.Exec(ctx, "TRUNCATE "+strings.Join(tables, ", ")); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return fmt.Errorf("empty the tables of %s in %s as %s: %w", o.Database, o.Region, o.Role, err)
		}
	}
	conn.Close(context.WithoutCancel(ctx))
	failpoint.At(failpoint.ResyncTruncated)
	return f.SubscriptionEnsure(ctx, o.Region, o.Database, src)
}

// replicatedTablesQuery lists, quoted, the permanent tables of a database's
// application schemas (all but PostgreSQL's own and the dbfleet ledger):
// what its subscription fills. Partitions come with their parent.
const replicatedTablesQuery = `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog."char"[]) AND NOT c.relispartition
	AND c.relpersistence OPERATOR(pg_catalog.=) 'p'::pg_catalog."char"
	AND n.nspname OPERATOR(pg_catalog.<>) ALL ('{dbfleet,information_schema}'::pg_catalog.name[])
	AND n.nspname::pg_catalog.text OPERATOR(pg_catalog.!~~) 'pg\_%'
ORDER BY 1`

// slotDropInactive drops a replication slot on a source server if it
// exists and no one uses it.
func (f *Fleet) slotDropInactive(ctx context.Context, region, slot string) error {
	pool, err := f.pool(ctx, region)
	if err != nil {
		return err
	}
	_, err = pool.Exec(ctx, `SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots
		WHERE slot_name OPERATOR(pg_catalog.=) $1 AND NOT active`, slot)
	if err != nil {
		return fmt.Errorf("drop leftover replication slot %s in %s: %w", slot, region, err)
	}
	return nil
}

// SubscriptionDrop drops a replica's subscription and, when the source
// answers, its replication slot there; when it does not, the slot is left
// for the source's operator (the error says which).
func (f *Fleet) SubscriptionDrop(ctx context.Context, region, database string) error {
	exists, err := f.DatabaseExists(ctx, region, database)
	if err != nil || !exists {
		return err
	}
	conn, err := f.connectAdmin(ctx, region, database)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	name := quoteIdentifier(SubscriptionName(database, region))
	var found bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_subscription WHERE subname OPERATOR(pg_catalog.=) $1
		AND subdbid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()))`, SubscriptionName(database, region)).Scan(&found); err != nil || !found {
		return err
	}
	if _, err := conn.Exec(ctx, "DROP SUBSCRIPTION "+name); err == nil {
		return nil
	}
	for _, stmt := range []string{"ALTER SUBSCRIPTION " + name + " DISABLE", "ALTER SUBSCRIPTION " + name + " SET (slot_name = NONE)", "DROP SUBSCRIPTION " + name} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("drop subscription of %s in %s: %w", database, region, err)
		}
	}
	return nil
}

// ReplicationStatus is what a replica's subscription reports.
type ReplicationStatus struct {
	// State is "missing", "disabled", "streaming" or "stopped" (enabled but
	// no worker: the source is unreachable or the apply failed).
	State string
	// Tables maps each subscribed table to its sync state: init, copying,
	// synced or ready.
	Tables map[string]string
	// LagBytes is how far the replica's confirmed position trails the
	// source's current WAL position; LagSeconds how long since the replica
	// last heard from the source, as seen on the source.
	LagBytes   int64
	LagSeconds float64
	// Error is the last reason the subscription is not streaming.
	Error string
}

var syncStates = map[string]string{"i": "init", "d": "copying", "f": "copying", "s": "synced", "r": "ready"}

// ReplicationStatusOf reads a replica's subscription and, from its source,
// the lag.
func (f *Fleet) ReplicationStatusOf(ctx context.Context, region, database string, src Source) (*ReplicationStatus, error) {
	conn, err := f.connectAdmin(ctx, region, database)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	name := SubscriptionName(database, region)
	st := &ReplicationStatus{State: "missing", Tables: map[string]string{}}
	var enabled bool
	var pid *int32
	err = conn.QueryRow(ctx, `SELECT s.subenabled, w.pid FROM pg_catalog.pg_subscription s
		LEFT JOIN pg_catalog.pg_stat_subscription w ON w.subid OPERATOR(pg_catalog.=) s.oid AND w.relid IS NULL
		WHERE s.subname OPERATOR(pg_catalog.=) $1`, name).Scan(&enabled, &pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read subscription of %s in %s: %w", database, region, err)
	}
	switch {
	case !enabled:
		st.State = "disabled"
	case pid == nil:
		st.State = "stopped"
	default:
		st.State = "streaming"
	}
	rows, err := conn.Query(ctx, `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), r.srsubstate::pg_catalog.text FROM pg_catalog.pg_subscription_rel r
		JOIN pg_catalog.pg_subscription s ON s.oid OPERATOR(pg_catalog.=) r.srsubid
		JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.srrelid
		JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		WHERE s.subname OPERATOR(pg_catalog.=) $1`, name)
	if err != nil {
		return nil, fmt.Errorf("read table states of %s in %s: %w", database, region, err)
	}
	var table, state string
	if _, err := pgx.ForEachRow(rows, []any{&table, &state}, func() error {
		st.Tables[table] = syncStates[state]
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read table states of %s in %s: %w", database, region, err)
	}

	// Slots and senders are the server's, read without entering the
	// tenant's database.
	var lagBytes *int64
	var lagSeconds *float64
	err = f.readPooled(ctx, src.Region, func(srcPool *pgxpool.Pool) error {
		return srcPool.QueryRow(ctx, `SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.confirmed_flush_lsn)::pg_catalog.int8,
			(SELECT pg_catalog.date_part('epoch', coalesce(r.replay_lag, pg_catalog.now() OPERATOR(pg_catalog.-) r.reply_time))
				FROM pg_catalog.pg_stat_replication r WHERE r.application_name OPERATOR(pg_catalog.=) s.slot_name::pg_catalog.text)
		FROM pg_catalog.pg_replication_slots s WHERE s.slot_name OPERATOR(pg_catalog.=) $1`, name).Scan(&lagBytes, &lagSeconds)
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		if connErr := (*pgconn.ConnectError)(nil); errors.As(err, &connErr) {
			st.Error = "the source region does not answer"
			return st, nil
		}
		return nil, fmt.Errorf("read lag of %s in %s: %w", database, region, err)
	}
	if lagBytes != nil {
		st.LagBytes = *lagBytes
	}
	// An idle replica that has confirmed everything lags nothing, however
	// long ago it last replied.
	if lagSeconds != nil && st.LagBytes > 0 {
		st.LagSeconds = *lagSeconds
	}
	if st.State == "stopped" {
		st.Error = "the subscription has no apply worker: the source is unreachable or applying a change failed (see the replica's server log)"
	}
	return st, nil
}

// CurrentLSN returns a database server's current WAL position.
func (f *Fleet) CurrentLSN(ctx context.Context, region string) (string, error) {
	var lsn string
	err := f.readPooled(ctx, region, func(pool *pgxpool.Pool) error {
		return pool.QueryRow(ctx, `SELECT pg_catalog.pg_current_wal_lsn()::pg_catalog.text`).Scan(&lsn)
	})
	if err != nil {
		return "", fmt.Errorf("read WAL position of %s: %w", region, err)
	}
	return lsn, nil
}

// ReplicaReached tells whether a replica's subscription has applied the
// source's WAL up to lsn. The apply worker's position is not enough while a
// table is still being synchronized: the apply worker passes over that
// table's changes, which its table sync worker applies later. So every
// table must be past its sync: ready ('r'), or done syncing ('s'), which
// holds the source's rows as of its sync position, and whose changes after
// it the apply worker applies. Waiting for 'r' alone can take 30 s: a table
// goes from 's' to 'r' once the apply worker has heard of the source's WAL
// past the sync position, which on an idle source is the next keepalive.
func (f *Fleet) ReplicaReached(ctx context.Context, region, database, lsn string) (bool, error) {
	conn, err := f.connectAdmin(ctx, region, database)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var reached *bool
	err = conn.QueryRow(ctx, `SELECT w.latest_end_lsn OPERATOR(pg_catalog.>=) $2::pg_catalog.pg_lsn
			AND NOT EXISTS (SELECT FROM pg_catalog.pg_subscription_rel r WHERE r.srsubid OPERATOR(pg_catalog.=) s.oid
				AND r.srsubstate OPERATOR(pg_catalog.<>) ALL ('{r,s}'::pg_catalog."char"[]))
		FROM pg_catalog.pg_subscription s
		JOIN pg_catalog.pg_stat_subscription w ON w.subid OPERATOR(pg_catalog.=) s.oid AND w.relid IS NULL
		WHERE s.subname OPERATOR(pg_catalog.=) $1`,
		SubscriptionName(database, region), lsn).Scan(&reached)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read position of %s in %s: %w", database, region, err)
	}
	return reached != nil && *reached, nil
}

// AwaitReplica waits, bounded by timeout, until a replica has applied its
// source's WAL as of now.
func (f *Fleet) AwaitReplica(ctx context.Context, region, database string, src Source, timeout time.Duration) error {
	lsn, err := f.CurrentLSN(ctx, src.Region)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := f.ReplicaReached(ctx, region, database, lsn)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica %s in %s did not reach the source's position %s within %s", database, region, lsn, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
