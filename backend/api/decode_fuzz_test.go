package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

var decodeSeeds = []string{
	``, `   `, `{}`, `null`, `[]`, `{"skip_final_backup": true}`, `{"deletion_protection": false, "skip_final_backup": true}`,
	`{"schema": "app", "schema_version": 3, "parameters": {"work_mem": "64MB"}}`, `{"deletion_protectio": true}`,
	`{"skip_final_backup": true} {"skip_final_backup": false}`, `{"skip_final_backup": true}]`, `{}}`, `{"a":`,
	`{"schema_version": 1e400}`, `{"schema_version": -1}`, "{\"schema\": \"\xff\"}", `{"parameters": {"work_mem": null}}`,
	`{"migrations": [{"version": 1, "up": "CREATE TABLE a (id int)"}], "rollout": {"bake_time": "30s", "waves": [["westeurope"]]}}`,
	`{"rollout": {"bake_time": "-5m"}}`, `{"rollout": {"bake_time": "9999999999999h"}}`, `{"migrations": [{"version": "1"}]}`,
	`{"SCHEMA": "app"}`, `{"Schema": "app"}`, `{"schema": "a", "schema": "b"}`, `{"parameters": {"work_mem": "1MB", "work_mem": "2MB"}}`,
	`{"migrations": [{"version": 1, "up": "SELECT 1", "UP": "SELECT 2"}]}`, `null`, "\n\t ", `{"skip_final_backup": true}` + "\n",
}

// databaseSpecNames are the member names a database spec has, exactly as
// spelled: the encoding of a spec with every field set.
func databaseSpecNames(t *testing.T) map[string]bool {
	t.Helper()
	full, err := json.Marshal(apiv1.DatabaseSpec{DeletionProtection: new(true), SkipFinalBackup: true, Schema: "s", SchemaVersion: 1,
		Parameters: map[string]string{"work_mem": "1MB"}, ReplicaOf: "r", DriftPolicy: "heal"})
	if err != nil {
		t.Fatal(err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(full, &members); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for name := range members {
		names[name] = true
	}
	return names
}

func requestWith(body []byte) *http.Request {
	return httptest.NewRequest(http.MethodPut, "/v1/databases/westeurope/orders", bytes.NewReader(body))
}

// FuzzDecodeBody holds the request body decoder to its strict contract for
// any bytes: it never panics; it refuses with a 400 invalid_argument, or it
// accepts one whole JSON document (or nothing) without a name given twice,
// whose member names are the spec's exactly as spelled, and whose value
// survives a round trip.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range decodeSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		names := databaseSpecNames(t)
		var spec apiv1.DatabaseSpec
		err := decodeBody(requestWith(body), &spec, false)
		if err != nil {
			if he := toHTTPError(err); he.status != http.StatusBadRequest || he.code != apiv1.CodeInvalidArgument {
				t.Fatalf("decodeBody(%q) answered %d %s, want 400 invalid_argument", body, he.status, he.code)
			}
			return
		}
		if len(bytes.TrimSpace(body)) > 0 && !json.Valid(body) {
			t.Fatalf("decodeBody accepted %q, which is not one JSON document", body)
		}
		if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && string(trimmed) != "null" {
			if !jsontext.Value(trimmed).IsValid() {
				t.Fatalf("decodeBody accepted %q, which gives a name twice or is not valid UTF-8", body)
			}
			var members map[string]json.RawMessage
			if err := json.Unmarshal(trimmed, &members); err != nil {
				t.Fatalf("decodeBody accepted %q, which is not an object: %v", body, err)
			}
			for name := range members {
				if !names[name] {
					t.Fatalf("decodeBody accepted member %q, which the spec does not have as spelled", name)
				}
			}
		}
		again, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		var roundTrip apiv1.DatabaseSpec
		if err := decodeBody(requestWith(again), &roundTrip, false); err != nil {
			t.Fatalf("the encoding of an accepted body is refused: %s: %v", again, err)
		}
		// An empty map is sent as no map: the same request.
		if diff := cmp.Diff(spec, roundTrip, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip changed the spec (-want +got):\n%s", diff)
		}
	})
}

// FuzzSchemaSpec decodes any bytes as a schema's PUT body: it never
// panics, refuses with a 400, and what it accepts carries a bake time that
// is the duration the body wrote.
func FuzzSchemaSpec(f *testing.F) {
	for _, seed := range decodeSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		spec, err := schemaSpec(requestWith(body))
		if err != nil {
			if he := toHTTPError(err); he.status != http.StatusBadRequest {
				t.Fatalf("schemaSpec(%q) answered %d, want 400", body, he.status)
			}
			return
		}
		var in apiv1.SchemaSpec
		if err := json.Unmarshal(body, &in); err != nil && len(bytes.TrimSpace(body)) > 0 {
			t.Fatalf("schemaSpec accepted %q, which does not decode: %v", body, err)
		}
		if in.Rollout != nil && in.Rollout.BakeTime != "" {
			want, err := time.ParseDuration(in.Rollout.BakeTime)
			if err != nil || want != spec.Rollout.BakeTime {
				t.Fatalf("bake_time %q became %s", in.Rollout.BakeTime, spec.Rollout.BakeTime)
			}
		}
		if len(spec.Migrations) != len(in.Migrations) {
			t.Fatalf("%d migrations became %d", len(in.Migrations), len(spec.Migrations))
		}
		if len(spec.Migrations) == 0 {
			t.Fatalf("schemaSpec accepted %q, which has no migration", body)
		}
	})
}
