package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// regions are the PostgreSQL servers behind the front-door test's dbfleetd.
var regions *daemontest.Fleet

func TestMain(m *testing.M) {
	var err error
	regions, err = daemontest.StartFleet("westeurope")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	regions.Stop()
	os.Exit(code)
}

const frontDoorToken = "front-door-token"

// startFrontDoor runs a dbfleetd in-process on a SQLite state file against
// the test's region and returns its endpoint.
func startFrontDoor(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ready := make(chan string, 1)
	cfg := daemon.Config{
		Listen: "127.0.0.1:0", Store: filepath.Join(dir, "state.db"), BackupDir: filepath.Join(dir, "backups"),
		Regions:           []engine.RegionConfig{{Name: "westeurope", AdminDSN: regions.Region(t, "westeurope").AdminDSN()}},
		Tokens:            []daemon.Token{{Name: "test", Value: frontDoorToken, Scope: "admin"}},
		SecretKey:         bytes.Repeat([]byte{7}, 32),
		Logger:            zerolog.Nop(),
		ReconcileInterval: -1,
		Ready:             func(endpoint string) { ready <- endpoint },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	select {
	case endpoint := <-ready:
		return endpoint
	case err := <-done:
		t.Fatalf("dbfleetd did not start: %v", err)
		return ""
	}
}

// exchange sends a raw body and returns the answer, checked against the
// OpenAPI document.
func exchange(t *testing.T, endpoint, method, path, body string) *daemontest.Response {
	t.Helper()
	req, err := http.NewRequest(method, endpoint+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+frontDoorToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	answer := &daemontest.Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
	daemontest.ValidateResponse(t, req, nil, answer)
	return answer
}

// TestFrontDoor holds the API's front door to issue 23: bad input is
// refused with 400 invalid_argument naming the field, quoting no more than
// a cut prefix of a value, and storing nothing; good input still passes.
func TestFrontDoor(t *testing.T) {
	t.Parallel()
	endpoint := startFrontDoor(t)
	huge := strings.Repeat("x", 60_000)
	migration := `{"version": 1, "up": "CREATE TABLE a (id int)"}`
	db := func(name string) string { return "/v1/databases/westeurope/" + name }

	for _, tc := range []struct {
		name, method, path, body string
		// want is the status; field, when set, the details' field of a 400.
		want  int
		field string
		// message is a part of the error message.
		message string
		// absent: GET path answers 404 afterwards (nothing was stored).
		absent bool
	}{
		// A schema needs a body and at least one migration.
		{"SchemaEmptyBody", "PUT", "/v1/schemas/s_empty", ``, 400, "body", "required", true},
		{"SchemaWhitespaceBody", "PUT", "/v1/schemas/s_space", " \n\t", 400, "body", "required", true},
		{"SchemaNullBody", "PUT", "/v1/schemas/s_null", `null`, 400, "body", "required", true},
		{"SchemaEmptyObject", "PUT", "/v1/schemas/s_object", `{}`, 400, "migrations", "required", true},
		{"SchemaNullMigrations", "PUT", "/v1/schemas/s_nullmig", `{"migrations": null}`, 400, "migrations", "required", true},
		{"SchemaRolloutOnly", "PUT", "/v1/schemas/s_rollout", `{"rollout": {}}`, 400, "migrations", "required", true},
		{"SchemaNoMigrations", "PUT", "/v1/schemas/s_nomig", `{"migrations": []}`, 400, "migrations", "at least one", true},
		{"SchemaMigrationWithoutUp", "PUT", "/v1/schemas/s_noup", `{"migrations": [{"version": 1}]}`, 400, "migrations", "up is required", true},
		{"SchemaMigrationWithoutVersion", "PUT", "/v1/schemas/s_nover", `{"migrations": [{"up": "SELECT 1"}]}`, 400, "migrations", "version is required", true},
		{"ValidateEmptyBody", "POST", "/v1/schemas/s_validate:validate", ``, 400, "body", "required", false},
		{"SchemaWithAMigration", "PUT", "/v1/schemas/s_good", `{"migrations": [` + migration + `]}`, 200, "", "", false},

		// Strict decoding, the same for every body.
		{"UpperCaseName", "PUT", db("d_upper"), `{"SCHEMA": "s_good"}`, 400, "SCHEMA", "unknown field", true},
		{"MixedCaseName", "PUT", db("d_mixed"), `{"Skip_Final_Backup": true}`, 400, "Skip_Final_Backup", "case-sensitive", true},
		{"DuplicateName", "PUT", db("d_dup"), `{"skip_final_backup": true, "skip_final_backup": false}`, 400, "skip_final_backup", "more than once", true},
		{"DuplicateNestedName", "PUT", "/v1/schemas/s_dup", `{"migrations": [{"version": 1, "up": "SELECT 1", "up": "SELECT 2"}]}`, 400, "migrations", "more than once", true},
		{"UnknownField", "POST", db("d_unknown") + ":plan", `{"deletion_protectio": false}`, 400, "deletion_protectio", "unknown field", false},
		{"TwoValues", "PUT", db("d_two"), `{} {}`, 400, "body", "not valid JSON", true},
		{"NotAnObject", "PUT", db("d_array"), `[]`, 400, "body", "JSON object", true},
		{"WrongType", "PUT", db("d_type"), `{"schema_version": "3"}`, 400, "schema_version", "an integer", true},
		{"OverTheEndpointLimit", "PUT", db("d_large"), `{"schema": "` + strings.Repeat("a", 70_000) + `"}`, 400, "", "limit of 65536 bytes", true},
		{"ExactCase", "PUT", db("d_exact"), `{"skip_final_backup": true, "deletion_protection": false}`, 202, "", "", false},

		// A bad value is quoted cut short.
		{"HugeReplicaOf", "PUT", db("d_replica"), `{"replica_of": "` + huge + `"}`, 400, "replica_of", "…", true},
		{"HugeDriftPolicy", "PUT", db("d_drift"), `{"drift_policy": "` + huge + `"}`, 400, "drift_policy", "cut", true},
		{"HugeParameterValue", "PUT", db("d_param"), `{"parameters": {"work_mem": "` + huge + `"}}`, 400, "parameters", "cut", true},
		{"HugeParameterName", "PUT", db("d_pname"), `{"parameters": {"` + huge + `": "1"}}`, 400, "parameters", "cut", true},
		{"HugeBakeTime", "PUT", "/v1/schemas/s_bake", `{"migrations": [` + migration + `], "rollout": {"bake_time": "` + huge + `"}}`, 400, "rollout.bake_time", "cut", true},
		{"HugeWaveRegion", "PUT", "/v1/schemas/s_wave", `{"migrations": [` + migration + `], "rollout": {"waves": [["` + huge + `"]]}}`, 400, "rollout.waves", "cut", true},
		{"HugeOnFailure", "PUT", "/v1/schemas/s_fail", `{"migrations": [` + migration + `], "rollout": {"on_failure": "` + huge + `"}}`, 400, "rollout.on_failure", "cut", true},
		{"HugeWaitTimeout", "POST", "/v1/operations/op-1:wait?timeout=" + strings.Repeat("9", 3000), ``, 400, "timeout", "cut", false},
		{"HugeTarget", "GET", "/v1/operations?target=" + strings.Repeat("d", 3000), ``, 400, "target", "cut", false},

		// Query parameters are checked like the path.
		{"TargetUpperCase", "GET", "/v1/operations?target=databases/UPPER/x", ``, 400, "target", "region name", false},
		{"TargetEmptyParts", "GET", "/v1/operations?target=databases//", ``, 400, "target", "empty", false},
		{"TargetShape", "GET", "/v1/operations?target=orders", ``, 400, "target", "databases/<region>/<name>", false},
		{"TargetGood", "GET", "/v1/operations?target=databases/westeurope/d_exact", ``, 200, "", "", false},
		{"UnknownQueryParameter", "GET", "/v1/databases?regoin=westeurope", ``, 400, "regoin", "not known", false},
		{"RepeatedQueryParameter", "GET", "/v1/databases?region=westeurope&region=eastus", ``, 400, "region", "2 times", false},
		{"RegionQueryUpperCase", "GET", "/v1/databases?region=WestEurope", ``, 400, "region", "region name", false},
		{"EventsLimitZero", "GET", db("d_exact") + "/events?limit=0", ``, 400, "limit", "from 1", false},
		{"AuditBeforeNotANumber", "GET", "/v1/audit?before=x", ``, 400, "before", "positive id", false},

		// Parameter values are checked by the region's own server.
		{"PlanWorkMemOutOfRange", "POST", db("d_plan") + ":plan", `{"parameters": {"work_mem": "999999999TB"}}`, 400, "parameters", "in region westeurope", false},
		{"PutStatementTimeoutOutOfRange", "PUT", db("d_timeout"), `{"parameters": {"statement_timeout": "999999999d"}}`, 400, "parameters", "statement_timeout", true},
		{"PutUnknownTimeZone", "PUT", db("d_zone"), `{"parameters": {"timezone": "Nowhere/Atlantis"}}`, 400, "parameters", "Nowhere/Atlantis", true},
		{"PlanGoodParameters", "POST", db("d_plan") + ":plan", `{"parameters": {"work_mem": "64MB", "timezone": "Europe/Amsterdam", "statement_timeout": "30s"}}`, 200, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := exchange(t, endpoint, tc.method, tc.path, tc.body)
			require.Equal(t, tc.want, resp.Status, "%s", resp.Body)
			if tc.want == http.StatusBadRequest {
				var e apiv1.ErrorResponse
				resp.Decode(t, &e)
				require.Equal(t, apiv1.CodeInvalidArgument, e.Error.Code)
				require.Contains(t, e.Error.Message, tc.message)
				require.Less(t, len(e.Error.Message), 600, "the message quotes a cut value: %s", e.Error.Message)
				if tc.field != "" {
					require.Equal(t, tc.field, e.Error.Details["field"], "%s", e.Error.Message)
				}
			}
			if tc.absent {
				require.Equal(t, http.StatusNotFound, exchange(t, endpoint, http.MethodGet, strings.SplitN(tc.path, ":", 2)[0], ``).Status,
					"nothing was stored")
			}
		})
	}
}

// TestFrontDoorDecodesOneBody is the strict decoder's contract seen from a
// client: what a request body writes is what the server understood.
func TestFrontDoorDecodesOneBody(t *testing.T) {
	t.Parallel()
	endpoint := startFrontDoor(t)
	resp := exchange(t, endpoint, http.MethodPut, "/v1/databases/westeurope/d_one",
		`{"deletion_protection": false, "parameters": {"work_mem": "64MB"}}`)
	require.Equal(t, http.StatusAccepted, resp.Status, "%s", resp.Body)
	got := exchange(t, endpoint, http.MethodGet, "/v1/databases/westeurope/d_one", ``)
	var out struct {
		DeletionProtection bool              `json:"deletion_protection"`
		Parameters         map[string]string `json:"parameters"`
	}
	require.NoError(t, json.Unmarshal(got.Body, &out))
	require.False(t, out.DeletionProtection)
	require.Equal(t, map[string]string{"work_mem": "64MB"}, out.Parameters)
}
