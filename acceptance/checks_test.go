package acceptance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
)

// checkTimeout bounds each check's talk with PostgreSQL.
const checkTimeout = 30 * time.Second

// dbInstance is one dbfleet_database in state.
type dbInstance struct {
	address  string
	region   string
	name     string
	host     string
	port     int
	owner    string
	password string
}

// instancesOf returns the databases in a state as `terraform show -json`
// renders it (what state checks get; unlike the legacy state it holds
// for_each instances), and records their passwords as secrets.
func instancesOf(state *tfjson.State) []dbInstance {
	if state == nil || state.Values == nil || state.Values.RootModule == nil {
		return nil
	}
	var out []dbInstance
	for _, r := range state.Values.RootModule.Resources {
		if r.Mode != tfjson.ManagedResourceMode || r.Type != "dbfleet_database" {
			continue
		}
		str := func(name string) string { s, _ := r.AttributeValues[name].(string); return s }
		db := dbInstance{
			address: r.Address, region: str("region"), name: str("name"),
			host: str("host"), owner: str("owner"), password: str("password"),
		}
		switch port := r.AttributeValues["port"].(type) {
		case float64:
			db.port = int(port)
		case json.Number:
			p, _ := port.Int64()
			db.port = int(p)
		}
		out = append(out, db.recordSecret())
	}
	return out
}

// instancesOfLegacy returns the databases in a legacy (flatmap) state, what
// Check and CheckDestroy get, and records their passwords as secrets.
func instancesOfLegacy(state *terraform.State) []dbInstance {
	var out []dbInstance
	for address, rs := range state.RootModule().Resources {
		if rs.Type != "dbfleet_database" || rs.Primary == nil {
			continue
		}
		a := rs.Primary.Attributes
		port, _ := strconv.Atoi(a["port"])
		db := dbInstance{
			address: address, region: a["region"], name: a["name"],
			host: a["host"], port: port, owner: a["owner"], password: a["password"],
		}
		out = append(out, db.recordSecret())
	}
	return out
}

func (db dbInstance) recordSecret() dbInstance {
	fleet.secrets.add(db.password, fmt.Sprintf("the password of database %s/%s", db.region, db.name))
	return db
}

// ownerRole is the database's owner role: as state holds it, or, when a
// failed create left it null, the name dbfleetd gives it.
func (db dbInstance) ownerRole() string {
	if db.owner != "" {
		return db.owner
	}
	return ops.OwnerRoleName(db.name)
}

// stateCheck turns a function of the state (as `terraform show -json`
// renders it) into a statecheck.StateCheck.
type stateCheck func(*tfjson.State) error

// CheckState implements statecheck.StateCheck.
func (f stateCheck) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	resp.Error = f(req.State)
}

// recordSecrets records the passwords in state as secrets.
func recordSecrets() statecheck.StateCheck {
	return stateCheck(func(state *tfjson.State) error {
		instancesOf(state)
		return nil
	})
}

// checkOwnersConnect connects to every database in state as its owner, with
// the password from state, and checks that PostgreSQL answers and that the
// role owns the database.
func checkOwnersConnect() statecheck.StateCheck {
	return stateCheck(func(state *tfjson.State) error {
		dbs := instancesOf(state)
		if len(dbs) == 0 {
			return errors.New("no dbfleet_database in state")
		}
		var errs []error
		for _, db := range dbs {
			errs = append(errs, ownerConnects(db))
		}
		return errors.Join(errs...)
	})
}

// ownerConnects connects to db as its owner and asks PostgreSQL who owns it.
func ownerConnects(db dbInstance) error {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	conn, err := connectAsOwner(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil || one != 1 {
		return fmt.Errorf("%s: SELECT 1 as %s answered %d, %v", db.address, db.owner, one, err)
	}
	var user, owner string
	err = conn.QueryRow(ctx, `SELECT current_user, pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()`).Scan(&user, &owner)
	if err != nil {
		return fmt.Errorf("%s: asking who owns the database: %w", db.address, err)
	}
	if user != db.owner || owner != db.owner {
		return fmt.Errorf("%s: connected as %s to a database owned by %s; want both to be %s", db.address, user, owner, db.owner)
	}
	return nil
}

// connectAsOwner connects to db with the owner and password from state. It
// refuses an address that is not loopback: the tests talk to nothing else.
func connectAsOwner(ctx context.Context, db dbInstance) (*pgx.Conn, error) {
	if ip := net.ParseIP(db.host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s: host %q is not a loopback address", db.address, db.host)
	}
	if db.owner == "" || db.password == "" || db.port <= 0 {
		return nil, fmt.Errorf("%s: state lacks owner, password or port", db.address)
	}
	dsn := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(db.owner, db.password),
		Host:     net.JoinHostPort(db.host, strconv.Itoa(db.port)),
		Path:     "/" + db.name,
		RawQuery: "sslmode=disable&connect_timeout=10",
	}
	conn, err := pgx.Connect(ctx, dsn.String())
	if err != nil {
		return nil, fmt.Errorf("%s: connecting as %s: %w", db.address, db.owner, err)
	}
	return conn, nil
}

// checkDestroyed is a CheckDestroy that asks, for every database the state
// held, PostgreSQL that the database and its owner role are gone and
// dbfleetd that it no longer knows the database.
func checkDestroyed(t *testing.T) resource.TestCheckFunc {
	return func(state *terraform.State) error {
		var errs []error
		for _, db := range instancesOfLegacy(state) {
			errs = append(errs, checkGone(t, db))
		}
		return errors.Join(errs...)
	}
}

// checkGone asks PostgreSQL that db and its owner role are gone, and
// dbfleetd that it answers 404 for db.
func checkGone(t *testing.T, db dbInstance) error {
	t.Helper()
	admin, ok := fleet.admin[db.region]
	if !ok {
		return fmt.Errorf("%s: no dev region %q", db.address, db.region)
	}
	var errs []error
	if daemontest.DatabaseExists(t, admin, db.name) {
		errs = append(errs, fmt.Errorf("%s: database %s still exists in region %s", db.address, db.name, db.region))
	}
	if role := db.ownerRole(); daemontest.RoleExists(t, admin, role) {
		errs = append(errs, fmt.Errorf("%s: owner role %s still exists in region %s", db.address, role, db.region))
	}
	if resp := fleet.api().Do(t, http.MethodGet, databasePath(db.region, db.name), nil); resp.Status != http.StatusNotFound {
		errs = append(errs, fmt.Errorf("%s: dbfleetd answered GET with %d, want 404: %s", db.address, resp.Status, resp.Body))
	}
	return errors.Join(errs...)
}

// databasePath is a database's path in dbfleetd's API.
func databasePath(region, name string) string {
	return "/v1/databases/" + region + "/" + name
}

// deleteThroughAPI deletes a database behind Terraform's back, as an
// operator with curl would: it turns deletion protection off, deletes the
// database and waits for each operation.
func deleteThroughAPI(t *testing.T, d database) {
	t.Helper()
	api := fleet.api()
	off := false
	for _, req := range []struct {
		method string
		body   any
	}{
		{http.MethodPut, apiv1.DatabaseSpec{DeletionProtection: &off, SkipFinalBackup: true}},
		{http.MethodDelete, nil},
	} {
		op := api.Do(t, req.method, databasePath(d.region, d.name), req.body).Operation(t)
		done := api.Wait(t, op.ID, 2*time.Minute)
		require.Equal(t, apiv1.OperationSucceeded, done.State, "%s %s: operation %s: %+v", req.method, d.id(), op.ID, done.Error)
	}
	require.False(t, daemontest.DatabaseExists(t, fleet.admin[d.region], d.name), "database %s still exists in PostgreSQL", d.id())
}

// getDatabase returns what dbfleetd's API says of a database.
func getDatabase(t *testing.T, d database) apiv1.Database {
	t.Helper()
	resp := fleet.api().Do(t, http.MethodGet, databasePath(d.region, d.name), nil)
	require.Equal(t, http.StatusOK, resp.Status, "GET %s: %s", d.id(), resp.Body)
	var db apiv1.Database
	resp.Decode(t, &db)
	fleet.secrets.add(db.Password, "the password of database "+d.id())
	return db
}

// writeOrders creates a table with a row in every database in state, as
// its owner, so that a backup has something to show.
func writeOrders() statecheck.StateCheck {
	return stateCheck(func(state *tfjson.State) error {
		var errs []error
		for _, db := range instancesOf(state) {
			errs = append(errs, createOrders(db))
		}
		return errors.Join(errs...)
	})
}

func createOrders(db dbInstance) error {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	conn, err := connectAsOwner(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE orders (id bigint PRIMARY KEY); INSERT INTO orders VALUES (1)`); err != nil {
		return fmt.Errorf("%s: creating table orders as %s: %w", db.address, db.owner, err)
	}
	return nil
}

// clientProgram is a PostgreSQL client program (psql, pg_restore): the one beside the regions'
// server programs, or, when that build has none (the npm server builds of other versions), the
// newest the machine has beside a pg_dump, which reads archives and speaks to servers of any
// supported version the tests use.
func clientProgram(name string) (string, error) {
	p, err := pgbin.Path(name)
	if err == nil {
		return p, nil
	}
	dumps, findErr := pgbin.FindPgDumps(context.Background(), nil)
	if findErr != nil {
		return "", errors.Join(err, findErr)
	}
	for i := len(dumps) - 1; i >= 0; i-- {
		candidate := filepath.Join(filepath.Dir(dumps[i].Path), name)
		if info, statErr := os.Stat(candidate); statErr == nil && info.Mode().Perm()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", err
}

// checkFinalBackup checks, after destroy, the final backups dbfleetd keeps
// of d: with keep, one whole pg_dump archive readable by its owner only that
// holds the table orders; otherwise none.
func checkFinalBackup(d database, keep bool) resource.TestCheckFunc {
	return func(*terraform.State) error {
		dumps, err := filepath.Glob(filepath.Join(fleet.dataDir, "backups", d.region, d.name+"-*.dump"))
		if err != nil {
			return err
		}
		if !keep {
			if len(dumps) != 0 {
				return fmt.Errorf("skip_final_backup = true, yet dbfleetd kept %v", dumps)
			}
			return nil
		}
		if len(dumps) != 1 {
			return fmt.Errorf("want one final backup of %s, found %v", d.id(), dumps)
		}
		dump := dumps[0]
		info, err := os.Stat(dump)
		if err != nil {
			return err
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			return fmt.Errorf("final backup %s has mode %o, want 600: it holds the database's data", dump, perm)
		}
		pgRestore, err := clientProgram("pg_restore")
		if err != nil {
			return err
		}
		list, err := exec.Command(pgRestore, "--list", dump).CombinedOutput()
		if err != nil {
			return fmt.Errorf("pg_restore --list %s: %w\n%s", dump, err, list)
		}
		for _, want := range []string{"TABLE public orders", "TABLE DATA public orders"} {
			if !bytes.Contains(list, []byte(want)) {
				return fmt.Errorf("final backup %s lacks %q; pg_restore --list says:\n%s", dump, want, list)
			}
		}
		return nil
	}
}
