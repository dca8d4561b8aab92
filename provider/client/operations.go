package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

const (
	// longPoll is how long WaitOperation asks the server to hold each
	// long-poll.
	longPoll = 30 * time.Second
	// progressPoll replaces longPoll when the caller follows progress: the
	// server answers a long-poll early only when the operation is done, so
	// a shorter one shows a change in progress sooner.
	progressPoll = 10 * time.Second
	// maxLongPoll is the server's cap on a long-poll.
	maxLongPoll = 60 * time.Second
	// minPollInterval spaces long-polls that come back early without the
	// operation done, so that a server answering at once is not hammered.
	minPollInterval = time.Second
)

func operationPath(id string) string {
	return "/v1/operations/" + url.PathEscape(id)
}

// OperationGet returns the operation id.
func (c *Client) OperationGet(ctx context.Context, id string) (*apiv1.Operation, error) {
	var op apiv1.Operation
	if err := c.do(ctx, request{method: http.MethodGet, path: operationPath(id)}, &op); err != nil {
		return nil, fmt.Errorf("getting operation %s: %w", id, err)
	}
	return &op, nil
}

// OperationWait long-polls the operation id once: the server answers as soon
// as the operation is done, or after timeout (whole seconds, at least one;
// the server caps it at 60s) with the operation still running.
func (c *Client) OperationWait(ctx context.Context, id string, timeout time.Duration) (*apiv1.Operation, error) {
	seconds := max(int(min(timeout, maxLongPoll)/time.Second), 1)
	wait := time.Duration(seconds) * time.Second
	r := request{
		method: http.MethodPost,
		path:   operationPath(id) + ":wait",
		query:  url.Values{"timeout": {strconv.Itoa(seconds) + "s"}},
		wait:   wait,
	}
	var op apiv1.Operation
	if err := c.do(ctx, r, &op); err != nil {
		return nil, fmt.Errorf("waiting for operation %s: %w", id, err)
	}
	return &op, nil
}

// WaitOperation long-polls the operation id until it is done or ctx ends.
// Each long-poll lasts at most 30s or what is left of ctx, whichever is
// shorter; long-polls that come back early without the operation done are
// spaced a second apart. It returns the done operation, whatever its state;
// on error it also returns the last operation it saw, or nil if none.
//
// onChange, when not nil, is called with the operation whenever a long-poll
// returns it not done with another state or progress than the long-poll
// before, so that a caller can show a rollout gate's wave and time left.
// Long-polls then last at most 10s, so that a change shows within about
// that long.
func (c *Client) WaitOperation(ctx context.Context, id string, onChange func(*apiv1.Operation)) (*apiv1.Operation, error) {
	var last *apiv1.Operation
	for {
		timeout := longPoll
		if onChange != nil {
			timeout = progressPoll
		}
		if deadline, ok := ctx.Deadline(); ok {
			left := time.Until(deadline)
			if left <= 0 {
				return last, fmt.Errorf("waiting for operation %s: %w", id, context.DeadlineExceeded)
			}
			timeout = min(timeout, left)
		}
		started := time.Now()
		op, err := c.OperationWait(ctx, id, timeout)
		if err != nil {
			return last, err
		}
		if op.Done {
			return op, nil
		}
		if onChange != nil && (last == nil || last.State != op.State || last.Progress != op.Progress) {
			onChange(op)
		}
		last = op
		c.logf(ctx, "Waiting for dbfleet operation", map[string]any{
			"operation_id": op.ID,
			"state":        op.State,
			"progress":     op.Progress,
		})
		if pause := c.minPollInterval - time.Since(started); pause > 0 {
			timer := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				timer.Stop()
				return last, fmt.Errorf("waiting for operation %s: %w", id, ctx.Err())
			case <-timer.C:
			}
		}
	}
}
