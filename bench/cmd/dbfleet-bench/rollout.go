package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// rolloutWaves is the rollout benchmark's wave order, one region a wave.
var rolloutWaves = []string{"westeurope", "northeurope", "eastus"}

// rolloutRun is one upgrade of every database to a new version.
type rolloutRun struct {
	Version int64   `json:"version"`
	FloorS  float64 `json:"floor_s"`
	// DbfleetS runs from the schema PUT that publishes the version to the
	// end of the last upgrade operation in the backend.
	DbfleetS float64 `json:"dbfleet_s"`
	Ratio    float64 `json:"dbfleet_over_floor"`
	// Wave times: for the floor, each wave's psql sessions; for dbfleet,
	// from the previous wave's last upgrade (or the schema PUT) to the
	// wave's last upgrade.
	FloorWavesS   []float64 `json:"floor_waves_s"`
	DbfleetWavesS []float64 `json:"dbfleet_waves_s"`
	// SubmitS is how long the 1 + N PUTs took to send.
	SubmitS float64 `json:"submit_s"`
}

// rolloutResult is benchmark 4.
type rolloutResult struct {
	Databases int          `json:"databases"`
	Waves     [][]string   `json:"waves"`
	BakeTime  string       `json:"bake_time"`
	Driver    string       `json:"driver"`
	SetupS    float64      `json:"setup_s"`
	Runs      []rolloutRun `json:"runs"`
	FloorS    float64      `json:"floor_s_median"`
	DbfleetS  float64      `json:"dbfleet_s_median"`
	Ratio     float64      `json:"dbfleet_over_floor_median"`
}

// benchRollout is benchmark 4: perRegion databases in each of three regions
// at version 2 move to a new version, wave by wave with bake_time 0,
// driven through dbfleetd's HTTP API; the floor runs the same migration with
// psql on as many databases, wave by wave, 10 sessions at a time.
func benchRollout(ctx context.Context, env *benchEnv, perRegion, runs int) (*rolloutResult, error) {
	c := env.dev.client
	res := &rolloutResult{Databases: perRegion * len(rolloutWaves), BakeTime: "0s",
		Driver: "HTTP API through the provider's Go client (no Terraform): all PUTs sent 10 at a time, then each operation long-polled, 10 at a time"}
	for _, r := range rolloutWaves {
		res.Waves = append(res.Waves, []string{r})
	}
	policy := &apiv1.RolloutPolicy{Waves: res.Waves, BakeTime: "0s"}
	migrations := slices.Clone(createMigrations)

	type target struct{ region, name string }
	var targets []target
	floors := map[string]*floor{}
	floorNames := map[string][]string{}
	for _, region := range rolloutWaves {
		for i := range perRegion {
			targets = append(targets, target{region, fmt.Sprintf("rollout_%03d", i)})
			floorNames[region] = append(floorNames[region], fmt.Sprintf("floor_rollout_%03d", i))
		}
		fl, err := newFloor(env.pgBin, env.work, env.dev.Regions[region])
		if err != nil {
			return nil, err
		}
		floors[region] = fl
	}

	env.progress("rollout: setting up %d databases through dbfleet and %d with psql", len(targets), len(targets))
	setupStart := time.Now()
	if _, err := c.SchemaPut(ctx, "rollout", apiv1.SchemaSpec{Migrations: wireMigrations(migrations), Rollout: policy}); err != nil {
		return nil, err
	}
	spec := func(version int64) apiv1.DatabaseSpec {
		return apiv1.DatabaseSpec{Schema: "rollout", SchemaVersion: version, DeletionProtection: new(false), SkipFinalBackup: true}
	}
	ops, err := putAll(ctx, len(targets), func(ctx context.Context, i int) (*apiv1.Operation, error) {
		return c.DatabasePut(ctx, targets[i].region, targets[i].name, spec(int64(len(migrations))))
	})
	if err != nil {
		return nil, err
	}
	if _, err := waitAll(ctx, env, ops); err != nil {
		return nil, err
	}
	for _, region := range rolloutWaves {
		fl := floors[region]
		var scripts []string
		for _, part := range split(floorNames[region]) {
			scripts = append(scripts, fl.createScript(part, migrations))
		}
		if _, err := fl.run(ctx, scripts); err != nil {
			return nil, err
		}
	}
	res.SetupS = round(time.Since(setupStart).Seconds(), 2)

	for run := range runs {
		sql := upgradeMigrations[run%len(upgradeMigrations)]
		migrations = append(migrations, sql)
		version := int64(len(migrations))
		r := rolloutRun{Version: version}

		// The floor: wave by wave, 10 psql sessions in the wave's region.
		for _, region := range rolloutWaves {
			fl := floors[region]
			var scripts []string
			for _, part := range split(floorNames[region]) {
				var s string
				for _, db := range part {
					s += fl.migrateScript(db, []string{sql})
				}
				scripts = append(scripts, s)
			}
			took, err := fl.run(ctx, scripts)
			if err != nil {
				return nil, err
			}
			r.FloorWavesS = append(r.FloorWavesS, round(took.Seconds(), 3))
			r.FloorS += took.Seconds()
		}

		// dbfleet: publish the version, ask every database for it, and let
		// the backend order the waves.
		start := time.Now()
		if _, err := c.SchemaPut(ctx, "rollout", apiv1.SchemaSpec{Migrations: wireMigrations(migrations), Rollout: policy}); err != nil {
			return nil, err
		}
		ops, err := putAll(ctx, len(targets), func(ctx context.Context, i int) (*apiv1.Operation, error) {
			return c.DatabasePut(ctx, targets[i].region, targets[i].name, spec(version))
		})
		if err != nil {
			return nil, err
		}
		r.SubmitS = round(time.Since(start).Seconds(), 3)
		done, err := waitAll(ctx, env, ops)
		if err != nil {
			return nil, err
		}
		waveEnd := map[string]time.Time{}
		for i, op := range done {
			region := targets[i].region
			if op.UpdatedAt.After(waveEnd[region]) {
				waveEnd[region] = op.UpdatedAt
			}
		}
		previous := start
		for _, region := range rolloutWaves {
			r.DbfleetWavesS = append(r.DbfleetWavesS, round(waveEnd[region].Sub(previous).Seconds(), 3))
			previous = waveEnd[region]
		}
		r.DbfleetS = previous.Sub(start).Seconds()
		r.Ratio = round(r.DbfleetS/r.FloorS, 3)
		r.FloorS, r.DbfleetS = round(r.FloorS, 3), round(r.DbfleetS, 3)
		res.Runs = append(res.Runs, r)
		env.progress("rollout: version %d: floor %.2fs %v, dbfleet %.2fs %v (%.2fx)", version, r.FloorS, r.FloorWavesS, r.DbfleetS, r.DbfleetWavesS, r.Ratio)
	}
	var floorS, dbfleetS, ratios []float64
	for _, r := range res.Runs {
		floorS = append(floorS, r.FloorS)
		dbfleetS = append(dbfleetS, r.DbfleetS)
		ratios = append(ratios, r.Ratio)
	}
	res.FloorS, res.DbfleetS, res.Ratio = median(floorS), median(dbfleetS), median(ratios)
	return res, nil
}

// putAll sends n mutating requests, 10 at a time, and returns their
// operations in order.
func putAll(ctx context.Context, n int, put func(ctx context.Context, i int) (*apiv1.Operation, error)) ([]*apiv1.Operation, error) {
	ops := make([]*apiv1.Operation, n)
	err := forEach(ctx, n, floorSessions, func(ctx context.Context, i int) error {
		op, err := put(ctx, i)
		ops[i] = op
		return err
	})
	return ops, err
}

// waitAll long-polls every operation until it is done, 10 at a time, and
// fails unless all succeeded.
func waitAll(ctx context.Context, env *benchEnv, ops []*apiv1.Operation) ([]*apiv1.Operation, error) {
	done := make([]*apiv1.Operation, len(ops))
	err := forEach(ctx, len(ops), floorSessions, func(ctx context.Context, i int) error {
		op, err := env.dev.client.WaitOperation(ctx, ops[i].ID, nil)
		if err != nil {
			return err
		}
		if op.State != apiv1.OperationSucceeded {
			return fmt.Errorf("operation %s on %s %s: %+v", op.ID, op.Target, op.State, op.Error)
		}
		done[i] = op
		return nil
	})
	return done, err
}
