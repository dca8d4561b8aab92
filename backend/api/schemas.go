package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// schemaSpec decodes and converts a schema spec from the request body.
func schemaSpec(r *http.Request) (ops.SchemaSpec, error) {
	var in apiv1.SchemaSpec
	if err := decodeBody(r, &in, true); err != nil {
		return ops.SchemaSpec{}, err
	}
	if err := in.CheckRequired(); err != nil {
		return ops.SchemaSpec{}, fieldError("migrations", err.Error())
	}
	spec := ops.SchemaSpec{}
	for _, m := range in.Migrations {
		spec.Migrations = append(spec.Migrations, store.Migration{Version: m.Version, Up: m.Up, Down: m.Down})
	}
	if p := in.Rollout; p != nil {
		spec.Rollout = store.RolloutPolicy{Waves: p.Waves, WaveSize: p.WaveSize, OnFailure: p.OnFailure}
		if p.BakeTime != "" {
			d, err := time.ParseDuration(p.BakeTime)
			if err != nil {
				return spec, fieldError("rollout.bake_time", fmt.Sprintf("rollout bake_time %s is not a duration such as 30s or 10m", apiv1.Quote(p.BakeTime)))
			}
			spec.Rollout.BakeTime = d
		}
		if hc := p.HealthChecks; hc != nil {
			if hc.Connectable != nil {
				spec.Rollout.SkipConnectableCheck = !*hc.Connectable
			}
			spec.Rollout.ReplicaConsistent = hc.ReplicaConsistent
			if hc.MaxReplicationLag != "" {
				d, err := time.ParseDuration(hc.MaxReplicationLag)
				if err != nil || d <= 0 {
					return spec, fieldError("rollout.health_checks.max_replication_lag", fmt.Sprintf("health_checks max_replication_lag %s is not a positive duration such as 10s", apiv1.Quote(hc.MaxReplicationLag)))
				}
				spec.Rollout.MaxReplicationLag = d
			}
		}
	}
	return spec, nil
}

func schemaName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if err := engine.ValidateIdentifier("schema", name); err != nil {
		return "", badRequest(err.Error())
	}
	return name, nil
}

func wireSchema(s *ops.SchemaStatus) apiv1.Schema {
	connectable := !s.Rollout.SkipConnectableCheck
	out := apiv1.Schema{
		Name: s.Name,
		Rollout: apiv1.RolloutPolicy{Waves: s.Rollout.Waves, WaveSize: s.Rollout.WaveSize, BakeTime: s.Rollout.BakeTime.String(),
			OnFailure: s.Rollout.OnFailure, HealthChecks: &apiv1.HealthChecks{Connectable: &connectable,
				ReplicaConsistent: s.Rollout.ReplicaConsistent, MaxReplicationLag: durationOrEmpty(s.Rollout.MaxReplicationLag)}},
		LatestVersion: s.LatestVersion(), Checksum: s.Checksum(), Waves: s.Waves,
		Migrations: []apiv1.Migration{}, Rollouts: []apiv1.Rollout{},
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	for _, m := range s.Migrations {
		out.Migrations = append(out.Migrations, apiv1.Migration{Version: m.Version, Up: m.Up, Down: m.Down, Checksum: m.Checksum})
	}
	for _, r := range s.Rollouts {
		rollout := apiv1.Rollout{Version: r.Version, State: r.State, UpdatedAt: r.UpdatedAt}
		if r.Halt.Check != "" {
			rollout.Halt = &apiv1.RolloutHalt{Region: r.Halt.Region, Database: r.Halt.Database, Check: r.Halt.Check, Message: r.Halt.Message}
		}
		out.Rollouts = append(out.Rollouts, rollout)
	}
	return out
}

func (s *Server) schemaPut(w http.ResponseWriter, r *http.Request) error {
	name, err := schemaName(r)
	if err != nil {
		return err
	}
	spec, err := schemaSpec(r)
	if err != nil {
		return err
	}
	status, err := s.operations.SchemaPut(r.Context(), name, spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireSchema(status))
	return nil
}

func (s *Server) schemaGet(w http.ResponseWriter, r *http.Request) error {
	name, err := schemaName(r)
	if err != nil {
		return err
	}
	status, err := s.operations.SchemaGet(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("schema %s does not exist: %w", name, err)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireSchema(status))
	return nil
}

func (s *Server) schemaDelete(w http.ResponseWriter, r *http.Request) error {
	name, err := schemaName(r)
	if err != nil {
		return err
	}
	if err := s.operations.SchemaDelete(r.Context(), name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("schema %s does not exist: %w", name, err)
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) schemaValidate(w http.ResponseWriter, r *http.Request) error {
	name, err := schemaName(r)
	if err != nil {
		return err
	}
	spec, err := schemaSpec(r)
	if err != nil {
		return err
	}
	v, err := s.operations.SchemaValidate(r.Context(), name, spec)
	if err != nil {
		return err
	}
	out := apiv1.SchemaValidation{Valid: len(v.Errors) == 0, Region: v.Region}
	for _, e := range v.Errors {
		out.Errors = append(out.Errors, apiv1.MigrationError{Version: e.Version, Line: e.Line, Code: e.Code, Message: e.Message})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// rolloutResume answers POST /v1/schemas/{name}/rollouts/{version}:resume.
func (s *Server) rolloutResume(w http.ResponseWriter, r *http.Request) error {
	name, err := schemaName(r)
	if err != nil {
		return err
	}
	version, err := ops.ParseVersion(r.PathValue("version"))
	if err != nil {
		return err
	}
	status, err := s.operations.RolloutResume(r.Context(), name, version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireSchema(status))
	return nil
}

// databasePlan answers POST /v1/databases/{region}/{name}:plan.
func (s *Server) databasePlan(w http.ResponseWriter, r *http.Request) error {
	params, err := databaseApplyParams(r)
	if err != nil {
		return err
	}
	plan, err := s.operations.DatabasePlan(r.Context(), params)
	if err != nil {
		return err
	}
	out := apiv1.DatabasePlan{Actions: plan.Actions, CurrentVersion: plan.CurrentVersion, TargetVersion: plan.TargetVersion,
		Wave: plan.Wave, Waves: plan.Waves, Gate: plan.Gate}
	if out.Actions == nil {
		out.Actions = []string{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// rolloutWave returns the 1-based wave of a database's region for its
// schema; 0 without one.
func (s *Server) rolloutWave(r *http.Request, db *store.Database, cache map[string][][]string) int {
	if db.Schema == "" {
		return 0
	}
	waves, ok := cache[db.Schema]
	if !ok {
		var err error
		if waves, err = s.operations.SchemaWaves(r.Context(), db.Schema); err != nil {
			return 0
		}
		cache[db.Schema] = waves
	}
	for i, w := range waves {
		for _, region := range w {
			if strings.EqualFold(region, db.Region) {
				return i + 1
			}
		}
	}
	return 0
}

func durationOrEmpty(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
