package ops

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// validationTTL is how long a clean dry run of a list of migrations in a
// region answers for the same list there. Terraform plans a schema again
// while it applies, seconds after the plan, and each dry run creates and
// drops a scratch database; a short window spares the second one without
// trusting a server that may have changed since.
const validationTTL = 5 * time.Minute

// maxValidations bounds how many clean dry runs are remembered.
const maxValidations = 256

// validations remembers recent clean dry runs by region and migrations.
type validations struct {
	now  func() time.Time
	mu   sync.Mutex
	seen map[string]time.Time
}

func newValidations(now func() time.Time) *validations {
	return &validations{now: now, seen: map[string]time.Time{}}
}

// validationKey identifies migrations (by version and checksum of their up
// SQL) in a region.
func validationKey(region string, migrations []engine.Migration) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", region)
	for _, m := range migrations {
		fmt.Fprintf(h, "%d:%s\n", m.Version, m.Checksum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// clean tells whether key ran clean within validationTTL.
func (v *validations) clean(key string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	at, ok := v.seen[key]
	return ok && v.now().Sub(at) < validationTTL
}

// remember records that key ran clean now, forgetting expired runs and, past
// maxValidations, the oldest.
func (v *validations) remember(key string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	var oldest string
	for k, at := range v.seen {
		if now.Sub(at) >= validationTTL {
			delete(v.seen, k)
		} else if oldest == "" || at.Before(v.seen[oldest]) {
			oldest = k
		}
	}
	if len(v.seen) >= maxValidations {
		delete(v.seen, oldest)
	}
	v.seen[key] = now
}
