package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

const (
	// maxSettleWait caps how long removing a database waits for an
	// operation already running on it before cancelling it, and then for
	// the cancel; it waits half the operation timeout when that is less.
	maxSettleWait = 30 * time.Second
	// removeAttempts bounds the rounds of removing one database: settle a
	// running operation, turn protection off, delete.
	removeAttempts = 6
	// statusTimeout bounds the look at an operation that did not end in
	// time, made after the scenario's own deadline passed.
	statusTimeout = 10 * time.Second
)

// api is what the runner asks of dbfleetd's HTTP API: the provider's client
// (retries, idempotency keys) for ordinary calls, and plain HTTP for the
// calls that must control their own headers.
type api struct {
	client   *client.Client
	http     *http.Client
	endpoint string
	token    string
}

// newAPI returns an api for endpoint that sends requests with ids of runID.
func newAPI(endpoint, token, runID string) (*api, error) {
	recorder := func(next http.RoundTripper) http.RoundTripper {
		return &requestRecorder{next: next, runID: runID}
	}
	c, err := client.New(client.Config{
		Endpoint:       endpoint,
		Token:          token,
		MaxRetries:     client.DefaultMaxRetries,
		RequestTimeout: time.Minute,
		UserAgent:      "dbfleet-runner",
		WrapTransport:  recorder,
	})
	if err != nil {
		return nil, fmt.Errorf("configuring the API client: %w", err)
	}
	return &api{
		client:   c,
		http:     &http.Client{Transport: recorder(http.DefaultTransport), Timeout: time.Minute},
		endpoint: endpoint,
		token:    token,
	}, nil
}

// wait waits up to timeout for op to end and fails unless it succeeded; the
// error is an *OperationError that says where and why.
func (a *api) wait(ctx context.Context, op *apiv1.Operation, timeout time.Duration) error {
	if t := trialFrom(ctx); t != nil {
		t.addOperation(op.ID)
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done, err := a.client.WaitOperation(waitCtx, op.ID, nil)
	if err != nil {
		if ctx.Err() == nil && waitCtx.Err() != nil {
			// Our deadline, not the caller's: say how far it got.
			lookCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusTimeout)
			defer cancel()
			if last, getErr := a.client.OperationGet(lookCtx, op.ID); getErr == nil {
				return &OperationError{Op: last, TimedOut: timeout}
			}
		}
		return err
	}
	if done.State != apiv1.OperationSucceeded {
		return &OperationError{Op: done}
	}
	return nil
}

// apiErrorCode is the API error code of err, or "".
func apiErrorCode(err error) string {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return ""
}

// removeDatabase deletes the database name in region whatever state it is
// in: it waits for (or, past settleWait, cancels) an operation running on
// it, turns deletion protection off and final backups off, and deletes it.
// A database that does not exist is removed already.
func (a *api) removeDatabase(ctx context.Context, region, name string, opTimeout time.Duration) error {
	for range removeAttempts {
		db, err := a.client.DatabaseGet(ctx, region, name)
		if errors.Is(err, client.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("removing database %s/%s: %w", region, name, err)
		}
		if db.OperationID != "" {
			if err := a.settle(ctx, db.OperationID, min(maxSettleWait, opTimeout/2)); err != nil {
				return fmt.Errorf("removing database %s/%s: %w", region, name, err)
			}
			continue
		}
		if db.DeletionProtection || !db.SkipFinalBackup {
			spec := specOf(db)
			spec.DeletionProtection, spec.SkipFinalBackup = new(false), true
			op, err := a.client.DatabasePut(ctx, region, name, spec)
			if apiErrorCode(err) == apiv1.CodeOperationInProgress {
				continue
			}
			if err != nil {
				return fmt.Errorf("removing database %s/%s: turning deletion protection off: %w", region, name, err)
			}
			if err := a.wait(ctx, op, opTimeout); err != nil {
				return fmt.Errorf("removing database %s/%s: turning deletion protection off: %w", region, name, err)
			}
			continue
		}
		op, err := a.client.DatabaseDelete(ctx, region, name)
		switch {
		case errors.Is(err, client.ErrNotFound):
			return nil
		case apiErrorCode(err) == apiv1.CodeOperationInProgress:
			continue
		case err != nil:
			return fmt.Errorf("removing database %s/%s: %w", region, name, err)
		}
		if err := a.wait(ctx, op, opTimeout); err != nil {
			return fmt.Errorf("removing database %s/%s: %w", region, name, err)
		}
		return nil
	}
	return fmt.Errorf("removing database %s/%s: still there after %d attempts", region, name, removeAttempts)
}

// settle waits for the operation id to end, cancelling it when it takes
// longer than wait. How it ended does not matter.
func (a *api) settle(ctx context.Context, id string, wait time.Duration) error {
	if t := trialFrom(ctx); t != nil {
		t.addOperation(id)
	}
	for _, cancelFirst := range []bool{false, true} {
		if cancelFirst {
			if _, err := a.cancel(ctx, id); err != nil {
				return err
			}
		}
		waitCtx, cancel := context.WithTimeout(ctx, wait)
		op, err := a.client.WaitOperation(waitCtx, id, nil)
		cancel()
		if err == nil && op.Done {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("operation %s still runs %s after it was cancelled", id, wait)
}

// cancel asks dbfleetd to cancel the operation id.
func (a *api) cancel(ctx context.Context, id string) (*apiv1.Operation, error) {
	var op apiv1.Operation
	status, err := a.raw(ctx, http.MethodPost, "/v1/operations/"+id+":cancel", "", nil, &op)
	if err != nil {
		return nil, fmt.Errorf("cancelling operation %s: %w", id, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("cancelling operation %s: answered %d", id, status)
	}
	return &op, nil
}

// removeSchema deletes the schema name; one that does not exist is removed
// already.
func (a *api) removeSchema(ctx context.Context, name string) error {
	err := a.client.SchemaDelete(ctx, name)
	if errors.Is(err, client.ErrNotFound) {
		return nil
	}
	return err
}

// specOf is the spec that gives db as it is.
func specOf(db *apiv1.Database) apiv1.DatabaseSpec {
	return apiv1.DatabaseSpec{
		DeletionProtection: new(db.DeletionProtection),
		SkipFinalBackup:    db.SkipFinalBackup,
		Schema:             db.Schema,
		SchemaVersion:      db.SchemaVersion,
		Parameters:         db.Parameters,
		ReplicaOf:          db.ReplicaOf,
		DriftPolicy:        db.DriftPolicy,
	}
}

// rawAnswer is an answer to a request sent with raw.
type rawAnswer struct {
	Status    int
	RequestID string
	Body      []byte
}

// raw sends one request without retries, with the idempotency key when not
// empty and body as JSON when not nil, and decodes a 2xx answer into out
// when not nil. It returns the status; errors are transport errors only.
func (a *api) raw(ctx context.Context, method, path, idempotencyKey string, body, out any) (int, error) {
	ans, err := a.rawAnswer(ctx, method, path, idempotencyKey, body)
	if err != nil {
		return 0, err
	}
	if out != nil && ans.Status >= 200 && ans.Status < 300 {
		if err := json.Unmarshal(ans.Body, out); err != nil {
			return ans.Status, fmt.Errorf("decoding the answer to %s %s: %w", method, path, err)
		}
	}
	return ans.Status, nil
}

func (a *api) rawAnswer(ctx context.Context, method, path, idempotencyKey string, body any) (*rawAnswer, error) {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding the body of %s %s: %w", method, path, err)
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.endpoint+path, reader)
	if err != nil {
		return nil, fmt.Errorf("building %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idempotencyKey != "" {
		req.Header.Set(apiv1.HeaderIdempotencyKey, idempotencyKey)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s %s: %w", method, path, err)
	}
	return &rawAnswer{Status: resp.StatusCode, RequestID: resp.Header.Get(apiv1.HeaderRequestID), Body: b}, nil
}

// operations lists the operations on the database name in region.
func (a *api) operations(ctx context.Context, region, name string) ([]apiv1.Operation, error) {
	var list apiv1.OperationList
	query := url.Values{"target": {"databases/" + region + "/" + name}}
	status, err := a.raw(ctx, http.MethodGet, "/v1/operations?"+query.Encode(), "", nil, &list)
	if err != nil {
		return nil, fmt.Errorf("listing the operations on %s/%s: %w", region, name, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("listing the operations on %s/%s: answered %d", region, name, status)
	}
	return list.Operations, nil
}

// contextForCleanup returns a context for work that must happen even when
// ctx has ended (cleanup, explaining a failure), bounded by timeout.
func contextForCleanup(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), timeout)
}
