package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// markdown renders the results as bench/RESULTS.md.
func markdown(res *results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	m := res.Machine
	w("# dbfleet benchmark results")
	w("")
	w("Written by `%s` (`bench/cmd/dbfleet-bench`); the same figures are in `bench/results.json`.", res.Command)
	w("")
	w("| | |")
	w("| --- | --- |")
	w("| date | %s |", res.Date)
	w("| commit | `%s` |", res.Commit)
	w("| machine | %d CPUs, %d MiB memory, Linux %s; load average %s at the start, %s at the end |", m.NProc, m.MemoryMiB, m.Kernel, m.LoadAvgStart, m.LoadAvgEnd)
	w("| software | %s; %s; %s |", m.Go, m.PostgreSQL, orNone(m.Terraform))
	w("| duration | %.0f s |", res.DurationS)
	for _, e := range res.Earlier {
		w("| %s | kept from the run of %s at `%s`; load average %s at its start, %s at its end |",
			strings.Join(e.Sections, ", "), e.Date, e.Commit, e.Machine.LoadAvgStart, e.Machine.LoadAvgEnd)
	}
	w("")
	for _, n := range res.Notes {
		w("- %s", n)
	}
	w("")
	if len(res.Goals) > 0 {
		w("## Goals")
		w("")
		w("| benchmark | figure | value | goal | |")
		w("| --- | --- | ---: | --- | --- |")
		for _, g := range res.Goals {
			verdict := "met"
			if !g.Met {
				verdict = "**missed**"
			}
			w("| %s | %s | %v | %s | %s |", g.Benchmark, g.Figure, g.Value, g.Goal, verdict)
		}
		w("")
	}

	if p := res.Provisioning; p != nil {
		w("## 1. Provisioning overhead")
		w("")
		w("`terraform apply -parallelism=%d` creating a `dbfleet_schema` (%d migrations) and %d `dbfleet_database`s in %s that run it, "+
			"against `dbfleetd dev`, versus the floor: the same SQL (`CREATE ROLE ... LOGIN PASSWORD`, `CREATE DATABASE ... OWNER`, then each migration "+
			"in its own transaction, connected as the owner) from %d parallel `psql` sessions on the same PostgreSQL. "+
			"The apply's time is the whole `terraform apply` command, Terraform's own start and plan included; the backend span runs from the first create "+
			"operation's start to the last one's end.",
			p.Parallelism, p.Migrations, p.Databases, provisionRegion, p.Parallelism)
		w("")
		w("| run | floor (s) | apply (s) | apply / floor | to the first operation (s) | backend span (s) | after the last (s) | plan, no changes (s) |")
		w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for i, r := range p.Runs {
			w("| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |", i+1, r.FloorS, r.ApplyS, r.Ratio, r.BeforeS, r.BackendS, r.AfterS, r.PlanS)
		}
		w("| median | %.2f | %.2f | **%.2f** | | %.2f | | %.2f |", p.FloorS, p.ApplyS, p.Ratio, p.BackendS, p.PlanS)
		w("")
		var opS, conc, tfCPU, dCPU, pCPU, before []float64
		for _, r := range p.Runs {
			opS, conc = append(opS, r.OperationS), append(conc, r.Concurrency)
			tfCPU, dCPU, pCPU = append(tfCPU, r.TerraformCPUS), append(dCPU, r.DbfleetdCPUS), append(pCPU, r.PsqlCPUS)
			before = append(before, r.BeforeS)
		}
		w("Where the apply's time goes (medians): %.2f s before the first operation (Terraform's start and plan, the schema's dry run and creation); "+
			"each create operation takes %.2f s in the backend, where the floor spends %.2f s per database in each session; "+
			"Terraform keeps %.1f of its 10 slots in an operation on average (the rest is Terraform and the provider between resources). "+
			"Beside PostgreSQL, on the same CPUs, Terraform and the provider used %.1f CPU-seconds and dbfleetd %.1f, where the floor's psql used %.1f.",
			median(before), median(opS), p.FloorS*float64(p.Parallelism)/float64(p.Databases), median(conc), median(tfCPU), median(dCPU), median(pCPU))
		w("")
		w("| run | operation, mean (s) | operations at once, mean | CPU: terraform and provider (s) | CPU: dbfleetd (s) | CPU: psql, floor (s) |")
		w("| ---: | ---: | ---: | ---: | ---: | ---: |")
		for i, r := range p.Runs {
			w("| %d | %.3f | %.1f | %.2f | %.2f | %.2f |", i+1, r.OperationS, r.Concurrency, r.TerraformCPUS, r.DbfleetdCPUS, r.PsqlCPUS)
		}
		w("")
		w("Requests the backend served during the apply, per database (median of runs):")
		w("")
		w("| route | what | per database |")
		w("| --- | --- | ---: |")
		for _, route := range slices.Sorted(maps.Keys(p.PerOperation)) {
			w("| `%s` | %s | %.2f |", route, routeUse[route], p.PerOperation[route])
		}
		w("")
	}

	if p := res.Polling; p != nil {
		w("## 2. Polling efficiency")
		w("")
		w("%d operations (creates, then deletes, of %d databases with a schema in %s), %d at a time, followed by the provider's own client "+
			"(`provider/client`): the mutating request, `WaitOperation` (`:wait` long-polls), and for a create the read-back GET the provider makes. "+
			"The delay runs from the operation's `updated_at` (its end, written by the backend) to `WaitOperation` returning it done, on the same clock.",
			p.Operations, p.Operations/2, pollingRegion, p.Concurrency)
		w("")
		w("| figure | value |")
		w("| --- | ---: |")
		w("| requests after the mutating request, per operation (mean / max) | %.2f / %d |", p.RequestsAfterMutation, p.RequestsAfterMutationMax)
		w("| of which after a create (long-polls and the read-back GET) / after a delete (mean) | %.2f / %.2f |", p.AfterCreate, p.AfterDelete)
		w("| of which long-polls (mean) | %.2f |", p.LongPollsPerOperation)
		if p.TerraformRequestsAfterMut > 0 {
			w("| the same, counted by the backend during benchmark 1's `terraform apply` | %.2f |", p.TerraformRequestsAfterMut)
		}
		w("| delay p50 / p90 / max (ms) | %.1f / %.1f / %.1f |", p.DelayP50MS, p.DelayP90MS, p.DelayMaxMS)
		w("| operation duration p50 (ms), for scale | %.0f |", p.OperationP50MS)
		w("")
	}

	if l := res.APILoad; l != nil {
		w("## 3. API under load")
		w("")
		w("An open-loop generator (`bench/loadgen`, in the benchmark's process on the same machine) sends each endpoint requests at a fixed rate, "+
			"%d trials of %.1f s per rate (figures are the trials' medians), rates rising until two in a row miss; latency counts from when a request was due, "+
			"so queueing shows. A rate is *held* with no errors, at least 95%% of it answered and p99 under 10 ms. Baseline: `%s` on the same server. "+
			"At most %d requests in flight.",
			l.Trials, l.StepSeconds, l.Baseline, l.MaxInFlight)
		w("")
		w("| route | highest rate held (/s) | / baseline | p50 at 100/s, / baseline |")
		w("| --- | ---: | ---: | ---: |")
		top := loadRates[len(loadRates)-1]
		baselineCapped := len(l.Endpoints) > 0 && l.Endpoints[0].MaxHeld == top
		for i, ep := range l.Endpoints {
			held, ratio := fmt.Sprintf("%.0f", ep.MaxHeld), fmt.Sprintf("%.2f", ep.RatioToBaseline)
			if ep.MaxHeld == top {
				held = "≥ " + held
			}
			if baselineCapped && i > 0 {
				ratio = "≤ " + ratio
			}
			w("| `%s` | %s | %s | %.2f |", ep.Route, held, ratio, ep.P50RatioToBaseline)
		}
		if baselineCapped {
			w("")
			w("The baseline held the ladder's top rate (%.0f/s), so its limit, and each ratio to it, is a bound.", top)
		}
		w("")
		w("| route | rate (/s) | achieved (/s) | p50 (ms) | p99 (ms) | errors | held |")
		w("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
		for _, ep := range l.Endpoints {
			for _, s := range ep.Steps {
				w("| `%s` | %.0f | %.0f | %.2f | %.2f | %d | %s |", ep.Route, s.Rate, s.Achieved, s.P50MS, s.P99MS, s.Errors, yesNo(s.Held))
			}
		}
		w("")
		w("dbfleetd's resident memory (VmRSS): %.1f MiB just started, %.1f MiB idle before the load (after benchmarks 1 and 2), "+
			"%.1f MiB at most under load (%.2fx idle).",
			mib(l.RSSStartKiB), mib(l.RSSIdleKiB), mib(l.RSSLoadedKiB), l.RSSLoadedOverIdle)
		w("")
	}

	if r := res.Rollout; r != nil {
		w("## 4. Rollout")
		w("")
		w("%d databases (%d per region) at version 2 move to a new version; waves %v, bake_time %s. Driver: %s. "+
			"dbfleet's time runs from the schema PUT that publishes the version to the end of the last upgrade in the backend; the backend orders the waves. "+
			"The floor runs the same migration with `psql` on as many databases (connected as each owner), wave by wave, 10 sessions in each wave's region.",
			r.Databases, r.Databases/len(r.Waves), r.Waves, r.BakeTime, r.Driver)
		w("")
		w("| version | floor (s) | floor waves (s) | dbfleet (s) | dbfleet waves (s) | dbfleet / floor |")
		w("| ---: | ---: | --- | ---: | --- | ---: |")
		for _, run := range r.Runs {
			w("| %d | %.2f | %v | %.2f | %v | %.2f |", run.Version, run.FloorS, run.FloorWavesS, run.DbfleetS, run.DbfleetWavesS, run.Ratio)
		}
		w("| median | %.2f | | %.2f | | **%.2f** |", r.FloorS, r.DbfleetS, r.Ratio)
		w("")
	}

	if s := res.Scale; s != nil {
		w("## 5. Scale of state")
		w("")
		w("In the benchmark's process: a SQLite store recording N ready databases (schema at version 2), a reconcile pass over all of them "+
			"(`reconcile.PassParams{All: true}`; median of %d after a first), and `GET /v1/databases` from dbfleetd's own wiring (`daemon.Run`) on that "+
			"store, the whole answer read (median of %d after a first). Regions: %s.", scalePasses, scalePasses, s.Regions)
		w("")
		w("| databases | first pass (s) | pass (s) | pass per database (µs) | list (s) | list per database (µs) | list size (MiB) | GET one (ms) | :plan one (ms) | healthz (ms) |")
		w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, z := range s.Sizes {
			w("| %d | %.3f | %.3f | %.1f | %.3f | %.1f | %.1f | %.2f | %.2f | %.2f |", z.Databases, z.FirstPassS, z.PassS, z.PassPerDatabaseUS,
				z.ListS, z.ListPerDatabaseUS, float64(z.ListBytes)/(1<<20), z.GetMS, z.PlanMS, z.HealthzMS)
		}
		w("")
		w("Growth exponents k in cost ~ N^k between the smallest and the largest size (1 is linear, 0 flat): reconcile pass %.2f, list %.2f; "+
			"GET of one database %.2f and :plan of one %.2f, which should stay flat.", s.PassExponent, s.ListExponent, s.GetExponent, s.PlanExponent)
		if rp := s.Real; rp != nil {
			w("")
			w("Against real PostgreSQL (the dev regions, after benchmark 4, %d databases): a pass took %.2f s, %.0f µs per database checked (%d checked, %d findings, %d errors) — "+
				"each check logs in as the database's owner to read its ledger.",
				rp.Databases, rp.PassS, rp.PassPerDatabaseUS, rp.Checked, rp.Findings, rp.Errors)
		}
		w("")
	}
	if n := res.Nodes; n != nil {
		nodesMarkdown(w, n)
	}
	return b.String()
}

// nodesMarkdown renders benchmark 6.
func nodesMarkdown(w func(format string, args ...any), n *nodesResult) {
	w("## 6. Several nodes")
	w("")
	w("`dbfleetd serve` processes on this machine, on a state store of each configuration's own (a SQLite file, or a fresh database on a "+
		"separate local PostgreSQL), administering three dev regions. Baselines: for pick-up and throughput, one node on SQLite, measured in the same run; "+
		"for failover and resume, the node timeout (%.0f s: a node silent that long has its jobs re-queued and its leadership ended), "+
		"which a dead node's silence must outlast; River's own leadership term (%.0f s) is what a failover would take without it.",
		n.NodeTimeoutS, n.RiverLeaderTermS)
	w("")
	w("Pick-up runs from an operation's `created_at` (the transaction that queues its job) to its first step's start, both as the store records them, "+
		"for creates (no schema) submitted one at a time, each waited for, round-robin over the nodes and regions. Throughput is creates per second "+
		"from the first submission to the last create done, %d clients submitting round-robin over the nodes and regions. "+
		"The configurations run one after another; the databases are deleted after each measurement.", floorSessions)
	w("")
	w("| configuration | nodes | load average at start | pick-ups | p50 (ms) | p95 (ms) | p50 / baseline | p95 / baseline | batch | creates/s | / baseline |")
	w("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for i, s := range n.Setups {
		store := s.Store
		if i == 0 {
			store += " (baseline)"
		}
		w("| %s | %d | %s | %d | %.1f | %.1f | %.2f | %.2f | %d | %.1f | %.2f |", store, s.Nodes, s.LoadAvg, s.PickUpOperations,
			s.PickUpP50MS, s.PickUpP95MS, s.PickUpP50Ratio, s.PickUpP95Ratio, s.ThroughputOperations, s.ThroughputOpsPerS, s.ThroughputRatio)
	}
	w("")
	w("With three nodes on PostgreSQL, each run on a steady cluster (a running leader, every node heartbeating), the killed node started again after it. "+
		"Failover: SIGKILL of the leader to `river_leader` naming another running node. Resume: SIGKILL of the node running a create's `migrate` step "+
		"(`%s`, found through `river_job.attempted_by`) to the job running on another node. Timed by polling the store every %s. "+
		"Either can take less than the node timeout: the silence counts from the killed node's last heartbeat, up to a second before the kill.",
		resumeMigration, pollInterval)
	w("")
	w("| after SIGKILL | runs (s) | p50 (s) | max (s) | p50 / node timeout | max / node timeout |")
	w("| --- | --- | ---: | ---: | ---: | ---: |")
	for _, k := range []struct {
		what string
		r    nodesKillResult
	}{{"failover of the leader", n.Failover}, {"resume of the running step", n.Resume}} {
		w("| %s | %v | %.2f | %.2f | **%.2f** | %.2f |", k.what, k.r.RunsS, k.r.P50S, k.r.MaxS, k.r.P50OverTimeout, k.r.MaxOverTimeout)
	}
	w("")
}

// routeUse says what the provider calls each route for during an apply; the
// custom methods share their resource's route.
var routeUse = map[string]string{
	"GET /v1/databases/{region}/{name}":  "read-back after the create",
	"POST /v1/databases/{region}/{name}": "`:plan`",
	"PUT /v1/databases/{region}/{name}":  "the create",
	"POST /v1/operations/{id}":           "`:wait` (long-poll)",
	"GET /v1/operations/{id}":            "operation read",
	"POST /v1/schemas/{name}":            "`:validate` (plan-time dry run)",
	"PUT /v1/schemas/{name}":             "the schema's create",
}

func orNone(s string) string {
	if s == "" {
		return "Terraform not used"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
