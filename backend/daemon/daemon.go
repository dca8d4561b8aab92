// Package daemon runs dbfleetd: it opens the store and the regions, starts
// the job workers and the HTTP API, and shuts them down in order.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"
	"github.com/rs/zerolog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/reconcile"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// Config is what a dbfleetd process runs with.
type Config struct {
	// Listen is the HTTP address; port 0 picks a free port.
	Listen string
	// Store is where the state lives: a SQLite file for one node, or a
	// postgres:// URL of a database that several nodes share.
	Store string
	// BackupDir receives final backups of deleted databases.
	BackupDir string
	Regions   []engine.RegionConfig
	// PgDumpPaths are pg_dump programs, or directories holding one, for final backups, beside
	// those found on the machine (pgbin.FindPgDumps); each region uses the oldest that is at
	// least as new as its server.
	PgDumpPaths []string
	// Tokens are API tokens to make sure exist at start, by plain value.
	Tokens []Token
	// Workers is how many operation steps run at once; 0 means 10.
	Workers int
	// TLS, when set, serves the API over HTTPS; nil serves plain HTTP.
	TLS *TLSConfig
	// SecretKey is the 32-byte AES-256 key that encrypts database
	// passwords in the store. Required.
	SecretKey []byte
	// RateLimit is each API token's request rate limit; zero means
	// api.DefaultRateLimit, a negative PerSecond turns it off.
	RateLimit api.RateLimit
	// VerifyInterval is how often each replica's consistency is checked on
	// a schedule; 0 means 10 minutes.
	VerifyInterval time.Duration
	// ReconcileInterval is how often the reconciler checks each database
	// (failed ones sooner); 0 means reconcile.DefaultInterval (30 s), a
	// negative value turns the reconciler off.
	ReconcileInterval time.Duration
	// OperationDeadline is how long an operation may take (steps that run
	// on past it are cancelled on the server, steps that fail transiently
	// are retried until it); 0 means ops.DefaultOperationDeadline (30 min).
	OperationDeadline time.Duration
	// OperationDeadlines overrides OperationDeadline per operation kind
	// (apply_database, delete_database, ...); Run refuses an unknown kind
	// or a duration that is not positive.
	OperationDeadlines map[string]time.Duration
	// JobLimits bound the background jobs (not the operations); zero
	// values are ops' defaults.
	JobLimits ops.JobLimits
	Logger    zerolog.Logger
	// Ready is called once the API serves, with its base URL.
	Ready func(endpoint string)
}

// Token is an API token given in configuration.
type Token struct {
	Name  string
	Value string
	Scope string
}

// shutdownGrace bounds each phase of a graceful shutdown.
const shutdownGrace = 10 * time.Second

// Run serves until ctx is cancelled, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if err := ops.CheckOperationDeadlines(cfg.OperationDeadline, cfg.OperationDeadlines); err != nil {
		return fmt.Errorf("configure operations: %w", err)
	}
	// Every operation worker may hold a region's admin connection at once
	// (CREATE DATABASE holds one for long), with the reconciler's catalog
	// reads and the API's region health beside them; with fewer
	// connections than workers, workers queue for one.
	maxConns := int32(cmp.Or(cfg.Workers, 10) + 4)
	pgDumps, err := pgbin.FindPgDumps(ctx, cfg.PgDumpPaths)
	if err != nil {
		return fmt.Errorf("find pg_dump: %w", err)
	}
	for _, p := range pgDumps {
		log.Info().Str("path", p.Path).Str("version", p.Version).Msg("Found pg_dump")
	}
	if len(pgDumps) == 0 {
		log.Warn().Msg("Found no pg_dump: deleting a database needs skip_final_backup")
	}
	fleet, err := engine.NewFleet(cfg.Regions, engine.Options{PgDumps: pgDumps, MaxConnsPerRegion: maxConns})
	if err != nil {
		return fmt.Errorf("configure regions: %w", err)
	}
	defer fleet.Close()

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	box, err := newSecretBox(cfg.SecretKey)
	if err != nil {
		return err
	}
	workers := river.NewWorkers()
	// River logs through the same JSON logger, warnings and worse only.
	riverLog := slog.New(zerolog.NewSlogHandler(log.Level(max(log.GetLevel(), zerolog.WarnLevel)).With().Str("component", "river").Logger()))
	riverConfig := ops.RiverConfig(workers, cmp.Or(cfg.Workers, 10), cfg.JobLimits, riverLog)
	if cfg.ReconcileInterval >= 0 {
		reconcile.Configure(riverConfig, cfg.ReconcileInterval)
	}
	st, err := store.Open(ctx, cfg.Store, store.Options{River: riverConfig, Secrets: box})
	if err != nil {
		return fmt.Errorf("open state store: %w", err)
	}
	defer st.Close()

	if err := ensureTokens(ctx, st, cfg.Tokens); err != nil {
		return err
	}
	if sealed, err := sealStoredSecrets(ctx, st, box); err != nil {
		return err
	} else if sealed > 0 {
		log.Info().Int("databases", sealed).Msg("Encrypted stored passwords")
	}

	manager := ops.NewManager(ops.Config{
		Store: st, Regions: fleet, Logger: log, BackupDir: cfg.BackupDir, Registerer: registry,
		VerifyInterval: cfg.VerifyInterval, OperationDeadline: cfg.OperationDeadline, OperationDeadlines: cfg.OperationDeadlines,
	})
	manager.RegisterWorkers(workers)
	if cfg.ReconcileInterval >= 0 {
		reconcile.New(reconcile.Config{
			Store: st, Regions: fleet, Logger: log, Interval: cfg.ReconcileInterval, Registerer: registry,
			Replicas: manager, Subscriptions: fleet,
		}).RegisterWorkers(workers)
	}

	requeued, err := st.JobsRequeueOrphans(ctx)
	if err != nil {
		return err
	}
	if requeued > 0 {
		log.Info().Int("jobs", requeued).Msg("Re-queued jobs of stopped processes")
	}
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	go func() { _ = manager.WatchOperationsFinished(watchCtx) }()
	if err := st.JobsStart(ctx); err != nil {
		return fmt.Errorf("start job workers: %w", err)
	}

	listener, scheme, err := listen(cfg.Listen, cfg.TLS)
	if err != nil {
		_ = st.JobsStop(context.WithoutCancel(ctx))
		return err
	}
	handler := api.New(api.Config{Store: st, Operations: manager, Regions: fleet, Logger: log, Registry: registry, RateLimit: cfg.RateLimit,
		SecretKey: cfg.SecretKey})
	srv := handler.HTTPServer()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(listener) }()

	endpoint := scheme + "://" + listener.Addr().String()
	log.Info().Str("endpoint", endpoint).Strs("regions", fleet.Names()).Str("node", st.NodeID()).Msg("Serving")
	if cfg.Ready != nil {
		cfg.Ready(endpoint)
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		log.Error().Err(err).Msg("HTTP server stopped")
	}
	// Draining: load balancers stop sending requests, this node stops
	// taking jobs and hands back the steps it cannot finish in time, then
	// the requests in flight end.
	log.Info().Msg("Shutting down")
	handler.Drain()
	manager.Drain()
	jobsCtx, cancelJobs := context.WithTimeout(context.WithoutCancel(ctx), ops.StepStopGrace+shutdownGrace)
	defer cancelJobs()
	if err := st.JobsStop(jobsCtx); err != nil {
		log.Warn().Err(err).Msg("Job workers stopped uncleanly")
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn().Err(err).Msg("HTTP shutdown incomplete")
	}
	log.Info().Msg("Stopped")
	return nil
}

func ensureTokens(ctx context.Context, st store.Store, tokens []Token) error {
	return st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, t := range tokens {
			if err := tx.TokenPut(ctx, &store.Token{Name: t.Name, Hash: api.HashToken(t.Value), Scope: t.Scope, CreatedAt: time.Now().UTC()}); err != nil {
				return err
			}
		}
		return nil
	})
}
