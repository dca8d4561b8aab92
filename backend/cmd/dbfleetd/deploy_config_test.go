package main

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDeployExampleConfig reads backend/deploy/dbfleetd.yaml, the example
// configuration of a several-node dbfleetd, with serve's own reader, which
// refuses unknown keys, and checks what makes it several nodes' and keeps
// its secrets out: a postgres:// store, and no password in any URL.
func TestDeployExampleConfig(t *testing.T) {
	t.Parallel()
	cfg, err := readServeConfig("../../deploy/dbfleetd.yaml")
	require.NoError(t, err)
	location, err := cfg.storeLocation()
	require.NoError(t, err)
	require.Empty(t, cfg.StatePath, "several nodes share a PostgreSQL store, not a SQLite file")
	require.NotEmpty(t, cfg.BackupDir)
	require.NotEmpty(t, cfg.BootstrapTokenFile)
	require.NotEmpty(t, cfg.SecretKeyFile)
	require.NotEmpty(t, cfg.Regions)
	require.Equal(t, 30*time.Minute, cfg.OperationDeadline, "durations read as Go durations")

	dsns := map[string]string{"store": location}
	for _, r := range cfg.Regions {
		require.NotEmpty(t, r.Name)
		dsns["regions["+r.Name+"].admin_dsn"] = r.AdminDSN
	}
	for key, dsn := range dsns {
		u, err := url.Parse(dsn)
		require.NoError(t, err, key)
		require.Equal(t, "postgres", u.Scheme, key)
		_, hasPassword := u.User.Password()
		require.False(t, hasPassword, "%s holds a password; passwords belong in the pgpass file", key)
		require.Equal(t, "verify-full", u.Query().Get("sslmode"), "%s verifies the server", key)
	}
}
