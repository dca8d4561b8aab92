package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
)

// IdempotencyAnswerKept is how long a key answers with its first answer;
// an older answer is replaced by the next request with the key, and the
// retention job forgets it. The API promises at least 24 h; a day more
// covers a retry across a weekend night's outage.
const IdempotencyAnswerKept = 48 * time.Hour

// ErrIdempotencyKeyAnswered is returned by a transaction that inserted an
// operation for an idempotent request whose key got an answer first
// (another request with the key committed before it): the transaction
// rolled back, and the key's answer is the one to give.
var ErrIdempotencyKeyAnswered = errors.New("idempotency key already answered")

// IdempotentRequest is a mutating request made with an Idempotency-Key.
// Carried in the request's context (WithIdempotentRequest), it makes the
// transaction that inserts the request's operation record the key's answer
// too: the answer is committed exactly when the operation, the database row
// and the job are, so a retry after a crash at any point finds either both
// or neither, and a key whose first attempt died is free at once.
type IdempotentRequest struct {
	Principal   string
	Key         string
	RequestHash string
	// Answer renders the answer to the request that started op.
	Answer func(op *Operation) (*IdempotencyKey, error)
}

type idempotentRequestKey struct{}

// WithIdempotentRequest returns ctx carrying req.
func WithIdempotentRequest(ctx context.Context, req *IdempotentRequest) context.Context {
	return context.WithValue(ctx, idempotentRequestKey{}, req)
}

func idempotentRequestFrom(ctx context.Context) *IdempotentRequest {
	req, _ := ctx.Value(idempotentRequestKey{}).(*IdempotentRequest)
	return req
}

// IdempotencyKeyLive tells whether a key's record still answers at now: a
// completed answer younger than IdempotencyAnswerKept. (Records left in
// flight by earlier versions, which claimed a key before running, answer
// nothing.)
func IdempotencyKeyLive(k *IdempotencyKey, now time.Time) bool {
	return k.State == IdempotencyCompleted && now.Sub(k.CreatedAt) < IdempotencyAnswerKept
}

// IdempotencyKeyRecord implements Tx.
func (q queries) IdempotencyKeyRecord(ctx context.Context, k *IdempotencyKey) (bool, error) {
	if claimed, err := q.IdempotencyKeyClaim(ctx, k); err != nil || claimed {
		return claimed, err
	}
	prev, err := q.IdempotencyKeyGet(ctx, k.Principal, k.Key)
	if errors.Is(err, ErrNotFound) {
		// Deleted since the claim saw it: claim again.
		return q.IdempotencyKeyClaim(ctx, k)
	}
	if err != nil || IdempotencyKeyLive(prev, k.CreatedAt) {
		return false, err
	}
	return q.IdempotencyKeyReplace(ctx, k, prev)
}

// OperationInsert inserts op and, when ctx carries an idempotent request,
// the key's answer in the same transaction (once per transaction).
func (t *storeTx) OperationInsert(ctx context.Context, op *Operation) error {
	if err := t.queries.OperationInsert(ctx, op); err != nil {
		return err
	}
	req := idempotentRequestFrom(ctx)
	if req == nil || t.answeredKey {
		return nil
	}
	failpoint.At(failpoint.IdempotencyOperationInserted)
	answer, err := req.Answer(op)
	if err != nil {
		return fmt.Errorf("render answer to idempotency key of operation %s: %w", op.ID, err)
	}
	answer.Principal, answer.Key, answer.RequestHash, answer.State = req.Principal, req.Key, req.RequestHash, IdempotencyCompleted
	answer.CreatedAt, answer.LockedUntil = op.CreatedAt, op.CreatedAt
	recorded, err := t.IdempotencyKeyRecord(ctx, answer)
	if err != nil {
		return err
	}
	if !recorded {
		return fmt.Errorf("operation %s: %w", op.ID, ErrIdempotencyKeyAnswered)
	}
	t.answeredKey = true
	return nil
}

// beforeCommit is where a test may kill the process with the key's answer
// written but not committed.
func (t *storeTx) beforeCommit() {
	if t.answeredKey {
		failpoint.At(failpoint.IdempotencyBeforeCommit)
	}
}
