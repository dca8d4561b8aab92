package acceptance

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
)

// raceTimeout bounds each wait of the race test for the other side.
const raceTimeout = 2 * time.Minute

// TestAccDatabase_RacingAppliesOneWins runs two `terraform apply` of the
// same database, each in its own working directory with its own state, as
// two engineers (or two CI jobs) would. The second apply's PUT is held at a
// proxy until the first apply's create operation runs (its migration takes
// three seconds), then sent: dbfleetd refuses it with 409, and the provider
// says which operation is changing the database and what to do.
//
// Afterwards the database is intact: one database and one role in the
// region, a ledger with the one version, dbfleetd's record ready at the
// version with no operation left on it, and one operation in its history.
// Both working directories then converge: the winner's plan has nothing to
// do, and the loser's next apply takes the database over without changing
// anything in the region.
func TestAccDatabase_RacingAppliesOneWins(t *testing.T) {
	db := setup(t, "acc_race")
	t.Parallel()
	ctx := context.Background()
	schema := daemontest.UniqueName("acc_race_app")
	put := fleet.api().Do(t, http.MethodPut, schemaPath(schema), apiv1.SchemaSpec{Migrations: []apiv1.Migration{
		{Version: 1, Up: "CREATE TABLE items (id int PRIMARY KEY);\nSELECT pg_sleep(3);"},
	}})
	require.Less(t, put.Status, 300, "PUT schema: %s", put.Body)

	gate := newPutGate(t)
	dir := t.TempDir()
	tf := newTerraformCLI(t, dir)
	for sub, endpoint := range map[string]string{"winner": "", "loser": gate.url()} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, sub), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, sub, "main.tf"), []byte(raceConfig(db, schema, endpoint)), 0o644))
	}
	// applies are the applies still running; the destroy waits for them,
	// since a failed check ends the test while they run.
	var applies sync.WaitGroup
	t.Cleanup(func() {
		gate.open()
		applies.Wait()
		if _, err := tf.run("winner", "destroy", "-no-color", "-auto-approve"); err != nil {
			t.Errorf("destroying: %v", err)
		}
	})
	apply := func(sub string) <-chan error {
		done := make(chan error, 1)
		applies.Go(func() {
			_, err := tf.run(sub, "apply", "-no-color", "-auto-approve")
			done <- err
		})
		return done
	}

	loser := apply("loser")
	select {
	case <-gate.arrived:
	case err := <-loser:
		t.Fatalf("the loser's apply ended before it sent its PUT: %v", err)
	case <-time.After(raceTimeout):
		t.Fatal("the loser's apply sent no PUT")
	}
	winner := apply("winner")
	var running apiv1.Operation
	require.Eventually(t, func() bool {
		ops, err := apiOperations(ctx, db.region, db.name)
		require.NoError(t, err)
		if len(ops) == 1 && !ops[0].Done {
			running = ops[0]
		}
		return running.ID != ""
	}, raceTimeout, 20*time.Millisecond, "the winner's create operation runs")
	gate.open()

	err := <-loser
	require.Error(t, err, "the loser's apply fails")
	require.Regexp(t, diagnostic("Error: Unable to Create Database",
		fmt.Sprintf("Could not create database %q in region %q:", db.name, db.region),
		"dbfleet API answered 409 Conflict (operation_in_progress): operation "+running.ID+" is still running",
		"Operation "+running.ID+" is already changing this database. Wait until it is done, then run Terraform again."), err.Error())
	require.NoError(t, <-winner, "the winner's apply")
	state, err := decodeState(tf.mustRun("winner", "show", "-no-color", "-json"))
	require.NoError(t, err)
	require.Len(t, instancesOf(state), 1, "the winner's state holds the database")

	// Intact: one database, one role, the ledger, dbfleetd's record, and
	// the winner's operation alone in its history.
	first := checkRaceIntact(t, db, schema)
	ops, err := apiOperations(ctx, db.region, db.name)
	require.NoError(t, err)
	require.Len(t, ops, 1, "the refused PUT started no operation: %+v", ops)
	require.Equal(t, running.ID, ops[0].ID)
	require.Equal(t, apiv1.OperationSucceeded, ops[0].State)

	// Both converge, and nothing in the region changes.
	tf.mustRun("winner", "plan", "-no-color", "-detailed-exitcode")
	tf.mustRun("loser", "apply", "-no-color", "-auto-approve")
	tf.mustRun("loser", "plan", "-no-color", "-detailed-exitcode")
	require.Equal(t, first, checkRaceIntact(t, db, schema), "the ledger of the database the loser took over")
}

// raceConfig is a configuration of db running schema, unprotected, with the
// provider pointed at endpoint when it is not empty.
func raceConfig(db database, schema, endpoint string) string {
	config := "terraform {\n  required_providers {\n    dbfleet = {\n      source = \"dbfleet/dbfleet\"\n    }\n  }\n}\n\n"
	if endpoint != "" {
		config += fmt.Sprintf("provider \"dbfleet\" {\n  endpoint = %s\n}\n\n", hclString(endpoint))
	}
	return config + fmt.Sprintf(`resource "dbfleet_database" "test" {
  region              = %s
  name                = %s
  schema              = %s
  deletion_protection = false
  skip_final_backup   = true
}
`, hclString(db.region), hclString(db.name), hclString(schema))
}

// checkRaceIntact checks that the region has db once, with one role, and a
// ledger at version 1, and that dbfleetd reports it ready at that version
// with no operation on it. It returns the ledger.
func checkRaceIntact(t *testing.T, db database, schema string) map[int64]time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	admin := fleet.admin[db.region]
	var databases, roles int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, db.name).Scan(&databases))
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname LIKE $1 || '%'`, db.name).Scan(&roles))
	require.Equal(t, 1, databases, "databases named %s", db.name)
	require.Equal(t, 1, roles, "roles named after %s", db.name)
	require.NoError(t, checkLedgerVersions(db.name, []string{db.region}, 1))
	l, err := ledger(db.region, db.name)
	require.NoError(t, err)

	got, err := apiDatabase(ctx, db.region, db.name)
	require.NoError(t, err)
	require.Equal(t, apiv1.DatabaseStatusReady, got.Status)
	require.Equal(t, schema, got.Schema)
	require.Equal(t, int64(1), got.AppliedVersion)
	require.Equal(t, got.Generation, got.ObservedGeneration)
	require.Empty(t, got.OperationID)
	return l
}

// putGate is a reverse proxy on loopback in front of dbfleetd that holds
// every PUT until it is opened, and says on arrived when the first one
// came.
type putGate struct {
	server  *httptest.Server
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

// newPutGate starts a putGate, closed when the test ends.
func newPutGate(t *testing.T) *putGate {
	t.Helper()
	target, err := url.Parse(fleet.endpoint)
	require.NoError(t, err)
	upstream := httputil.NewSingleHostReverseProxy(target)
	g := &putGate{arrived: make(chan struct{}, 1), release: make(chan struct{})}
	g.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			select {
			case g.arrived <- struct{}{}:
			default:
			}
			select {
			case <-g.release:
			case <-r.Context().Done():
				return
			}
		}
		upstream.ServeHTTP(w, r)
	}))
	t.Cleanup(g.server.Close)
	// Runs before Close, which waits for the requests it holds.
	t.Cleanup(g.open)
	return g
}

// url is the gate's URL, for the provider's endpoint.
func (g *putGate) url() string {
	return g.server.URL
}

// open lets every held and later PUT through.
func (g *putGate) open() {
	g.once.Do(func() { close(g.release) })
}
