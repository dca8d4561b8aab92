package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// provisionRegion is where benchmark 1 creates its databases.
const provisionRegion = "westeurope"

// provisionRun is one round of benchmark 1.
type provisionRun struct {
	FloorS float64 `json:"floor_s"`
	ApplyS float64 `json:"apply_s"`
	Ratio  float64 `json:"apply_over_floor"`
	PlanS  float64 `json:"plan_s"`
	// BackendS spans the apply's create operations in the backend: from
	// the first one's creation to the last one's end. BeforeS runs from
	// the apply's start to the first, AfterS from the last to its exit.
	BackendS float64 `json:"backend_span_s"`
	BeforeS  float64 `json:"before_first_operation_s"`
	AfterS   float64 `json:"after_last_operation_s"`
	// OperationS is the mean create operation's duration; Concurrency the
	// operations running at once on average over the backend span (10 is
	// the most the apply can have).
	OperationS  float64 `json:"operation_mean_s"`
	Concurrency float64 `json:"operations_concurrency_mean"`
	// CPU seconds the client side used: terraform with its provider
	// plugin, or the psql sessions; and dbfleetd during the apply. It runs
	// on the cores PostgreSQL needs.
	TerraformCPUS float64 `json:"terraform_and_provider_cpu_s"`
	DbfleetdCPUS  float64 `json:"dbfleetd_cpu_s"`
	PsqlCPUS      float64 `json:"floor_psql_cpu_s"`
	// Requests counts the requests the backend served during the apply, by
	// route.
	Requests map[string]float64 `json:"requests_by_route"`
}

// provisionResult is benchmark 1.
type provisionResult struct {
	Databases   int            `json:"databases"`
	Parallelism int            `json:"parallelism"`
	Migrations  int            `json:"migrations_per_database"`
	Runs        []provisionRun `json:"runs"`
	FloorS      float64        `json:"floor_s_median"`
	ApplyS      float64        `json:"apply_s_median"`
	PlanS       float64        `json:"plan_s_median"`
	BackendS    float64        `json:"backend_span_s_median"`
	Ratio       float64        `json:"apply_over_floor_median"`
	// PerOperation is the requests of each route per created database,
	// median over the runs.
	PerOperation map[string]float64 `json:"requests_per_database"`
	// AfterMutation counts, per created database, the requests after its
	// PUT: long-polls, operation reads and the read-back GET.
	AfterMutation float64 `json:"requests_after_mutation_per_operation"`
}

var terraformConfig = template.Must(template.New("main.tf").Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }}).Parse(`terraform {
  required_providers {
    dbfleet = { source = "dbfleet/dbfleet" }
  }
}

provider "dbfleet" {}

resource "dbfleet_schema" "bench" {
  name = "bench"
  migrations = [
{{- range $i, $sql := .Migrations}}
    {
      version = {{inc $i}}
      up      = <<-SQL
{{$sql}}
      SQL
    },
{{- end}}
  ]
}

resource "dbfleet_database" "bench" {
  for_each            = toset([for i in range({{.Count}}) : format("bench_%03d", i)])
  region              = "{{.Region}}"
  name                = each.key
  schema              = dbfleet_schema.bench.name
  schema_version      = dbfleet_schema.bench.latest_version
  deletion_protection = false
  skip_final_backup   = true
}
`))

// benchProvision is benchmark 1: terraform apply of count databases with
// -parallelism=10 against the floor of the same SQL from 10 psql sessions.
func benchProvision(ctx context.Context, env *benchEnv, count, runs int) (*provisionResult, error) {
	dir := filepath.Join(env.work, "tf")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, "main.tf"))
	if err != nil {
		return nil, err
	}
	err = terraformConfig.Execute(f, map[string]any{"Migrations": createMigrations, "Count": count, "Region": provisionRegion})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// tf runs terraform and returns its wall time and the CPU time it and
	// its provider plugin (a child it waits for) used.
	tfCPU := func(args ...string) (time.Duration, time.Duration, error) {
		cmd := exec.CommandContext(ctx, env.terraform, args...)
		cmd.Dir = dir
		cmd.Env = terraformEnv(env.dev)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, 0, fmt.Errorf("terraform %s: %w\n%s", args[0], err, truncate(string(out), 4000))
		}
		return time.Since(start), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
	}
	tf := func(args ...string) (time.Duration, error) {
		took, _, err := tfCPU(args...)
		return took, err
	}
	if _, err := tf("init", "-input=false"); err != nil {
		return nil, err
	}
	fl, err := newFloor(env.pgBin, env.work, env.dev.Regions[provisionRegion])
	if err != nil {
		return nil, err
	}
	names := make([]string, count)
	for i := range names {
		names[i] = fmt.Sprintf("floor_%03d", i)
	}

	// A fresh region's first databases come slower (cold caches): warm it
	// with a round of the floor that is not counted.
	warm := names[:min(len(names), 2*floorSessions)]
	var warmScripts []string
	for _, part := range split(warm) {
		warmScripts = append(warmScripts, fl.createScript(part, createMigrations))
	}
	if _, err := fl.run(ctx, warmScripts); err != nil {
		return nil, err
	}
	if _, err := fl.run(ctx, []string{fl.dropScript(warm)}); err != nil {
		return nil, err
	}

	res := &provisionResult{Databases: count, Parallelism: floorSessions, Migrations: len(createMigrations)}
	for run := range runs {
		env.progress("provision: run %d of %d", run+1, runs)
		var r provisionRun
		var scripts []string
		for _, part := range split(names) {
			scripts = append(scripts, fl.createScript(part, createMigrations))
		}
		floorTime, psqlCPU, err := fl.runCPU(ctx, scripts)
		if err != nil {
			return nil, err
		}
		r.PsqlCPUS = round(psqlCPU.Seconds(), 3)
		if _, err := fl.run(ctx, []string{fl.dropScript(names)}); err != nil {
			return nil, err
		}
		r.FloorS = floorTime.Seconds()

		before, err := env.dev.requestCounts(ctx)
		if err != nil {
			return nil, err
		}
		dbfleetdBefore, err := cpuTime(env.dev.pid())
		if err != nil {
			return nil, err
		}
		applyStart := time.Now()
		applyTime, tfCPUTime, err := tfCPU("apply", "-input=false", "-auto-approve", "-parallelism=10")
		if err != nil {
			return nil, err
		}
		dbfleetdAfter, err := cpuTime(env.dev.pid())
		if err != nil {
			return nil, err
		}
		r.TerraformCPUS = round(tfCPUTime.Seconds(), 3)
		r.DbfleetdCPUS = round((dbfleetdAfter - dbfleetdBefore).Seconds(), 3)
		after, err := env.dev.requestCounts(ctx)
		if err != nil {
			return nil, err
		}
		r.ApplyS = applyTime.Seconds()
		r.Ratio = r.ApplyS / r.FloorS
		r.Requests = countsDelta(before, after)
		first, last, busy, err := env.dev.createSpan(ctx, provisionRegion, "bench_", count)
		if err != nil {
			return nil, err
		}
		r.OperationS = round(busy.Seconds()/float64(count), 3)
		r.Concurrency = round(busy.Seconds()/last.Sub(first).Seconds(), 2)
		r.BackendS = last.Sub(first).Seconds()
		r.BeforeS = first.Sub(applyStart).Seconds()
		r.AfterS = applyStart.Add(applyTime).Sub(last).Seconds()
		planTime, err := tf("plan", "-input=false", "-detailed-exitcode")
		if err != nil {
			return nil, fmt.Errorf("a plan right after the apply must show no changes: %w", err)
		}
		r.PlanS = planTime.Seconds()
		if _, err := tf("destroy", "-input=false", "-auto-approve", "-parallelism=10"); err != nil {
			return nil, err
		}
		res.Runs = append(res.Runs, r)
		env.progress("provision: floor %.2fs, apply %.2fs (%.2fx): %.2fs to the first operation, backend %.2fs (operations %.2fs, %.1f at once), %.2fs after; plan %.2fs; CPU: terraform %.2fs, dbfleetd %.2fs, psql %.2fs",
			r.FloorS, r.ApplyS, r.Ratio, r.BeforeS, r.BackendS, r.OperationS, r.Concurrency, r.AfterS, r.PlanS, r.TerraformCPUS, r.DbfleetdCPUS, r.PsqlCPUS)
	}

	pick := func(get func(provisionRun) float64) float64 {
		var vs []float64
		for _, r := range res.Runs {
			vs = append(vs, get(r))
		}
		return median(vs)
	}
	res.FloorS = pick(func(r provisionRun) float64 { return r.FloorS })
	res.ApplyS = pick(func(r provisionRun) float64 { return r.ApplyS })
	res.PlanS = pick(func(r provisionRun) float64 { return r.PlanS })
	res.BackendS = pick(func(r provisionRun) float64 { return r.BackendS })
	res.Ratio = pick(func(r provisionRun) float64 { return r.Ratio })
	res.PerOperation = map[string]float64{}
	for route := range res.Runs[0].Requests {
		res.PerOperation[route] = round(pick(func(r provisionRun) float64 { return r.Requests[route] })/float64(count), 3)
	}
	for route, n := range res.PerOperation {
		if isPollRoute(route) {
			res.AfterMutation += n
		}
	}
	return res, nil
}

// isPollRoute tells the routes a client calls after its mutating request
// to learn how it ended: long-polls, operation reads, the read-back.
func isPollRoute(route string) bool {
	switch route {
	case "POST /v1/operations/{id}", "GET /v1/operations/{id}", "GET /v1/databases/{region}/{name}":
		return true
	}
	return false
}

// terraformEnv is the environment Terraform runs with: the endpoint and
// token of the benchmark's dbfleetd, no checkpoint calls, and no CLI
// configuration file that is named but missing (Terraform warns on every
// command about one).
func terraformEnv(d *devServer) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		switch name {
		case "DBFLEET_ENDPOINT", "DBFLEET_TOKEN", "TF_LOG", "TF_LOG_PATH":
			continue
		case "TF_CLI_CONFIG_FILE":
			if _, err := os.Stat(value); err != nil {
				continue
			}
		}
		env = append(env, kv)
	}
	return append(env, "DBFLEET_ENDPOINT="+d.Endpoint, "DBFLEET_TOKEN="+d.Token,
		"CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
}

// createSpan returns the creation of the first and the end of the last of
// the newest create operations on databases named prefix* in region, which
// must number count.
func (d *devServer) createSpan(ctx context.Context, region, prefix string, count int) (first, last time.Time, busy time.Duration, err error) {
	var list apiv1.OperationList
	if err := d.getJSON(ctx, "/v1/operations", &list); err != nil {
		return first, last, 0, err
	}
	n := 0
	for _, op := range list.Operations {
		if op.Kind != apiv1.OperationKindApplyDatabase || !strings.HasPrefix(op.Target, "databases/"+region+"/"+prefix) {
			continue
		}
		if op.State != apiv1.OperationSucceeded {
			return first, last, 0, fmt.Errorf("operation %s on %s is %s", op.ID, op.Target, op.State)
		}
		if first.IsZero() || op.CreatedAt.Before(first) {
			first = op.CreatedAt
		}
		if op.UpdatedAt.After(last) {
			last = op.UpdatedAt
		}
		busy += op.UpdatedAt.Sub(op.CreatedAt)
		n++
	}
	if n < count {
		return first, last, 0, fmt.Errorf("found %d create operations of the apply, want %d", n, count)
	}
	return first, last, busy, nil
}

// getJSON GETs path with the admin token and decodes the answer.
func (d *devServer) getJSON(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.Endpoint+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
