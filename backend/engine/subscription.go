package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
func (f *Fleet) SubscriptionEnsure(ctx context.Context, region, database string, src Source) error {
	srcRegion, ok := f.regions[src.Region]
	if !ok {
		return fmt.Errorf("source region %s: %w", src.Region, ErrUnknownRegion)
	}
	conn, err := f.connectAdmin(ctx, region, database)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	name := SubscriptionName(database, region)
	var exists, enabled bool
	err = conn.QueryRow(ctx, `SELECT true, subenabled FROM pg_subscription WHERE subname = $1`, name).Scan(&exists, &enabled)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("look up subscription of %s in %s: %w", database, region, err)
	}
	var stmts []string
	if !exists {
		// A subscription dropped while its source was away leaves its slot
		// there; an inactive leftover would refuse the new one.
		if err := f.slotDropInactive(ctx, src.Region, name); err != nil {
			return err
		}
		c := srcRegion.connCfg
		conninfo := fmt.Sprintf("host=%s port=%d dbname=%s user=%s password=%s %s connect_timeout=10",
			c.Host, c.Port, src.Database, ReplicationRoleName(src.Database), src.ReplPassword, srcRegion.tls.conninfo())
		stmts = append(stmts, fmt.Sprintf("CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION %s",
			quoteIdentifier(name), quoteLiteral(conninfo), publicationName))
	} else {
		if !enabled {
			stmts = append(stmts, fmt.Sprintf("ALTER SUBSCRIPTION %s ENABLE", quoteIdentifier(name)))
		}
		stmts = append(stmts, fmt.Sprintf("ALTER SUBSCRIPTION %s REFRESH PUBLICATION", quoteIdentifier(name)))
	}
	for _, stmt := range stmts {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			// The statement holds the connection string: name only the step.
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) {
				return fmt.Errorf("subscribe %s in %s to %s: %s (SQLSTATE %s)", database, region, src.Region, pgErr.Message, pgErr.Code)
			}
			return fmt.Errorf("subscribe %s in %s to %s: %w", database, region, src.Region, err)
		}
	}
	return nil
}

// SubscriptionResync empties a replica's application tables and subscribes
// it again, copying every row from the source: for a replica whose
// subscription was lost, whose tables may hold rows the source no longer
// has.
func (f *Fleet) SubscriptionResync(ctx context.Context, region, database string, src Source) error {
	conn, err := f.connectAdmin(ctx, region, database)
	if err != nil {
		return err
	}
	schemas, err := applicationSchemas(ctx, conn)
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("list schemas of %s in %s: %w", database, region, err)
	}
	var tables []string
	for _, s := range schemas {
		rows, err := conn.Query(ctx, `SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = $1`, s)
		if err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return fmt.Errorf("list tables of %s in %s: %w", database, region, err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return fmt.Errorf("list tables of %s in %s: %w", database, region, err)
		}
		tables = append(tables, names...)
	}
	if len(tables) > 0 {
		if _, err := conn.Exec(ctx, "TRUNCATE "+strings.Join(tables, ", ")); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return fmt.Errorf("empty the tables of %s in %s: %w", database, region, err)
		}
	}
	conn.Close(context.WithoutCancel(ctx))
	return f.SubscriptionEnsure(ctx, region, database, src)
}

// slotDropInactive drops a replication slot on a source server if it
// exists and no one uses it.
func (f *Fleet) slotDropInactive(ctx context.Context, region, slot string) error {
	pool, err := f.pool(ctx, region)
	if err != nil {
		return err
	}
	_, err = pool.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, slot)
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
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_subscription WHERE subname = $1)`, SubscriptionName(database, region)).Scan(&found); err != nil || !found {
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
	err = conn.QueryRow(ctx, `SELECT s.subenabled, w.pid FROM pg_subscription s
		LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL WHERE s.subname = $1`, name).Scan(&enabled, &pid)
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
	rows, err := conn.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname), r.srsubstate::text FROM pg_subscription_rel r
		JOIN pg_subscription s ON s.oid = r.srsubid JOIN pg_class c ON c.oid = r.srrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE s.subname = $1`, name)
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

	srcConn, err := f.connectAdmin(ctx, src.Region, src.Database)
	if err != nil {
		st.Error = "the source region does not answer"
		return st, nil
	}
	defer srcConn.Close(context.WithoutCancel(ctx))
	var lagBytes *int64
	var lagSeconds *float64
	err = srcConn.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint,
			(SELECT extract(epoch FROM coalesce(r.replay_lag, now() - r.reply_time)) FROM pg_stat_replication r WHERE r.application_name = s.slot_name)
		FROM pg_replication_slots s WHERE s.slot_name = $1`, name).Scan(&lagBytes, &lagSeconds)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
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
	pool, err := f.pool(ctx, region)
	if err != nil {
		return "", err
	}
	var lsn string
	if err := pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
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
	err = conn.QueryRow(ctx, `SELECT w.latest_end_lsn >= $2::pg_lsn
			AND NOT EXISTS (SELECT FROM pg_subscription_rel r WHERE r.srsubid = s.oid AND r.srsubstate NOT IN ('r', 's'))
		FROM pg_subscription s
		JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL WHERE s.subname = $1`,
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
