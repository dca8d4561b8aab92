package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

const (
	// idempotencyLock bounds how long a request in flight holds its key: a
	// key held by a process that died frees itself after this.
	idempotencyLock = 2 * time.Minute
	// idempotencyRetention is how long a key's first answer is kept.
	idempotencyRetention = 24 * time.Hour
)

// replayedHeaders are the headers a replayed answer repeats.
var replayedHeaders = []string{"Content-Type", apiv1.HeaderOperationLocation, "Retry-After", "ETag"}

// bufferedResponse holds an answer so it can be stored before it is sent.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

// idempotent implements the Idempotency-Key header (IETF draft
// httpapi-idempotency-key-header): the same key and request get the first
// answer again; the same key with another request is 422; a key whose first
// request is still in flight is 409. Answers of 5xx are not kept, so the
// client may retry them.
func (s *Server) idempotent(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		// withBody has read the body within its limit.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return badRequest("request body could not be read")
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		key := r.Header.Get(apiv1.HeaderIdempotencyKey)
		if key == "" {
			return h(w, r)
		}
		if len(key) > 255 {
			return badRequest("Idempotency-Key is longer than 255 characters")
		}
		principal := principalFrom(r.Context()).Name
		sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
		requestHash := hex.EncodeToString(sum[:])

		replay, err := s.claimIdempotencyKey(r.Context(), principal, key, requestHash)
		if err != nil {
			return err
		}
		if replay != nil {
			for name, value := range replay.Headers {
				w.Header().Set(name, value)
			}
			w.WriteHeader(replay.Status)
			_, _ = w.Write(replay.Body)
			return nil
		}

		buf := &bufferedResponse{header: w.Header()}
		handlerErr := h(buf, r)
		if handlerErr != nil {
			he := toHTTPError(handlerErr)
			buf = &bufferedResponse{header: w.Header()}
			writeError(buf, requestIDFrom(r.Context()), he)
		}
		if err := s.recordIdempotencyKey(context.WithoutCancel(r.Context()), principal, key, requestHash, buf); err != nil {
			s.logger.Error().Str("requestId", requestIDFrom(r.Context())).Err(err).Msg("Failed to record idempotency key")
		}
		w.WriteHeader(buf.status)
		_, _ = w.Write(buf.body.Bytes())
		if handlerErr != nil && buf.status >= 500 {
			s.logger.Error().Str("requestId", requestIDFrom(r.Context())).Err(handlerErr).Msg("Request failed")
		}
		return nil
	}
}

// claimIdempotencyKey returns the stored answer to replay, or nil when this
// request now holds the key and must run. The claim is an insert that only
// one of the requests racing for a key wins, on any number of nodes.
func (s *Server) claimIdempotencyKey(ctx context.Context, principal, key, requestHash string) (*store.IdempotencyKey, error) {
	inFlight := &httpError{status: http.StatusConflict, code: apiv1.CodeIdempotencyInFlight,
		message: "the first request with this Idempotency-Key is still being processed; retry shortly"}
	var replay *store.IdempotencyKey
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		now := time.Now().UTC()
		claim := &store.IdempotencyKey{
			Principal: principal, Key: key, RequestHash: requestHash, State: store.IdempotencyInFlight,
			CreatedAt: now, LockedUntil: now.Add(idempotencyLock),
		}
		if claimed, err := tx.IdempotencyKeyClaim(ctx, claim); err != nil || claimed {
			return err
		}
		existing, err := tx.IdempotencyKeyGet(ctx, principal, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Its first request failed with a 5xx a moment ago: retrying
			// is right.
			return inFlight
		case err != nil:
			return err
		case existing.State == store.IdempotencyCompleted && now.Sub(existing.CreatedAt) > idempotencyRetention:
		case existing.RequestHash != requestHash:
			return &httpError{status: http.StatusUnprocessableEntity, code: apiv1.CodeIdempotencyMismatch,
				message: "this Idempotency-Key was already used for a different request; use a new key for a new request"}
		case existing.State == store.IdempotencyCompleted:
			replay = existing
			return nil
		case now.Before(existing.LockedUntil):
			return inFlight
		}
		// The record is stale (an old answer, or a request whose process
		// died): take it over, unless another request just did.
		if replaced, err := tx.IdempotencyKeyReplace(ctx, claim, existing); err != nil || replaced {
			return err
		}
		return inFlight
	})
	return replay, err
}

func (s *Server) recordIdempotencyKey(ctx context.Context, principal, key, requestHash string, resp *bufferedResponse) error {
	return s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if resp.status >= 500 {
			return tx.IdempotencyKeyDelete(ctx, principal, key)
		}
		headers := map[string]string{}
		for _, name := range replayedHeaders {
			if v := resp.header.Get(name); v != "" {
				headers[name] = v
			}
		}
		now := time.Now().UTC()
		return tx.IdempotencyKeyPut(ctx, &store.IdempotencyKey{
			Principal: principal, Key: key, RequestHash: requestHash, State: store.IdempotencyCompleted,
			Status: resp.status, Headers: headers, Body: resp.body.Bytes(), CreatedAt: now, LockedUntil: now,
		})
	})
}
