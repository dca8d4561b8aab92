package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// put sends PUT /v1/databases/westeurope/orders with body and key.
func (b *securityBundle) put(t *testing.T, body, key string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, b.url+"/v1/databases/westeurope/orders", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", bearer(b.tokens["write"]))
	req.Header.Set(apiv1.HeaderIdempotencyKey, key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, header: resp.Header, raw: raw}
}

func TestIdempotencyKeyLifecycle(t *testing.T) {
	t.Parallel()

	t.Run("ReplaysTheFirstAnswer", func(t *testing.T) {
		t.Parallel()
		b := setupSecurity(t, RateLimit{PerSecond: -1})
		first := b.put(t, `{"skip_final_backup": true}`, "k")
		require.Equal(t, http.StatusAccepted, first.status, "%s", first.raw)
		again := b.put(t, `{"skip_final_backup": true}`, "k")
		require.Equal(t, http.StatusAccepted, again.status)
		require.Equal(t, string(first.raw), string(again.raw))
		require.Equal(t, first.header.Get(apiv1.HeaderOperationLocation), again.header.Get(apiv1.HeaderOperationLocation))
		require.Equal(t, int64(1), b.ops.reached.Load(), "the retry did not run again")

		other := b.put(t, `{"skip_final_backup": false}`, "k")
		require.Equal(t, http.StatusUnprocessableEntity, other.status, "another request with the same key: %s", other.raw)
		require.Equal(t, int64(1), b.ops.reached.Load())
	})

	t.Run("DoesNotKeepFaults", func(t *testing.T) {
		t.Parallel()
		b := setupSecurity(t, RateLimit{PerSecond: -1})
		b.ops.applyErr = errors.New("the store is down")
		require.Equal(t, http.StatusInternalServerError, b.put(t, `{}`, "k5").status)
		require.Equal(t, http.StatusInternalServerError, b.put(t, `{}`, "k5").status)
		require.Equal(t, int64(2), b.ops.reached.Load(), "a 5xx is not kept: the retry runs")
	})

	t.Run("KeepsRefusals", func(t *testing.T) {
		t.Parallel()
		b := setupSecurity(t, RateLimit{PerSecond: -1})
		b.ops.applyErr = &httpError{status: http.StatusConflict, code: apiv1.CodeConflict, message: "no"}
		require.Equal(t, http.StatusConflict, b.put(t, `{}`, "k4").status)
		require.Equal(t, http.StatusConflict, b.put(t, `{}`, "k4").status)
		require.Equal(t, int64(1), b.ops.reached.Load())
	})

	t.Run("DeadRecordsAnswerNothing", func(t *testing.T) {
		t.Parallel()
		b := setupSecurity(t, RateLimit{PerSecond: -1})
		ctx := context.Background()
		past := time.Now().Add(-store.IdempotencyAnswerKept - time.Hour).UTC()
		require.NoError(t, b.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			// Left in flight by an earlier version whose process died, and
			// an answer past its retention.
			if err := tx.IdempotencyKeyPut(ctx, &store.IdempotencyKey{Principal: "write-token", Key: "stale", RequestHash: "h",
				State: store.IdempotencyInFlight, CreatedAt: time.Now().UTC(), LockedUntil: time.Now().Add(time.Hour).UTC()}); err != nil {
				return err
			}
			return tx.IdempotencyKeyPut(ctx, &store.IdempotencyKey{Principal: "write-token", Key: "old", RequestHash: "h",
				State: store.IdempotencyCompleted, Status: 409, CreatedAt: past, LockedUntil: past})
		}))
		require.Equal(t, http.StatusAccepted, b.put(t, `{}`, "stale").status, "free at once")
		require.Equal(t, http.StatusAccepted, b.put(t, `{}`, "old").status)
		require.Equal(t, http.StatusAccepted, b.put(t, `{}`, "old").status)
		require.Equal(t, int64(2), b.ops.reached.Load())
	})
}

func TestToHTTPError(t *testing.T) {
	t.Parallel()
	require.Equal(t, http.StatusNotFound, toHTTPError(store.ErrNotFound).status)
	internal := toHTTPError(context.DeadlineExceeded)
	require.Equal(t, http.StatusInternalServerError, internal.status)
	require.NotContains(t, internal.message, "deadline", "faults do not leak their internals")
}
