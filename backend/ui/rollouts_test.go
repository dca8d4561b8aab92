package ui

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

func TestDatabaseStateOnARollout(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	status := &ops.SchemaStatus{Schema: &store.Schema{Name: "app", Rollout: store.RolloutPolicy{BakeTime: 10 * time.Minute}},
		Waves: [][]string{{"westeurope"}, {"eastus"}}}
	running := &store.Operation{ID: "op-run", State: apiv1.OperationRunning, Progress: "step 4 of 5: migrate in eastus"}
	pending := &store.Operation{ID: "op-wait", State: apiv1.OperationPending, Progress: "waiting: wave 2 of 2 starts after westeurope/orders has baked"}
	halt := store.RolloutHalt{Region: "westeurope", Database: "orders", Check: "migration", Message: "syntax error"}
	db := func(status string, target, applied int64, op string) *store.Database {
		return &store.Database{Region: "westeurope", Name: "orders", Status: status, SchemaVersion: target, AppliedVersion: applied, OperationID: op}
	}
	for _, tc := range []struct {
		name      string
		db        *store.Database
		rollout   store.Rollout
		appliedAt time.Time
		want      string
		gate      string
		detail    string
		left      time.Duration
	}{
		{"NotRequested", db(apiv1.DatabaseStatusReady, 1, 1, ""), store.Rollout{}, time.Time{}, stateWaiting, "no upgrade to version 2 requested yet", "", 0},
		{"WaitingOnTheGate", db(apiv1.DatabaseStatusWaiting, 2, 1, "op-wait"), store.Rollout{}, time.Time{}, stateWaiting, pending.Progress, "", 0},
		{"Applying", db(apiv1.DatabaseStatusProvisioning, 2, 1, "op-run"), store.Rollout{}, time.Time{}, stateApplying, "", running.Progress, 0},
		{"Baking", db(apiv1.DatabaseStatusReady, 2, 2, ""), store.Rollout{}, now.Add(-4 * time.Minute), stateBaking, "", "", 6 * time.Minute},
		{"Healthy", db(apiv1.DatabaseStatusReady, 2, 2, ""), store.Rollout{}, now.Add(-11 * time.Minute), stateHealthy, "", "", 0},
		{"Halted", db(apiv1.DatabaseStatusFailed, 2, 1, ""), store.Rollout{State: apiv1.RolloutHalted, Halt: halt}, time.Time{}, stateFailed, "", "check migration failed: syntax error", 0},
		{"RolledBackWhereItFailed", db(apiv1.DatabaseStatusFailed, 2, 1, ""), store.Rollout{State: apiv1.RolloutRolledBack, Halt: halt}, time.Time{}, stateRolledBack, "", "check migration failed: syntax error", 0},
		{"RolledBack", db(apiv1.DatabaseStatusRolledBack, 2, 1, ""), store.Rollout{}, time.Time{}, stateRolledBack, "", "", 0},
		{"FailedElsewhere", db(apiv1.DatabaseStatusFailed, 2, 1, ""), store.Rollout{}, time.Time{}, stateFailed, "", "its last operation failed; see Operations", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rollout := tc.rollout
			rollout.Version = 2
			in := boardInput{status: status, rollout: &rollout, now: now,
				applied:    map[string]time.Time{},
				operations: map[string]*store.Operation{running.ID: running, pending.ID: pending}}
			if !tc.appliedAt.IsZero() {
				in.applied["westeurope/orders"] = tc.appliedAt
			}
			state, gate, detail, left := databaseState(in, tc.db)
			if diff := cmp.Diff([]any{tc.want, tc.gate, tc.detail, tc.left}, []any{state, gate, detail, left}); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestBoardCellsTakeTheirWorstDatabase(t *testing.T) {
	t.Parallel()
	now := time.Now()
	status := &ops.SchemaStatus{Schema: &store.Schema{Name: "app"}, Waves: [][]string{{"westeurope"}, {"northeurope", "eastus"}}}
	dbs := []*store.Database{
		{Region: "westeurope", Name: "a", Status: apiv1.DatabaseStatusReady, SchemaVersion: 2, AppliedVersion: 2},
		{Region: "westeurope", Name: "b", Status: apiv1.DatabaseStatusFailed, SchemaVersion: 2, AppliedVersion: 1},
		{Region: "northeurope", Name: "a", Status: apiv1.DatabaseStatusReady, SchemaVersion: 2, AppliedVersion: 2},
	}
	b := buildBoard(boardInput{status: status, rollout: &store.Rollout{Version: 2, State: apiv1.RolloutInProgress}, dbs: dbs,
		applied: map[string]time.Time{}, operations: map[string]*store.Operation{}, now: now})
	got := map[string]string{}
	for _, w := range b.Waves {
		got["wave"+string(rune('0'+w.Number))] = w.State
		for _, c := range w.Cells {
			got[c.Region] = c.State
		}
	}
	want := map[string]string{"wave1": stateFailed, "westeurope": stateFailed, "wave2": stateHealthy, "northeurope": stateHealthy, "eastus": stateEmpty}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if c := b.Waves[0].Cells[0]; c.Moved != 1 || c.Total != 2 {
		t.Errorf("westeurope: %d of %d moved, want 1 of 2", c.Moved, c.Total)
	}
}

func TestTimeline(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	steps := []*store.OperationStep{{Step: "ensure_role", StartedAt: start}, {Step: "migrate", StartedAt: start.Add(2 * time.Second)}}
	for _, tc := range []struct {
		name string
		op   store.Operation
		want []stepRow
	}{
		{"Running", store.Operation{State: apiv1.OperationRunning, CreatedAt: start}, []stepRow{
			{Name: "ensure_role", Started: start, Duration: 2 * time.Second, State: "done"},
			{Name: "migrate", Started: start.Add(2 * time.Second), Duration: 8 * time.Second, State: "running"}}},
		{"Failed", store.Operation{State: apiv1.OperationFailed, CreatedAt: start, UpdatedAt: start.Add(5 * time.Second),
			Error: &store.OperationError{Step: "migrate", Message: "boom"}}, []stepRow{
			{Name: "ensure_role", Started: start, Duration: 2 * time.Second, State: "done"},
			{Name: "migrate", Started: start.Add(2 * time.Second), Duration: 3 * time.Second, State: "failed", Error: &store.OperationError{Step: "migrate", Message: "boom"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := timeline(&tc.op, steps, start.Add(10*time.Second))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
