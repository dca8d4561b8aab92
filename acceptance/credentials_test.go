package acceptance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-version"
	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// cliUnderTest is the CLI that terraform-plugin-testing runs: Terraform or
// OpenTofu, and its version.
type cliUnderTest struct {
	openTofu bool
	version  *version.Version
}

// String names the CLI and its version.
func (c cliUnderTest) String() string {
	if c.openTofu {
		return "OpenTofu " + c.version.String()
	}
	return "Terraform " + c.version.String()
}

// ephemeralValues reports whether the CLI has ephemeral resources and
// values: Terraform 1.10+, OpenTofu 1.11+.
func (c cliUnderTest) ephemeralValues() bool {
	if c.openTofu {
		return c.version.Core().GreaterThanOrEqual(version.Must(version.NewVersion("1.11.0")))
	}
	return c.version.Core().GreaterThanOrEqual(version.Must(version.NewVersion("1.10.0")))
}

// resourceIdentity reports whether the CLI has resource identities:
// Terraform 1.12+, OpenTofu 1.12+.
func (c cliUnderTest) resourceIdentity() bool {
	return c.version.Core().GreaterThanOrEqual(version.Must(version.NewVersion("1.12.0")))
}

// detectCLI asks the CLI at TF_ACC_TERRAFORM_PATH what it is.
func detectCLI(t *testing.T) cliUnderTest {
	t.Helper()
	bin := os.Getenv(envTerraformPath)
	out, err := exec.Command(bin, "version", "-json").Output()
	require.NoError(t, err, "%s version -json", bin)
	var v struct {
		Version string `json:"terraform_version"`
	}
	// OpenTofu may print warnings (about a missing CLI configuration file)
	// before the JSON.
	start := max(strings.IndexByte(string(out), '{'), 0)
	require.NoError(t, json.Unmarshal(out[start:], &v), "%s version -json: %s", bin, out)
	text, err := exec.Command(bin, "version").Output()
	require.NoError(t, err, "%s version", bin)
	return cliUnderTest{openTofu: strings.Contains(string(text), "OpenTofu v"), version: version.Must(version.NewVersion(v.Version))}
}

// credentialsConfig is a database that keeps its password out of state,
// read through dbfleet_database_credentials and used by psql in a
// provisioner, which writes the role it logged in as to loginFile; and a
// control database that keeps its password in state, as before.
func credentialsConfig(d database, control, psql, loginFile string, passwordVersion int) string {
	return fmt.Sprintf(`resource "dbfleet_database" "test" {
  region              = %[1]q
  name                = %[2]q
  deletion_protection = false
  skip_final_backup   = true
  password_in_state   = false
  password_version    = %[5]d
}

resource "dbfleet_database" "control" {
  region              = %[1]q
  name                = %[3]q
  deletion_protection = false
  skip_final_backup   = true
}

ephemeral "dbfleet_database_credentials" "test" {
  id = dbfleet_database.test.id
}

resource "terraform_data" "login" {
  triggers_replace = [dbfleet_database.test.password_version]

  provisioner "local-exec" {
    command = "%[4]s -X -A -t -c 'SELECT current_user' -o %[6]s"
    environment = {
      PGHOST            = ephemeral.dbfleet_database_credentials.test.host
      PGPORT            = ephemeral.dbfleet_database_credentials.test.port
      PGDATABASE        = ephemeral.dbfleet_database_credentials.test.database
      PGUSER            = ephemeral.dbfleet_database_credentials.test.user
      PGPASSWORD        = ephemeral.dbfleet_database_credentials.test.password
      PGSSLMODE         = "disable"
      PGCONNECT_TIMEOUT = "10"
    }
  }
}
`, d.region, d.name, control, psql, passwordVersion, loginFile)
}

// TestAccDatabaseCredentials_PasswordOutOfStatePlanAndLogs runs, under a
// CLI with ephemeral values, a database with password_in_state = false whose
// credentials psql gets from the ephemeral dbfleet_database_credentials:
//
//  1. psql logs in with them; the state holds the control database's
//     password (the scan works) and not this one's;
//  2. password_version changes: dbfleet rotates the password; psql logs in
//     with the new one, the old one no longer logs in, the plan and the
//     state hold neither, and two reconciler passes later the new password
//     still logs in and the old one still does not.
//
// The CLI's and the provider's TRACE logs of the whole test hold no password
// of the database either; TestMain checks dbfleetd's log.
//
// It sets the log environment for its run, so it does not run in parallel.
func TestAccDatabaseCredentials_PasswordOutOfStatePlanAndLogs(t *testing.T) {
	d := setup(t, "acc_creds")
	cli := detectCLI(t)
	if !cli.ephemeralValues() {
		t.Skipf("%s has no ephemeral resources (Terraform 1.10+, OpenTofu 1.11+): dbfleet_database_credentials cannot be used there", cli)
	}
	logDir := t.TempDir()
	t.Setenv("TF_ACC_LOG", "TRACE")
	t.Setenv("TF_LOG", "TRACE")
	t.Setenv("TF_LOG_PATH_MASK", filepath.Join(logDir, "%s.log"))
	psql, err := clientProgram("psql")
	require.NoError(t, err)
	loginFile := filepath.Join(t.TempDir(), "login")
	control := d.name + "_ctl"
	test, ctl := databaseAddress, "dbfleet_database.control"

	var first, rotated, controlPassword string
	apiPasswords := func() (test apiv1.Database, err error) {
		ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
		defer cancel()
		c, err := apiDatabase(ctx, d.region, control)
		if err != nil {
			return test, err
		}
		controlPassword = c.Password
		return apiDatabase(ctx, d.region, d.name)
	}
	loggedIn := func() error {
		b, err := os.ReadFile(loginFile)
		if err != nil {
			return fmt.Errorf("psql in the provisioner wrote nothing: %w", err)
		}
		if got, want := strings.TrimSpace(string(b)), ownerOf(d.name); got != want {
			return fmt.Errorf("psql logged in as %q, want %q", got, want)
		}
		return nil
	}

	resource.Test(t, testCase(t, []resource.TestStep{
		{
			Config: credentialsConfig(d, control, psql, loginFile, 1),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(test, tfjsonpath.New("password"), knownvalue.Null()),
				statecheck.ExpectKnownValue(test, tfjsonpath.New("password_in_state"), knownvalue.Bool(false)),
				statecheck.ExpectKnownValue(ctl, tfjsonpath.New("password_in_state"), knownvalue.Bool(true)),
				stateCheck(func(state *tfjson.State) error {
					db, err := apiPasswords()
					if err != nil {
						return err
					}
					first = db.Password
					return errors.Join(loggedIn(), holdsOnly(state, "state", controlPassword, first))
				}),
			},
		},
		{
			PreConfig: func() { require.NoError(t, os.Remove(loginFile)) },
			Config:    credentialsConfig(d, control, psql, loginFile, 2),
			ConfigPlanChecks: resource.ConfigPlanChecks{
				PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(test, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(test, tfjsonpath.New("password"), knownvalue.Null()),
					planCheck(func(plan *tfjson.Plan) error { return holdsOnly(plan, "plan", controlPassword, first) }),
				},
			},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(test, tfjsonpath.New("password"), knownvalue.Null()),
				stateCheck(func(state *tfjson.State) error {
					db, err := apiPasswords()
					if err != nil {
						return err
					}
					rotated = db.Password
					if rotated == first {
						return errors.New("password_version changed, yet dbfleetd reports the same password")
					}
					return errors.Join(loggedIn(), holdsOnly(state, "state", controlPassword, first, rotated),
						checkRotated(db, first, rotated))
				}),
				stateCheck(func(*tfjson.State) error {
					db, err := apiPasswords()
					if err != nil {
						return err
					}
					if err := awaitReconcilerCheck(); err != nil {
						return err
					}
					return checkRotated(db, first, rotated)
				}),
			},
		},
	}))

	logs, err := filepath.Glob(filepath.Join(logDir, "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, logs, "the CLI and the provider wrote TRACE logs")
	var all []byte
	for _, p := range logs {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		all = append(all, b...)
	}
	require.Contains(t, string(all), "dbfleet_database_credentials", "the logs cover the ephemeral resource")
	require.Contains(t, string(all), "Read database credentials", "the provider's own log lines are there")
	for what, p := range map[string]string{"first": first, "rotated": rotated} {
		require.NotContains(t, string(all), p, "the %s password is in the TRACE logs of %s", what, cli)
	}
	t.Logf("%s: no password of %s in state, plan or %d bytes of TRACE logs", cli, d.id(), len(all))
}

// ownerOf is the owner role dbfleetd gives the database name.
func ownerOf(name string) string { return dbInstance{name: name}.ownerRole() }

// holdsOnly checks that the JSON of v (a state or plan, as `show -json`
// renders it) holds want, which proves that the scan sees passwords, and
// none of absent.
func holdsOnly(v any, what, want string, absent ...string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if want == "" || !strings.Contains(string(b), want) {
		return fmt.Errorf("the %s lacks the control database's password, which it keeps in state: the scan sees nothing", what)
	}
	for _, p := range absent {
		if p != "" && strings.Contains(string(b), p) {
			return fmt.Errorf("the %s holds the password of the database with password_in_state = false", what)
		}
	}
	return nil
}

// checkRotated checks that db's owner logs in with rotated and not with
// first.
func checkRotated(db apiv1.Database, first, rotated string) error {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	inst := dbInstance{address: databaseAddress, region: db.Region, name: db.Name, host: db.Host, port: db.Port, owner: db.Owner}
	withNew, withOld := inst, inst
	withNew.password, withOld.password = rotated, first
	if err := ownerConnects(withNew); err != nil {
		return fmt.Errorf("the new password does not log in: %w", err)
	}
	conn, err := connectAsOwner(ctx, withOld)
	if err == nil {
		conn.Close(ctx)
		return errors.New("the old password still logs in")
	}
	if !strings.Contains(err.Error(), "password authentication failed") {
		return fmt.Errorf("the old password failed for another reason than the password: %w", err)
	}
	return nil
}

// reconcilePasses matches the reconciler's pass counter in /metrics.
var reconcilePasses = regexp.MustCompile(`(?m)^dbfleet_reconcile_passes_total(?:\{[^}]*\})? (\d+)`)

// reconcileDue is the longest a database waits for its next check in
// dbfleetd dev: the interval, 30 s, with its 10 % jitter, and the quarter
// interval between passes that look for databases due.
const reconcileDue = 33*time.Second + 7500*time.Millisecond

// awaitReconcilerCheck waits until dbfleetd's reconciler has checked every
// database at least once since it was called: past reconcileDue, two more
// passes end, the first of which may have started before.
func awaitReconcilerCheck() error {
	time.Sleep(reconcileDue)
	const n = 2
	count := func() (int, error) {
		resp, err := http.Get(fleet.endpoint + "/metrics")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err
		}
		total := 0
		for _, m := range reconcilePasses.FindAllStringSubmatch(string(b), -1) {
			v, err := strconv.Atoi(m[1])
			if err != nil {
				return 0, fmt.Errorf("reading %s: %w", m[0], err)
			}
			total += v
		}
		return total, nil
	}
	start, err := count()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(driftTimeout)
	for time.Now().Before(deadline) {
		got, err := count()
		if err != nil {
			return err
		}
		if got >= start+n {
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("the reconciler did not finish %d passes within %s", n, driftTimeout)
}

// TestAccDatabase_RotatesPasswordInState rotates, on any CLI, the password
// of a database that keeps it in state (the default): the plan shows the
// password as known after apply, the state then holds a new one that logs
// in, and the old one no longer logs in.
func TestAccDatabase_RotatesPasswordInState(t *testing.T) {
	d := setup(t, "acc_rotate")
	config := func(version int) string {
		return fmt.Sprintf(`resource "dbfleet_database" "test" {
  region              = %q
  name                = %q
  deletion_protection = false
  skip_final_backup   = true
  password_version    = %d
}
`, d.region, d.name, version)
	}
	var first string
	statePassword := func(state *tfjson.State) (dbInstance, error) {
		dbs := instancesOf(state)
		if len(dbs) != 1 || dbs[0].password == "" {
			return dbInstance{}, fmt.Errorf("want one database with its password in state, got %d", len(dbs))
		}
		return dbs[0], nil
	}
	resource.ParallelTest(t, testCase(t, []resource.TestStep{
		{
			Config: config(1),
			ConfigStateChecks: []statecheck.StateCheck{
				checkOwnersConnect(),
				stateCheck(func(state *tfjson.State) error {
					db, err := statePassword(state)
					first = db.password
					return err
				}),
			},
		},
		{
			Config: config(2),
			ConfigPlanChecks: resource.ConfigPlanChecks{
				PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(databaseAddress, plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue(databaseAddress, tfjsonpath.New("password")),
				},
			},
			ConfigStateChecks: []statecheck.StateCheck{
				checkOwnersConnect(),
				stateCheck(func(state *tfjson.State) error {
					db, err := statePassword(state)
					if err != nil {
						return err
					}
					if db.password == first {
						return errors.New("password_version changed, yet the state holds the same password")
					}
					return checkRotated(apiv1.Database{Region: db.region, Name: db.name, Host: db.host, Port: db.port, Owner: db.owner}, first, db.password)
				}),
			},
		},
	}))
}
