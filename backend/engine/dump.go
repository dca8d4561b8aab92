package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
)

// DatabaseDump writes a pg_dump archive (custom format) of the owner's database to path. It
// logs in as the owner, never as the admin, so that what the owner planted in the database
// (views, row-level security policies, functions they call) runs with the owner's rights at
// most. The region's pg_dump is the oldest found that is at least as new as its server; with
// none, it fails with a *MissingError and dumps nothing. It writes to a temporary file first
// and renames it, so path exists only when the dump is whole; an existing path is kept as it is.
func (f *Fleet) DatabaseDump(ctx context.Context, o Owner, path string) error {
	if err := ValidateIdentifier("database", o.Database); err != nil {
		return err
	}
	r, ok := f.regions[o.Region]
	if !ok {
		return fmt.Errorf("region %s: %w", o.Region, ErrUnknownRegion)
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	caps, err := f.RegionCapabilities(ctx, o.Region)
	if err != nil {
		return fmt.Errorf("dump database %s in %s: %w", o.Database, o.Region, err)
	}
	if caps.PgDump == nil {
		return FinalBackupMissing(o.Region, caps)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create backup directory for %s in %s: %w", o.Database, o.Region, err)
	}
	tmp := path + ".partial"
	if out, err := dumpCommand(ctx, r, caps.PgDump.Path, o, tmp).CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("dump database %s in %s with %s: %w: %s", o.Database, o.Region, caps.PgDump, err, truncate(string(out), 500))
	}
	// The dump holds the database's data: only dbfleetd's user may read it.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("restrict dump of %s in %s: %w", o.Database, o.Region, err)
	}
	failpoint.At(failpoint.DumpWritten)
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("store dump of %s in %s: %w", o.Database, o.Region, err)
	}
	return nil
}

// dumpCommand is pg_dump of the owner's database into file, connecting to the region's server
// as the owner, secured as the admin DSN asks.
func dumpCommand(ctx context.Context, r *region, pgDump string, o Owner, file string) *exec.Cmd {
	c := r.connCfg
	cmd := exec.CommandContext(ctx, pgDump, "--format=custom", "--file="+file,
		"--host="+c.Host, "--port="+strconv.Itoa(int(c.Port)), "--username="+o.Role, "--dbname="+o.Database, "--no-password")
	// The password goes through the environment, never the command line.
	cmd.Env = append(os.Environ(), "PGPASSWORD="+o.Password, "PGCONNECT_TIMEOUT=10")
	cmd.Env = append(cmd.Env, r.tls.env()...)
	return cmd
}

// FinalBackupMissing is the error of a region that has no pg_dump for its server.
func FinalBackupMissing(region string, caps *Capabilities) *MissingError {
	return &MissingError{Region: region, Action: "take a final backup", Missing: caps.MissingForFinalBackup(),
		Hint: fmt.Sprintf("install pg_dump %d or newer (the postgresql-client-%d package) and name it in pg_dump_paths, "+
			"or set skip_final_backup = true to delete without a backup", caps.Major(), caps.Major())}
}
