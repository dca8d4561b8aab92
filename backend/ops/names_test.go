package ops

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

func TestOwnerRoleName(t *testing.T) {
	t.Parallel()
	long1 := strings.Repeat("a", 63)
	long2 := strings.Repeat("a", 62) + "b"
	for _, tc := range []struct{ database, want string }{
		{"orders", "orders_owner"},
		{strings.Repeat("x", 57), strings.Repeat("x", 57) + "_owner"},
	} {
		require.Equal(t, tc.want, OwnerRoleName(tc.database))
	}
	for _, name := range []string{long1, long2, strings.Repeat("y", 58)} {
		role := OwnerRoleName(name)
		require.NoError(t, engine.ValidateIdentifier("role", role), "role %s of %s", role, name)
	}
	require.NotEqual(t, OwnerRoleName(long1), OwnerRoleName(long2), "long names that share a prefix get distinct roles")
}

func TestGeneratePassword(t *testing.T) {
	t.Parallel()
	a, err := generatePassword()
	require.NoError(t, err)
	b, err := generatePassword()
	require.NoError(t, err)
	require.Regexp(t, `^[A-Za-z0-9]{32}$`, a)
	require.NotEqual(t, a, b)
}
