package devregions

import (
	"fmt"
	"path/filepath"
)

// ReadRegion returns what a dev fleet in dataDir remembers of a region: its
// port and admin credentials. Tests use it to ask a region run by another
// process (a `dbfleetd dev`) what PostgreSQL itself holds.
func ReadRegion(dataDir, name string) (Region, error) {
	c := &cluster{name: name, dataDir: dataDir}
	st, found, err := loadRegionState(filepath.Join(c.metaDir(), "region.json"))
	if err != nil {
		return Region{}, err
	}
	if !found {
		return Region{}, fmt.Errorf("dev region %s has never run in %s", name, dataDir)
	}
	return c.regionFor(st), nil
}
