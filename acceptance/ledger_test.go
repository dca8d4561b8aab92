package acceptance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// adminConnect connects to database in region as the region's superuser,
// with the superuser DSN that dbfleetd dev wrote for the region.
func adminConnect(ctx context.Context, region, database string) (*pgx.Conn, error) {
	r, ok := fleet.regions[region]
	if !ok {
		return nil, fmt.Errorf("no dev region %q", region)
	}
	cfg, err := pgx.ParseConfig(r.SuperuserDSN())
	if err != nil {
		return nil, fmt.Errorf("region %s: admin DSN: %w", region, err)
	}
	cfg.Database = database
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s in %s as the superuser: %w", database, region, err)
	}
	return conn, nil
}

// adminExec runs sql in database in region as the superuser.
func adminExec(region, database, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	conn, err := adminConnect(ctx, region, database)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s in %s: %q: %w", database, region, sql, err)
	}
	return nil
}

// ledger reads the versions that the ledger of database in region,
// dbfleet.migrations, holds, with when each was applied, asking PostgreSQL.
func ledger(region, database string) (map[int64]time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	conn, err := adminConnect(ctx, region, database)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version, applied_at FROM dbfleet.migrations`)
	if err != nil {
		return nil, fmt.Errorf("reading the ledger of %s in %s: %w", database, region, err)
	}
	out := map[int64]time.Time{}
	var version int64
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&version, &at}, func() error {
		out[version] = at
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the ledger of %s in %s: %w", database, region, err)
	}
	return out, nil
}

// checkLedgerVersions checks that the ledger of database holds exactly
// versions in each of regions.
func checkLedgerVersions(database string, regions []string, versions ...int64) error {
	var errs []error
	for _, region := range regions {
		l, err := ledger(region, database)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got := make([]int64, 0, len(l))
		for v := range l {
			got = append(got, v)
		}
		slices.Sort(got)
		if !slices.Equal(got, versions) {
			errs = append(errs, fmt.Errorf("the ledger of %s in %s holds versions %v, want %v", database, region, got, versions))
		}
	}
	return errors.Join(errs...)
}

// relationExists asks PostgreSQL whether database in region has a
// relation (table, index, ...) of that name in schema public, and if so
// who owns it.
func relationExists(region, database, relation string) (exists bool, owner string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	conn, err := adminConnect(ctx, region, database)
	if err != nil {
		return false, "", err
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass('public.' || quote_ident($1))`, relation).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("looking for %s in %s in %s: %w", relation, database, region, err)
	}
	return true, owner, nil
}

// columnExists asks PostgreSQL whether a table of database in region has
// a column.
func columnExists(region, database, table, column string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	conn, err := adminConnect(ctx, region, database)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var exists bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name = $1 AND column_name = $2)`, table, column).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("looking for column %s.%s in %s in %s: %w", table, column, database, region, err)
	}
	return exists, nil
}

// checkWaveOrder checks in the ledgers of database in the regions of
// waves that version reached them wave by wave: every region of a wave ran
// it no earlier than bake after every region of the waves before it. So
// the canary ran it first, and the next wave waited for its bake time. It
// logs when each region ran the version, from the first.
func checkWaveOrder(t *testing.T, database string, version int64, waves [][]string, bake time.Duration) error {
	t.Helper()
	type ran struct {
		region string
		wave   int
		at     time.Time
	}
	var all []ran
	var errs []error
	for i, wave := range waves {
		for _, region := range wave {
			l, err := ledger(region, database)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			at, ok := l[version]
			if !ok {
				errs = append(errs, fmt.Errorf("the ledger of %s in %s lacks version %d", database, region, version))
				continue
			}
			all = append(all, ran{region, i + 1, at})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	slices.SortFunc(all, func(a, b ran) int { return a.at.Compare(b.at) })
	var timeline []string
	for _, r := range all {
		timeline = append(timeline, fmt.Sprintf("%s (wave %d) +%s", r.region, r.wave, r.at.Sub(all[0].at).Round(time.Millisecond)))
	}
	t.Logf("version %d of %s reached the regions at: %s", version, database, strings.Join(timeline, ", "))

	for _, later := range all {
		for _, earlier := range all {
			if earlier.wave >= later.wave {
				continue
			}
			if gap := later.at.Sub(earlier.at); gap < bake {
				errs = append(errs, fmt.Errorf("%s (wave %d) ran version %d of %s %s after %s (wave %d); want no earlier than the bake time, %s, after",
					later.region, later.wave, version, database, gap.Round(time.Millisecond), earlier.region, earlier.wave, bake))
			}
		}
	}
	return errors.Join(errs...)
}
