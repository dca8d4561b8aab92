package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/bench/loadgen"
)

// loadRates are the fixed rates (requests per second) each endpoint is
// driven at, in order, until two steps in a row miss the bar.
var loadRates = []float64{100, 250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000, 16000}

const (
	// loadStepTime is how long each rate is held, loadTrials times: the
	// step's figures are the medians of its trials, so that one stall of a
	// shared machine does not decide a step.
	loadStepTime = 1500 * time.Millisecond
	loadTrials   = 3
	// loadMaxInFlight bounds the generator's outstanding requests, which is
	// also its connection pool.
	loadMaxInFlight = 256
	// loadP99Bar is the latency a rate must hold at p99.
	loadP99Bar = 10 * time.Millisecond
)

// loadStep is one rate of one endpoint: medians of its trials, errors
// summed.
type loadStep struct {
	Rate     float64 `json:"rate"`
	Achieved float64 `json:"achieved_rate"`
	Sent     int     `json:"sent"`
	Errors   int     `json:"errors"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	// Held: no errors, at least 95% of the rate answered, p99 under 10 ms.
	Held       bool   `json:"held"`
	FirstError string `json:"first_error,omitempty"`
}

// endpointLoad is one endpoint's ladder of rates.
type endpointLoad struct {
	Route string     `json:"route"`
	Steps []loadStep `json:"steps"`
	// MaxHeld is the highest rate held; 0 when none was.
	MaxHeld float64 `json:"max_rate_held"`
	// RatioToBaseline is MaxHeld over the baseline endpoint's.
	RatioToBaseline float64 `json:"max_rate_held_over_baseline"`
	// P50RatioToBaseline compares p50 at the lowest rate with the
	// baseline's.
	P50RatioToBaseline float64 `json:"p50_at_lowest_rate_over_baseline"`
}

// loadResult is benchmark 3.
type loadResult struct {
	Baseline    string         `json:"baseline"`
	StepSeconds float64        `json:"step_s"`
	Trials      int            `json:"trials_per_step"`
	MaxInFlight int            `json:"max_in_flight"`
	Endpoints   []endpointLoad `json:"endpoints"`
	// RSS of dbfleetd in KiB: just started, idle before the load (after
	// the benchmarks before it), and the most seen under load.
	RSSStartKiB  int64 `json:"rss_just_started_kib"`
	RSSIdleKiB   int64 `json:"rss_idle_kib"`
	RSSLoadedKiB int64 `json:"rss_loaded_peak_kib"`
	// RSSLoadedOverIdle is RSSLoadedKiB over RSSIdleKiB.
	RSSLoadedOverIdle float64 `json:"rss_loaded_over_idle"`
}

// benchLoad is benchmark 3: GET /healthz (the baseline), GET one database
// and GET one operation at rising fixed rates from loopback.
func benchLoad(ctx context.Context, env *benchEnv) (*loadResult, error) {
	c := env.dev.client
	if _, err := c.SchemaPut(ctx, "load", apiv1.SchemaSpec{Migrations: wireMigrations(createMigrations)}); err != nil {
		return nil, err
	}
	op, err := c.DatabasePut(ctx, "eastus", "load_target", apiv1.DatabaseSpec{Schema: "load", DeletionProtection: new(false), SkipFinalBackup: true})
	if err != nil {
		return nil, err
	}
	if done, err := c.WaitOperation(ctx, op.ID, nil); err != nil || done.State != apiv1.OperationSucceeded {
		return nil, fmt.Errorf("create load_target: %v %+v", err, done)
	}

	res := &loadResult{Baseline: "GET /healthz", StepSeconds: loadStepTime.Seconds(), Trials: loadTrials, MaxInFlight: loadMaxInFlight, RSSStartKiB: env.rssStart}
	time.Sleep(time.Second) // let the create's work settle
	if res.RSSIdleKiB, err = rss(env.dev.pid()); err != nil {
		return nil, err
	}
	var peak int64
	var peakMu sync.Mutex
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-tick.C:
				if now, err := rss(env.dev.pid()); err == nil {
					peakMu.Lock()
					peak = max(peak, now)
					peakMu.Unlock()
				}
			}
		}
	}()

	transport := http.DefaultTransport.(*http.Transport).Clone() //nolint:forcetypeassert // net/http declares DefaultTransport as a *Transport.
	transport.MaxIdleConnsPerHost = loadMaxInFlight
	transport.MaxConnsPerHost = loadMaxInFlight
	httpClient := &http.Client{Transport: transport}
	defer transport.CloseIdleConnections()
	get := func(path string, auth bool) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.dev.Endpoint+path, nil)
			if err != nil {
				return err
			}
			if auth {
				req.Header.Set("Authorization", "Bearer "+env.dev.Token)
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("GET %s: %s", path, resp.Status)
			}
			return err
		}
	}
	targets := []struct {
		route string
		do    func(ctx context.Context) error
	}{
		{"GET /healthz", get("/healthz", false)},
		{"GET /v1/databases/{region}/{name}", get("/v1/databases/eastus/load_target", true)},
		{"GET /v1/operations/{id}", get("/v1/operations/"+op.ID, true)},
	}
	for _, t := range targets {
		ep := endpointLoad{Route: t.route}
		// Warm the connections and the server's caches.
		if _, err := loadgen.Run(ctx, loadgen.Config{Rate: 200, Duration: time.Second, MaxInFlight: loadMaxInFlight, Do: t.do}); err != nil {
			return nil, err
		}
		missed := 0
		for _, rate := range loadRates {
			step := loadStep{Rate: rate}
			var achieved, p50, p99 []float64
			for range loadTrials {
				r, err := loadgen.Run(ctx, loadgen.Config{Rate: rate, Duration: loadStepTime, MaxInFlight: loadMaxInFlight, Do: t.do})
				if err != nil {
					return nil, err
				}
				step.Sent += r.Sent
				step.Errors += r.Errors
				if step.FirstError == "" {
					step.FirstError = r.FirstError
				}
				achieved = append(achieved, r.Achieved)
				p50 = append(p50, ms(r.Quantile(0.5)))
				p99 = append(p99, ms(r.Quantile(0.99)))
				time.Sleep(200 * time.Millisecond)
			}
			step.Achieved, step.P50MS, step.P99MS = round(median(achieved), 1), round(median(p50), 3), round(median(p99), 3)
			step.Held = step.Errors == 0 && step.Achieved >= 0.95*rate && step.P99MS < ms(loadP99Bar)
			ep.Steps = append(ep.Steps, step)
			env.progress("load: %s at %.0f/s: achieved %.0f/s, p50 %.2f ms, p99 %.2f ms (trials %v), errors %d",
				t.route, rate, step.Achieved, step.P50MS, step.P99MS, p99, step.Errors)
			if step.Held {
				ep.MaxHeld = rate
				missed = 0
			} else if missed++; missed == 2 {
				break
			}
		}
		res.Endpoints = append(res.Endpoints, ep)
	}
	stopSampling()
	<-sampled
	res.RSSLoadedKiB = max(peak, res.RSSIdleKiB)
	res.RSSLoadedOverIdle = round(float64(res.RSSLoadedKiB)/float64(res.RSSIdleKiB), 2)
	base := res.Endpoints[0]
	for i := range res.Endpoints {
		ep := &res.Endpoints[i]
		if base.MaxHeld > 0 {
			ep.RatioToBaseline = round(ep.MaxHeld/base.MaxHeld, 2)
		}
		if base.Steps[0].P50MS > 0 {
			ep.P50RatioToBaseline = round(ep.Steps[0].P50MS/base.Steps[0].P50MS, 2)
		}
	}
	return res, nil
}
