package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// maxRecordedRequestIDs bounds the request ids one scenario run records:
// those of mutating requests and of error answers, the most useful first.
const maxRecordedRequestIDs = 50

// trial is one run of one scenario: where it runs, the step it is at, and
// the operations and requests it caused. Scenarios get it as their
// argument; it is safe for concurrent use by a scenario's goroutines.
type trial struct {
	env      *runEnv
	scenario *Scenario
	// region is the region of a per-region scenario; AllRegions otherwise.
	region    string
	regions   trialRegions
	iteration int
	log       zerolog.Logger

	mu sync.Mutex
	// step and stepRegion are where the scenario is; a failure is
	// recorded with them.
	step       string
	stepRegion string
	opIDs      []string
	requestIDs []string
	resources  []Resource
	// dirs are the trial's Terraform working directories, removed after it.
	dirs []string
}

// setStep records that the scenario starts step, in region (empty when the
// step spans regions).
func (t *trial) setStep(step, region string) {
	t.mu.Lock()
	t.step, t.stepRegion = step, region
	t.mu.Unlock()
	t.log.Debug().Str("step", step).Str("stepRegion", region).Msg("Started step")
}

func (t *trial) where() (step, region string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.step, t.stepRegion
}

// addOperation records an operation the scenario caused.
func (t *trial) addOperation(id string) {
	if id == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !slices.Contains(t.opIDs, id) {
		t.opIDs = append(t.opIDs, id)
	}
}

// addRequestID records the request id of an answer worth keeping.
func (t *trial) addRequestID(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id != "" && len(t.requestIDs) < maxRecordedRequestIDs && !slices.Contains(t.requestIDs, id) {
		t.requestIDs = append(t.requestIDs, id)
	}
}

func (t *trial) ids() (ops, requests []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.opIDs), slices.Clone(t.requestIDs)
}

// name returns a new resource name of this run: <prefix><run id>_<tag><n>.
func (t *trial) name(tag string) (string, error) {
	return resourceName(t.env.prefix, t.env.runID, tag+strconv.FormatInt(t.env.names.Add(1), 36))
}

// claim records a resource in the results store before it is asked for,
// so that the scenario's cleanup and, should the run die, the sweeper find
// it.
func (t *trial) claim(ctx context.Context, kind, region, name string) error {
	res := Resource{RunID: t.env.runID, Kind: kind, Region: region, Name: name, Created: t.env.now()}
	if err := t.env.results.ResourceInsert(ctx, res); err != nil {
		return err
	}
	t.mu.Lock()
	t.resources = append(t.resources, res)
	t.mu.Unlock()
	return nil
}

func (t *trial) claimed() []Resource {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.resources)
}

// trialKey carries the trial in a request's context, for requestRecorder.
type trialKey struct{}

func withTrial(ctx context.Context, t *trial) context.Context {
	return context.WithValue(ctx, trialKey{}, t)
}

func trialFrom(ctx context.Context) *trial {
	t, _ := ctx.Value(trialKey{}).(*trial)
	return t
}

// requestRecorder gives every API request an X-Request-Id that names the
// run, so that dbfleetd's log lines can be found from the runner's, and
// records in the request's trial the ids of mutating requests and of error
// answers.
type requestRecorder struct {
	next  http.RoundTripper
	runID string
	seq   atomic.Int64
}

func (rr *requestRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	id := rr.runID + "-" + strconv.FormatInt(rr.seq.Add(1), 36)
	req = req.Clone(req.Context())
	req.Header.Set(apiv1.HeaderRequestID, id)
	resp, err := rr.next.RoundTrip(req)
	t := trialFrom(req.Context())
	if t == nil {
		return resp, err
	}
	mutating := req.Method != http.MethodGet && !isLongPoll(req)
	if err != nil || resp.StatusCode >= 300 || mutating {
		if resp != nil && resp.Header.Get(apiv1.HeaderRequestID) != "" {
			id = resp.Header.Get(apiv1.HeaderRequestID)
		}
		t.addRequestID(id)
	}
	return resp, err
}

func isLongPoll(req *http.Request) bool {
	return req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, ":wait")
}

// OperationError is an operation that ended other than succeeded, or did
// not end in time: what the backend said, where and at which step.
type OperationError struct {
	Op *apiv1.Operation
	// TimedOut is set when the runner stopped waiting.
	TimedOut time.Duration
}

func (e *OperationError) Error() string {
	op := e.Op
	if e.TimedOut > 0 {
		return fmt.Sprintf("operation %s (%s of %s) not done after %s: state %s, progress %q", op.ID, op.Kind, op.Target, e.TimedOut, op.State, op.Progress)
	}
	if op.Error == nil {
		return fmt.Sprintf("operation %s (%s of %s) ended %s", op.ID, op.Kind, op.Target, op.State)
	}
	return fmt.Sprintf("operation %s (%s of %s) %s in region %s at step %s: %s: %s",
		op.ID, op.Kind, op.Target, op.State, op.Error.Region, op.Error.Step, op.Error.Code, op.Error.Message)
}

// region is where the operation failed: the backend's word, else its
// target's region.
func (e *OperationError) region() string {
	if e.Op.Error != nil && e.Op.Error.Region != "" {
		return e.Op.Error.Region
	}
	return targetRegion(e.Op.Target)
}

// targetRegion is the region of an operation target databases/<region>/<name>.
func targetRegion(target string) string {
	parts := strings.Split(target, "/")
	if len(parts) != 3 || parts[0] != "databases" {
		return ""
	}
	return parts[1]
}

// failureRegion is the region a failure happened in: an operation's, else
// the step's.
func failureRegion(err error, stepRegion string) string {
	var opErr *OperationError
	if errors.As(err, &opErr) {
		if r := opErr.region(); r != "" {
			return r
		}
	}
	return stepRegion
}
