package engine_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// TestSettingsCheck asks a real server, under a managed admin, to parse the
// values of the examples and of every allow-listed setting, and
// checks that asking changes nothing, even a value that would end an idle
// admin session at once.
func TestSettingsCheck(t *testing.T) {
	t.Parallel()
	r := startRegion(t, devregions.ServerBuild{}, devregions.AdminManaged)
	fleet, err := engine.NewFleet([]engine.RegionConfig{{Name: r.Name, AdminDSN: r.AdminDSN()}}, engine.Options{})
	require.NoError(t, err)
	t.Cleanup(fleet.Close)
	ctx := context.Background()

	for _, tc := range []struct {
		name, value string
		refused     bool
		reason      string
	}{
		{"work_mem", "64MB", false, ""},
		{"work_mem", "999999999TB", true, "work_mem"},
		{"maintenance_work_mem", "1TB", false, ""},
		{"statement_timeout", "999999999d", true, "statement_timeout"},
		{"statement_timeout", "30s", false, ""},
		{"lock_timeout", "1", false, ""},
		{"idle_in_transaction_session_timeout", "1", false, ""},
		{"timezone", "Nowhere/Atlantis", true, "Nowhere/Atlantis"},
		{"timezone", "Europe/Amsterdam", false, ""},
		{"search_path", `"$user", app, public`, false, ""},
		{"default_transaction_isolation", "serializable", false, ""},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			err := fleet.SettingsCheck(ctx, r.Name, map[string]string{tc.name: tc.value})
			if !tc.refused {
				require.NoError(t, err)
				return
			}
			var refused *engine.SettingRefusedError
			require.ErrorAs(t, err, &refused)
			require.Equal(t, tc.name, refused.Name)
			require.Contains(t, refused.Message, tc.reason)
		})
	}

	t.Run("FirstRefusedByName", func(t *testing.T) {
		err := fleet.SettingsCheck(ctx, r.Name, map[string]string{"work_mem": "999999999TB", "timezone": "Nowhere/Atlantis", "lock_timeout": "5s"})
		var refused *engine.SettingRefusedError
		require.ErrorAs(t, err, &refused)
		require.Equal(t, "timezone", refused.Name)
	})

	t.Run("ChangesNothing", func(t *testing.T) {
		require.NoError(t, fleet.SettingsCheck(ctx, r.Name, map[string]string{
			"idle_in_transaction_session_timeout": "1", "statement_timeout": "1", "work_mem": "1TB"}))
		// The same pooled admin sessions answer, with their own settings.
		for range 3 {
			require.NoError(t, fleet.SettingsCheck(ctx, r.Name, map[string]string{"work_mem": "64MB"}))
		}
		conn, err := pgx.Connect(ctx, r.AdminDSN())
		require.NoError(t, err)
		defer conn.Close(ctx)
		var overridden int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_db_role_setting`).Scan(&overridden))
		require.Zero(t, overridden, "no database or role got a setting")
	})

	t.Run("UnknownRegion", func(t *testing.T) {
		err := fleet.SettingsCheck(ctx, "nowhere", map[string]string{"work_mem": "64MB"})
		require.ErrorIs(t, err, engine.ErrUnknownRegion)
	})
}
