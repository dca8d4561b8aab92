package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/reconcile"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/secrets"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// scaleSize is one number of recorded databases.
type scaleSize struct {
	Databases int `json:"databases"`
	// Reconcile: one pass over every database (PassParams.All) against
	// simulated regions; the first pass and the median of the next ones.
	FirstPassS        float64 `json:"reconcile_first_pass_s"`
	PassS             float64 `json:"reconcile_pass_s"`
	PassPerDatabaseUS float64 `json:"reconcile_pass_per_database_us"`
	// List: GET /v1/databases, the whole answer read; median of several.
	ListS             float64 `json:"list_s"`
	ListBytes         int     `json:"list_bytes"`
	ListPerDatabaseUS float64 `json:"list_per_database_us"`
	// GetMS is GET /v1/databases/{region}/{name} of one database and
	// PlanMS POST /v1/databases/{region}/{name}:plan of it unchanged:
	// requests about one database, whose cost should not grow with the
	// fleet. Medians of several.
	GetMS  float64 `json:"get_one_ms"`
	PlanMS float64 `json:"plan_one_ms"`
	// HealthzMS is GET /healthz on the same server, the baseline.
	HealthzMS float64 `json:"healthz_ms"`
}

// realPass is a reconcile pass against real PostgreSQL regions.
type realPass struct {
	Databases         int     `json:"databases"`
	PassS             float64 `json:"reconcile_pass_s"`
	PassPerDatabaseUS float64 `json:"reconcile_pass_per_database_us"`
	Checked           int     `json:"checked"`
	Findings          int     `json:"findings"`
	Errors            int     `json:"errors"`
}

// scaleResult is benchmark 5.
type scaleResult struct {
	Regions string      `json:"regions"`
	Sizes   []scaleSize `json:"sizes"`
	// Exponents fit cost ~ databases^k between the smallest and the largest
	// size: 1 is linear.
	PassExponent float64 `json:"reconcile_growth_exponent"`
	ListExponent float64 `json:"list_growth_exponent"`
	// GetExponent and PlanExponent are the same for one database's GET and
	// :plan; 0 is flat.
	GetExponent  float64 `json:"get_one_growth_exponent"`
	PlanExponent float64 `json:"plan_one_growth_exponent"`
	// Real is a pass over the rollout benchmark's databases in the real dev
	// regions, for the cost of a real check beside the simulated one.
	Real *realPass `json:"real_regions_pass,omitempty"`
}

// scaleRegions are the simulated regions' names.
var scaleRegions = []string{"westeurope", "northeurope", "eastus"}

// scalePasses is how many timed passes and lists each size gets.
const scalePasses = 3

// benchScale is benchmark 5, in this process: a SQLite store holding n
// databases for each size, a reconcile pass over all of them against
// simulated regions, and GET /v1/databases from a dbfleetd (daemon.Run)
// serving that store.
func benchScale(ctx context.Context, env *benchEnv, sizes []int) (*scaleResult, error) {
	res := &scaleResult{Regions: "simulated: the store records the databases in three regions that have no PostgreSQL behind them; " +
		"the reconciler's catalog and ledger reads are answered in memory, consistent with the store, so a pass measures dbfleet's own work (store reads, comparison, recording)"}
	for _, n := range sizes {
		size, err := scaleOne(ctx, env, n)
		if err != nil {
			return nil, fmt.Errorf("%d databases: %w", n, err)
		}
		res.Sizes = append(res.Sizes, *size)
		env.progress("scale: %d databases: pass %.3fs (%.1f µs each), list %.3fs (%.1f µs each, %d bytes), get one %.2f ms, plan one %.2f ms",
			n, size.PassS, size.PassPerDatabaseUS, size.ListS, size.ListPerDatabaseUS, size.ListBytes, size.GetMS, size.PlanMS)
	}
	if len(res.Sizes) > 1 {
		first, last := res.Sizes[0], res.Sizes[len(res.Sizes)-1]
		growth := math.Log(float64(last.Databases) / float64(first.Databases))
		res.PassExponent = round(math.Log(last.PassS/first.PassS)/growth, 3)
		res.ListExponent = round(math.Log(last.ListS/first.ListS)/growth, 3)
		res.GetExponent = round(math.Log(last.GetMS/first.GetMS)/growth, 3)
		res.PlanExponent = round(math.Log(last.PlanMS/first.PlanMS)/growth, 3)
	}
	return res, nil
}

func scaleOne(ctx context.Context, env *benchEnv, n int) (*scaleSize, error) {
	dir, err := os.MkdirTemp(env.work, fmt.Sprintf("scale-%d-", n))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	box, err := secrets.NewAESGCM(key)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "state.db")
	size := &scaleSize{Databases: n}

	st, err := store.OpenSQLite(ctx, path, store.Options{Secrets: box})
	if err != nil {
		return nil, err
	}
	schema, err := fillStore(ctx, st, n)
	if err != nil {
		st.Close()
		return nil, err
	}
	r := reconcile.New(reconcile.Config{Store: st, Regions: &simulatedRegions{schema: schema}, Logger: zerolog.Nop()})
	var passes []float64
	for i := range scalePasses + 1 {
		stats, err := r.Pass(ctx, &reconcile.PassParams{All: true})
		if err != nil {
			st.Close()
			return nil, err
		}
		if stats.Checked != n || stats.Findings != 0 || stats.Errors != 0 {
			st.Close()
			return nil, fmt.Errorf("pass checked %d of %d databases, with %d findings and %d errors; the simulation must be consistent",
				stats.Checked, n, stats.Findings, stats.Errors)
		}
		if i == 0 {
			size.FirstPassS = round(stats.Duration.Seconds(), 4)
			continue
		}
		passes = append(passes, stats.Duration.Seconds())
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	size.PassS = round(median(passes), 4)
	size.PassPerDatabaseUS = round(size.PassS/float64(n)*1e6, 2)

	// The API, served by dbfleetd's own wiring on the same state file.
	var regions []engine.RegionConfig
	for _, name := range scaleRegions {
		regions = append(regions, engine.RegionConfig{Name: name, AdminDSN: "postgres://simulated:simulated@127.0.0.1:1/postgres?sslmode=disable"})
	}
	token := "dbf_" + hex.EncodeToString(key[:8])
	ready := make(chan string, 1)
	daemonCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(daemonCtx, daemon.Config{
			Listen: "127.0.0.1:0", Store: path, BackupDir: filepath.Join(dir, "backups"), Regions: regions,
			Tokens: []daemon.Token{{Name: "bench", Value: token, Scope: "write"}}, SecretKey: key,
			RateLimit: api.RateLimit{PerSecond: -1}, ReconcileInterval: -1, Logger: zerolog.Nop(),
			Ready: func(endpoint string) { ready <- endpoint },
		})
	}()
	var endpoint string
	select {
	case endpoint = <-ready:
	case err := <-done:
		return nil, fmt.Errorf("dbfleetd on the scale store: %w", err)
	}
	send := func(method, path, body string) (time.Duration, int, error) {
		req, err := http.NewRequestWithContext(ctx, method, endpoint+path, strings.NewReader(body))
		if err != nil {
			return 0, 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		nbytes, err := io.Copy(io.Discard, resp.Body)
		took := time.Since(start)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		return took, int(nbytes), err
	}
	// timed sends a request times+1 times and returns the median of all but
	// the first, which warms caches.
	timed := func(method, path, body string, times int) (float64, int, error) {
		var ds []float64
		var nbytes int
		for i := range times + 1 {
			took, n, err := send(method, path, body)
			if err != nil {
				return 0, 0, err
			}
			if i > 0 {
				ds = append(ds, took.Seconds())
			}
			nbytes = n
		}
		return median(ds), nbytes, nil
	}
	one := fmt.Sprintf("/v1/databases/%s/db_%06d", scaleRegions[(n/2)%len(scaleRegions)], n/2)
	var list, get, plan, healthz float64
	if list, size.ListBytes, err = timed(http.MethodGet, "/v1/databases", "", scalePasses); err != nil {
		return nil, err
	}
	if get, _, err = timed(http.MethodGet, one, "", 20); err != nil {
		return nil, err
	}
	if plan, _, err = timed(http.MethodPost, one+":plan", `{"schema": "scale", "schema_version": 2}`, 20); err != nil {
		return nil, err
	}
	if healthz, _, err = timed(http.MethodGet, "/healthz", "", 20); err != nil {
		return nil, err
	}
	stop()
	if err := <-done; err != nil {
		return nil, err
	}
	size.ListS = round(list, 4)
	size.ListPerDatabaseUS = round(size.ListS/float64(n)*1e6, 2)
	size.GetMS = round(get*1e3, 3)
	size.PlanMS = round(plan*1e3, 3)
	size.HealthzMS = round(healthz*1e3, 3)
	return size, nil
}

// fillStore records n ready databases of one schema at version 2 across
// the simulated regions, as a fleet that dbfleet created would hold them.
func fillStore(ctx context.Context, st store.Store, n int) (*store.Schema, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	schema := &store.Schema{Name: "scale", Rollout: store.RolloutPolicy{OnFailure: "halt"}, CreatedAt: now, UpdatedAt: now}
	for i, sql := range createMigrations {
		sum := sha256.Sum256([]byte(sql))
		schema.Migrations = append(schema.Migrations, store.Migration{Version: int64(i + 1), Up: sql, Checksum: hex.EncodeToString(sum[:])})
	}
	if err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.SchemaPut(ctx, schema) }); err != nil {
		return nil, err
	}
	const batch = 1000
	for start := 0; start < n; start += batch {
		err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			for i := start; i < min(start+batch, n); i++ {
				name := fmt.Sprintf("db_%06d", i)
				db := &store.Database{
					Region: scaleRegions[i%len(scaleRegions)], Name: name, Owner: ops.OwnerRoleName(name),
					Password: rand.Text(), DeletionProtection: true, Status: "ready",
					Generation: 1, ObservedGeneration: 1, CreatedAt: now, UpdatedAt: now,
					Schema: schema.Name, SchemaVersion: 2, AppliedVersion: 2, DriftPolicy: "heal",
				}
				if err := tx.DatabasePut(ctx, db); err != nil {
					return err
				}
				for _, m := range schema.Migrations {
					if err := tx.DatabaseMigrationPut(ctx, &store.DatabaseMigration{Region: db.Region, Name: name, Version: m.Version, AppliedAt: now}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return schema, nil
}

// errSimulated is what a simulated region answers to a repair: the
// simulation is consistent, so a pass must not ask for one.
var errSimulated = errors.New("simulated region: no repairs")

// simulatedRegions answers the reconciler as regions whose catalogs and
// ledgers hold exactly what the store says, without a server.
type simulatedRegions struct {
	schema *store.Schema
}

var _ reconcile.Regions = (*simulatedRegions)(nil)

func (s *simulatedRegions) Names() []string { return scaleRegions }

func (s *simulatedRegions) CatalogInspect(_ context.Context, _ string, queries []engine.CatalogQuery) (map[string]*engine.CatalogDatabase, error) {
	out := make(map[string]*engine.CatalogDatabase, len(queries))
	for _, q := range queries {
		out[q.Database] = &engine.CatalogDatabase{Name: q.Database, Exists: true, Owner: q.Owner, OwnerRoleExists: true, OwnerCanLogin: true}
	}
	return out, nil
}

func (s *simulatedRegions) LedgerInspect(context.Context, engine.Owner) (*engine.Ledger, error) {
	l := &engine.Ledger{Present: true, HasObjects: true, Entries: map[int64]string{}}
	for _, m := range s.schema.Migrations {
		l.Entries[m.Version] = m.Checksum
	}
	return l, nil
}

func (s *simulatedRegions) LedgerRebuild(context.Context, engine.Owner, []engine.LedgerEntry, bool, string) (*engine.LedgerRebuildResult, error) {
	return nil, errSimulated
}

func (s *simulatedRegions) RoleEnsure(context.Context, string, string, string) error {
	return errSimulated
}

func (s *simulatedRegions) DatabaseOwnerSet(context.Context, string, string, string) error {
	return errSimulated
}

func (s *simulatedRegions) OwnershipRestore(context.Context, string, string, string) (int, error) {
	return 0, errSimulated
}

func (s *simulatedRegions) ParametersApply(context.Context, string, string, map[string]string) error {
	return errSimulated
}

// benchRealPass runs reconcile passes over what the dev fleet in dataDir
// holds (its regions started again, its state file opened by this
// process), after its dbfleetd stopped.
func benchRealPass(ctx context.Context, env *benchEnv, dataDir string) (*realPass, error) {
	key, err := secrets.ResolveKey("", os.Getenv)
	if errors.Is(err, secrets.ErrNoKey) {
		key, err = secrets.LoadKeyFile(filepath.Join(dataDir, "secret.key"))
	}
	if err != nil {
		return nil, err
	}
	box, err := secrets.NewAESGCM(key)
	if err != nil {
		return nil, err
	}
	fleet, err := devregions.Start(ctx, devregions.Options{DataDir: dataDir, Logger: zerolog.Nop()})
	if err != nil {
		return nil, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = fleet.Stop(stopCtx)
	}()
	var configs []engine.RegionConfig
	for _, r := range fleet.Regions() {
		configs = append(configs, engine.RegionConfig{Name: r.Name, AdminDSN: r.AdminDSN()})
	}
	regions, err := engine.NewFleet(configs, engine.Options{})
	if err != nil {
		return nil, err
	}
	defer regions.Close()
	st, err := store.OpenSQLite(ctx, filepath.Join(dataDir, "state.db"), store.Options{Secrets: box})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var logs bytes.Buffer
	r := reconcile.New(reconcile.Config{Store: st, Regions: regions, Logger: zerolog.New(&logs).Level(zerolog.WarnLevel)})
	out := &realPass{}
	var passes []float64
	for i := range scalePasses + 1 {
		stats, err := r.Pass(ctx, &reconcile.PassParams{All: true})
		if err != nil {
			return nil, err
		}
		out.Databases, out.Checked, out.Findings, out.Errors = stats.Databases, stats.Checked, stats.Findings, stats.Errors
		if i > 0 {
			passes = append(passes, stats.Duration.Seconds())
		}
	}
	if out.Errors > 0 || out.Findings > 0 {
		env.progress("scale: real pass: %d findings, %d errors: %s", out.Findings, out.Errors, truncate(logs.String(), 2000))
	}
	out.PassS = round(median(passes), 4)
	out.PassPerDatabaseUS = round(out.PassS/float64(max(out.Checked, 1))*1e6, 2)
	return out, nil
}
