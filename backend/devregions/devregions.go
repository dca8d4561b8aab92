// Package devregions runs the local fleet of `dbfleetd dev`: one real PostgreSQL cluster per region,
// created with the machine's initdb on first start, served by postgres on a loopback port and reused
// across restarts.
//
// Layout under Options.DataDir, per region:
//
//	regions/<name>/region.json   port, cluster location, admin kind, admin and superuser credentials (0600)
//	regions/<name>/cluster/      the cluster: data/ (PGDATA), postgres.log, initdb.log, the Unix socket
//
// When the PostgreSQL server user cannot reach regions/<name>/ (dbfleetd runs as root, so the
// clusters run as the user postgres, and a parent directory such as /root is closed to it), or when
// the Unix socket path would be too long, the cluster lives in
// /var/tmp/dbfleet-dev-<hash of DataDir>/<name>/ instead, and region.json remembers where. That
// directory's owner file names DataDir and the id in DataDir/fallback.id, so that Start removes
// the clusters of a data directory that is gone (fallback_sweep.go).
package devregions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
)

// DefaultNames are the regions Start runs when Options.Names is empty.
var DefaultNames = []string{"westeurope", "northeurope", "eastus"}

// regionNamePattern is the identifier pattern of backend/engine/identifier.go (ARCHITECTURE.md,
// "Identifiers"); it also keeps a name safe as a path component.
var regionNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// Options configures Start.
type Options struct {
	// DataDir is dbfleetd dev's data directory. Required; a relative path is made absolute. Each
	// region keeps its files under DataDir/regions/<name>/.
	DataDir string
	// Names are the regions to run, each matching ^[a-z][a-z0-9_]{0,62}$. Empty means DefaultNames.
	Names []string
	// Logger receives the fleet's logs. The zero value discards them.
	Logger zerolog.Logger
	// BinDir is the directory of the initdb and postgres the clusters run, such as a build
	// scripts/ensure-postgres-versions.sh fetched. Empty means the machine's, found by pgbin
	// (DBFLEET_PG_BIN_DIR first). A cluster created by another major version does not start.
	BinDir string
	// Admin is the kind of admin role the regions hand out as Region.AdminUser. Empty means
	// AdminSuperuser. A region keeps the kind it was created with; starting it with another is an
	// error.
	Admin AdminKind
}

// Region is one running dev region: a PostgreSQL cluster and how to administer it.
type Region struct {
	// Name is the region's name, such as "westeurope".
	Name string
	// Host is the address the server listens on: always 127.0.0.1.
	Host string
	// Port is the server's TCP port, picked free on first start and kept across restarts unless it
	// is taken by then.
	Port int
	// AdminKind is the kind of role AdminUser is.
	AdminKind AdminKind
	// AdminUser is the role dbfleetd administers the region as: the cluster's superuser, or with
	// AdminManaged a role with a managed service's admin rights and no superuser.
	AdminUser string
	// AdminPassword is AdminUser's password, generated at the cluster's creation.
	AdminPassword string
	// SuperuserUser is the cluster's superuser, for tests and operators that look at what the admin
	// may not; AdminUser itself unless AdminKind is AdminManaged.
	SuperuserUser string
	// SuperuserPassword is SuperuserUser's password.
	SuperuserPassword string
	// ClusterDir is the directory that holds the cluster: PGDATA in data/, the server's log in
	// postgres.log and its Unix socket.
	ClusterDir string
}

// AdminDSN returns the URL that connects to the region's postgres database as AdminUser over TCP.
func (r Region) AdminDSN() string {
	return r.dsn(r.AdminUser, r.AdminPassword)
}

// SuperuserDSN returns the URL that connects to the region's postgres database as SuperuserUser
// over TCP.
func (r Region) SuperuserDSN() string {
	return r.dsn(r.SuperuserUser, r.SuperuserPassword)
}

func (r Region) dsn(user, password string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(r.Host, strconv.Itoa(r.Port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Fleet is a running set of dev regions. Its methods are safe for concurrent use.
type Fleet struct {
	clusters []*cluster // in Options.Names order
	log      zerolog.Logger
}

// Start creates (on first start) and starts the clusters of all regions in parallel, and returns
// once every one accepts connections. On error, the clusters it started are stopped again.
func Start(ctx context.Context, opts Options) (*Fleet, error) {
	begin := time.Now()
	if opts.DataDir == "" {
		return nil, errors.New("starting dev regions: Options.DataDir is required")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("starting dev regions: resolving data directory %s: %w", opts.DataDir, err)
	}
	names := opts.Names
	if len(names) == 0 {
		names = DefaultNames
	}
	if err := validateNames(names); err != nil {
		return nil, fmt.Errorf("starting dev regions: %w", err)
	}
	srvUser, err := lookupServerUser()
	if err != nil {
		return nil, fmt.Errorf("starting dev regions: %w", err)
	}
	admin := cmp.Or(opts.Admin, AdminSuperuser)
	if _, err := ParseAdminKind(string(admin)); err != nil {
		return nil, fmt.Errorf("starting dev regions: Options.Admin: %w", err)
	}
	prog, err := findPrograms(opts.BinDir, srvUser)
	if err != nil {
		return nil, fmt.Errorf("starting dev regions: %w", err)
	}
	sweepFallback(fallbackRoot, srvUser, opts.Logger) // the clusters of data directories that are gone

	f := &Fleet{log: opts.Logger}
	var dirMu sync.Mutex
	for _, name := range names {
		f.clusters = append(f.clusters, &cluster{
			name:    name,
			dataDir: dataDir,
			user:    srvUser,
			prog:    prog,
			admin:   admin,
			log:     opts.Logger.With().Str("region", name).Logger(),
			dirMu:   &dirMu,
		})
	}
	if err := f.each(func(c *cluster) error { return c.start(ctx) }); err != nil {
		// Stop what did start, even when ctx is what failed.
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		return nil, errors.Join(err, f.Stop(stopCtx))
	}
	f.log.Info().Strs("regions", names).Dur("elapsed", time.Since(begin)).Msg("Started dev regions")
	return f, nil
}

// Regions returns the fleet's regions in the order of Options.Names.
func (f *Fleet) Regions() []Region {
	regions := make([]Region, 0, len(f.clusters))
	for _, c := range f.clusters {
		regions = append(regions, c.region())
	}
	return regions
}

// StopRegion stops the named region's server (fast shutdown) and waits for it to exit; its data
// stays. Stopping a stopped region does nothing.
func (f *Fleet) StopRegion(ctx context.Context, name string) error {
	c, err := f.cluster(name)
	if err != nil {
		return err
	}
	return c.stop(ctx)
}

// StartRegion starts the named region's server again and waits until it accepts connections. It
// keeps the region's port unless that port was taken meanwhile; Regions then shows the new one.
// Starting a running region does nothing.
func (f *Fleet) StartRegion(ctx context.Context, name string) error {
	c, err := f.cluster(name)
	if err != nil {
		return err
	}
	return c.start(ctx)
}

// Stop stops every region's server (fast shutdown) and waits for them to exit. When ctx ends
// first, the servers are shut down immediately instead and Stop returns an error.
func (f *Fleet) Stop(ctx context.Context) error {
	return f.each(func(c *cluster) error { return c.stop(ctx) })
}

func (f *Fleet) cluster(name string) (*cluster, error) {
	for _, c := range f.clusters {
		if c.name == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("unknown dev region %q", name)
}

// each runs fn on every cluster in parallel and joins the errors.
func (f *Fleet) each(fn func(*cluster) error) error {
	errs := make([]error, len(f.clusters))
	var wg sync.WaitGroup
	for i, c := range f.clusters {
		wg.Go(func() { errs[i] = fn(c) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// findPrograms returns initdb and postgres of binDir, or of pgbin's directory when binDir is empty,
// and checks that the server user can reach them.
func findPrograms(binDir string, u serverUser) (programs, error) {
	if binDir == "" {
		d, err := pgbin.Dir()
		if err != nil {
			return programs{}, err
		}
		binDir = d
	}
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return programs{}, fmt.Errorf("resolving PostgreSQL program directory %s: %w", binDir, err)
	}
	prog := programs{initdb: filepath.Join(binDir, "initdb"), postgres: filepath.Join(binDir, "postgres")}
	for _, p := range []string{prog.initdb, prog.postgres} {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return programs{}, fmt.Errorf("finding PostgreSQL programs: %s is missing or not executable", p)
		}
	}
	blocker, err := firstUnsearchable(binDir, u)
	if err != nil {
		return programs{}, err
	}
	if blocker != "" {
		return programs{}, fmt.Errorf("finding PostgreSQL programs: user %s, who runs the dev clusters, cannot enter %s and so cannot run %s; "+
			"keep the programs where it can (scripts/ensure-postgres-versions.sh does)", u.name, blocker, binDir)
	}
	return prog, nil
}

func validateNames(names []string) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if !regionNamePattern.MatchString(n) {
			return fmt.Errorf("region name %q must match %s", n, regionNamePattern)
		}
		if seen[n] {
			return fmt.Errorf("region name %q is listed twice", n)
		}
		seen[n] = true
	}
	return nil
}
