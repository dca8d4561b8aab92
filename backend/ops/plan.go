package ops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// DatabasePlan is what applying a spec would do.
type DatabasePlan struct {
	Actions        []string
	CurrentVersion int64
	TargetVersion  int64
	// Wave is the 1-based rollout wave of the region; Waves the count; both
	// 0 without a schema.
	Wave  int
	Waves int
	// Gate is what an upgrade would wait for now; empty when nothing.
	Gate string
	// schema is the schema the database would run, nil for none.
	schema *store.Schema
}

// DatabasePlan answers what DatabaseApply with the same params would do, and
// refuses what it would refuse. It changes nothing.
func (m *Manager) DatabasePlan(ctx context.Context, params *DatabaseApplyParams) (*DatabasePlan, error) {
	if err := m.validateTarget(params.Region, params.Name); err != nil {
		return nil, err
	}
	if err := m.DatabaseParametersCheck(ctx, params); err != nil {
		return nil, err
	}
	current, err := m.store.DatabaseGet(ctx, store.DatabaseKey{Region: params.Region, Name: params.Name})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	// What the regions cannot do comes first: a replica's source that does
	// not exist yet, which planApply refuses, is one the same apply may
	// create, and the plan would not show the refusal before it.
	if err := m.checkRegions(ctx, current, params); err != nil {
		return nil, err
	}
	plan, err := m.planApply(ctx, m.store, current, params)
	if err != nil {
		return nil, err
	}
	if plan.schema != nil && plan.TargetVersion > plan.CurrentVersion {
		db := &store.Database{Region: params.Region, Name: params.Name, Schema: plan.schema.Name, SchemaVersion: plan.TargetVersion, ReplicaOf: params.ReplicaOf}
		for _, mig := range plan.schema.Migrations {
			if mig.Version <= plan.CurrentVersion || mig.Version > plan.TargetVersion {
				continue
			}
			var wait *gateWait
			if err := m.gate(ctx, m.store, db, plan.schema, mig.Version); errors.As(err, &wait) {
				plan.Gate = wait.reason
				break
			} else if err != nil {
				return nil, err
			}
		}
	}
	return plan, nil
}

// planApply checks params against the current database (nil when new) and
// the schema, and lists the actions an apply would take.
func (m *Manager) planApply(ctx context.Context, q store.Queries, current *store.Database, params *DatabaseApplyParams) (*DatabasePlan, error) {
	for _, name := range slices.Sorted(maps.Keys(params.Parameters)) {
		if err := apiv1.ValidateParameter(name, params.Parameters[name]); err != nil {
			return nil, invalidArgument("parameters", "%s", err)
		}
	}
	if err := apiv1.ValidateDriftPolicy(params.DriftPolicy); err != nil {
		return nil, invalidArgument("drift_policy", "%s", err)
	}
	plan := &DatabasePlan{}
	if current == nil {
		plan.Actions = append(plan.Actions, "create role "+OwnerRoleName(params.Name), "create database "+params.Name)
	} else {
		plan.CurrentVersion = current.AppliedVersion
		if current.Schema != "" && params.Schema != current.Schema && current.AppliedVersion > 0 {
			return nil, invalidArgument("schema", "database %s in %s runs schema %s at version %d and cannot change schema; create a new database instead",
				params.Name, params.Region, current.Schema, current.AppliedVersion)
		}
	}
	if err := m.checkReplicaSpec(ctx, q, current, params); err != nil {
		return nil, err
	}
	if current == nil && params.ReplicaOf != "" {
		plan.Actions = append(plan.Actions, "subscribe to "+params.Name+" in "+params.ReplicaOf)
	}
	if !maps.Equal(params.Parameters, currentParameters(current)) {
		plan.Actions = append(plan.Actions, "set parameters")
	}
	if current != nil && (params.DeletionProtection != nil && *params.DeletionProtection != current.DeletionProtection ||
		params.SkipFinalBackup != current.SkipFinalBackup ||
		cmp.Or(params.DriftPolicy, apiv1.DriftPolicyHeal) != cmp.Or(current.DriftPolicy, apiv1.DriftPolicyHeal)) {
		plan.Actions = append(plan.Actions, "update settings")
	}
	if params.Schema == "" {
		if params.SchemaVersion != 0 {
			return nil, invalidArgument("schema_version", "schema_version is set but schema is not")
		}
		return plan, nil
	}
	schema, err := q.SchemaGet(ctx, params.Schema)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidArgument("schema", "schema %s does not exist; create it (dbfleet_schema) before the databases that run it", params.Schema)
	}
	if err != nil {
		return nil, err
	}
	plan.schema = schema
	plan.TargetVersion = params.SchemaVersion
	if plan.TargetVersion == 0 {
		plan.TargetVersion = latestVersion(schema)
	} else if !slices.ContainsFunc(schema.Migrations, func(mig store.Migration) bool { return mig.Version == plan.TargetVersion }) {
		return nil, invalidArgument("schema_version", "schema %s has no version %d; its latest version is %d", schema.Name, plan.TargetVersion, latestVersion(schema))
	}
	waves := resolveWaves(schema.Rollout, m.regions.Names())
	plan.Waves, plan.Wave = len(waves), waveOf(waves, cmp.Or(params.ReplicaOf, params.Region))+1

	switch {
	case plan.TargetVersion < plan.CurrentVersion:
		for _, mig := range schema.Migrations {
			if mig.Version > plan.TargetVersion && mig.Version <= plan.CurrentVersion && mig.Down == "" {
				return nil, fmt.Errorf("%w: %s in %s cannot go from version %d down to %d: migration %d of schema %s has no down SQL",
					ErrDowngradeImpossible, params.Name, params.Region, plan.CurrentVersion, plan.TargetVersion, mig.Version, schema.Name)
			}
		}
		plan.Actions = append(plan.Actions, fmt.Sprintf("revert schema %s from version %d to %d", schema.Name, plan.CurrentVersion, plan.TargetVersion))
	case plan.TargetVersion > plan.CurrentVersion:
		r, err := stoppedRollout(ctx, q, schema.Name, plan.TargetVersion)
		if err != nil {
			return nil, err
		}
		if r != nil {
			return nil, &RolloutHaltedError{Schema: schema.Name, Version: plan.TargetVersion, Halt: r.Halt, State: r.State}
		}
		plan.Actions = append(plan.Actions, fmt.Sprintf("migrate schema %s from version %d to %d (wave %d of %d)",
			schema.Name, plan.CurrentVersion, plan.TargetVersion, plan.Wave, plan.Waves))
	}
	return plan, nil
}

func currentParameters(db *store.Database) map[string]string {
	if db == nil {
		return nil
	}
	return db.Parameters
}
