package runner

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

// createDestroyConfig is create_destroy's configuration.
var createDestroyConfig = template.Must(template.New("main.tf").Parse(`terraform {
  required_providers {
    dbfleet = { source = "dbfleet/dbfleet" }
  }
}

provider "dbfleet" {}

resource "dbfleet_database" "this" {
  region              = {{printf "%q" .Region}}
  name                = {{printf "%q" .Name}}
  deletion_protection = false
  skip_final_backup   = true
  parameters = {
    statement_timeout = "30s"
  }
  timeouts {
    create = {{printf "%q" .Timeout}}
    update = {{printf "%q" .Timeout}}
    delete = {{printf "%q" .Timeout}}
  }
}
`))

// runCreateDestroy: terraform apply of one database in the trial's region,
// an empty plan after it, terraform destroy; the API must show the database
// ready with its parameter, then gone.
func runCreateDestroy(ctx context.Context, t *trial) error {
	region := t.region
	name, err := t.name("cd")
	if err != nil {
		return err
	}
	if err := t.claim(ctx, KindDatabase, region, name); err != nil {
		return err
	}
	dir, err := t.workDir()
	if err != nil {
		return err
	}
	var config strings.Builder
	if err := createDestroyConfig.Execute(&config, map[string]string{"Region": region, "Name": name, "Timeout": tfDuration(t.env.opTimeout)}); err != nil {
		return err
	}
	if err := writeFile(dir, "main.tf", config.String()); err != nil {
		return err
	}
	tf := t.env.tf
	t.setStep("init", "")
	if err := tf.init(ctx, dir); err != nil {
		return err
	}

	t.setStep("apply", region)
	if _, err := tf.run(ctx, dir, "apply", "-input=false", "-no-color", "-auto-approve"); err != nil {
		return t.explain(ctx, err, region, name)
	}
	t.setStep("check_created", region)
	db, err := t.env.api.client.DatabaseGet(ctx, region, name)
	if err != nil {
		return err
	}
	if db.Status != apiv1.DatabaseStatusReady || db.Parameters["statement_timeout"] != "30s" || db.DeletionProtection {
		return fmt.Errorf("database %s/%s after apply: status %s, statement_timeout %q, deletion_protection %t; want ready, 30s, false",
			region, name, db.Status, db.Parameters["statement_timeout"], db.DeletionProtection)
	}

	t.setStep("plan_empty", region)
	if err := requireEmptyPlan(ctx, tf, dir); err != nil {
		return err
	}

	t.setStep("destroy", region)
	if _, err := tf.run(ctx, dir, "destroy", "-input=false", "-no-color", "-auto-approve"); err != nil {
		return t.explain(ctx, err, region, name)
	}
	t.setStep("check_destroyed", region)
	return requireGone(ctx, t.env.api, region, name)
}

// schemaRolloutConfig is schema_rollout's configuration: a schema with
// one-region waves and a database of it in every region, following its
// latest version.
var schemaRolloutConfig = template.Must(template.New("main.tf").Parse(`terraform {
  required_providers {
    dbfleet = { source = "dbfleet/dbfleet" }
  }
}

provider "dbfleet" {}

resource "dbfleet_schema" "this" {
  name = {{printf "%q" .Schema}}
  migrations = [
{{- range .Migrations}}
    {
      version = {{.Version}}
      up      = {{printf "%q" .Up}}
      down    = {{printf "%q" .Down}}
    },
{{- end}}
  ]
  rollout = {
    wave_size = 1
    bake_time = "1s"
  }
}

resource "dbfleet_database" "this" {
  for_each            = toset([{{range $i, $r := .Regions}}{{if $i}}, {{end}}{{printf "%q" $r}}{{end}}])
  region              = each.key
  name                = {{printf "%q" .Name}}
  schema              = dbfleet_schema.this.name
  schema_version      = dbfleet_schema.this.latest_version
  deletion_protection = false
  skip_final_backup   = true
  timeouts {
    create = {{printf "%q" .Timeout}}
    update = {{printf "%q" .Timeout}}
    delete = {{printf "%q" .Timeout}}
  }
}
`))

// rolloutMigrations are the schema_rollout scenario's versions.
var rolloutMigrations = []apiv1.Migration{
	{Version: 1, Up: "CREATE TABLE items (id bigint PRIMARY KEY, note text NOT NULL);", Down: "DROP TABLE items;"},
	{Version: 2, Up: "ALTER TABLE items ADD COLUMN quantity integer NOT NULL DEFAULT 0;", Down: "ALTER TABLE items DROP COLUMN quantity;"},
}

// runSchemaRollout: apply a schema at version 1 with a database in every
// region, then version 2, which reaches the regions wave by wave; every
// database's ledger must be at 2, the rollout completed and the plan empty;
// then destroy.
func runSchemaRollout(ctx context.Context, t *trial) error {
	regions := t.regions.all
	schema, err := t.name("sr")
	if err != nil {
		return err
	}
	name, err := t.name("sr")
	if err != nil {
		return err
	}
	if err := t.claim(ctx, KindSchema, "", schema); err != nil {
		return err
	}
	for _, r := range regions {
		if err := t.claim(ctx, KindDatabase, r, name); err != nil {
			return err
		}
	}
	dir, err := t.workDir()
	if err != nil {
		return err
	}
	write := func(versions int) error {
		var config strings.Builder
		err := schemaRolloutConfig.Execute(&config, map[string]any{
			"Schema": schema, "Name": name, "Regions": regions,
			"Migrations": rolloutMigrations[:versions], "Timeout": tfDuration(t.env.opTimeout),
		})
		if err != nil {
			return err
		}
		return writeFile(dir, "main.tf", config.String())
	}
	tf := t.env.tf
	t.setStep("init", "")
	if err := tf.init(ctx, dir); err != nil {
		return err
	}
	for versions := 1; versions <= len(rolloutMigrations); versions++ {
		step := "apply_v" + strconv.Itoa(versions)
		t.setStep(step, "")
		if err := write(versions); err != nil {
			return err
		}
		if _, err := tf.run(ctx, dir, "apply", "-input=false", "-no-color", "-auto-approve"); err != nil {
			return t.explain(ctx, err, "", name, regions...)
		}
		t.setStep("check_v"+strconv.Itoa(versions), "")
		if err := requireVersion(ctx, t, schema, name, int64(versions)); err != nil {
			return err
		}
	}
	t.setStep("plan_empty", "")
	if err := requireEmptyPlan(ctx, tf, dir); err != nil {
		return err
	}
	t.setStep("destroy", "")
	if _, err := tf.run(ctx, dir, "destroy", "-input=false", "-no-color", "-auto-approve"); err != nil {
		return t.explain(ctx, err, "", name, regions...)
	}
	t.setStep("check_destroyed", "")
	for _, r := range regions {
		if err := requireGone(ctx, t.env.api, r, name); err != nil {
			return err
		}
	}
	if _, err := t.env.api.client.SchemaGet(ctx, schema); !errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("schema %s after destroy: want not found, got %v", schema, err)
	}
	return nil
}

// requireVersion checks that every region's database name runs version of
// schema, ready, and that version's rollout completed in waves that follow
// the regions.
func requireVersion(ctx context.Context, t *trial, schema, name string, version int64) error {
	for _, r := range t.regions.all {
		t.setStep("check_v"+strconv.FormatInt(version, 10), r)
		db, err := t.env.api.client.DatabaseGet(ctx, r, name)
		if err != nil {
			return err
		}
		if db.AppliedVersion != version || db.Status != apiv1.DatabaseStatusReady || db.RolloutWave < 1 {
			return fmt.Errorf("database %s/%s after the apply of version %d: applied_version %d, status %s, rollout_wave %d; want %d, ready, a wave",
				r, name, version, db.AppliedVersion, db.Status, db.RolloutWave, version)
		}
	}
	s, err := t.env.api.client.SchemaGet(ctx, schema)
	if err != nil {
		return err
	}
	for _, ro := range s.Rollouts {
		if ro.Version == version && ro.State != apiv1.RolloutCompleted {
			return fmt.Errorf("schema %s: rollout of version %d is %s, want %s", schema, version, ro.State, apiv1.RolloutCompleted)
		}
	}
	return nil
}

// requireEmptyPlan fails unless terraform plan in dir shows no changes.
func requireEmptyPlan(ctx context.Context, tf *terraform, dir string) error {
	empty, out, err := tf.planIsEmpty(ctx, dir)
	if err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("terraform plan right after apply shows changes: %s", diagnostics("", planChanges(out)))
	}
	return nil
}

// planChanges is the part of a plan's output that lists the changes.
func planChanges(out string) string {
	if i := strings.Index(out, "Terraform will perform"); i >= 0 {
		return out[i:]
	}
	return out
}

// requireGone fails unless the API says the database name in region does
// not exist.
func requireGone(ctx context.Context, a *api, region, name string) error {
	db, err := a.client.DatabaseGet(ctx, region, name)
	if errors.Is(err, client.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("database %s/%s still exists after its deletion: status %s, operation %s", region, name, db.Status, db.OperationID)
}

// explain adds to a failed Terraform command what the backend says about
// the database name in each region (region alone, or regions): the latest
// operation that did not succeed, with its error or progress. That is the
// failure's *OperationError when there is one.
func (t *trial) explain(ctx context.Context, err error, region, name string, regions ...string) error {
	if region != "" {
		regions = append(regions, region)
	}
	lookCtx, cancel := contextForCleanup(ctx, statusTimeout)
	defer cancel()
	for _, r := range regions {
		ops, listErr := t.env.api.operations(lookCtx, r, name)
		if listErr != nil {
			continue
		}
		for _, op := range ops {
			t.addOperation(op.ID)
		}
		if latest := latestUnsucceeded(ops); latest != nil {
			opErr := &OperationError{Op: latest}
			if !latest.Done {
				opErr.TimedOut = t.env.opTimeout
			}
			return fmt.Errorf("%w; backend: %w", err, opErr)
		}
	}
	return err
}

// latestUnsucceeded is the newest of ops that has not succeeded, or nil.
func latestUnsucceeded(ops []apiv1.Operation) *apiv1.Operation {
	var latest *apiv1.Operation
	for i := range ops {
		op := &ops[i]
		if op.State == apiv1.OperationSucceeded {
			continue
		}
		if latest == nil || op.CreatedAt.After(latest.CreatedAt) {
			latest = op
		}
	}
	return latest
}

// tfDuration renders d for a Terraform timeouts block.
func tfDuration(d time.Duration) string {
	return strconv.FormatInt(int64(d.Seconds()), 10) + "s"
}
