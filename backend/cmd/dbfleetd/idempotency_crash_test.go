package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
)

// stores are the two kinds of state store a node can run on.
var stores = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"SQLite", func(*testing.T) string { return "" }},
	{"PostgreSQL", func(t *testing.T) string { dsn, _ := newStateStore(t); return dsn }},
}

// sendCreate sends one idempotent create and returns the status and the
// operation's ID, or the transport error when the node died under it.
func sendCreate(t *testing.T, n *node, name, key string) (int, string, error) {
	t.Helper()
	body, err := json.Marshal(apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPut, n.client.Endpoint+"/v1/databases/westeurope/"+name, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+n.client.Token)
	req.Header.Set(apiv1.HeaderIdempotencyKey, key)
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	for attempt := 0; err == nil && resp.StatusCode == http.StatusTooManyRequests && attempt < 30; attempt++ {
		// The storm outruns the token's rate limit: wait as told.
		resp.Body.Close()
		time.Sleep(time.Second)
		req.Body, _ = req.GetBody()
		resp, err = client.Do(req)
	}
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	var op apiv1.Operation
	if resp.StatusCode == http.StatusAccepted {
		require.NoError(t, json.Unmarshal(raw, &op), "%s", raw)
	}
	return resp.StatusCode, op.ID, nil
}

func operationsOn(t *testing.T, n *node, name string) []string {
	t.Helper()
	var list apiv1.OperationList
	resp := n.client.Do(t, http.MethodGet, "/v1/operations?target=databases/westeurope/"+name, nil)
	for attempt := 0; resp.Status == http.StatusTooManyRequests && attempt < 30; attempt++ {
		time.Sleep(time.Second)
		resp = n.client.Do(t, http.MethodGet, "/v1/operations?target=databases/westeurope/"+name, nil)
	}
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	resp.Decode(t, &list)
	var ids []string
	for _, op := range list.Operations {
		ids = append(ids, op.ID)
	}
	return ids
}

// TestIdempotentCreateSurvivesSIGKILLAtEachPoint kills dbfleetd at each
// point of an idempotent create (failpoint.IdempotencyPoints), on either
// store, and retries with the same key: the retry answers the one
// operation there is, a first one when the kill came before the commit.
func TestIdempotentCreateSurvivesSIGKILLAtEachPoint(t *testing.T) {
	for _, st := range stores {
		for _, point := range failpoint.IdempotencyPoints() {
			t.Run(st.name+"/"+point, func(t *testing.T) {
				n := newNodeOn(t, st.dsn(t), "westeurope")
				n.env = []string{failpoint.EnvVar + "=" + point}
				n.start()
				name := daemontest.UniqueName("idem_kill")
				key := daemontest.UniqueName("key")
				_, _, err := sendCreate(t, n, name, key)
				require.Error(t, err, "dbfleetd died at %s", point)
				n.kill()
				n.env = nil
				n.start()

				status, id, err := sendCreate(t, n, name, key)
				require.NoError(t, err)
				require.Equal(t, http.StatusAccepted, status)
				require.Equal(t, []string{id}, operationsOn(t, n, name), "one operation, the one the key answers")
				_, again, err := sendCreate(t, n, name, key)
				require.NoError(t, err)
				require.Equal(t, id, again)
				require.Equal(t, apiv1.OperationSucceeded, n.client.Wait(t, id, time.Minute).State)
				require.True(t, daemontest.DatabaseExists(t, fleet.Admin(t, "westeurope"), name))
			})
		}
	}
}

// TestIdempotentCreatesSurviveSIGKILLUnderLoad is the retry storm,
// smaller: clients create databases, each create with a key of its own
// sent by two clients at once, and retry with the same key on connection
// errors and 409 in-flight answers; dbfleetd is killed once while requests
// are in its handlers. Every create ends with exactly one operation, and
// every answer to a key names that operation.
func TestIdempotentCreatesSurviveSIGKILLUnderLoad(t *testing.T) {
	const clients, perClient = 6, 4
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			n := newNodeOn(t, st.dsn(t), "westeurope")
			// The storm is about idempotency, not the token's rate limit,
			// which its twelve clients' retries and the checks after it
			// run into on a fast machine (429 in CI).
			appendConfig(t, n, "rate_limit:\n  requests_per_second: -1\n")
			n.start()
			prefix := daemontest.UniqueName("idem_storm")
			var mu sync.Mutex
			answers := make([][]string, clients*perClient)
			var cutOff atomic.Int32
			started := make(chan struct{}, 2*clients*perClient)
			var wg sync.WaitGroup
			for c := range 2 * clients {
				c %= clients // twins: two clients send each create
				wg.Go(func() {
					for i := range perClient {
						k := c*perClient + i
						name, key := fmt.Sprintf("%s_%d", prefix, k), fmt.Sprintf("%s-key-%d", prefix, k)
						for attempt := 0; ; attempt++ {
							if attempt > 600 {
								t.Errorf("create %d never answered", k)
								return
							}
							started <- struct{}{}
							status, id, err := sendCreate(t, n, name, key)
							if err == nil && status == http.StatusAccepted {
								mu.Lock()
								answers[k] = append(answers[k], id)
								mu.Unlock()
								break
							}
							if err != nil {
								cutOff.Add(1)
							}
							if err == nil && status != http.StatusConflict {
								t.Errorf("create %d answered %d", k, status)
								return
							}
							time.Sleep(50 * time.Millisecond)
						}
					}
				})
			}
			// Kill once a few requests are under way.
			for range clients {
				<-started
			}
			n.kill()
			n.start()
			go func() {
				for range started {
				}
			}()
			wg.Wait()
			close(started)
			require.Positive(t, cutOff.Load(), "the kill cut requests off")
			for k, ids := range answers {
				name := fmt.Sprintf("%s_%d", prefix, k)
				require.Len(t, ids, 2, "create %d: both twins got an answer", k)
				require.Equal(t, ids[0], ids[1], "create %d: one key, one answer", k)
				require.Equal(t, []string{ids[0]}, operationsOn(t, n, name), "create %d has one operation", k)
				// A replay after the storm names the same operation.
				_, again, err := sendCreate(t, n, name, fmt.Sprintf("%s-key-%d", prefix, k))
				require.NoError(t, err)
				require.Equal(t, ids[0], again)
			}
			for k, ids := range answers {
				require.Equal(t, apiv1.OperationSucceeded, n.client.Wait(t, ids[0], 2*time.Minute).State, "create %d", k)
			}
		})
	}
}
