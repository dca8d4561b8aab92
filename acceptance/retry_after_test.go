package acceptance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// retryAfterTolerance is how much sooner than its Retry-After a retry may
// come: the proxy stamps an answer just before the provider reads it.
const retryAfterTolerance = 20 * time.Millisecond

// TestAccDatabase_RetriesHonourRetryAfter creates and destroys a database
// through a proxy that answers some requests 429 or 503 with Retry-After,
// as an overloaded dbfleetd or a load balancer in front of it does: the
// first PUT is refused outright (429), the second reaches dbfleetd but its
// 202 is lost on the way back (503), and the first :plan, :wait, GET and
// DELETE are answered 503 or 429 too.
//
// The apply and the destroy succeed, the PUT's attempts all carry one
// Idempotency-Key, so dbfleetd starts exactly one create (and one delete)
// however often the request reached it, and each retry waits at least as
// long as Retry-After said: 2 s where the provider's own first backoff
// would be 1 s.
func TestAccDatabase_RetriesHonourRetryAfter(t *testing.T) {
	db := setup(t, "acc_retry_after")
	db.protected = new(false)
	proxy := newFaultProxy(t, map[string][]fault{
		routeDatabasePlan:   {{status: http.StatusServiceUnavailable, retryAfter: 2 * time.Second}},
		routeDatabasePut:    {{status: http.StatusTooManyRequests, retryAfter: 2 * time.Second}, {status: http.StatusServiceUnavailable, retryAfter: time.Second, forward: true}},
		routeOperationWait:  {{status: http.StatusServiceUnavailable, retryAfter: time.Second}},
		routeDatabaseGet:    {{status: http.StatusTooManyRequests, retryAfter: 2 * time.Second}},
		routeDatabaseDelete: {{status: http.StatusServiceUnavailable, retryAfter: time.Second, forward: true}},
	})
	db.endpoint = proxy.url()

	resource.ParallelTest(t, testCase(t,
		[]resource.TestStep{{
			Config: db.config(),
			Check: func(*terraform.State) error {
				return errors.Join(
					proxy.checkOneKey(routeDatabasePut, 3),
					proxy.checkWaits(t),
					checkOperations(db, apiv1.OperationKindApplyDatabase),
				)
			},
		}},
		func(*terraform.State) error {
			return errors.Join(
				proxy.checkOneKey(routeDatabaseDelete, 2),
				proxy.checkWaits(t),
				proxy.checkFaultsUsed(),
				checkOperations(db, apiv1.OperationKindDeleteDatabase, apiv1.OperationKindApplyDatabase),
			)
		},
	))
}

// checkOperations asks dbfleetd for the operations on db, newest first, and
// checks their kinds and that each succeeded.
func checkOperations(db database, kinds ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	ops, err := apiOperations(ctx, db.region, db.name)
	if err != nil {
		return err
	}
	var got []string
	for _, op := range ops {
		if op.State != apiv1.OperationSucceeded {
			return fmt.Errorf("operation %s (%s) on %s is %s, want succeeded", op.ID, op.Kind, db.id(), op.State)
		}
		got = append(got, op.Kind)
	}
	if !slices.Equal(got, kinds) {
		return fmt.Errorf("operations on %s, newest first: got %v, want %v", db.id(), got, kinds)
	}
	return nil
}

// fault is how the proxy answers one request of a route instead of with
// dbfleetd's answer.
type fault struct {
	status     int
	retryAfter time.Duration
	// forward sends the request on to dbfleetd first and drops its answer,
	// as a load balancer whose upstream answered too late does.
	forward bool
}

// exchange is one request through the proxy.
type exchange struct {
	route          string
	idempotencyKey string
	received       time.Time
	// answered is when the proxy answered; with the fault's Retry-After.
	answered   time.Time
	injected   bool
	retryAfter time.Duration
}

// faultProxy is a reverse proxy on loopback in front of dbfleetd that
// answers the requests its faults name with them, and the others with
// dbfleetd's answers. It records every exchange.
type faultProxy struct {
	server *httptest.Server
	mu     sync.Mutex
	// faults are the faults still to inject, by route, in order.
	faults    map[string][]fault
	exchanges []exchange
	// checkedWaits is how many exchanges checkWaits has checked.
	checkedWaits int
}

// newFaultProxy starts a faultProxy, closed when the test ends.
func newFaultProxy(t *testing.T, faults map[string][]fault) *faultProxy {
	t.Helper()
	target, err := url.Parse(fleet.endpoint)
	require.NoError(t, err)
	upstream := httputil.NewSingleHostReverseProxy(target)
	p := &faultProxy{faults: faults}
	p.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := exchange{route: route(r), idempotencyKey: r.Header.Get(apiv1.HeaderIdempotencyKey), received: time.Now()}
		f, ok := p.next(e.route)
		if !ok {
			upstream.ServeHTTP(w, r)
			p.record(e)
			return
		}
		if f.forward {
			upstream.ServeHTTP(httptest.NewRecorder(), r)
		}
		e.injected, e.retryAfter = true, f.retryAfter
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", strconv.Itoa(int(f.retryAfter.Seconds())))
		e.answered = time.Now()
		p.record(e)
		w.WriteHeader(f.status)
		fmt.Fprintf(w, `{"error":{"code":"unavailable","message":"injected by the test's proxy: %d"}}`, f.status)
	}))
	t.Cleanup(p.server.Close)
	return p
}

// url is the proxy's URL, for the provider's endpoint.
func (p *faultProxy) url() string {
	return p.server.URL
}

// next takes the next fault of route, if any is left.
func (p *faultProxy) next(route string) (fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	faults := p.faults[route]
	if len(faults) == 0 {
		return fault{}, false
	}
	p.faults[route] = faults[1:]
	return faults[0], true
}

func (p *faultProxy) record(e exchange) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.exchanges = append(p.exchanges, e)
}

// checkOneKey checks that route was sent attempts times since the proxy
// started, every time with the same, non-empty Idempotency-Key.
func (p *faultProxy) checkOneKey(route string, attempts int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var keys []string
	for _, e := range p.exchanges {
		if e.route == route {
			keys = append(keys, e.idempotencyKey)
		}
	}
	if len(keys) != attempts {
		return fmt.Errorf("%s was sent %d times, want %d (the faults, then success)", route, len(keys), attempts)
	}
	for _, k := range keys {
		if k == "" || k != keys[0] {
			return fmt.Errorf("%s attempts carried Idempotency-Keys %q, want one key for all", route, keys)
		}
	}
	return nil
}

// checkWaits checks, for each fault injected since the previous call, that
// the next request of its route came no sooner than its Retry-After.
func (p *faultProxy) checkWaits(t *testing.T) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for i := p.checkedWaits; i < len(p.exchanges); i++ {
		e := p.exchanges[i]
		if !e.injected {
			continue
		}
		retry := -1
		for j := i + 1; j < len(p.exchanges) && retry < 0; j++ {
			if p.exchanges[j].route == e.route {
				retry = j
			}
		}
		if retry < 0 {
			errs = append(errs, fmt.Errorf("%s answered %s with Retry-After was never retried", e.route, e.retryAfter))
			continue
		}
		waited := p.exchanges[retry].received.Sub(e.answered)
		t.Logf("%s: Retry-After %s, retried after %s", e.route, e.retryAfter, waited.Round(time.Millisecond))
		if waited < e.retryAfter-retryAfterTolerance {
			errs = append(errs, fmt.Errorf("%s was retried %s after an answer with Retry-After %s", e.route, waited, e.retryAfter))
		}
	}
	p.checkedWaits = len(p.exchanges)
	return errors.Join(errs...)
}

// checkFaultsUsed checks that every fault was injected: a route the
// provider no longer sends would make the test pass without testing.
func (p *faultProxy) checkFaultsUsed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for route, left := range p.faults {
		if len(left) > 0 {
			errs = append(errs, fmt.Errorf("%d fault(s) for %s were never injected", len(left), route))
		}
	}
	return errors.Join(errs...)
}
