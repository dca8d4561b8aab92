// Command dbfleetd is dbfleet's provisioning backend.
//
//	dbfleetd dev [--data-dir DIR] [--listen ADDR]   a local fleet of three dev regions
//	dbfleetd serve --config dbfleetd.yaml           production mode
//	dbfleetd token create|list|revoke ...           manage API tokens
//	dbfleetd version                                the version and commit
//
// Every command and subcommand prints its usage on stdout for --help, -h or
// help and exits 0; a usage error prints one line and the usage on stderr
// and exits 2 (package cmdline); any other failure is logged and exits 1.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/reconcile"
	"github.com/dbfleet/terraform-provider-dbfleet/internal/cmdline"
)

const usage = `usage:
  dbfleetd dev [--data-dir DIR] [--listen ADDR] [--tls-cert FILE --tls-key FILE]
  dbfleetd serve --config FILE [--tls-cert FILE --tls-key FILE]
  dbfleetd token create --scope read|write|admin [--name NAME] (--config FILE | --data-dir DIR)
  dbfleetd token list (--config FILE | --data-dir DIR)
  dbfleetd token revoke NAME (--config FILE | --data-dir DIR)
  dbfleetd version
  dbfleetd help [COMMAND]

dev runs a local fleet of three dev regions, serve runs dbfleetd in production, token manages
API tokens, version prints the version and commit. Run "dbfleetd COMMAND --help" for a command's
usage and flags.`

// serveHelp is what `dbfleetd serve --help` prints above the flags.
const serveHelp = `usage: dbfleetd serve [--config FILE] [--tls-cert FILE --tls-key FILE]

Runs dbfleetd in production mode: the regions, the state store, the backup directory and the
bootstrap token come from the YAML configuration file (backend/README.md lists its keys). It
logs JSON to stderr; SIGINT or SIGTERM stops it.`

func main() {
	// The log field for errors is "err" (backend/README.md, on logs).
	zerolog.ErrorFieldName = "err"
	logger := zerolog.New(os.Stderr).With().Timestamp().Logger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, logger)
	stop()
	status, handled := cmdline.Exit(err, os.Stdout, os.Stderr)
	if !handled {
		logger.Error().Err(err).Msg("dbfleetd failed")
		fmt.Fprintln(os.Stderr, "dbfleetd:", err)
	}
	os.Exit(status)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, logger zerolog.Logger) error {
	top := &cmdline.Command{Name: "dbfleetd", Usage: usage}
	if len(args) == 0 {
		return top.Errorf("a command is required")
	}
	switch args[0] {
	case "dev":
		return runDev(ctx, args[1:], logger)
	case "serve":
		return runServe(ctx, args[1:], logger)
	case "token":
		return runToken(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		return runVersion(args[1:], stdout)
	case "help":
		if len(args) > 1 {
			// help COMMAND... is COMMAND... --help.
			return run(ctx, append(args[1:], "--help"), stdout, stderr, logger)
		}
		return &cmdline.Help{Command: top}
	}
	if cmdline.IsHelp(args[0]) {
		return &cmdline.Help{Command: top}
	}
	return top.Errorf("unknown command %q", args[0])
}

func runDev(ctx context.Context, args []string, logger zerolog.Logger) error {
	flags := flag.NewFlagSet("dev", flag.ContinueOnError)
	cmd := &cmdline.Command{Name: "dbfleetd dev", Usage: devHelp, Flags: flags}
	dataDir := flags.String("data-dir", "./.dbfleet-dev", "directory for the state file, backups and the dev regions' clusters")
	listen := flags.String("listen", "127.0.0.1:8580", "HTTP listen address; port 0 picks a free port")
	tlsFlags := addTLSFlags(flags)
	rateLimit := flags.Float64("rate-limit", 200, "requests per second each API token may send; negative for no limit")
	rateBurst := flags.Int("rate-limit-burst", 400, "requests each API token may send at once above --rate-limit")
	storeLocation := flags.String("store", "", "state store: a postgres:// URL that several nodes may share; default: DATA-DIR/state.db (SQLite)")
	admin := flags.String("admin", cmp.Or(os.Getenv(devregions.EnvAdmin), string(devregions.AdminSuperuser)),
		"the regions' admin: superuser, or managed (NOSUPERUSER CREATEDB CREATEROLE REPLICATION, pg_monitor, pg_create_subscription on 16+, "+
			"like a managed service's; the superuser stays in DATA-DIR/regions/*/region.json); "+devregions.EnvAdmin+" sets the default")
	pgBinDir := flags.String("pg-bin-dir", "", "directory of the regions' initdb and postgres (such as one of scripts/ensure-postgres-versions.sh); "+
		"default: "+pgbin.EnvBinDir+", pg_config --bindir, the newest /usr/lib/postgresql/*/bin")
	positional, err := cmd.Parse(args)
	if err != nil {
		return err
	}
	if err := cmd.NoArguments(positional); err != nil {
		return err
	}
	adminKind, err := devregions.ParseAdminKind(*admin)
	if err != nil {
		return cmd.Errorf("--admin: %w", err)
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return fmt.Errorf("resolve --data-dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create --data-dir %s: %w", dir, err)
	}
	token, err := devToken(filepath.Join(dir, "dev-token"))
	if err != nil {
		return err
	}
	secretKey, err := devSecretKey(filepath.Join(dir, "secret.key"))
	if err != nil {
		return err
	}
	fleet, err := devregions.Start(ctx, devregions.Options{DataDir: dir, Logger: logger, BinDir: *pgBinDir, Admin: adminKind})
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := fleet.Stop(stopCtx); err != nil {
			logger.Error().Err(err).Msg("Failed to stop dev regions")
		}
	}()
	var regions []engine.RegionConfig
	for _, r := range fleet.Regions() {
		regions = append(regions, engine.RegionConfig{Name: r.Name, AdminDSN: r.AdminDSN(), Labels: map[string]string{"env": "dev"}})
	}
	return daemon.Run(ctx, daemon.Config{
		Listen:    *listen,
		Store:     cmp.Or(*storeLocation, filepath.Join(dir, "state.db")),
		BackupDir: filepath.Join(dir, "backups"),
		Regions:   regions,
		Tokens:    []daemon.Token{{Name: "dev", Value: token, Scope: "admin"}},
		TLS:       tlsFlags.config(nil),
		SecretKey: secretKey,
		RateLimit: api.RateLimit{PerSecond: *rateLimit, Burst: *rateBurst},
		Logger:    logger,
		Ready: func(endpoint string) {
			fmt.Printf("export DBFLEET_ENDPOINT=%s\nexport DBFLEET_TOKEN=%s\n", endpoint, token)
		},
	})
}

// devToken returns the dev admin token kept in path, making one the first
// time, so a restarted dev fleet keeps answering to the same token.
func devToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read dev token: %w", err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate dev token: %w", err)
	}
	token := "dbf_" + hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write dev token: %w", err)
	}
	return token, nil
}

// serveConfig is the YAML configuration of `dbfleetd serve`.
type serveConfig struct {
	// Listen is the HTTP address (default 127.0.0.1:8580).
	Listen string `yaml:"listen"`
	// StatePath is the SQLite state file of a single node; Store, a
	// postgres:// URL, is the database several nodes share. One of the two
	// is required.
	StatePath string `yaml:"state_path"`
	Store     string `yaml:"store"`
	// BackupDir receives final backups of deleted databases (required).
	BackupDir string `yaml:"backup_dir"`
	// PgBinDir is a directory holding a pg_dump, and PgDumpPaths more pg_dump programs (or
	// their directories), for final backups; dbfleetd also looks in DBFLEET_PG_BIN_DIR,
	// `pg_config --bindir` and /usr/lib/postgresql/*/bin, and each region uses the oldest
	// pg_dump that is at least as new as its server.
	PgBinDir    string   `yaml:"pg_bin_dir"`
	PgDumpPaths []string `yaml:"pg_dump_paths"`
	// Workers is how many operation steps run at once (default 10).
	Workers int `yaml:"workers"`
	// OperationDeadline is how long an operation may take (default 30m): a
	// step still running then is cancelled, its statement on the server
	// too, and a step failing transiently (a region that is down) is
	// retried until then. OperationDeadlines overrides it per operation
	// kind, such as {apply_database: 2h} for long migrations.
	OperationDeadline  time.Duration            `yaml:"operation_deadline"`
	OperationDeadlines map[string]time.Duration `yaml:"operation_deadlines"`
	// ReconcileInterval is how often the reconciler looks at each database
	// (default 30s; failed ones sooner).
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	// BootstrapTokenFile holds an admin API token to accept (required); more
	// tokens are made with `dbfleetd token create`.
	BootstrapTokenFile string `yaml:"bootstrap_token_file"`
	// TLSCertFile and TLSKeyFile, both or neither, serve HTTPS (default:
	// plain HTTP). The --tls-cert and --tls-key flags override them.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// SecretKeyFile holds the key (64 hex digits) that encrypts database
	// passwords in the state file. Required here or through
	// DBFLEET_SECRET_KEY_FILE or DBFLEET_SECRET_KEY.
	SecretKeyFile string `yaml:"secret_key_file"`
	// RateLimit is each API token's request rate limit (default 50 per
	// second, burst 100; a negative requests_per_second turns it off).
	RateLimit struct {
		RequestsPerSecond float64 `yaml:"requests_per_second"`
		Burst             int     `yaml:"burst"`
	} `yaml:"rate_limit"`
	Regions []struct {
		Name     string            `yaml:"name"`
		AdminDSN string            `yaml:"admin_dsn"`
		Labels   map[string]string `yaml:"labels"`
	} `yaml:"regions"`
}

func runServe(ctx context.Context, args []string, logger zerolog.Logger) error {
	flags := flag.NewFlagSet("serve", flag.ContinueOnError)
	cmd := &cmdline.Command{Name: "dbfleetd serve", Usage: serveHelp, Flags: flags}
	configPath := flags.String("config", "dbfleetd.yaml", "configuration file")
	tlsFlags := addTLSFlags(flags)
	positional, err := cmd.Parse(args)
	if err != nil {
		return err
	}
	if err := cmd.NoArguments(positional); err != nil {
		return err
	}
	cfg, err := readServeConfig(*configPath)
	if err != nil {
		return err
	}
	storeLocation, err := cfg.storeLocation()
	if err != nil {
		return fmt.Errorf("config %s: %w", *configPath, err)
	}
	if cfg.BackupDir == "" || cfg.BootstrapTokenFile == "" || len(cfg.Regions) == 0 {
		return fmt.Errorf("config %s: backup_dir, bootstrap_token_file and at least one region are required", *configPath)
	}
	if err := ops.CheckOperationDeadlines(cfg.OperationDeadline, cfg.OperationDeadlines); err != nil {
		return fmt.Errorf("config %s: %w", *configPath, err)
	}
	if cfg.ReconcileInterval < 0 {
		return fmt.Errorf("config %s: reconcile_interval must be positive, not %s; leave it out for the default (%s)",
			*configPath, cfg.ReconcileInterval, reconcile.DefaultInterval)
	}
	token, err := os.ReadFile(cfg.BootstrapTokenFile)
	if err != nil {
		return fmt.Errorf("read bootstrap_token_file: %w", err)
	}
	secretKey, err := serveSecretKey(cfg.SecretKeyFile)
	if err != nil {
		return fmt.Errorf("config %s: %w", *configPath, err)
	}
	pgDumps := cfg.PgDumpPaths
	if cfg.PgBinDir != "" {
		pgDumps = append([]string{cfg.PgBinDir}, pgDumps...)
	}
	var regions []engine.RegionConfig
	for _, r := range cfg.Regions {
		regions = append(regions, engine.RegionConfig{Name: r.Name, AdminDSN: r.AdminDSN, Labels: r.Labels})
	}
	return daemon.Run(ctx, daemon.Config{
		Listen:             cmp.Or(cfg.Listen, "127.0.0.1:8580"),
		Store:              storeLocation,
		BackupDir:          cfg.BackupDir,
		Regions:            regions,
		PgDumpPaths:        pgDumps,
		Tokens:             []daemon.Token{{Name: "bootstrap", Value: strings.TrimSpace(string(token)), Scope: "admin"}},
		Workers:            cfg.Workers,
		OperationDeadline:  cfg.OperationDeadline,
		OperationDeadlines: cfg.OperationDeadlines,
		ReconcileInterval:  cfg.ReconcileInterval,
		TLS:                tlsFlags.config(&daemon.TLSConfig{CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile}),
		SecretKey:          secretKey,
		RateLimit:          api.RateLimit{PerSecond: cfg.RateLimit.RequestsPerSecond, Burst: cfg.RateLimit.Burst},
		Logger:             logger,
	})
}
