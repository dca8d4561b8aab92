package devregions

import (
	"cmp"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// regionState is what a region remembers across restarts, in DataDir/regions/<name>/region.json.
// It holds the admin and superuser passwords, so the file is 0600 and owned by dbfleetd's user.
type regionState struct {
	// Port is the server's TCP port; 0 until one is picked.
	Port int `json:"port"`
	// ClusterDir is the cluster's directory; "" until it is placed.
	ClusterDir string `json:"clusterDir"`
	// AdminKind is the kind of admin the region was created with; files written before there were
	// kinds lack it and are AdminSuperuser.
	AdminKind     AdminKind `json:"adminKind,omitempty"`
	AdminUser     string    `json:"adminUser"`
	AdminPassword string    `json:"adminPassword"`
	// SuperuserUser and SuperuserPassword are the superuser initdb made: the admin itself in a
	// superuser region, so files written before managed regions lack them.
	SuperuserUser     string `json:"superuserUser,omitempty"`
	SuperuserPassword string `json:"superuserPassword,omitempty"`
}

// newRegionState returns the state of a region not created yet, with fresh credentials.
func newRegionState(kind AdminKind) regionState {
	s := regionState{AdminKind: kind, AdminUser: adminUser, AdminPassword: rand.Text()}
	if kind == AdminManaged {
		s.SuperuserUser, s.SuperuserPassword = managedSuperuser, rand.Text()
	} else {
		s.SuperuserUser, s.SuperuserPassword = s.AdminUser, s.AdminPassword
	}
	return s
}

// loadRegionState reads path. When it is missing, it returns newRegionState(kind) and found
// false. A region created with another admin kind than kind is an error, unless kind is "" (any).
func loadRegionState(path string, kind AdminKind) (s regionState, found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newRegionState(cmp.Or(kind, AdminSuperuser)), false, nil
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
	if s.AdminKind == "" {
		s.AdminKind = AdminSuperuser
	}
	if s.SuperuserUser == "" {
		if s.AdminKind != AdminSuperuser {
			return regionState{}, false, fmt.Errorf("reading %s: superuser credentials missing", path)
		}
		s.SuperuserUser, s.SuperuserPassword = s.AdminUser, s.AdminPassword
	}
	if kind != "" && s.AdminKind != kind {
		// Turning one kind into the other would rename or demote the role tests and dbfleetd's
		// state know as the admin; a fresh region is the honest way to get the other kind.
		return regionState{}, false, fmt.Errorf("the region was created with a %s admin, not %s: start it with admin kind %s, "+
			"or remove %s and its cluster to create it anew", s.AdminKind, kind, s.AdminKind, filepath.Dir(path))
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
