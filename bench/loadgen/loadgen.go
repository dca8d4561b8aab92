// Package loadgen sends requests at a fixed rate, open loop: request i is
// due at start + i/rate whether or not earlier ones have been answered, and
// its latency counts from when it was due, not from when a free sender got
// to it. A server that falls behind therefore shows its queueing in the
// latencies instead of slowing the generator down (no coordinated
// omission).
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Config is one fixed-rate step.
type Config struct {
	// Rate is requests per second; required.
	Rate float64
	// Duration is how long requests are scheduled; the step sends
	// Rate*Duration requests (at least one).
	Duration time.Duration
	// MaxInFlight bounds the requests outstanding at once; 0 means 256.
	// When all are outstanding, the next request waits for a slot and the
	// wait counts in its latency.
	MaxInFlight int
	// Timeout bounds each request; 0 means 5 s.
	Timeout time.Duration
	// Do sends one request; an error counts the request as failed.
	Do func(ctx context.Context) error
}

// Result is what a step measured.
type Result struct {
	Rate     float64       `json:"rate"`
	Sent     int           `json:"sent"`
	Errors   int           `json:"errors"`
	Elapsed  time.Duration `json:"-"`
	Achieved float64       `json:"achieved_rate"`
	// Latencies of the successful requests, from when each was due.
	Latencies []time.Duration `json:"-"`
	// FirstError is the first failure's message, if any.
	FirstError string `json:"first_error,omitempty"`
}

// Quantile returns the q-quantile (0..1) of the latencies, nearest rank;
// zero without any.
func (r *Result) Quantile(q float64) time.Duration {
	return Quantile(r.Latencies, q)
}

// Quantile returns the q-quantile (0..1) of ds by nearest rank; ds is
// sorted in place. Zero when ds is empty.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(q*float64(len(ds))+0.5) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// Run runs one step and returns when every request it sent has finished or
// ctx ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Rate <= 0 || cfg.Do == nil {
		return nil, errors.New("loadgen: Rate must be positive and Do set")
	}
	inFlight := cfg.MaxInFlight
	if inFlight <= 0 {
		inFlight = 256
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	n := max(int(cfg.Rate*cfg.Duration.Seconds()), 1)
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	res := &Result{Rate: cfg.Rate, Latencies: make([]time.Duration, 0, n)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, inFlight)
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				wg.Wait()
				return res, ctx.Err()
			case <-timer.C:
			}
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return res, ctx.Err()
		}
		res.Sent++
		wg.Go(func() {
			defer func() { <-slots }()
			reqCtx, cancel := context.WithTimeout(ctx, timeout)
			err := cfg.Do(reqCtx)
			cancel()
			latency := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors++
				if res.FirstError == "" {
					res.FirstError = fmt.Sprint(err)
				}
				return
			}
			res.Latencies = append(res.Latencies, latency)
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Achieved = float64(len(res.Latencies)) / res.Elapsed.Seconds()
	return res, nil
}
