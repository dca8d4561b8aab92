package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

// nodeTimeout is how long a node of a PostgreSQL store may be silent
// before the others take its jobs and end its leadership (the backend's
// store.nodeTimeout): the baseline of failover and resume times.
const nodeTimeout = 5 * time.Second

// riverLeaderTerm is River's own leadership term, which a dead leader's
// term would run out after without the node timeout.
const riverLeaderTerm = 15 * time.Second

// stateRegion is the dev cluster that holds the PostgreSQL state stores.
const stateRegion = "state"

// resumeMigration sleeps long enough in the migrate step for the node
// running it to be killed mid-step.
const resumeMigration = "SELECT pg_sleep(2); CREATE TABLE resumed (id int);"

// nodeSetup is one configuration of nodes and store.
type nodeSetup struct {
	Name  string `json:"name"`
	Store string `json:"store"`
	Nodes int    `json:"nodes"`
}

// nodeSetups are the configurations measured, the baseline first.
var nodeSetups = []nodeSetup{
	{Name: "sqlite1", Store: "sqlite", Nodes: 1},
	{Name: "pg1", Store: "postgres", Nodes: 1},
	{Name: "pg3", Store: "postgres", Nodes: 3},
}

// nodesSetupResult is the pick-up time and throughput of one nodeSetup.
type nodesSetupResult struct {
	nodeSetup
	LoadAvg string `json:"loadavg_at_start"`
	// PickUp is from an operation's created_at to its first step's start,
	// for operations submitted one at a time to an idle cluster.
	PickUpOperations int     `json:"pick_up_operations"`
	PickUpP50MS      float64 `json:"pick_up_p50_ms"`
	PickUpP95MS      float64 `json:"pick_up_p95_ms"`
	PickUpP50Ratio   float64 `json:"pick_up_p50_over_baseline"`
	PickUpP95Ratio   float64 `json:"pick_up_p95_over_baseline"`
	// Throughput is creates per second, from the first submission to the
	// last one done.
	ThroughputOperations int     `json:"throughput_operations"`
	ThroughputS          float64 `json:"throughput_s"`
	ThroughputOpsPerS    float64 `json:"throughput_ops_per_s"`
	ThroughputRatio      float64 `json:"throughput_over_baseline"`
}

// nodesKillResult is a time measured after SIGKILLs, once per run.
type nodesKillResult struct {
	RunsS          []float64 `json:"runs_s"`
	P50S           float64   `json:"p50_s"`
	MaxS           float64   `json:"max_s"`
	P50OverTimeout float64   `json:"p50_over_node_timeout"`
	MaxOverTimeout float64   `json:"max_over_node_timeout"`
}

// nodesResult is benchmark 6.
type nodesResult struct {
	NodeTimeoutS     float64            `json:"node_timeout_s"`
	RiverLeaderTermS float64            `json:"river_leader_term_s"`
	Setups           []nodesSetupResult `json:"setups"`
	// Failover is from SIGKILL of the leader of three nodes to river_leader
	// naming another running node.
	Failover nodesKillResult `json:"failover"`
	// Resume is from SIGKILL of the node running a migration mid-step to
	// another node running the job.
	Resume nodesKillResult `json:"resume_after_kill"`
}

// nodesEnv is what the nodes benchmark runs on: its regions and the dev
// cluster of its PostgreSQL stores.
type nodesEnv struct {
	*benchEnv
	bin     string
	regions []devregions.Region
	state   devregions.Region
}

// benchNodes is benchmark 6: several `dbfleetd serve` nodes on one
// PostgreSQL store, against one node on PostgreSQL and one on SQLite.
func benchNodes(ctx context.Context, env *benchEnv, bin string, pickUps, throughputOps, runs int) (*nodesResult, error) {
	env.progress("nodes: starting three regions and the state store's PostgreSQL")
	dataDir := filepath.Join(env.work, "nodes")
	names := append(slices.Clone(devregions.DefaultNames), stateRegion)
	fleet, err := devregions.Start(ctx, devregions.Options{DataDir: dataDir, Names: names})
	if err != nil {
		return nil, err
	}
	defer func() { _ = devregions.RemoveClusters(dataDir, names...) }()
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = fleet.Stop(stopCtx)
	}()
	ne := &nodesEnv{benchEnv: env, bin: bin}
	for _, r := range fleet.Regions() {
		if r.Name == stateRegion {
			ne.state = r
		} else {
			ne.regions = append(ne.regions, r)
		}
	}
	res := &nodesResult{NodeTimeoutS: nodeTimeout.Seconds(), RiverLeaderTermS: riverLeaderTerm.Seconds()}
	for _, setup := range nodeSetups {
		r, err := ne.measureSetup(ctx, setup, pickUps, throughputOps, runs, res)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", setup.Name, err)
		}
		res.Setups = append(res.Setups, *r)
	}
	base := res.Setups[0]
	for i := range res.Setups {
		s := &res.Setups[i]
		s.PickUpP50Ratio = round(s.PickUpP50MS/base.PickUpP50MS, 3)
		s.PickUpP95Ratio = round(s.PickUpP95MS/base.PickUpP95MS, 3)
		s.ThroughputRatio = round(s.ThroughputOpsPerS/base.ThroughputOpsPerS, 3)
	}
	return res, nil
}

// measureSetup starts setup's nodes on a fresh store and measures pick-up
// and throughput, then, with three nodes, failover and resume.
func (ne *nodesEnv) measureSetup(ctx context.Context, setup nodeSetup, pickUps, throughputOps, runs int, res *nodesResult) (*nodesSetupResult, error) {
	storeDSN := ""
	if setup.Store == "postgres" {
		var err error
		if storeDSN, err = ne.createStore(ctx, "store_"+setup.Name); err != nil {
			return nil, err
		}
	}
	out := &nodesSetupResult{nodeSetup: setup, LoadAvg: loadAvg()}
	ne.progress("nodes: %s: starting %d node(s), load average %s", setup.Name, setup.Nodes, out.LoadAvg)
	c, err := startNodeCluster(ctx, ne.bin, filepath.Join(ne.work, "nodes-"+setup.Name), storeDSN, setup.Nodes, ne.regions)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	if err := ne.measurePickUp(ctx, c, setup.Name, pickUps, out); err != nil {
		return nil, fmt.Errorf("pick-up: %w", err)
	}
	if err := ne.measureThroughput(ctx, c, setup.Name, throughputOps, out); err != nil {
		return nil, fmt.Errorf("throughput: %w", err)
	}
	if setup.Nodes < 3 {
		return out, nil
	}
	if res.Failover, err = ne.measureKills(ctx, c, "failover", runs, ne.failoverOnce); err != nil {
		return nil, fmt.Errorf("failover: %w", err)
	}
	if _, err := c.nodes[0].client.SchemaPut(ctx, "resume", apiv1.SchemaSpec{Migrations: wireMigrations([]string{resumeMigration})}); err != nil {
		return nil, err
	}
	if res.Resume, err = ne.measureKills(ctx, c, "resume after a kill", runs, ne.resumeOnce); err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	return out, nil
}

// createStore creates an empty database on the state cluster and returns
// its URL.
func (ne *nodesEnv) createStore(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, ne.state.AdminDSN())
	if err != nil {
		return "", fmt.Errorf("connect to the state cluster: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create store database %s: %w", name, err)
	}
	u, err := url.Parse(ne.state.AdminDSN())
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// createSpec is a database without a schema that leaves no backup behind.
var createSpec = apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true}

// measurePickUp creates n databases one at a time, each submitted to the
// next node and waited for, then reads their pick-up times from the store.
func (ne *nodesEnv) measurePickUp(ctx context.Context, c *nodeCluster, prefix string, n int, out *nodesSetupResult) error {
	ne.progress("nodes: %s: %d creates one at a time", prefix, n)
	dbs := ne.databases(prefix+"_pickup", n)
	var ids []string
	for i, db := range dbs {
		op, err := createAndWait(ctx, c.nodes[i%len(c.nodes)].client, db, createSpec)
		if err != nil {
			return err
		}
		ids = append(ids, op.ID)
	}
	all, err := c.pickUps(ctx)
	if err != nil {
		return err
	}
	var times []time.Duration
	for _, id := range ids {
		d, ok := all[id]
		if !ok {
			return fmt.Errorf("operation %s recorded no step", id)
		}
		times = append(times, d)
	}
	out.PickUpOperations = len(times)
	out.PickUpP50MS, out.PickUpP95MS = ms(quantile(times, 0.5)), ms(quantile(times, 0.95))
	ne.progress("nodes: %s: pick-up p50 %.1f ms, p95 %.1f ms", prefix, out.PickUpP50MS, out.PickUpP95MS)
	return deleteAll(ctx, c, dbs)
}

// measureThroughput submits n creates as fast as floorSessions clients
// can, round-robin over the nodes and the regions, and waits for them all.
func (ne *nodesEnv) measureThroughput(ctx context.Context, c *nodeCluster, prefix string, n int, out *nodesSetupResult) error {
	ne.progress("nodes: %s: %d creates at once", prefix, n)
	dbs := ne.databases(prefix+"_batch", n)
	ops := make([]string, n)
	start := time.Now()
	err := forEach(ctx, n, floorSessions, func(ctx context.Context, i int) error {
		op, err := c.nodes[i%len(c.nodes)].client.DatabasePut(ctx, dbs[i].region, dbs[i].name, createSpec)
		if err != nil {
			return fmt.Errorf("create %s: %w", dbs[i], err)
		}
		ops[i] = op.ID
		return nil
	})
	if err == nil {
		err = forEach(ctx, n, floorSessions, func(ctx context.Context, i int) error {
			return waitSucceeded(ctx, c.nodes[i%len(c.nodes)].client, ops[i])
		})
	}
	if err != nil {
		return err
	}
	took := time.Since(start)
	out.ThroughputOperations, out.ThroughputS = n, round(took.Seconds(), 3)
	out.ThroughputOpsPerS = round(float64(n)/took.Seconds(), 2)
	ne.progress("nodes: %s: %d creates in %.2f s, %.1f/s", prefix, n, took.Seconds(), out.ThroughputOpsPerS)
	return deleteAll(ctx, c, dbs)
}

// measureKills runs once runs times on a steady cluster and summarises the
// times it returns against the node timeout.
func (ne *nodesEnv) measureKills(ctx context.Context, c *nodeCluster, what string, runs int,
	once func(ctx context.Context, c *nodeCluster, run int) (time.Duration, error),
) (nodesKillResult, error) {
	var times []time.Duration
	var out nodesKillResult
	for run := range runs {
		if err := c.awaitSteady(ctx); err != nil {
			return out, err
		}
		took, err := once(ctx, c, run)
		if err != nil {
			return out, fmt.Errorf("run %d: %w", run+1, err)
		}
		ne.progress("nodes: %s, run %d: %.2f s", what, run+1, took.Seconds())
		times = append(times, took)
		out.RunsS = append(out.RunsS, round(took.Seconds(), 3))
	}
	p50, maxTime := quantile(times, 0.5), slices.Max(times)
	out.P50S, out.MaxS = round(p50.Seconds(), 3), round(maxTime.Seconds(), 3)
	out.P50OverTimeout = round(p50.Seconds()/nodeTimeout.Seconds(), 3)
	out.MaxOverTimeout = round(maxTime.Seconds()/nodeTimeout.Seconds(), 3)
	return out, nil
}

// failoverOnce SIGKILLs the leader, times until another running node
// leads, and starts the killed node again.
func (ne *nodesEnv) failoverOnce(ctx context.Context, c *nodeCluster, _ int) (time.Duration, error) {
	leaderID, err := c.liveLeader(ctx)
	if err != nil {
		return 0, err
	}
	leader := c.nodeByID(leaderID)
	killed := time.Now()
	leader.kill()
	err = poll(ctx, "new leader", func(ctx context.Context) (bool, error) {
		id, err := c.liveLeader(ctx)
		return id != "", err
	})
	took := time.Since(killed)
	if err != nil {
		return 0, err
	}
	return took, c.start(ctx, leader)
}

// resumeOnce creates a database whose migration sleeps, SIGKILLs the node
// running the migrate step, times until another node runs the job, waits
// for the create to succeed, and starts the killed node again.
func (ne *nodesEnv) resumeOnce(ctx context.Context, c *nodeCluster, run int) (time.Duration, error) {
	db := ne.databases(fmt.Sprintf("resume_%d", run), 1)[0]
	submitter := c.running()[run%len(c.running())]
	op, err := submitter.client.DatabasePut(ctx, db.region, db.name, apiv1.DatabaseSpec{Schema: "resume", DeletionProtection: new(false), SkipFinalBackup: true})
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", db, err)
	}
	var runnerID string
	err = poll(ctx, "migrate step running", func(ctx context.Context) (bool, error) {
		started, err := c.stepStarted(ctx, op.ID, "migrate")
		if err != nil || !started {
			return false, err
		}
		runnerID, err = c.jobRunner(ctx, op.ID)
		return runnerID != "", err
	})
	if err != nil {
		return 0, err
	}
	runner := c.nodeByID(runnerID)
	if runner == nil {
		return 0, fmt.Errorf("operation %s runs on %s, which is no running node", op.ID, runnerID)
	}
	killed := time.Now()
	runner.kill()
	err = poll(ctx, "job running on another node", func(ctx context.Context) (bool, error) {
		id, err := c.jobRunner(ctx, op.ID)
		return id != "" && id != runnerID, err
	})
	took := time.Since(killed)
	if err != nil {
		return 0, err
	}
	if err := waitSucceeded(ctx, c.running()[0].client, op.ID); err != nil {
		return 0, err
	}
	if err := c.start(ctx, runner); err != nil {
		return 0, err
	}
	return took, deleteAll(ctx, c, []regionalDatabase{db})
}

// regionalDatabase names a database in a region.
type regionalDatabase struct{ region, name string }

func (d regionalDatabase) String() string { return d.region + "/" + d.name }

// databases names n databases prefix_0... spread over the regions in turn.
func (ne *nodesEnv) databases(prefix string, n int) []regionalDatabase {
	out := make([]regionalDatabase, n)
	for i := range out {
		out[i] = regionalDatabase{region: ne.regions[i%len(ne.regions)].Name, name: fmt.Sprintf("%s_%03d", prefix, i)}
	}
	return out
}

// createAndWait creates db and waits for the create to succeed.
func createAndWait(ctx context.Context, c *client.Client, db regionalDatabase, spec apiv1.DatabaseSpec) (*apiv1.Operation, error) {
	op, err := c.DatabasePut(ctx, db.region, db.name, spec)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", db, err)
	}
	return op, waitSucceeded(ctx, c, op.ID)
}

// waitSucceeded waits for the operation to end and fails unless it
// succeeded.
func waitSucceeded(ctx context.Context, c *client.Client, id string) error {
	done, err := c.WaitOperation(ctx, id, nil)
	if err != nil {
		return err
	}
	if done.State != apiv1.OperationSucceeded {
		return fmt.Errorf("operation %s on %s %s: %+v", id, done.Target, done.State, done.Error)
	}
	return nil
}

// deleteAll deletes dbs through the cluster's running nodes, 10 at a time,
// and waits for the deletes.
func deleteAll(ctx context.Context, c *nodeCluster, dbs []regionalDatabase) error {
	nodes := c.running()
	return forEach(ctx, len(dbs), floorSessions, func(ctx context.Context, i int) error {
		cl := nodes[i%len(nodes)].client
		op, err := cl.DatabaseDelete(ctx, dbs[i].region, dbs[i].name)
		if errors.Is(err, client.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("delete %s: %w", dbs[i], err)
		}
		return waitSucceeded(ctx, cl, op.ID)
	})
}
