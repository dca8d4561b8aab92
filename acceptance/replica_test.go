package acceptance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

const (
	// replicaRows is how many rows the replica tests write to the source:
	// enough for the consistency check to compare items in several chunks.
	replicaRows = 25_000
	// tamperedID is the row the divergence test changes on one replica.
	tamperedID = 17_000
	// replicationTimeout bounds how long rows written to a source may take
	// to reach its replicas, and a subscription to report streaming.
	replicationTimeout = 90 * time.Second
	// verifyTimeout bounds a consistency check.
	verifyTimeout = 2 * time.Minute
)

// replicaSource is the region of the source in the replica tests.
const replicaSource = "westeurope"

// replicaRegions are the regions of the replicas in the replica tests.
var replicaRegions = []string{"northeurope", "eastus"}

// replicaSet is a configuration of a dbfleet_schema, its source database in
// westeurope and replicas of it in northeurope and eastus.
type replicaSet struct {
	schema string
	name   string
}

// address is the address of the database in region.
func (s replicaSet) address(region string) string {
	if region == replicaSource {
		return "dbfleet_database.source"
	}
	return "dbfleet_database." + region
}

// config renders s, with extra appended.
func (s replicaSet) config(extra string) string {
	c := fmt.Sprintf(`resource "dbfleet_schema" "app" {
  name = %q

  migrations = [
    {
      version = 1
      up      = "CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL)"
    },
  ]
}

resource "dbfleet_database" "source" {
  region              = %q
  name                = %q
  schema              = dbfleet_schema.app.name
  deletion_protection = false
  skip_final_backup   = true
}
`, s.schema, replicaSource, s.name)
	for _, region := range replicaRegions {
		c += fmt.Sprintf(`
resource "dbfleet_database" %q {
  region              = %q
  name                = %q
  schema              = dbfleet_schema.app.name
  replica_of          = %q
  deletion_protection = false
  skip_final_backup   = true

  depends_on = [dbfleet_database.source]
}
`, region, region, s.name, replicaSource)
	}
	return c + extra
}

// TestAccReplica_FollowsItsSourceAndVerifies runs a source in westeurope
// and replicas of it in northeurope and eastus, all in one configuration:
//
//  1. The apply creates the schema, then the source, then the replicas
//     (their plan waits for the source with a warning). Rows inserted in the
//     source with pgx, as its owner with the password from state, reach both
//     replicas, as PostgreSQL on each says.
//  2. :verify, over HTTP, finds each replica consistent; after a refresh,
//     each replica's consistency.result is "consistent" and replication
//     streams with its table ready.
//  3. A row changed on the eastus replica alone, as its superuser: the next
//     :verify finds items inconsistent within a key range that holds the row,
//     and the refreshed state says so; northeurope stays consistent.
//  4. Import of a replica gives back its replica_of and settings.
//  5. The data sources dbfleet_database and dbfleet_operation read the
//     eastus replica and that :verify operation.
//
// The destroy deletes the replicas before their source (depends_on), which
// dbfleetd requires; CheckDestroy asks PostgreSQL that the databases, their
// owners, the subscriptions' slots on the source and the replication role
// are gone, and dbfleetd's operations that the source went last.
func TestAccReplica_FollowsItsSourceAndVerifies(t *testing.T) {
	set := replicaSet{name: setup(t, "acc_replica").name, schema: daemontest.UniqueName("acc_replica_app")}
	if refused := replicaRefusal(t, replicaRegions[0], replicaSource); refused != nil {
		// The regions cannot replicate (a managed admin before PostgreSQL 16): the first plan
		// says so, naming the missing right, and creates nothing.
		resource.ParallelTest(t, testCase(t, []resource.TestStep{{Config: set.config(""), ExpectError: refused}}))
		return
	}
	var verifyOperation string

	var creates []plancheck.PlanCheck
	created := []statecheck.StateCheck{
		statecheck.ExpectKnownValue(set.address(replicaSource), tfjsonpath.New("replica_of"), knownvalue.Null()),
		statecheck.ExpectKnownValue(set.address(replicaSource), tfjsonpath.New("replication"), knownvalue.Null()),
		statecheck.ExpectKnownValue(set.address(replicaSource), tfjsonpath.New("consistency"), knownvalue.Null()),
	}
	for _, region := range append([]string{replicaSource}, replicaRegions...) {
		address := set.address(region)
		creates = append(creates, plancheck.ExpectResourceAction(address, plancheck.ResourceActionCreate))
		created = append(created,
			statecheck.ExpectKnownValue(address, tfjsonpath.New("status"), knownvalue.StringExact(apiv1.DatabaseStatusReady)),
			statecheck.ExpectKnownValue(address, tfjsonpath.New("applied_version"), knownvalue.Int64Exact(1)),
			statecheck.ExpectKnownValue(address, tfjsonpath.New("drift_policy"), knownvalue.StringExact(apiv1.DriftPolicyHeal)),
			statecheck.ExpectKnownValue(address, tfjsonpath.New("drift"), knownvalue.Null()),
			statecheck.ExpectSensitiveValue(address, tfjsonpath.New("password")),
		)
	}
	for _, region := range replicaRegions {
		address := set.address(region)
		created = append(created,
			statecheck.ExpectKnownValue(address, tfjsonpath.New("replica_of"), knownvalue.StringExact(replicaSource)),
			statecheck.ExpectKnownValue(address, tfjsonpath.New("replication"), knownvalue.NotNull()),
			statecheck.ExpectKnownValue(address, tfjsonpath.New("consistency"), knownvalue.Null()),
		)
	}
	created = append(created, checkOwnersConnect(), insertAndAwaitReplicas(set))

	consistentChecks := []resource.TestCheckFunc{}
	for _, region := range replicaRegions {
		address := set.address(region)
		consistentChecks = append(consistentChecks,
			resource.TestCheckResourceAttr(address, "consistency.result", "consistent"),
			resource.TestCheckNoResourceAttr(address, "consistency.error"),
			resource.TestCheckResourceAttr(address, "consistency.tables.#", "1"),
			resource.TestCheckResourceAttr(address, "consistency.tables.0.name", "public.items"),
			resource.TestCheckResourceAttr(address, "consistency.tables.0.consistent", "true"),
			resource.TestCheckResourceAttr(address, "consistency.tables.0.source_rows", strconv.Itoa(replicaRows)),
			resource.TestCheckResourceAttr(address, "consistency.tables.0.replica_rows", strconv.Itoa(replicaRows)),
			resource.TestCheckResourceAttr(address, "consistency.tables.0.differing_ranges.#", "0"),
			resource.TestCheckResourceAttrSet(address, "consistency.checked_at"),
			resource.TestCheckResourceAttr(address, "replication.state", "streaming"),
			resource.TestCheckResourceAttr(address, "replication.tables.public.items", "ready"),
			resource.TestCheckNoResourceAttr(address, "replication.error"),
		)
	}

	eastus := set.address("eastus")
	dataSources := `
variable "verify_operation" {
  type = string
}

data "dbfleet_database" "eastus" {
  region = dbfleet_database.eastus.region
  name   = dbfleet_database.eastus.name
}

data "dbfleet_operation" "verify" {
  id = var.verify_operation
}
`
	resource.ParallelTest(t, testCase(t, []resource.TestStep{
		{
			Config:            set.config(""),
			ConfigPlanChecks:  resource.ConfigPlanChecks{PreApply: creates},
			ConfigStateChecks: created,
		},
		{
			PreConfig: func() {
				for _, region := range replicaRegions {
					awaitStreaming(t, region, set.name)
					db := verifyReplica(t, region, set.name)
					require.Equal(t, "consistent", db.Consistency.Result, "%s/%s: %+v", region, set.name, db.Consistency)
				}
			},
			RefreshState: true,
			Check:        resource.ComposeAggregateTestCheckFunc(consistentChecks...),
		},
		{
			PreConfig: func() {
				adminExecIn(t, "eastus", set.name, fmt.Sprintf(`UPDATE items SET label = 'tampered' WHERE id = %d`, tamperedID))
				db := verifyReplica(t, "eastus", set.name)
				require.Equal(t, "inconsistent", db.Consistency.Result, "%+v", db.Consistency)
				require.Len(t, db.Consistency.Tables, 1)
				table := db.Consistency.Tables[0]
				require.Equal(t, "public.items", table.Table)
				require.False(t, table.Consistent)
				require.Len(t, table.DifferingRanges, 1, "one key range differs: %+v", table.DifferingRanges)
				require.NoError(t, rangeHolds(table.DifferingRanges[0], tamperedID))
				verifyOperation = lastVerifyOperation(t, "eastus", set.name)
			},
			RefreshState: true,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr(eastus, "consistency.result", "inconsistent"),
				resource.TestCheckResourceAttr(eastus, "consistency.tables.0.name", "public.items"),
				resource.TestCheckResourceAttr(eastus, "consistency.tables.0.consistent", "false"),
				resource.TestCheckResourceAttr(eastus, "consistency.tables.0.differing_ranges.#", "1"),
				checkRangeHolds(eastus, "consistency.tables.0.differing_ranges.0", tamperedID),
				resource.TestCheckResourceAttr(set.address("northeurope"), "consistency.result", "consistent"),
			),
		},
		{
			ResourceName:      eastus,
			ImportState:       true,
			ImportStateId:     "eastus/" + set.name,
			ImportStateVerify: true,
			// What dbfleetd observes moves between two reads.
			ImportStateVerifyIgnore: []string{"replication", "consistency", "conditions"},
		},
		{
			Config:          set.config(dataSources),
			ConfigVariables: config.Variables{"verify_operation": lazyString{&verifyOperation}},
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectEmptyPlan(),
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("data.dbfleet_database.eastus", tfjsonpath.New("replica_of"), knownvalue.StringExact(replicaSource)),
				statecheck.ExpectKnownValue("data.dbfleet_database.eastus", tfjsonpath.New("schema"), knownvalue.StringExact(set.schema)),
				statecheck.ExpectKnownValue("data.dbfleet_database.eastus", tfjsonpath.New("status"), knownvalue.StringExact(apiv1.DatabaseStatusReady)),
				statecheck.ExpectKnownValue("data.dbfleet_database.eastus", tfjsonpath.New("consistency").AtMapKey("result"), knownvalue.StringExact("inconsistent")),
				statecheck.ExpectKnownValue("data.dbfleet_database.eastus", tfjsonpath.New("replication").AtMapKey("state"), knownvalue.StringExact("streaming")),
				statecheck.ExpectSensitiveValue("data.dbfleet_database.eastus", tfjsonpath.New("password")),
				statecheck.CompareValuePairs("data.dbfleet_database.eastus", tfjsonpath.New("password"),
					eastus, tfjsonpath.New("password"), compare.ValuesSame()),
				statecheck.ExpectKnownValue("data.dbfleet_operation.verify", tfjsonpath.New("kind"), knownvalue.StringExact(apiv1.OperationKindVerifyDatabase)),
				statecheck.ExpectKnownValue("data.dbfleet_operation.verify", tfjsonpath.New("target"), knownvalue.StringExact("databases/eastus/"+set.name)),
				statecheck.ExpectKnownValue("data.dbfleet_operation.verify", tfjsonpath.New("state"), knownvalue.StringExact(apiv1.OperationSucceeded)),
				statecheck.ExpectKnownValue("data.dbfleet_operation.verify", tfjsonpath.New("done"), knownvalue.Bool(true)),
				statecheck.ExpectKnownValue("data.dbfleet_operation.verify", tfjsonpath.New("created_at"), knownvalue.StringRegexp(rfc3339)),
				statecheck.ExpectKnownValue("data.dbfleet_operation.verify", tfjsonpath.New("updated_at"), knownvalue.StringRegexp(rfc3339)),
				statecheck.ExpectKnownValue("data.dbfleet_operation.verify", tfjsonpath.New("error"), knownvalue.Null()),
			},
		},
	}, checkReplicasWentFirst(t, set)))
}

// TestAccReplica_PlanRefusesReplicatingItsOwnRegion fails the plan of a
// replica of its own region, at the replica_of line.
func TestAccReplica_PlanRefusesReplicatingItsOwnRegion(t *testing.T) {
	name := setup(t, "acc_replica_self").name
	resource.ParallelTest(t, testCase(t, []resource.TestStep{{
		Config: fmt.Sprintf(`resource "dbfleet_database" "test" {
  region     = "eastus"
  name       = %q
  replica_of = "eastus"
}
`, name),
		PlanOnly:    true,
		ExpectError: diagnostic("Database Replicates Its Own Region", `replica_of names region "eastus", the database's own region`),
	}}))
}

// TestAccReplica_PlanRefusesMissingSource fails the plan of a replica whose
// source neither exists nor is in the configuration, at apply time, with
// dbfleetd's reason on replica_of.
func TestAccReplica_PlanRefusesMissingSource(t *testing.T) {
	name := setup(t, "acc_replica_orphan").name
	want := diagnostic("Invalid Replica Source",
		fmt.Sprintf("the source database %s does not exist in region westeurope; create it before its replicas", name))
	if refused := replicaRefusal(t, "eastus", "westeurope"); refused != nil {
		// What the regions cannot do comes before the source that is missing.
		want = refused
	}
	resource.ParallelTest(t, testCase(t, []resource.TestStep{{
		Config: fmt.Sprintf(`resource "dbfleet_database" "test" {
  region              = "eastus"
  name                = %q
  replica_of          = "westeurope"
  deletion_protection = false
}
`, name),
		ExpectError: want,
	}}))
}

// rfc3339 matches a timestamp as the provider spells them.
var rfc3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)

// lazyString is a configuration variable whose value an earlier step's
// PreConfig sets: the step writes it when it runs.
type lazyString struct{ value *string }

// MarshalJSON implements config.Variable.
func (v lazyString) MarshalJSON() ([]byte, error) {
	return json.Marshal(*v.value)
}

// insertAndAwaitReplicas inserts replicaRows rows into items in the source,
// with pgx as its owner and the password from state, then polls PostgreSQL
// in each replica, as the replica's owner, until it holds them all.
func insertAndAwaitReplicas(set replicaSet) statecheck.StateCheck {
	return stateCheck(func(state *tfjson.State) error {
		dbs := map[string]dbInstance{}
		for _, db := range instancesOf(state) {
			dbs[db.region] = db
		}
		source, ok := dbs[replicaSource]
		if !ok {
			return fmt.Errorf("no database in %s in state", replicaSource)
		}
		ctx, cancel := context.WithTimeout(context.Background(), replicationTimeout)
		defer cancel()
		conn, err := connectAsOwner(ctx, source)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, $1::bigint) g`, replicaRows); err != nil {
			return fmt.Errorf("%s: inserting rows as %s: %w", source.address, source.owner, err)
		}
		var errs []error
		for _, region := range replicaRegions {
			replica, ok := dbs[region]
			if !ok {
				errs = append(errs, fmt.Errorf("no database in %s in state", region))
				continue
			}
			errs = append(errs, awaitRows(ctx, replica, replicaRows))
		}
		return errors.Join(errs...)
	})
}

// awaitRows polls db, as its owner, until items holds want rows.
func awaitRows(ctx context.Context, db dbInstance, want int64) error {
	conn, err := connectAsOwner(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	started := time.Now()
	var got int64
	for {
		err := conn.QueryRow(ctx, `SELECT count(*) FROM items`).Scan(&got)
		if err == nil && got == want {
			fmt.Fprintf(os.Stderr, "acceptance: %d rows reached %s in %s\n", want, db.address, time.Since(started).Round(time.Millisecond))
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: items holds %d rows after %s, want %d (last error: %v)", db.address, got,
				time.Since(started).Round(time.Second), want, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// replicaAPI is a client of dbfleetd's API with the endpoint and token
// from the environment, as a user's script would have them.
func replicaAPI() *daemontest.Client {
	return &daemontest.Client{
		Endpoint: os.Getenv("DBFLEET_ENDPOINT"),
		Token:    os.Getenv("DBFLEET_TOKEN"),
		HTTP:     &http.Client{Timeout: verifyTimeout},
	}
}

// verifyReplica runs POST /v1/databases/{region}/{name}:verify, waits for
// the operation to succeed, and returns the database as dbfleetd then
// reports it. An operation already running on the database (the
// reconciler's, say) is waited for first.
func verifyReplica(t *testing.T, region, name string) apiv1.Database {
	t.Helper()
	api := replicaAPI()
	path := databasePath(region, name) + ":verify"
	started := time.Now()
	for {
		resp := api.Do(t, http.MethodPost, path, nil)
		if resp.Status == http.StatusConflict && resp.ErrorCode(t) == apiv1.CodeOperationInProgress {
			var e apiv1.ErrorResponse
			resp.Decode(t, &e)
			api.Wait(t, e.Error.Details["operation_id"], verifyTimeout)
			continue
		}
		op := resp.Operation(t)
		done := api.Wait(t, op.ID, verifyTimeout)
		require.Equal(t, apiv1.OperationSucceeded, done.State, "verify %s/%s: operation %s: %+v", region, name, op.ID, done.Error)
		t.Logf("verified %s/%s in %s: %s", region, name, time.Since(started).Round(time.Millisecond), done.Progress)
		break
	}
	resp := api.Do(t, http.MethodGet, databasePath(region, name), nil)
	require.Equal(t, http.StatusOK, resp.Status, "GET %s/%s: %s", region, name, resp.Body)
	var db apiv1.Database
	resp.Decode(t, &db)
	fleet.secrets.add(db.Password, "the password of database "+region+"/"+name)
	require.NotNil(t, db.Consistency, "%s/%s has no consistency after :verify", region, name)
	return db
}

// lastVerifyOperation is the ID of the last verify operation on a database,
// from GET /v1/operations?target=.
func lastVerifyOperation(t *testing.T, region, name string) string {
	t.Helper()
	var last apiv1.Operation
	for _, op := range operationsOn(t, region, name) {
		if op.Kind == apiv1.OperationKindVerifyDatabase && op.CreatedAt.After(last.CreatedAt) {
			last = op
		}
	}
	require.NotEmpty(t, last.ID, "no verify operation on %s/%s", region, name)
	return last.ID
}

// operationsOn lists the operations dbfleetd recorded on a database.
func operationsOn(t *testing.T, region, name string) []apiv1.Operation {
	t.Helper()
	resp := replicaAPI().Do(t, http.MethodGet, "/v1/operations?target=databases/"+region+"/"+name, nil)
	require.Equal(t, http.StatusOK, resp.Status, "listing operations of %s/%s: %s", region, name, resp.Body)
	var list apiv1.OperationList
	resp.Decode(t, &list)
	return list.Operations
}

// awaitStreaming polls dbfleetd until it reports the replica's
// subscription streaming with items ready, as its monitor reads it every
// few seconds.
func awaitStreaming(t *testing.T, region, name string) {
	t.Helper()
	deadline := time.Now().Add(replicationTimeout)
	var repl *apiv1.ReplicationStatus
	for time.Now().Before(deadline) {
		resp := replicaAPI().Do(t, http.MethodGet, databasePath(region, name), nil)
		require.Equal(t, http.StatusOK, resp.Status, "GET %s/%s: %s", region, name, resp.Body)
		var db apiv1.Database
		resp.Decode(t, &db)
		fleet.secrets.add(db.Password, "the password of database "+region+"/"+name)
		repl = db.Replication
		if repl != nil && repl.State == "streaming" && repl.Tables["public.items"] == "ready" {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s/%s: replication never reported streaming with public.items ready; last %+v", region, name, repl)
}

// adminExecIn runs sql in database in region as the region's superuser,
// as an operator with psql would, behind dbfleet's back.
func adminExecIn(t *testing.T, region, database, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	cfg, err := pgx.ParseConfig(fleet.regions[region].SuperuserDSN())
	require.NoError(t, err)
	cfg.Database = database
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err, "connecting to %s in %s as the superuser", database, region)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	require.NoError(t, err, "%s in %s: %s", database, region, sql)
}

// rangeHolds checks that the key range [From, To) holds key; an empty
// bound is open.
func rangeHolds(r apiv1.KeyRange, key int64) error {
	if r.From != "" {
		from, err := strconv.ParseInt(r.From, 10, 64)
		if err != nil || from > key {
			return fmt.Errorf("key range [%s, %s) does not hold %d", r.From, r.To, key)
		}
	}
	if r.To != "" {
		to, err := strconv.ParseInt(r.To, 10, 64)
		if err != nil || to <= key {
			return fmt.Errorf("key range [%s, %s) does not hold %d", r.From, r.To, key)
		}
	}
	return nil
}

// checkRangeHolds checks that the key range at prefix (an element of
// consistency.tables[*].differing_ranges) of the resource at address holds
// key.
func checkRangeHolds(address, prefix string, key int64) resource.TestCheckFunc {
	return func(state *terraform.State) error {
		rs, ok := state.RootModule().Resources[address]
		if !ok || rs.Primary == nil {
			return fmt.Errorf("%s is not in state", address)
		}
		a := rs.Primary.Attributes
		return rangeHolds(apiv1.KeyRange{From: a[prefix+".from"], To: a[prefix+".to"]}, key)
	}
}

// checkReplicasWentFirst is a CheckDestroy for set: PostgreSQL says the
// source's slots for its replicas and its replication role are gone too
// (the databases and owners checkDestroyed asks about), and dbfleetd's
// operations say that the source's delete started only after both
// replicas' deletes were done.
func checkReplicasWentFirst(t *testing.T, set replicaSet) resource.TestCheckFunc {
	return func(*terraform.State) error {
		ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
		defer cancel()
		admin := fleet.admin[replicaSource]
		var errs []error
		for _, region := range replicaRegions {
			slot := engine.SubscriptionName(set.name, region)
			var exists bool
			if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, slot).Scan(&exists); err != nil {
				errs = append(errs, err)
			} else if exists {
				errs = append(errs, fmt.Errorf("replication slot %s of the %s replica still exists in %s", slot, region, replicaSource))
			}
		}
		if role := engine.ReplicationRoleName(set.name); daemontest.RoleExists(t, admin, role) {
			errs = append(errs, fmt.Errorf("replication role %s still exists in %s", role, replicaSource))
		}

		deleted := func(region string) (apiv1.Operation, bool) {
			ops := operationsOn(t, region, set.name)
			i := slices.IndexFunc(ops, func(op apiv1.Operation) bool {
				return op.Kind == apiv1.OperationKindDeleteDatabase && op.State == apiv1.OperationSucceeded
			})
			if i < 0 {
				return apiv1.Operation{}, false
			}
			return ops[i], true
		}
		source, ok := deleted(replicaSource)
		if !ok {
			return errors.Join(append(errs, fmt.Errorf("dbfleetd recorded no delete of %s/%s that succeeded", replicaSource, set.name))...)
		}
		for _, region := range replicaRegions {
			replica, ok := deleted(region)
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("dbfleetd recorded no delete of %s/%s that succeeded", region, set.name))
			case source.CreatedAt.Before(replica.UpdatedAt):
				errs = append(errs, fmt.Errorf("the source's delete started at %s, before the %s replica's was done at %s",
					source.CreatedAt, region, replica.UpdatedAt))
			}
		}
		return errors.Join(errs...)
	}
}
