package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// RateLimit is a token bucket: a sustained rate of requests per second and
// a burst above it.
type RateLimit struct {
	// PerSecond is the sustained rate; 0 means the default, a negative
	// value turns limiting off.
	PerSecond float64
	// Burst is how many requests may come at once; 0 means twice PerSecond
	// (at least 1).
	Burst int
}

// DefaultRateLimit is the per-token limit when Config.RateLimit is zero:
// far above what a Terraform run sends (a few requests per resource and a
// long-poll per operation), well below what would hurt the store.
var DefaultRateLimit = RateLimit{PerSecond: 50, Burst: 100}

// authFailureLimit bounds, per remote address, the requests that carry no
// valid token: enough for a person fixing their token, too few to guess one
// or to fill the audit log.
var authFailureLimit = RateLimit{PerSecond: 2, Burst: 20}

// limiterIdle is how long an unused bucket is kept. A bucket unused for
// longer than it takes to refill is full, the same as a new one.
const limiterIdle = 10 * time.Minute

// limiterSweepAt is how many buckets trigger a sweep of the idle ones.
const limiterSweepAt = 1024

// limiters holds one token bucket per key (a token's name, a remote
// address).
type limiters struct {
	limit rate.Limit
	burst int
	off   bool
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	limiter *rate.Limiter
	used    time.Time
}

func newLimiters(cfg RateLimit, def RateLimit, now func() time.Time) *limiters {
	if cfg.PerSecond == 0 {
		cfg = RateLimit{PerSecond: def.PerSecond, Burst: cmpOr(cfg.Burst, def.Burst)}
	}
	if cfg.Burst <= 0 {
		cfg.Burst = max(1, int(math.Ceil(2*cfg.PerSecond)))
	}
	if now == nil {
		now = time.Now
	}
	return &limiters{limit: rate.Limit(cfg.PerSecond), burst: cfg.Burst, off: cfg.PerSecond < 0, now: now,
		buckets: map[string]*bucket{}}
}

func cmpOr(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}

// take spends one request of key's bucket. When the bucket is empty it sets
// Retry-After on w (whole seconds, rounded up) and returns a 429.
func (l *limiters) take(key string, w http.ResponseWriter) error {
	if l.off {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= limiterSweepAt {
			for k, old := range l.buckets {
				if now.Sub(old.used) > limiterIdle {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{limiter: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.used = now
	reservation := b.limiter.ReserveN(now, 1)
	delay := reservation.DelayFrom(now)
	if delay > 0 {
		// Not waiting: give the request back so that refused requests do
		// not push the next allowed one further out.
		reservation.CancelAt(now)
	}
	l.mu.Unlock()
	if delay == 0 {
		return nil
	}
	seconds := max(1, int(math.Ceil(delay.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	return &httpError{status: http.StatusTooManyRequests, code: apiv1.CodeRateLimited,
		message: fmt.Sprintf("too many requests for %s (limit %g per second, burst %d); retry after %d s", key, float64(l.limit), l.burst, seconds),
		details: map[string]string{"retry_after_seconds": strconv.Itoa(seconds)}}
}
