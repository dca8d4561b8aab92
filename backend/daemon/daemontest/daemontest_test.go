package daemontest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
)

// TestStartFleetAdminKind checks that fleets get the admin kind DBFLEET_DEV_ADMIN names unless
// FleetOptions.Admin says otherwise, and that Admin connects as the superuser either way.
func TestStartFleetAdminKind(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		opts    daemontest.FleetOptions
		want    devregions.AdminKind
		wantErr string
	}{
		{name: "Unset", want: devregions.AdminSuperuser},
		{name: "EnvManaged", env: "managed", want: devregions.AdminManaged},
		{name: "OptionOverridesEnv", env: "managed", opts: daemontest.FleetOptions{Admin: devregions.AdminSuperuser}, want: devregions.AdminSuperuser},
		{name: "EnvInvalid", env: "root", wantErr: `DBFLEET_DEV_ADMIN: admin kind "root" is not one of superuser, managed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(devregions.EnvAdmin, tt.env)
			tt.opts.Names = []string{"westeurope"}
			f, err := daemontest.StartFleetWith(tt.opts)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			t.Cleanup(f.Stop)
			r := f.Region(t, "westeurope")
			require.Equal(t, tt.want, r.AdminKind)
			var super bool
			require.NoError(t, f.Admin(t, "westeurope").QueryRow(context.Background(),
				`SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super))
			require.True(t, super, "Admin connects as the superuser")
			require.NoError(t, f.AdminDB(t, "westeurope", "postgres").QueryRow(context.Background(),
				`SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super))
			require.True(t, super, "AdminDB connects as the superuser")
		})
	}
}
