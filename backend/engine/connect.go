package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

func (f *Fleet) pool(ctx context.Context, name string) (*pgxpool.Pool, error) {
	r, ok := f.regions[name]
	if !ok {
		return nil, fmt.Errorf("region %s: %w", name, ErrUnknownRegion)
	}
	r.poolOnce.Do(func() {
		cfg := r.poolCfg.Copy()
		cancelOnServer(&cfg.ConnConfig.Config)
		r.pool, r.poolErr = pgxpool.NewWithConfig(context.WithoutCancel(ctx), cfg)
	})
	return r.pool, r.poolErr
}

// cancelRequestGrace is how long a connection whose context ended waits for
// the server to answer the cancel request before it closes its socket.
const cancelRequestGrace = 5 * time.Second

// cancelOnServer makes a connection turn the end of a statement's context
// (an operation's deadline, a cancel, a shutdown) into a cancel request, so
// the statement stops on the server, releasing its locks and rolling back
// its transaction, rather than running on after pgx alone gave up on it.
// The socket closes if the server does not answer within
// cancelRequestGrace (a region gone from the network).
func cancelOnServer(c *pgconn.Config) {
	c.BuildContextWatcherHandler = func(conn *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: conn, DeadlineDelay: cancelRequestGrace}
	}
}

// readPooled runs read on a region's pool of admin sessions, and once more
// when the server had ended the session read was given: a restart, a
// failover or pg_terminate_backend ends every pooled session at once, and
// the pool pings on acquire only a session idle for over a second. The pool
// is emptied before the second run, so it gets a new session. Reads only: a
// write may have been done before its session ended.
func (f *Fleet) readPooled(ctx context.Context, region string, read func(*pgxpool.Pool) error) error {
	pool, err := f.pool(ctx, region)
	if err != nil {
		return err
	}
	err = read(pool)
	if sessionEnded(err) {
		pool.Reset()
		err = read(pool)
	}
	return err
}

// sessionEnded tells whether err says the server ended the session.
func sessionEnded(err error) bool {
	switch sqlStateOf(err) {
	case "57P01", "57P02", "57P05": // admin_shutdown (also pg_terminate_backend), crash_shutdown, idle_session_timeout
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF)
}

// Owner is a database and the role that owns it: migrations run as that
// role over its own connection, never as a superuser, so a migration has
// exactly the owner's rights.
type Owner struct {
	Region   string
	Database string
	Role     string
	Password string
}

// OwnerConn is a connection to a database as its owner.
type OwnerConn struct {
	conn *pgx.Conn
}

// Close closes the connection.
func (c *OwnerConn) Close(ctx context.Context) error { return c.conn.Close(ctx) }

// Ping checks that the connection still answers.
func (c *OwnerConn) Ping(ctx context.Context) error { return c.conn.Ping(ctx) }

// adminSessionPins are the settings every admin session starts with, sent
// in the startup packet: client settings there override what a database's
// owner may set for the database (ALTER DATABASE ... SET) and what an
// operator set for the admin role, so a tenant cannot choose how the admin's
// session resolves names or behaves inside its database.
//
//   - search_path: only PostgreSQL's catalog, then the session's own
//     temporary schema, so no object a tenant can create is found by an
//     unqualified name (CVE-2018-1058; pg_dump does the same).
//   - role: the admin acts as itself, not as a role the tenant named.
//   - default_transaction_read_only, default_transaction_isolation: the
//     admin's statements run as written, not refused or serialised.
//   - statement_timeout, lock_timeout, idle_in_transaction_session_timeout:
//     the admin's work is bounded by its own contexts, not cut off at a
//     tenant's whim (a 1 ms timeout would fail every repair).
//   - local_preload_libraries: no library a tenant names is loaded into the
//     admin's backend.
//   - check_function_bodies: on, whatever the tenant prefers.
var adminSessionPins = map[string]string{
	"search_path":                         "pg_catalog, pg_temp",
	"role":                                "none",
	"default_transaction_read_only":       "off",
	"default_transaction_isolation":       "read committed",
	"statement_timeout":                   "0",
	"lock_timeout":                        "0",
	"idle_in_transaction_session_timeout": "0",
	"local_preload_libraries":             "",
	"check_function_bodies":               "on",
}

// pinAdminSession adds the admin session pins to a connection's startup
// parameters, over any the DSN set.
func pinAdminSession(c *pgconn.Config) {
	if c.RuntimeParams == nil {
		c.RuntimeParams = map[string]string{}
	}
	for name, value := range adminSessionPins {
		c.RuntimeParams[name] = value
	}
}

// baseConfig is how to reach one database of a region with the region's
// configured credentials and settings, no session pins yet.
func (f *Fleet) baseConfig(region, database string) (*pgx.ConnConfig, error) {
	r, ok := f.regions[region]
	if !ok {
		return nil, fmt.Errorf("region %s: %w", region, ErrUnknownRegion)
	}
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Config = *r.connCfg.Copy()
	cfg.Database = database
	cancelOnServer(&cfg.Config)
	return cfg, nil
}

// connConfig is how to connect to one database of a region as its
// administrator, the session pinned (adminSessionPins).
func (f *Fleet) connConfig(region, database string) (*pgx.ConnConfig, error) {
	cfg, err := f.baseConfig(region, database)
	if err != nil {
		return nil, err
	}
	pinAdminSession(&cfg.Config)
	return cfg, nil
}

// ownerConfig is how to connect to a database as its owner. The session
// keeps the owner's own defaults (its database's and role's settings):
// it has no more rights than the owner, whatever they set.
func (f *Fleet) ownerConfig(o Owner) (*pgx.ConnConfig, error) {
	cfg, err := f.baseConfig(o.Region, o.Database)
	if err != nil {
		return nil, err
	}
	// The operator's settings in the admin DSN are for the admin.
	cfg.RuntimeParams = map[string]string{}
	cfg.User, cfg.Password = o.Role, o.Password
	return cfg, nil
}

// OpenOwner connects to a database as its owner.
func (f *Fleet) OpenOwner(ctx context.Context, o Owner) (*OwnerConn, error) {
	conn, err := f.connectOwner(ctx, o)
	if err != nil {
		return nil, err
	}
	return &OwnerConn{conn: conn}, nil
}

func (f *Fleet) connectOwner(ctx context.Context, o Owner) (*pgx.Conn, error) {
	cfg, err := f.ownerConfig(o)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s in %s as %s: %w", o.Database, o.Region, o.Role, err)
	}
	return conn, nil
}

// connectAdmin connects as the region's administrator to one database.
func (f *Fleet) connectAdmin(ctx context.Context, region, database string) (*pgx.Conn, error) {
	cfg, err := f.connConfig(region, database)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s in %s: %w", database, region, err)
	}
	return conn, nil
}

// ownerConnectError marks a refused login as ErrOwnerLogin and a missing
// database as ErrDatabaseMissing.
func ownerConnectError(err error) error {
	switch sqlStateOf(err) {
	case "28P01", "28000": // invalid_password, invalid_authorization_specification
		return fmt.Errorf("%w: %w", ErrOwnerLogin, err)
	case "3D000":
		return fmt.Errorf("%w: %w", ErrDatabaseMissing, err)
	}
	return err
}

// sqlStateOf returns the SQLSTATE of a PostgreSQL error, or "".
func sqlStateOf(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
