package reconcile

import (
	"context"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// ErrRaced is errRaced, for the package's external tests.
var ErrRaced = errRaced

// ClaimForRepair takes the claim a pass takes before it repairs db, for
// the package's external tests.
func (r *Reconciler) ClaimForRepair(ctx context.Context, db *store.Database) error {
	c := &checker{r: r, o: &outcome{db: db}}
	return c.claim(ctx)
}
