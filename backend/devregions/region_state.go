package devregions

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// adminUser is the superuser initdb creates in every dev cluster.
const adminUser = "dbfleet_admin"

// regionState is what a region remembers across restarts, in DataDir/regions/<name>/region.json.
// It holds the admin password, so the file is 0600 and owned by dbfleetd's user.
type regionState struct {
	// Port is the server's TCP port; 0 until one is picked.
	Port int `json:"port"`
	// ClusterDir is the cluster's directory; "" until it is placed.
	ClusterDir    string `json:"clusterDir"`
	AdminUser     string `json:"adminUser"`
	AdminPassword string `json:"adminPassword"`
}

// loadRegionState reads path. When it is missing, it returns a new state with fresh credentials
// and found false.
func loadRegionState(path string) (s regionState, found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return regionState{AdminUser: adminUser, AdminPassword: rand.Text()}, false, nil
	}
	if err != nil {
		return regionState{}, false, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return regionState{}, false, fmt.Errorf("reading %s: %w", path, err)
	}
	if s.AdminUser == "" || s.AdminPassword == "" {
		return regionState{}, false, fmt.Errorf("reading %s: admin credentials missing", path)
	}
	return s, true, nil
}

// save writes the state to path atomically, readable by its owner only.
func (s regionState) save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".region-*.json")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
