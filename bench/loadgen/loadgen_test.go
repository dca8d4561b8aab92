package loadgen

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunSendsOnScheduleAndCountsFromDue(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	res, err := Run(context.Background(), Config{
		Rate: 200, Duration: 200 * time.Millisecond, MaxInFlight: 1,
		Do: func(ctx context.Context) error {
			if calls.Add(1)%10 == 0 {
				return errors.New("boom")
			}
			time.Sleep(10 * time.Millisecond) // slower than the 5 ms schedule
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 40 || res.Errors != 4 || len(res.Latencies) != 36 {
		t.Fatalf("sent %d, errors %d, latencies %d; want 40, 4, 36", res.Sent, res.Errors, len(res.Latencies))
	}
	// One sender at 10 ms a request against a 5 ms schedule falls behind:
	// the last requests waited for their slot, and that wait counts.
	if p99 := res.Quantile(0.99); p99 < 100*time.Millisecond {
		t.Fatalf("p99 %s: the queueing behind a slow server was not counted", p99)
	}
	if res.FirstError != "boom" {
		t.Fatalf("first error %q", res.FirstError)
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond, 0: time.Millisecond} {
		if got := Quantile(ds, q); got != want {
			t.Errorf("Quantile(%v) = %s, want %s", q, got, want)
		}
	}
	if Quantile(nil, 0.5) != 0 {
		t.Error("empty input")
	}
}
