// Package failpoint lets tests stop dbfleetd at a named point of a code
// path. Killed there, it proves that what was committed before the point is
// enough to resume: the process started with DBFLEETD_KILL_AT=<point> sends
// itself SIGKILL when it reaches the point. Paused there
// (DBFLEETD_PAUSE_AT=<point>), it lets a test act at that moment, such as
// cancel the operation. Without the variables a point costs two
// environment lookups.
package failpoint

import (
	"os"
	"time"
)

// EnvVar names the point at which the process kills itself.
const EnvVar = "DBFLEETD_KILL_AT"

// PauseEnvVar names the point at which the process waits: it writes
// ReachedFile and waits until the test removes the armed file
// (ArmedEnvVar, which a pause needs).
const PauseEnvVar = "DBFLEETD_PAUSE_AT"

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

// At is a named point of a code path: the process ends there at once, as
// SIGKILL does, when EnvVar names the point, and waits there when
// PauseEnvVar does.
func At(point string) {
	if os.Getenv(PauseEnvVar) == point {
		pause()
		return
	}
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

// ReachedFile is the file a process paused at a point writes beside the
// armed file.
func ReachedFile(armedFile string) string { return armedFile + ".reached" }

// pause holds the calling goroutine while the armed file exists, once it
// wrote ReachedFile; the point passes freely when the file is missing.
func pause() {
	armedFile := os.Getenv(ArmedEnvVar)
	if armedFile == "" || !armed() {
		return
	}
	_ = os.WriteFile(ReachedFile(armedFile), nil, 0o600)
	for armed() {
		time.Sleep(10 * time.Millisecond)
	}
}
