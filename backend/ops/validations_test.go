package ops

import (
	"fmt"
	"testing"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

func TestValidationsRememberCleanRunsForAWhile(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newValidations(func() time.Time { return now })
	migrations := []engine.Migration{{Version: 1, Checksum: "aa"}, {Version: 2, Checksum: "bb"}}
	key := validationKey("westeurope", migrations)

	if v.clean(key) {
		t.Fatal("clean before any run")
	}
	v.remember(key)
	if !v.clean(key) {
		t.Fatal("a clean run is not remembered")
	}
	changed := []engine.Migration{{Version: 1, Checksum: "aa"}, {Version: 2, Checksum: "cc"}}
	for name, other := range map[string]string{
		"OtherRegion":   validationKey("eastus", migrations),
		"OtherChecksum": validationKey("westeurope", changed),
		"FewerVersions": validationKey("westeurope", migrations[:1]),
	} {
		if v.clean(other) {
			t.Errorf("%s: counted as the same run", name)
		}
	}
	now = now.Add(validationTTL)
	if v.clean(key) {
		t.Fatal("a run older than validationTTL still counts")
	}
}

func TestValidationsStayBounded(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newValidations(func() time.Time { return now })
	first := validationKey("r", []engine.Migration{{Version: 1, Checksum: "0"}})
	v.remember(first)
	for i := 1; i <= maxValidations; i++ {
		now = now.Add(time.Millisecond)
		v.remember(validationKey("r", []engine.Migration{{Version: 1, Checksum: fmt.Sprint(i)}}))
	}
	if len(v.seen) != maxValidations {
		t.Fatalf("remembers %d runs, want at most %d", len(v.seen), maxValidations)
	}
	if v.clean(first) {
		t.Fatal("the oldest run was kept past the bound")
	}
}
