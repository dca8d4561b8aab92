package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SettingRefusedError is a setting value the region's server refuses: out
// of range, a unit or enum value it does not know, a time zone it does not
// have. Message is the server's own reason.
type SettingRefusedError struct {
	Region  string
	Name    string
	Message string
}

func (e *SettingRefusedError) Error() string {
	return fmt.Sprintf("region %s refuses %s: %s", e.Region, e.Name, e.Message)
}

// checkSettingSQL makes the server parse value as it would for ALTER
// DATABASE ... SET, by the rules of its own version and build (vartype,
// unit, min_val, max_val, enumvals of pg_settings; the time zones it has),
// and puts the old value back in the same statement: a value such as
// idle_in_transaction_session_timeout = 1 must not end the admin session
// before the transaction is rolled back.
const checkSettingSQL = `SELECT pg_catalog.set_config($1, $2, true) IS NOT NULL,
	pg_catalog.set_config($1, old.value, true) IS NOT NULL
	FROM (SELECT pg_catalog.current_setting($1) AS value) AS old`

// SettingsCheck asks region's server whether it takes each setting, inside
// scratch transactions that are rolled back, so nothing changes. The first
// refused setting (by name order) is a *SettingRefusedError; any other error
// means the region could not be asked. Names must be allow-listed already.
func (f *Fleet) SettingsCheck(ctx context.Context, region string, settings map[string]string) error {
	pool, err := f.pool(ctx, region)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		if err := checkSetting(ctx, pool, name, settings[name]); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && refusesValue(pgErr.Code) {
				msg := pgErr.Message
				if pgErr.Hint != "" {
					msg += " (" + pgErr.Hint + ")"
				} else if pgErr.Detail != "" {
					msg += " (" + pgErr.Detail + ")"
				}
				return &SettingRefusedError{Region: region, Name: name, Message: msg}
			}
			return fmt.Errorf("check setting %s in %s: %w", name, region, err)
		}
	}
	return nil
}

func checkSetting(ctx context.Context, pool *pgxpool.Pool, name, value string) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	// Rolled back whatever happens: the check never changes anything.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var set, restored bool
	return tx.QueryRow(ctx, checkSettingSQL, name, value).Scan(&set, &restored)
}

// refusesValue tells whether a SQLSTATE says the value (or name) is bad,
// not that the server could not be asked.
func refusesValue(code string) bool {
	switch code {
	case "22023", // invalid_parameter_value
		"22P02", // invalid_text_representation
		"22003", // numeric_value_out_of_range
		"42704", // undefined_object: no such setting
		"42501": // insufficient_privilege: not a setting a database may set
		return true
	}
	return false
}
