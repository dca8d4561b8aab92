package devregions

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ReadRegion returns what a dev fleet in dataDir remembers of a region: its
// port, admin kind, and admin and superuser credentials. Tests use it to ask a region run by another
// process (a `dbfleetd dev`) what PostgreSQL itself holds.
func ReadRegion(dataDir, name string) (Region, error) {
	c := &cluster{name: name, dataDir: dataDir}
	st, found, err := loadRegionState(filepath.Join(c.metaDir(), "region.json"), "")
	if err != nil {
		return Region{}, err
	}
	if !found {
		return Region{}, fmt.Errorf("dev region %s has never run in %s", name, dataDir)
	}
	return c.regionFor(st), nil
}

// RemoveClusters removes the clusters of the stopped dev fleet in dataDir
// that were placed outside it (under /var/tmp, when the server user cannot
// reach dataDir), with their common parent once it is empty. The regions
// are those of names, or DefaultNames. The data directory itself is the
// caller's to remove.
func RemoveClusters(dataDir string, names ...string) error {
	if len(names) == 0 {
		names = DefaultNames
	}
	// Start keys the place outside by the absolute data directory.
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("resolve dev data directory %s: %w", dataDir, err)
	}
	var errs []error
	for _, name := range names {
		dir := fallbackDir(abs, name)
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove cluster of dev region %s: %w", name, err))
		}
		_ = removeFallbackParentIfEmpty(filepath.Dir(dir))
	}
	return errors.Join(errs...)
}
