package devregions

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"syscall"

	"github.com/rs/zerolog"
)

// fallbackParentPattern matches the names fallbackDir gives the directories it keeps clusters in.
var fallbackParentPattern = regexp.MustCompile(`^` + fallbackPrefix + `[0-9a-f]{12}$`)

// sweepFallback removes from root the clusters that fleets kept outside a data directory that is
// gone: deleted while its fleet was stopped (a test's temporary directory, say), or deleted and
// made anew. They would stay forever otherwise, 115 to 230 MB a region. Start runs it every
// time, so they go at the next start of any dev fleet.
//
// It looks only at what claimFallbackParent makes: directories named dbfleet-dev-<hash>, not
// symbolic links, private to the server user and owned by it, with an owner record whose data
// directory no longer exists or no longer holds the recorded id; in them, only directories named
// like a region. A cluster whose postmaster.pid names a live process stays (a server whose data
// directory was deleted under it); everything stays when the owner's id cannot be read. Failures
// are logged, never returned: a sweep does not stop a start.
func sweepFallback(root string, u serverUser, log zerolog.Logger) {
	entries, err := os.ReadDir(root)
	if err != nil {
		log.Warn().Err(err).Str("dir", root).Msg("Failed to look for orphaned dev clusters")
		return
	}
	for _, e := range entries {
		if !fallbackParentPattern.MatchString(e.Name()) {
			continue
		}
		parent := filepath.Join(root, e.Name())
		if err := sweepParent(parent, u, log); err != nil {
			log.Warn().Err(err).Str("dir", parent).Msg("Failed to remove orphaned dev clusters")
		}
	}
}

// sweepParent removes the clusters of one fallback directory whose owner is gone and then, once it
// holds nothing else, the directory itself.
func sweepParent(parent string, u serverUser, log zerolog.Logger) error {
	fi, err := os.Lstat(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed meanwhile
	}
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !fi.IsDir() || !ok || st.Uid != u.uid || fi.Mode().Perm()&0o077 != 0 {
		return nil // another user's, or not a directory dbfleet made
	}
	lock, err := lockDir(parent, false)
	if errors.Is(err, errDirLocked) || errors.Is(err, errDirReplaced) {
		return nil // another process claims or sweeps it right now
	}
	if err != nil {
		return err
	}
	defer lock.Close()
	o, err := readOwner(parent, u)
	if errors.Is(err, fs.ErrNotExist) {
		log.Info().Str("dir", parent).Msg("Kept dev cluster directory without an owner record; remove it by hand if no data directory uses it")
		return nil
	}
	if err != nil {
		return err
	}
	switch id, err := readDataDirID(o.dataDir); {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		// The data directory is gone, or is a new one.
	case err != nil:
		return fmt.Errorf("reading the id of data directory %s: %w", o.dataDir, err)
	case id == o.id:
		return nil // its data directory uses it
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		return fmt.Errorf("listing %s: %w", parent, err)
	}
	for _, e := range entries {
		dir := filepath.Join(parent, e.Name())
		// DirEntry.IsDir is false for a symbolic link, whatever it points to.
		if !e.IsDir() || !regionNamePattern.MatchString(e.Name()) {
			continue
		}
		if pid, ok := postmasterPID(filepath.Join(dir, "data", "postmaster.pid")); ok && processAlive(pid) {
			log.Warn().Str("clusterDir", dir).Str("dataDir", o.dataDir).Int("pid", pid).
				Msg("Kept orphaned dev cluster whose server still runs; it goes at a start after the server stopped")
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("removing orphaned dev cluster %s: %w", dir, err)
		}
		log.Info().Str("clusterDir", dir).Str("dataDir", o.dataDir).Msg("Removed orphaned dev cluster")
	}
	return removeFallbackParentIfEmpty(parent)
}
