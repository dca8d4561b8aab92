package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

// pollingRegion is where benchmark 2 creates and deletes its databases.
const pollingRegion = "northeurope"

// pollingResult is benchmark 2.
type pollingResult struct {
	// Operations counts the operations followed: a create and a delete of
	// each database.
	Operations  int `json:"operations"`
	Concurrency int `json:"concurrency"`
	// RequestsAfterMutation is, per operation, the requests the provider's
	// client sent after the mutating request until it knew the outcome:
	// long-polls, and for a create the read-back GET the provider makes.
	RequestsAfterMutation     float64 `json:"requests_after_mutation_mean"`
	RequestsAfterMutationMax  int     `json:"requests_after_mutation_max"`
	AfterCreate               float64 `json:"requests_after_create_mean"`
	AfterDelete               float64 `json:"requests_after_delete_mean"`
	LongPollsPerOperation     float64 `json:"long_polls_per_operation_mean"`
	TerraformRequestsAfterMut float64 `json:"terraform_requests_after_mutation_per_operation,omitempty"`
	// Delay is from the operation's end in the backend (its updated_at) to
	// WaitOperation returning it done, in milliseconds.
	DelayP50MS float64 `json:"delay_p50_ms"`
	DelayP90MS float64 `json:"delay_p90_ms"`
	DelayMaxMS float64 `json:"delay_max_ms"`
	// OperationP50MS is how long the operations took, for scale.
	OperationP50MS float64 `json:"operation_p50_ms"`
}

var operationPathPattern = regexp.MustCompile(`^/v1/operations/([^/:]+)`)

// requestCounter counts requests per operation id in their path.
type requestCounter struct {
	next http.RoundTripper
	mu   sync.Mutex
	ops  map[string]int
}

func (c *requestCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if m := operationPathPattern.FindStringSubmatch(req.URL.Path); m != nil {
		c.mu.Lock()
		c.ops[m[1]]++
		c.mu.Unlock()
	}
	return c.next.RoundTrip(req)
}

func (c *requestCounter) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[id]
}

// benchPolling is benchmark 2: count databases created and then deleted by
// 10 workers with the provider's client, as the provider does it: the
// mutating request, WaitOperation, and for a create the read-back GET.
func benchPolling(ctx context.Context, env *benchEnv, count int) (*pollingResult, error) {
	counter := &requestCounter{ops: map[string]int{}}
	c, err := env.dev.newClient(func(next http.RoundTripper) http.RoundTripper {
		counter.next = next
		return counter
	})
	if err != nil {
		return nil, err
	}
	if _, err := c.SchemaPut(ctx, "polling", apiv1.SchemaSpec{Migrations: wireMigrations(createMigrations)}); err != nil {
		return nil, err
	}
	type sample struct {
		create       bool
		after, polls int
		delay, took  time.Duration
	}
	var mu sync.Mutex
	var samples []sample
	follow := func(ctx context.Context, op *apiv1.Operation, readBack func() error) error {
		done, err := c.WaitOperation(ctx, op.ID, nil)
		returned := time.Now()
		if err != nil {
			return err
		}
		if done.State != apiv1.OperationSucceeded {
			return fmt.Errorf("operation %s on %s %s: %+v", op.ID, op.Target, done.State, done.Error)
		}
		polls := counter.count(op.ID)
		after := polls
		if readBack != nil {
			if err := readBack(); err != nil {
				return err
			}
			after++
		}
		mu.Lock()
		defer mu.Unlock()
		samples = append(samples, sample{create: readBack != nil, after: after, polls: polls, delay: returned.Sub(done.UpdatedAt), took: done.UpdatedAt.Sub(done.CreatedAt)})
		return nil
	}
	names := make([]string, count)
	for i := range names {
		names[i] = fmt.Sprintf("polling_%03d", i)
	}
	spec := apiv1.DatabaseSpec{Schema: "polling", DeletionProtection: new(false), SkipFinalBackup: true}
	create := func(ctx context.Context, name string) error {
		op, err := c.DatabasePut(ctx, pollingRegion, name, spec)
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		return follow(ctx, op, func() error {
			_, err := c.DatabaseGet(ctx, pollingRegion, name)
			return err
		})
	}
	remove := func(ctx context.Context, name string) error {
		op, err := c.DatabaseDelete(ctx, pollingRegion, name)
		if err != nil {
			return fmt.Errorf("delete %s: %w", name, err)
		}
		return follow(ctx, op, nil)
	}
	env.progress("polling: %d creates, then %d deletes, 10 at a time", count, count)
	if err := forEach(ctx, count, floorSessions, func(ctx context.Context, i int) error { return create(ctx, names[i]) }); err != nil {
		return nil, err
	}
	if err := forEach(ctx, count, floorSessions, func(ctx context.Context, i int) error { return remove(ctx, names[i]) }); err != nil {
		return nil, err
	}
	if err := c.SchemaDelete(ctx, "polling"); err != nil && !errors.Is(err, client.ErrNotFound) {
		return nil, err
	}

	res := &pollingResult{Operations: len(samples), Concurrency: floorSessions}
	var delays, took []time.Duration
	afterSum, pollSum := 0, 0
	var creates, deletes []float64
	for _, s := range samples {
		if s.create {
			creates = append(creates, float64(s.after))
		} else {
			deletes = append(deletes, float64(s.after))
		}
		afterSum += s.after
		pollSum += s.polls
		res.RequestsAfterMutationMax = max(res.RequestsAfterMutationMax, s.after)
		delays = append(delays, s.delay)
		took = append(took, s.took)
	}
	res.RequestsAfterMutation = round(float64(afterSum)/float64(len(samples)), 3)
	res.LongPollsPerOperation = round(float64(pollSum)/float64(len(samples)), 3)
	res.AfterCreate, res.AfterDelete = round(mean(creates), 3), round(mean(deletes), 3)
	res.DelayP50MS = ms(quantile(delays, 0.5))
	res.DelayP90MS = ms(quantile(delays, 0.9))
	res.DelayMaxMS = ms(slices.Max(delays))
	res.OperationP50MS = ms(quantile(took, 0.5))
	env.progress("polling: %.2f requests after the mutation, delay p50 %.1f ms, p90 %.1f ms",
		res.RequestsAfterMutation, res.DelayP50MS, res.DelayP90MS)
	return res, nil
}

// forEach runs fn on 0..n-1, workers at a time, in order of i, and returns
// the first error; an error stops handing out further work.
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error { //nolint:unparam // A general helper; its callers happen to share one width today.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range work {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
	for i := range n {
		select {
		case work <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}
