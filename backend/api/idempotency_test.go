package api

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

func TestIdempotencyKeyLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	s := &Server{store: st}

	replay, err := s.claimIdempotencyKey(ctx, "dev", "k", "hash-a")
	require.NoError(t, err)
	require.Nil(t, replay, "a new key runs the request")

	_, err = s.claimIdempotencyKey(ctx, "dev", "k", "hash-a")
	require.Equal(t, http.StatusConflict, toHTTPError(err).status, "while the first is in flight")
	require.Equal(t, apiv1.CodeIdempotencyInFlight, toHTTPError(err).code)

	_, err = s.claimIdempotencyKey(ctx, "dev", "k", "hash-b")
	require.Equal(t, http.StatusUnprocessableEntity, toHTTPError(err).status, "another request with the same key")

	replay, err = s.claimIdempotencyKey(ctx, "other-token", "k", "hash-b")
	require.NoError(t, err)
	require.Nil(t, replay, "keys are per token")

	resp := &bufferedResponse{header: http.Header{"Operation-Location": {"/v1/operations/op-1"}, "X-Other": {"x"}}, status: http.StatusAccepted}
	resp.body.WriteString(`{"id":"op-1"}`)
	require.NoError(t, s.recordIdempotencyKey(ctx, "dev", "k", "hash-a", resp))
	replay, err = s.claimIdempotencyKey(ctx, "dev", "k", "hash-a")
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, replay.Status)
	require.Equal(t, `{"id":"op-1"}`, string(replay.Body))
	require.Equal(t, map[string]string{"Operation-Location": "/v1/operations/op-1"}, replay.Headers, "only the listed headers replay")

	// A 5xx answer is not kept: the client may retry with the same key.
	_, err = s.claimIdempotencyKey(ctx, "dev", "k5", "hash")
	require.NoError(t, err)
	require.NoError(t, s.recordIdempotencyKey(ctx, "dev", "k5", "hash", &bufferedResponse{header: http.Header{}, status: 503}))
	replay, err = s.claimIdempotencyKey(ctx, "dev", "k5", "hash")
	require.NoError(t, err)
	require.Nil(t, replay)

	// A key held by a request whose process died frees itself after the lock.
	require.NoError(t, st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		past := time.Now().Add(-time.Hour)
		return tx.IdempotencyKeyPut(ctx, &store.IdempotencyKey{Principal: "dev", Key: "stale", RequestHash: "h",
			State: store.IdempotencyInFlight, CreatedAt: past, LockedUntil: past.Add(idempotencyLock)})
	}))
	replay, err = s.claimIdempotencyKey(ctx, "dev", "stale", "h")
	require.NoError(t, err)
	require.Nil(t, replay)
}

func TestToHTTPError(t *testing.T) {
	t.Parallel()
	require.Equal(t, http.StatusNotFound, toHTTPError(store.ErrNotFound).status)
	internal := toHTTPError(context.DeadlineExceeded)
	require.Equal(t, http.StatusInternalServerError, internal.status)
	require.NotContains(t, internal.message, "deadline", "faults do not leak their internals")
}
