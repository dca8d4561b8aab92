package main

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
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
