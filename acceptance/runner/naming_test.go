package runner

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRunIDCarriesItsStart(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 26, 10, 30, 0, 0, time.UTC)
	id, err := NewRunID(start)
	require.NoError(t, err)
	require.Len(t, id, runIDLen)
	got, err := runIDStart(id)
	require.NoError(t, err)
	require.True(t, got.Equal(start), "start %s, want %s", got, start)
}

func TestRunIDOf(t *testing.T) {
	t.Parallel()
	id, err := NewRunID(time.Now())
	require.NoError(t, err)
	tests := []struct {
		name   string
		prefix string
		input  string
		want   string
		wantOK bool
	}{
		{"ResourceOfTheRun", "dbfr_", "dbfr_" + id + "_cd1", id, true},
		{"OtherPrefix", "dbfr_", "other_" + id + "_cd1", "", false},
		{"NoPrefix", "dbfr_", "orders", "", false},
		{"PrefixOnly", "dbfr_", "dbfr_", "", false},
		{"RunIDWithoutSuffix", "dbfr_", "dbfr_" + id, "", false},
		{"ShortRunID", "dbfr_", "dbfr_abc_cd1", "", false},
		{"NotBase36", "dbfr_", "dbfr_0000000____x_cd1", "", false},
		{"PrefixIsAPrefixOfAnother", "dbf_", "dbfr_" + id + "_cd1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := runIDOf(tt.prefix, tt.input)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestValidatePrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prefix string
		valid  bool
	}{
		{DefaultPrefix, true},
		{"acc_runner_", true},
		{"dbfr", false},
		{"_dbfr_", false},
		{"Dbfr_", false},
		{"dbfr-", false},
		{"a_very_long_prefix_xx_", false},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			t.Parallel()
			if tt.valid {
				require.NoError(t, ValidatePrefix(tt.prefix))
			} else {
				require.Error(t, ValidatePrefix(tt.prefix))
			}
		})
	}
}

func TestResourceNameIsAnIdentifier(t *testing.T) {
	t.Parallel()
	id, err := NewRunID(time.Now())
	require.NoError(t, err)
	name, err := resourceName(DefaultPrefix, id, "cd1")
	require.NoError(t, err)
	got, ok := runIDOf(DefaultPrefix, name)
	require.True(t, ok)
	require.Equal(t, id, got)
	_, err = resourceName(DefaultPrefix, id, "Bad-Suffix")
	require.Error(t, err)
}
