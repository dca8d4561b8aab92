package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/attr"
)

// isFullyKnown reports whether v and everything nested in it is known, as
// it must be to send it to dbfleetd.
func isFullyKnown(ctx context.Context, v attr.Value) bool {
	tv, err := v.ToTerraformValue(ctx)
	return err == nil && tv.IsFullyKnown()
}
