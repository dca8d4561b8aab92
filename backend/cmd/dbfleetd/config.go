package main

import (
	"errors"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// readServeConfig reads the YAML configuration of `dbfleetd serve`; unknown
// fields are errors.
func readServeConfig(path string) (*serveConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	var cfg serveConfig
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	return &cfg, nil
}

// storeLocation is the state store the configuration names: state_path (a
// SQLite file) or store (a postgres:// URL), exactly one.
func (c *serveConfig) storeLocation() (string, error) {
	switch {
	case c.StatePath != "" && c.Store != "":
		return "", errors.New("give either state_path (SQLite, one node) or store (a postgres:// URL), not both")
	case c.Store != "":
		if !store.IsPostgresDSN(c.Store) {
			return "", errors.New("store must be a postgres:// URL; a SQLite file goes in state_path")
		}
		return c.Store, nil
	case c.StatePath != "":
		return c.StatePath, nil
	default:
		return "", errors.New("state_path (SQLite, one node) or store (a postgres:// URL, several nodes) is required")
	}
}
