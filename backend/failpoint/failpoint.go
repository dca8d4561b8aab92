// Package failpoint lets tests kill dbfleetd at a named point of a code
// path, to prove that what it committed before that point is enough to
// resume: the process started with DBFLEETD_KILL_AT=<point> sends itself
// SIGKILL when it reaches the point. Without the variable a point costs
// one environment lookup.
package failpoint

import "os"

// EnvVar names the point at which the process kills itself.
const EnvVar = "DBFLEETD_KILL_AT"

// The points of an idempotent mutation (a request with an
// Idempotency-Key), in the order a request reaches them.
const (
	// IdempotencyBeforeHandler: the key has no answer yet; nothing is
	// written.
	IdempotencyBeforeHandler = "idempotency-before-handler"
	// IdempotencyOperationInserted: inside the store transaction, the
	// database row and the operation are written, not the key's answer.
	IdempotencyOperationInserted = "idempotency-operation-inserted"
	// IdempotencyBeforeCommit: the key's answer is written too, and the
	// transaction is about to commit.
	IdempotencyBeforeCommit = "idempotency-before-commit"
	// IdempotencyAfterHandler: the transaction committed; the answer is not
	// sent yet.
	IdempotencyAfterHandler = "idempotency-after-handler"
)

// IdempotencyPoints lists the points of an idempotent mutation in order.
func IdempotencyPoints() []string {
	return []string{IdempotencyBeforeHandler, IdempotencyOperationInserted, IdempotencyBeforeCommit, IdempotencyAfterHandler}
}

// Kill ends the process at once, as SIGKILL does, when EnvVar names point.
func Kill(point string) {
	if os.Getenv(EnvVar) != point || !armed() {
		return
	}
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		_ = p.Kill()
	}
	// Kill returns before the signal lands: nothing more may happen here.
	select {}
}
