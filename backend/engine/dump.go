package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// DatabaseDump writes a pg_dump archive (custom format) of a database to
// path. It writes to a temporary file first and renames it, so path exists
// only when the dump is whole; an existing path is kept as it is.
func (f *Fleet) DatabaseDump(ctx context.Context, regionName, name, path string) error {
	if err := ValidateIdentifier("database", name); err != nil {
		return err
	}
	r, ok := f.regions[regionName]
	if !ok {
		return fmt.Errorf("region %s: %w", regionName, ErrUnknownRegion)
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if f.pgDump == "" {
		return fmt.Errorf("dump database %s in %s: no pg_dump program is configured", name, regionName)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create backup directory for %s in %s: %w", name, regionName, err)
	}
	tmp := path + ".partial"
	c := r.connCfg
	// The password goes through the environment, never the command line.
	cmd := exec.CommandContext(ctx, f.pgDump, "--format=custom", "--file="+tmp,
		"--host="+c.Host, "--port="+strconv.Itoa(int(c.Port)), "--username="+c.User, "--dbname="+name, "--no-password")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+c.Password, "PGSSLMODE="+sslMode(c), "PGCONNECT_TIMEOUT=10")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("dump database %s in %s: %w: %s", name, regionName, err, truncate(string(out), 500))
	}
	// The dump holds the database's data: only dbfleetd's user may read it.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("restrict dump of %s in %s: %w", name, regionName, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("store dump of %s in %s: %w", name, regionName, err)
	}
	return nil
}
