package ui

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// operationsScanned is how many recent operations the list filters by kind
// and state; operationsShown how many it shows.
const (
	operationsScanned = 500
	operationsShown   = 100
)

var (
	operationKinds = []string{apiv1.OperationKindApplyDatabase, apiv1.OperationKindDeleteDatabase,
		apiv1.OperationKindRollbackDatabase, apiv1.OperationKindVerifyDatabase, apiv1.OperationKindRotatePassword}
	operationStates = []string{apiv1.OperationPending, apiv1.OperationRunning, apiv1.OperationSucceeded,
		apiv1.OperationFailed, apiv1.OperationCancelled}
)

type operationsView struct {
	Kinds, States []string
	Kind, State   string
	Target        string
	// Problem says why the filter matched nothing, when its target is not
	// valid.
	Problem    string
	Operations []operationRow
	More       bool
}

func (operationsView) PageTitle() string { return "Operations" }
func (operationsView) Live() bool        { return true }

type operationRow struct {
	*store.Operation
	Target   string
	Duration time.Duration
}

// operationTarget parses a target filter: "databases/<region>/<name>",
// "<region>/<name>", or a region.
func operationTarget(target string) (*store.OperationListParams, error) {
	params := &store.OperationListParams{Limit: operationsScanned}
	parts := strings.Split(strings.TrimPrefix(strings.TrimSpace(target), "databases/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "":
		return params, nil
	case len(parts) > 2:
		return nil, errors.New("a target is a region, or <region>/<database>")
	}
	params.Region = parts[0]
	if err := engine.ValidateIdentifier("region", params.Region); err != nil {
		return nil, err
	}
	if len(parts) == 2 {
		params.Database = parts[1]
		if err := engine.ValidateIdentifier("database", params.Database); err != nil {
			return nil, err
		}
	}
	return params, nil
}

func (h *Handler) operationsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := operationsView{Kinds: operationKinds, States: operationStates, Kind: q.Get("kind"), State: q.Get("state"), Target: q.Get("target")}
	params, err := operationTarget(v.Target)
	if err != nil {
		v.Problem = err.Error()
		h.render(w, r, http.StatusOK, "operations", v)
		return
	}
	list, err := h.store.OperationList(r.Context(), params)
	if err != nil {
		h.fault(w, r, "list operations", err)
		return
	}
	now := h.now()
	for _, op := range list {
		if (v.Kind != "" && op.Kind != v.Kind) || (v.State != "" && op.State != v.State) {
			continue
		}
		if len(v.Operations) == operationsShown {
			v.More = true
			break
		}
		v.Operations = append(v.Operations, operationRow{Operation: op, Target: ops.Target(op.Region, op.Database), Duration: operationDuration(op, now)})
	}
	h.render(w, r, http.StatusOK, "operations", v)
}

func operationDone(state string) bool {
	return state == apiv1.OperationSucceeded || state == apiv1.OperationFailed || state == apiv1.OperationCancelled
}

// operationDuration is how long an operation took, or has run so far.
func operationDuration(op *store.Operation, now time.Time) time.Duration {
	if operationDone(op.State) {
		return op.UpdatedAt.Sub(op.CreatedAt)
	}
	return now.Sub(op.CreatedAt)
}

type operationView struct {
	Op       *store.Operation
	Target   string
	Done     bool
	Duration time.Duration
	Steps    []stepRow
}

func (v operationView) PageTitle() string { return "Operation " + v.Op.ID }

// Live: a finished operation changes no more.
func (v operationView) Live() bool { return !v.Done }

// stepRow is one step on the timeline.
type stepRow struct {
	Name     string
	Started  time.Time
	Duration time.Duration
	// State is "done", "running", "waiting", "failed" or "cancelled".
	State string
	Error *store.OperationError
}

// timeline turns the recorded step starts into steps with durations: a
// step lasts until the next one starts, the last one until the operation
// ended (or until now).
func timeline(op *store.Operation, steps []*store.OperationStep, now time.Time) []stepRow {
	if len(steps) == 0 && op.Step != "" {
		// Recorded before step history existed: the current step alone.
		steps = []*store.OperationStep{{OperationID: op.ID, Step: op.Step, StartedAt: op.CreatedAt}}
	}
	end := now
	if operationDone(op.State) {
		end = op.UpdatedAt
	}
	rows := make([]stepRow, len(steps))
	for i, s := range steps {
		row := stepRow{Name: s.Step, Started: s.StartedAt, State: "done"}
		if i+1 < len(steps) {
			row.Duration = steps[i+1].StartedAt.Sub(s.StartedAt)
		} else {
			row.Duration = end.Sub(s.StartedAt)
			switch op.State {
			case apiv1.OperationRunning:
				row.State = "running"
			case apiv1.OperationPending:
				row.State = "waiting"
			case apiv1.OperationFailed:
				row.State = "failed"
			case apiv1.OperationCancelled:
				row.State = "cancelled"
			}
		}
		if op.Error != nil && op.Error.Step == s.Step {
			row.State, row.Error = "failed", op.Error
		}
		rows[i] = row
	}
	return rows
}

func (h *Handler) operationPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	op, err := h.store.OperationGet(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		h.renderError(w, r, http.StatusNotFound, "Operation "+id+" does not exist.")
		return
	}
	if err != nil {
		h.fault(w, r, "read operation "+id, err)
		return
	}
	steps, err := h.store.OperationStepList(r.Context(), op.ID)
	if err != nil {
		h.fault(w, r, "read the steps of operation "+id, err)
		return
	}
	now := h.now()
	v := operationView{Op: op, Target: ops.Target(op.Region, op.Database), Done: operationDone(op.State),
		Duration: operationDuration(op, now), Steps: timeline(op, steps, now)}
	h.render(w, r, http.StatusOK, "operation", v)
}
