// Temporary profiling harness; not part of the benchmarks.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/reconcile"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/secrets"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"log/slog"
	"net"
	"net/http"
)

func main() {
	n := flag.Int("n", 100, "")
	poolSize := flag.Int("pool", 8, "")
	out := flag.String("out", "/tmp/prof", "")
	waves := flag.Bool("waves", false, "3 regions, waves")
	flag.Parse()
	zerolog.TimeFieldFormat = time.RFC3339Nano
	ctx := context.Background()
	os.MkdirAll(*out, 0o755)
	dir, _ := os.MkdirTemp("", "prof-")
	fleet, err := devregions.Start(ctx, devregions.Options{DataDir: dir})
	if err != nil {
		panic(err)
	}
	defer fleet.Stop(ctx)
	var regions []engine.RegionConfig
	for _, r := range fleet.Regions() {
		regions = append(regions, engine.RegionConfig{Name: r.Name, AdminDSN: r.AdminDSN()})
	}
	logf, _ := os.Create(filepath.Join(*out, "daemon.log"))
	key := make([]byte, 32)
	rand.Read(key)
	pgDump, _ := pgbin.Path("pg_dump")
	fl, err := engine.NewFleet(regions, engine.Options{PgDump: pgDump, MaxConnsPerRegion: int32(*poolSize)})
	if err != nil {
		panic(err)
	}
	registry := prometheus.NewRegistry()
	workers := river.NewWorkers()
	rc := ops.RiverConfig(workers, 10, slog.New(slog.DiscardHandler))
	reconcile.Configure(rc, 0)
	box, _ := secrets.NewAESGCM(key)
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "state.db"), store.Options{River: rc, Secrets: box})
	if err != nil {
		panic(err)
	}
	st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.TokenPut(ctx, &store.Token{Name: "t", Hash: api.HashToken("tok"), Scope: "admin", CreatedAt: time.Now()})
	})
	logger := zerolog.New(logf).With().Timestamp().Logger()
	mgr := ops.NewManager(ops.Config{Store: st, Regions: fl, Logger: logger, BackupDir: filepath.Join(dir, "b"), Registerer: registry})
	mgr.RegisterWorkers(workers)
	reconcile.New(reconcile.Config{Store: st, Regions: fl, Logger: logger, Registerer: registry}).RegisterWorkers(workers)
	if err := st.JobsStart(ctx); err != nil {
		panic(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: api.New(api.Config{Store: st, Operations: mgr, Regions: fl, Logger: logger, Registry: registry, RateLimit: api.RateLimit{PerSecond: -1}})}
	go srv.Serve(ln)
	ep := "http://" + ln.Addr().String()

	c, _ := client.New(client.Config{Endpoint: ep, Token: "tok", MaxRetries: 5})
	var migs []apiv1.Migration
	migs = append(migs, apiv1.Migration{Version: 1, Up: "CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer text NOT NULL, total numeric(12,2) NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now());"})
	migs = append(migs, apiv1.Migration{Version: 2, Up: "CREATE TABLE order_items (order_id bigint NOT NULL REFERENCES orders (id), sku text NOT NULL, quantity integer NOT NULL CHECK (quantity > 0), PRIMARY KEY (order_id, sku)); CREATE INDEX orders_customer ON orders (customer);"})
	spec := apiv1.SchemaSpec{Migrations: migs}
	if *waves {
		spec.Rollout = &apiv1.RolloutPolicy{Waves: [][]string{{"westeurope"}, {"northeurope"}, {"eastus"}}, BakeTime: "0s"}
	}
	if _, err := c.SchemaPut(ctx, "bench", spec); err != nil {
		panic(err)
	}
	regionsOf := []string{"westeurope"}
	if *waves {
		regionsOf = []string{"westeurope", "northeurope", "eastus"}
	}
	type tgt struct{ r, n string }
	var tgts []tgt
	for _, r := range regionsOf {
		for i := 0; i < *n; i++ {
			tgts = append(tgts, tgt{r, fmt.Sprintf("b_%03d", i)})
		}
	}
	pf, _ := os.Create(filepath.Join(*out, "cpu.pprof"))
	pprof.StartCPUProfile(pf)
	start := time.Now()
	run := func(version int64) {
		work := make(chan tgt)
		var wg sync.WaitGroup
		for w := 0; w < 10; w++ {
			wg.Go(func() {
				for t := range work {
					s := apiv1.DatabaseSpec{Schema: "bench", SchemaVersion: version, DeletionProtection: new(false), SkipFinalBackup: true}
					if _, err := c.DatabasePlan(ctx, t.r, t.n, s); err != nil {
						panic(err)
					}
					op, err := c.DatabasePut(ctx, t.r, t.n, s)
					if err != nil {
						panic(err)
					}
					d, err := c.WaitOperation(ctx, op.ID, nil)
					if err != nil || d.State != "succeeded" {
						panic(fmt.Sprint(err, d))
					}
					if _, err := c.DatabaseGet(ctx, t.r, t.n); err != nil {
						panic(err)
					}
				}
			})
		}
		for _, t := range tgts {
			work <- t
		}
		close(work)
		wg.Wait()
	}
	run(2)
	fmt.Println("create phase:", time.Since(start))
	pprof.StopCPUProfile()
	// floor
	adm := fleet.Regions()[0]
	_ = adm
	st.JobsStop(ctx)
}
