package engine

import (
	"context"
	"fmt"
	"strings"
)

// ParametersApply makes a database's own settings (ALTER DATABASE ... SET)
// exactly params: it sets each and resets any other the database has.
// Names and values must have been validated against the allow-list. A
// database dbfleet did not make is left as it is (*NameTakenError).
func (f *Fleet) ParametersApply(ctx context.Context, region, database string, params map[string]string) error {
	if err := ValidateIdentifier("database", database); err != nil {
		return err
	}
	pool, st, err := f.databaseOf(ctx, region, database)
	if err != nil {
		return err
	}
	if !st.exists {
		return fmt.Errorf("set parameters of %s in %s: %w", database, region, ErrDatabaseMissing)
	}
	if err := st.ours(region, database); err != nil {
		return err
	}
	var current []string
	err = pool.QueryRow(ctx, `SELECT coalesce(s.setconfig, '{}') FROM pg_catalog.pg_database d
		LEFT JOIN pg_catalog.pg_db_role_setting s ON s.setdatabase OPERATOR(pg_catalog.=) d.oid AND s.setrole OPERATOR(pg_catalog.=) 0
		WHERE d.datname OPERATOR(pg_catalog.=) $1`, database).Scan(&current)
	if err != nil {
		return fmt.Errorf("read settings of %s in %s: %w", database, region, err)
	}
	db := quoteIdentifier(database)
	for _, setting := range current {
		name, _, _ := strings.Cut(setting, "=")
		name = strings.ToLower(name) // the catalog keeps names as declared: TimeZone
		if _, keep := params[name]; !keep {
			if _, err := pool.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RESET %s", db, quoteIdentifier(name))); err != nil {
				return fmt.Errorf("reset %s of %s in %s: %w", name, database, region, err)
			}
		}
	}
	for name, value := range params {
		if err := ValidateIdentifier("parameter", name); err != nil {
			return err
		}
		if _, err := pool.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s SET %s = %s", db, quoteIdentifier(name), settingValue(name, value))); err != nil {
			return fmt.Errorf("set %s of %s in %s: %w", name, database, region, err)
		}
	}
	return nil
}

// settingValue renders a setting's value for SET. A list setting
// (search_path) takes its elements one by one: quoted whole, it would name a
// single schema "app, public".
func settingValue(name, value string) string {
	if name != "search_path" {
		return quoteLiteral(value)
	}
	var elems []string
	for _, e := range strings.Split(value, ",") {
		elems = append(elems, quoteIdentifier(strings.Trim(strings.TrimSpace(e), `"`)))
	}
	return strings.Join(elems, ", ")
}
