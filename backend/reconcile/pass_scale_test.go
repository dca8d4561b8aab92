package reconcile_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/reconcile"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// TestPassScale measures full reconcile passes over many databases in
// three dev regions of its own, and counts, from the servers' own logs
// (log_statement = all, log_connections = on), the statements and
// connections a pass costs. It runs only when DBFLEET_RECONCILE_SCALE lists
// the database counts to measure, such as "100,1000":
//
//	DBFLEET_RECONCILE_SCALE=100,1000 go test -run TestPassScale -v -timeout 60m ./backend/reconcile/
//
// To save time the databases are not made through the API: each is a copy
// (CREATE DATABASE ... TEMPLATE) of a database holding a table and a
// ledger at version 2, owned by one role shared by all, with one parameter
// set, and is recorded in a SQLite store as an API-made database would be.
func TestPassScale(t *testing.T) {
	spec := os.Getenv("DBFLEET_RECONCILE_SCALE")
	if spec == "" {
		t.Skip("set DBFLEET_RECONCILE_SCALE=100,1000 to measure reconcile passes")
	}
	ctx := context.Background()
	names := []string{"westeurope", "northeurope", "eastus"}
	fleet, err := daemontest.StartFleet(names...)
	require.NoError(t, err)
	t.Cleanup(fleet.Stop)

	migrations := []store.Migration{
		{Version: 1, Up: "CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL)"},
		{Version: 2, Up: "CREATE INDEX items_label ON items (label)"},
	}
	for i := range migrations {
		sum := sha256.Sum256([]byte(migrations[i].Up))
		migrations[i].Checksum = hex.EncodeToString(sum[:])
	}
	const owner, password = "scale_owner", "scale-owner-password-0123456789"
	var configs []engine.RegionConfig
	admins := map[string]*pgxpool.Pool{}
	for _, name := range names {
		region := fleet.Region(t, name)
		configs = append(configs, engine.RegionConfig{Name: name, AdminDSN: region.AdminDSN()})
		admin := fleet.Admin(t, name)
		admins[name] = admin
		for _, stmt := range []string{
			fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", owner, password),
			"CREATE DATABASE scale_template OWNER " + owner,
		} {
			_, err := admin.Exec(ctx, stmt)
			require.NoError(t, err)
		}
		cfg, err := pgx.ParseConfig(region.AdminDSN())
		require.NoError(t, err)
		cfg.User, cfg.Password, cfg.Database = owner, password, "scale_template"
		conn, err := pgx.ConnectConfig(ctx, cfg)
		require.NoError(t, err)
		for _, m := range migrations {
			_, err := conn.Exec(ctx, m.Up)
			require.NoError(t, err)
		}
		_, err = conn.Exec(ctx, `CREATE SCHEMA dbfleet;
			CREATE TABLE dbfleet.migrations (version bigint PRIMARY KEY, checksum text NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now(), operation_id text NOT NULL)`)
		require.NoError(t, err)
		for _, m := range migrations {
			_, err := conn.Exec(ctx, `INSERT INTO dbfleet.migrations (version, checksum, operation_id) VALUES ($1, $2, 'scale')`, m.Version, m.Checksum)
			require.NoError(t, err)
		}
		require.NoError(t, conn.Close(ctx))
	}

	regions, err := engine.NewFleet(configs, engine.Options{})
	require.NoError(t, err)
	t.Cleanup(regions.Close)
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	now := time.Now().UTC()
	require.NoError(t, st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.SchemaPut(ctx, &store.Schema{Name: "scale", Migrations: migrations, CreatedAt: now, UpdatedAt: now})
	}))

	created := 0
	var report []string
	for _, field := range strings.Split(spec, ",") {
		total, err := strconv.Atoi(strings.TrimSpace(field))
		require.NoError(t, err, "DBFLEET_RECONCILE_SCALE")
		begin := time.Now()
		createDatabases(t, admins, names, st, owner, password, created, total)
		t.Logf("created %d databases in %s", total-created, time.Since(begin).Round(time.Second))
		created = total

		r := reconcile.New(reconcile.Config{Store: st, Regions: regions, Logger: zerolog.Nop()})
		first, err := r.Pass(ctx, &reconcile.PassParams{All: true})
		require.NoError(t, err)
		require.Equal(t, total, first.Checked)
		if first.Findings > 0 {
			events, err := st.DatabaseEventList(ctx, &store.DatabaseEventListParams{Region: names[(total-1)%len(names)], Name: fmt.Sprintf("scale_%05d", total-1)})
			require.NoError(t, err)
			for _, e := range events {
				t.Logf("%s %s: %s", e.Type, e.Reason, e.Message)
			}
		}
		require.Zero(t, first.Findings, "the databases match their spec")

		logs := startStatementLog(t, fleet, admins, names)
		steady, err := r.Pass(ctx, &reconcile.PassParams{All: true})
		require.NoError(t, err)
		statements, connections := logs.stop(t)
		require.Zero(t, steady.Findings+steady.Errors)
		line := fmt.Sprintf("%5d databases: first pass %s, steady pass %s (%.2f ms per database); %d statements (%.2f per database), %d connections (%.2f per database)",
			total, first.Duration.Round(time.Millisecond), steady.Duration.Round(time.Millisecond),
			float64(steady.Duration.Microseconds())/1000/float64(total),
			statements, float64(statements)/float64(total), connections, float64(connections)/float64(total))
		t.Log(line)
		report = append(report, line)
	}
	for _, line := range report {
		t.Log(line)
	}
}

// createDatabases makes databases from..to-1, spread over the regions, and
// records them in the store.
func createDatabases(t *testing.T, admins map[string]*pgxpool.Pool, regions []string, st store.Store, owner, password string, from, to int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for ri, region := range regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from; i < to; i++ {
				if i%len(regions) != ri {
					continue
				}
				name := fmt.Sprintf("scale_%05d", i)
				for _, stmt := range []string{
					fmt.Sprintf("CREATE DATABASE %s TEMPLATE scale_template OWNER %s STRATEGY FILE_COPY", name, owner),
					fmt.Sprintf("ALTER DATABASE %s SET statement_timeout = '5s'", name),
				} {
					if _, err := admins[region].Exec(ctx, stmt); err != nil {
						t.Errorf("%s: %v", stmt, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	require.False(t, t.Failed())
	now := time.Now().UTC()
	require.NoError(t, st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		for i := from; i < to; i++ {
			err := tx.DatabasePut(ctx, &store.Database{
				Region: regions[i%len(regions)], Name: fmt.Sprintf("scale_%05d", i), Owner: owner, Password: password,
				Schema: "scale", SchemaVersion: 2, AppliedVersion: 2, Parameters: map[string]string{"statement_timeout": "5s"},
				Status: "ready", Generation: 1, ObservedGeneration: 1, CreatedAt: now, UpdatedAt: now,
			})
			if err != nil {
				return err
			}
		}
		return nil
	}))
}

// statementLog counts what the regions' servers log while it runs.
type statementLog struct {
	fleet   *daemontest.Fleet
	admins  map[string]*pgxpool.Pool
	names   []string
	offsets map[string]int64
}

func startStatementLog(t *testing.T, fleet *daemontest.Fleet, admins map[string]*pgxpool.Pool, names []string) *statementLog {
	t.Helper()
	l := &statementLog{fleet: fleet, admins: admins, names: names, offsets: map[string]int64{}}
	l.set(t, "all", "on")
	for _, name := range names {
		fi, err := os.Stat(filepath.Join(fleet.Region(t, name).ClusterDir, "postgres.log"))
		require.NoError(t, err)
		l.offsets[name] = fi.Size()
	}
	return l
}

func (l *statementLog) set(t *testing.T, statements, connections string) {
	t.Helper()
	for _, name := range l.names {
		for _, stmt := range []string{
			"ALTER SYSTEM SET log_statement = '" + statements + "'",
			"ALTER SYSTEM SET log_connections = " + connections,
			"SELECT pg_reload_conf()",
		} {
			_, err := l.admins[name].Exec(context.Background(), stmt)
			require.NoError(t, err)
		}
	}
	time.Sleep(500 * time.Millisecond) // the reload reaches every backend
}

// stop turns the logging off and returns the statements and the
// connections the servers logged since start.
func (l *statementLog) stop(t *testing.T) (statements, connections int) {
	t.Helper()
	for _, name := range l.names {
		b, err := os.ReadFile(filepath.Join(l.fleet.Region(t, name).ClusterDir, "postgres.log"))
		require.NoError(t, err)
		for _, line := range strings.Split(string(b[l.offsets[name]:]), "\n") {
			switch {
			case strings.Contains(line, "ALTER SYSTEM"), strings.Contains(line, "pg_reload_conf"):
			case strings.Contains(line, "LOG:  statement: "), strings.Contains(line, "LOG:  execute "):
				statements++
			case strings.Contains(line, "LOG:  connection authorized"):
				connections++
			}
		}
	}
	l.set(t, "none", "off")
	return statements, connections
}
