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
	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
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

// idempotencyInFlight answers a request whose key another request is using
// on this node right now.
var idempotencyInFlight = &httpError{status: http.StatusConflict, code: apiv1.CodeIdempotencyInFlight,
	message: "the first request with this Idempotency-Key is still being processed; retry shortly"}

// idempotencyMismatch answers a request whose key answered another request.
var idempotencyMismatch = &httpError{status: http.StatusUnprocessableEntity, code: apiv1.CodeIdempotencyMismatch,
	message: "this Idempotency-Key was already used for a different request; use a new key for a new request"}

// idempotent implements the Idempotency-Key header (IETF draft
// httpapi-idempotency-key-header): the same key and request get the first
// answer again; the same key with another request is 422; while a request
// with the key runs on this node, 409.
//
// Nothing is written before the handler runs. A request that starts an
// operation records the key's answer in the transaction that inserts the
// operation (store.IdempotentRequest), so the answer exists exactly when the
// operation does: a retry after a crash anywhere gets the first operation,
// or runs afresh when nothing was committed. Of requests with one key on
// several nodes, the first to commit answers for all. Other answers (a
// refusal, a schema) are recorded after the handler; answers of 5xx are
// not, so the client may retry them.
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
			return fieldError(apiv1.HeaderIdempotencyKey, "Idempotency-Key is longer than 255 characters")
		}
		principal := principalFrom(r.Context()).Name
		sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
		req := &store.IdempotentRequest{Principal: principal, Key: key, RequestHash: hex.EncodeToString(sum[:]), Answer: operationAnswer}

		slot := principal + "\x00" + key
		if _, busy := s.keysInFlight.LoadOrStore(slot, struct{}{}); busy {
			return idempotencyInFlight
		}
		defer s.keysInFlight.Delete(slot)

		answer, err := s.idempotencyAnswer(r.Context(), req)
		if err != nil || answer != nil {
			return replay(w, answer, err)
		}
		failpoint.At(failpoint.IdempotencyBeforeHandler)
		buf := &bufferedResponse{header: w.Header()}
		handlerErr := h(buf, r.WithContext(store.WithIdempotentRequest(r.Context(), req)))
		failpoint.At(failpoint.IdempotencyAfterHandler)
		switch {
		case errors.Is(handlerErr, store.ErrIdempotencyKeyAnswered):
			// Another request with the key committed first: its answer
			// is this one's.
			answer, err := s.idempotencyAnswer(context.WithoutCancel(r.Context()), req)
			return replay(w, answer, err)
		case handlerErr != nil && clientGone(r, handlerErr):
			return handlerErr
		case handlerErr != nil:
			buf = &bufferedResponse{header: w.Header()}
			writeError(buf, requestIDFrom(r.Context()), toHTTPError(handlerErr))
		}
		if buf.status >= 500 {
			s.logger.Error().Str("requestId", requestIDFrom(r.Context())).Err(handlerErr).Msg("Request failed")
		} else if answer, err := s.recordIdempotencyKey(context.WithoutCancel(r.Context()), req, buf); err != nil || answer != nil {
			// The operation's transaction recorded the answer, or a
			// request with the key on another node did first.
			return replay(w, answer, err)
		}
		w.WriteHeader(buf.status)
		_, _ = w.Write(buf.body.Bytes())
		return nil
	}
}

// replay writes a recorded answer, or returns err. No answer where one was
// just seen (it expired in between) asks the client to retry.
func replay(w http.ResponseWriter, answer *store.IdempotencyKey, err error) error {
	if err != nil {
		return err
	}
	if answer == nil {
		return idempotencyInFlight
	}
	for name, value := range answer.Headers {
		w.Header().Set(name, value)
	}
	w.WriteHeader(answer.Status)
	_, _ = w.Write(answer.Body)
	return nil
}

// idempotencyAnswer returns the key's live answer to req, nil when it has
// none, or the 422 of a key that answered another request.
func (s *Server) idempotencyAnswer(ctx context.Context, req *store.IdempotentRequest) (*store.IdempotencyKey, error) {
	existing, err := s.store.IdempotencyKeyGet(ctx, req.Principal, req.Key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case !store.IdempotencyKeyLive(existing, time.Now().UTC()):
		return nil, nil
	case existing.RequestHash != req.RequestHash:
		return nil, idempotencyMismatch
	}
	return existing, nil
}

// recordIdempotencyKey records resp as the key's answer. When the key
// already has a live answer (the operation's transaction recorded it, or
// another request with the key), it returns that answer instead.
func (s *Server) recordIdempotencyKey(ctx context.Context, req *store.IdempotentRequest, resp *bufferedResponse) (*store.IdempotencyKey, error) {
	now := time.Now().UTC()
	record := &store.IdempotencyKey{
		Principal: req.Principal, Key: req.Key, RequestHash: req.RequestHash, State: store.IdempotencyCompleted,
		Status: resp.status, Headers: keptHeaders(resp.header), Body: resp.body.Bytes(), CreatedAt: now, LockedUntil: now,
	}
	var recorded bool
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		recorded, err = tx.IdempotencyKeyRecord(ctx, record)
		return err
	})
	if err != nil || recorded {
		return nil, err
	}
	answer, err := s.idempotencyAnswer(ctx, req)
	if err == nil && answer == nil {
		// Recorded a moment ago and already gone: send this answer.
		return record, nil
	}
	return answer, err
}

func keptHeaders(header http.Header) map[string]string {
	kept := map[string]string{}
	for _, name := range replayedHeaders {
		if v := header.Get(name); v != "" {
			kept[name] = v
		}
	}
	return kept
}

// operationAnswer is the answer to a request that started op: 202, where to
// poll, and when, exactly as writeOperationAccepted sends it.
func operationAnswer(op *store.Operation) (*store.IdempotencyKey, error) {
	buf := &bufferedResponse{header: http.Header{}}
	writeOperationAccepted(buf, op)
	return &store.IdempotencyKey{Status: buf.status, Headers: keptHeaders(buf.header), Body: buf.body.Bytes()}, nil
}
