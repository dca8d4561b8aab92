package ops

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

func TestRetryProgressSaysWhyAndUntilWhen(t *testing.T) {
	t.Parallel()
	deadline := time.Date(2026, 1, 2, 12, 30, 0, 0, time.UTC)
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name  string
		cause error
		want  string
	}{
		{"Unreachable", fmt.Errorf("ensuring role: %w", refused),
			"region eastus unreachable; retrying step ensure_role (attempt 3, until 2026-01-02T12:30:00Z): ensuring role: dial tcp: connection refused"},
		{"ShuttingDown", &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"},
			"region eastus unreachable; retrying step ensure_role (attempt 3, until 2026-01-02T12:30:00Z): FATAL: terminating connection due to administrator command (SQLSTATE 57P01)"},
		{"StatementLostARace", &pgconn.PgError{Severity: "ERROR", Code: "40P01", Message: "deadlock detected"},
			"step ensure_role failed in region eastus; retrying step ensure_role (attempt 3, until 2026-01-02T12:30:00Z): ERROR: deadlock detected (SQLSTATE 40P01)"},
		{"Other", errors.New("boom"),
			"step ensure_role failed in region eastus; retrying step ensure_role (attempt 3, until 2026-01-02T12:30:00Z): boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, retryProgress("eastus", "ensure_role", 3, deadline, tc.cause))
		})
	}
}

func TestCheckOperationDeadlines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		deadline time.Duration
		perKind  map[string]time.Duration
		wantErr  string
	}{
		{"Defaults", 0, nil, ""},
		{"PerKind", 30 * time.Minute, map[string]time.Duration{"apply_database": 2 * time.Hour, "delete_database": time.Hour}, ""},
		{"NegativeDefault", -time.Minute, nil, "operation_deadline: -1m0s is negative"},
		{"UnknownKind", 0, map[string]time.Duration{"apply_databse": time.Hour},
			`operation_deadlines: "apply_databse" is not an operation kind; the kinds are apply_database, delete_database, rollback_database, verify_database, rotate_password`},
		{"ZeroForAKind", 0, map[string]time.Duration{"delete_database": 0}, "operation_deadlines.delete_database: 0s is not a positive duration"},
		{"NegativeForAKind", 0, map[string]time.Duration{"rotate_password": -time.Second}, "operation_deadlines.rotate_password: -1s is not a positive duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckOperationDeadlines(tc.deadline, tc.perKind)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestDeadlineByKindAndGate(t *testing.T) {
	t.Parallel()
	m := NewManager(Config{OperationDeadline: 30 * time.Minute,
		OperationDeadlines: map[string]time.Duration{apiv1.OperationKindApplyDatabase: 2 * time.Hour}})
	created := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	lookedAtGate := created.Add(5 * time.Hour)
	for _, tc := range []struct {
		name string
		op   store.Operation
		want time.Time
	}{
		{"KindOfItsOwn", store.Operation{Kind: apiv1.OperationKindApplyDatabase, State: apiv1.OperationRunning, CreatedAt: created},
			created.Add(2 * time.Hour)},
		{"DefaultForTheOthers", store.Operation{Kind: apiv1.OperationKindDeleteDatabase, State: apiv1.OperationRunning, CreatedAt: created},
			created.Add(30 * time.Minute)},
		{"QueuedCountsFromCreation", store.Operation{Kind: apiv1.OperationKindApplyDatabase, State: apiv1.OperationPending,
			CreatedAt: created, UpdatedAt: lookedAtGate}, created.Add(2 * time.Hour)},
		{"ParkedOnTheGateCountsFromItsLastLook", store.Operation{Kind: apiv1.OperationKindApplyDatabase, State: apiv1.OperationPending,
			Step: "migrate", CreatedAt: created, UpdatedAt: lookedAtGate}, lookedAtGate.Add(2 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, m.deadline(&tc.op))
		})
	}
}

func TestRetryCauseReadBackFromProgress(t *testing.T) {
	t.Parallel()
	deadline := time.Date(2026, 1, 2, 12, 30, 0, 0, time.UTC)
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name            string
		progress        string
		wantUnreachable bool
		wantMsg         string
	}{
		{"Unreachable", retryProgress("eastus", "ensure_role", 3, deadline, fmt.Errorf("ensuring role: %w", refused)),
			true, "ensuring role: dial tcp: connection refused"},
		{"Failing", retryProgress("eastus", "migrate", 2, deadline, errors.New("deadlock detected")), false, "deadlock detected"},
		{"NotRetrying", "step 2 of 5: ensure_database in eastus", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cause := retryCauseOf(tc.progress, "eastus")
			if tc.wantMsg == "" {
				require.NoError(t, cause)
				return
			}
			var retried *retryCause
			require.ErrorAs(t, cause, &retried)
			require.Equal(t, tc.wantUnreachable, retried.unreachable)
			require.Equal(t, tc.wantMsg, retried.msg)
		})
	}
}
