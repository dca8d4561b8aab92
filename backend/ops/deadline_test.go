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
