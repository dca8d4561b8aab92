package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
)

// floorSessions is how many psql sessions a floor runs at once: as many as
// Terraform's -parallelism=10 runs provider calls.
const floorSessions = 10

// floor runs the baseline of a benchmark: the same SQL that dbfleet issues
// for the user, sent straight to a region by parallel psql sessions. The
// floor's owners all share one password; each owner logs in with it over
// TCP (SCRAM), as dbfleet's owners do.
type floor struct {
	psql     string
	dir      string
	region   devregions.Region
	password string
	passfile string
}

func newFloor(pgBin, dir string, region devregions.Region) (*floor, error) {
	f := &floor{psql: filepath.Join(pgBin, "psql"), dir: dir, region: region, password: strings.ToLower(rand.Text())}
	f.passfile = filepath.Join(dir, "pgpass-"+region.Name)
	// The first matching line wins: the admin's own password, then every
	// other role's (the floor's owners).
	pass := fmt.Sprintf("%s:%d:*:%s:%s\n%s:%d:*:*:%s\n",
		region.Host, region.Port, region.AdminUser, region.AdminPassword, region.Host, region.Port, f.password)
	if err := os.WriteFile(f.passfile, []byte(pass), 0o600); err != nil {
		return nil, err
	}
	return f, nil
}

// createScript is the SQL of one session that creates dbs: each owner role
// and its database as the admin, then each database's migrations as its
// owner, one transaction per migration.
func (f *floor) createScript(dbs []string, migrations []string) string {
	var b strings.Builder
	for _, db := range dbs {
		fmt.Fprintf(&b, "CREATE ROLE %s LOGIN PASSWORD '%s';\nCREATE DATABASE %s OWNER %s;\n", db+"_owner", f.password, db, db+"_owner")
	}
	for _, db := range dbs {
		b.WriteString(f.migrateScript(db, migrations))
	}
	return b.String()
}

// migrateScript connects to db as its owner and runs migrations, one
// transaction each.
func (f *floor) migrateScript(db string, migrations []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\\connect %s %s\n", db, db+"_owner")
	for _, m := range migrations {
		fmt.Fprintf(&b, "BEGIN;\n%s\nCOMMIT;\n", strings.TrimSpace(m))
	}
	return b.String()
}

// dropScript drops dbs and their owners.
func (f *floor) dropScript(dbs []string) string {
	var b strings.Builder
	for _, db := range dbs {
		fmt.Fprintf(&b, "DROP DATABASE IF EXISTS %s WITH (FORCE);\nDROP ROLE IF EXISTS %s;\n", db, db+"_owner")
	}
	return b.String()
}

// run runs scripts, one psql session each, all at once, and returns the
// wall time until the last one finished.
func (f *floor) run(ctx context.Context, scripts []string) (time.Duration, error) {
	elapsed, _, err := f.runCPU(ctx, scripts)
	return elapsed, err
}

// runCPU is run that also returns the CPU time the psql processes used.
func (f *floor) runCPU(ctx context.Context, scripts []string) (time.Duration, time.Duration, error) {
	files := make([]string, len(scripts))
	for i, s := range scripts {
		file, err := os.CreateTemp(f.dir, "floor-*.sql")
		if err != nil {
			return 0, 0, err
		}
		files[i] = file.Name()
		_, err = file.WriteString(s)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, 0, err
		}
	}
	defer func() {
		for _, name := range files {
			_ = os.Remove(name)
		}
	}()
	errs := make([]error, len(files))
	cpu := make([]time.Duration, len(files))
	var wg sync.WaitGroup
	start := time.Now()
	for i, name := range files {
		cmd := exec.CommandContext(ctx, f.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1",
			"-h", f.region.Host, "-p", strconv.Itoa(f.region.Port), "-U", f.region.AdminUser, "-d", "postgres", "-f", name)
		cmd.Env = append(os.Environ(), "PGPASSFILE="+f.passfile, "PGPASSWORD=", "PGSSLMODE=disable")
		wg.Go(func() {
			out, err := cmd.CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("psql %s: %w: %s", filepath.Base(name), err, truncate(string(out), 600))
			}
			if cmd.ProcessState != nil {
				cpu[i] = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var total time.Duration
	for _, c := range cpu {
		total += c
	}
	return elapsed, total, errors.Join(errs...)
}

// split deals names out to the floor's sessions, keeping their order
// within each.
func split(names []string) [][]string {
	n := min(floorSessions, len(names))
	out := make([][]string, n)
	for i, name := range names {
		out[i%n] = append(out[i%n], name)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
