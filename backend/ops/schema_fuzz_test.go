package ops

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// FuzzParseVersion: a version path segment is accepted only as a positive
// decimal integer, and then means that integer.
func FuzzParseVersion(f *testing.F) {
	for _, seed := range []string{"1", "42", "0", "-1", "+7", "007", "1e3", "0x10", "9223372036854775807", "9223372036854775808", "", " 1", "1 ", "１"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("ParseVersion(%q) = %v, want an invalid argument", s, err)
			}
			return
		}
		digits := strings.TrimLeft(strings.TrimPrefix(s, "+"), "0")
		if v <= 0 || digits != strconv.FormatInt(v, 10) {
			t.Fatalf("ParseVersion(%q) = %d", s, v)
		}
	})
}

type fuzzRegions struct{ Regions }

var fuzzRegionNames = []string{"eastus", "northeurope", "westeurope"}

func (fuzzRegions) Has(name string) bool { return slices.Contains(fuzzRegionNames, name) }
func (fuzzRegions) Names() []string      { return fuzzRegionNames }

// FuzzCheckSchemaSpec checks, for any migrations and rollout policy, that
// what checkSchemaSpec accepts is a well-formed schema: versions positive
// and strictly increasing, every up migration non-blank with its checksum
// set, a known failure policy, waves that name configured regions once.
func FuzzCheckSchemaSpec(f *testing.F) {
	for _, seed := range []string{
		`{"Migrations": [{"Version": 1, "Up": "CREATE TABLE a (id int)"}, {"Version": 2, "Up": "ALTER TABLE a ADD b int", "Down": "ALTER TABLE a DROP b"}]}`,
		`{"Migrations": [{"Version": 2, "Up": "x"}, {"Version": 1, "Up": "y"}]}`,
		`{"Migrations": [{"Version": 0, "Up": "x"}]}`,
		`{"Migrations": [{"Version": 1, "Up": "  \n\t"}]}`,
		`{"Rollout": {"waves": [["westeurope"], ["northeurope", "eastus"]], "bake_time": 30000000000, "on_failure": "rollback"}}`,
		`{"Rollout": {"waves": [["westeurope"], ["westeurope"]]}}`,
		`{"Rollout": {"waves": [[]]}}`,
		`{"Rollout": {"waves": [["marsnorth"]]}}`,
		`{"Rollout": {"wave_size": 2, "waves": [["eastus"]]}}`,
		`{"Rollout": {"wave_size": -1}}`,
		`{"Rollout": {"bake_time": -1, "on_failure": "explode"}}`,
	} {
		f.Add("app", []byte(seed))
	}
	f.Add("Bad Name", []byte(`{}`))
	m := &Manager{regions: fuzzRegions{}}
	f.Fuzz(func(t *testing.T, name string, specJSON []byte) {
		var spec SchemaSpec
		if json.Unmarshal(specJSON, &spec) != nil {
			return
		}
		if err := m.checkSchemaSpec(name, &spec); err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("refused with %v, want an invalid argument", err)
			}
			return
		}
		var previous int64
		for _, mig := range spec.Migrations {
			sum := sha256.Sum256([]byte(mig.Up))
			switch {
			case mig.Version <= previous:
				t.Fatalf("accepted version %d after %d", mig.Version, previous)
			case strings.TrimSpace(mig.Up) == "":
				t.Fatalf("accepted version %d without up SQL", mig.Version)
			case mig.Checksum != hex.EncodeToString(sum[:]):
				t.Fatalf("version %d has checksum %q", mig.Version, mig.Checksum)
			}
			previous = mig.Version
		}
		p := spec.Rollout
		if p.OnFailure != apiv1.OnFailureHalt && p.OnFailure != apiv1.OnFailureRollback {
			t.Fatalf("accepted on_failure %q", p.OnFailure)
		}
		if p.BakeTime < 0 || p.WaveSize < 0 || (p.WaveSize > 0 && len(p.Waves) > 0) {
			t.Fatalf("accepted rollout %+v", p)
		}
		seen := map[string]bool{}
		for _, wave := range p.Waves {
			if len(wave) == 0 {
				t.Fatalf("accepted an empty wave: %+v", p.Waves)
			}
			for _, r := range wave {
				if seen[r] || !slices.Contains(fuzzRegionNames, r) {
					t.Fatalf("accepted waves %v", p.Waves)
				}
				seen[r] = true
			}
		}
	})
}
