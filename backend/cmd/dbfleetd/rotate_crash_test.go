package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
)

// ownerLogin tries to log in to db as its owner with password and says
// whether PostgreSQL let it in.
func ownerLogin(t *testing.T, db apiv1.Database, password string) bool {
	t.Helper()
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s sslmode=disable connect_timeout=10", db.Host, db.Port, db.Name))
	require.NoError(t, err)
	cfg.User, cfg.Password = db.Owner, password
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		require.Contains(t, err.Error(), "password authentication failed", "the login failed for its password, not for something else")
		return false
	}
	require.NoError(t, conn.Close(ctx))
	return true
}

// getDatabase reads one database with the node's (admin) token, password
// included.
func getDatabase(t *testing.T, n *node, name string) apiv1.Database {
	t.Helper()
	resp := n.client.Do(t, http.MethodGet, "/v1/databases/westeurope/"+name, nil)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var db apiv1.Database
	resp.Decode(t, &db)
	require.NotEmpty(t, db.Password)
	return db
}

// postRotate sends :rotate_password with key and returns the operation's
// ID, or the transport error when the node died under the request.
func postRotate(t *testing.T, n *node, name, key string) (string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.client.Endpoint+"/v1/databases/westeurope/"+name+":rotate_password", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+n.client.Token)
	req.Header.Set(apiv1.HeaderIdempotencyKey, key)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	r := &daemontest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	daemontest.ValidateResponse(t, req, nil, r)
	return r.Operation(t).ID, nil
}

// awaitExit waits until the node's process has ended by itself.
func awaitExit(t *testing.T, n *node) {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- n.cmd.Wait() }()
	select {
	case err := <-exited:
		require.Error(t, err, "dbfleetd killed itself")
		n.cmd = nil
	case <-time.After(time.Minute):
		t.Fatalf("dbfleetd did not die at %s; log:\n%s", ops.FailpointRotateIntentRecorded, n.logText())
	}
}

// TestRotatePasswordSurvivesSIGKILLBetweenIntentAndEffect kills dbfleetd
// after the store recorded a database's new password and before the region
// ran ALTER ROLE, on either store. The old password still logs in then;
// after the restart the operation finishes with the recorded password: the
// old one no longer logs in, the new one does, and the idempotent retry
// names the same operation. Neither password is in dbfleetd's log.
func TestRotatePasswordSurvivesSIGKILLBetweenIntentAndEffect(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			n := newNodeOn(t, st.dsn(t), "westeurope")
			n.start()
			name := daemontest.UniqueName("rotate_kill")
			created := n.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name,
				apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true}).Operation(t)
			require.Equal(t, apiv1.OperationSucceeded, n.client.Wait(t, created.ID, 2*time.Minute).State)
			before := getDatabase(t, n, name)
			require.True(t, ownerLogin(t, before, before.Password))

			n.kill()
			n.env = []string{failpoint.EnvVar + "=" + ops.FailpointRotateIntentRecorded}
			n.start()
			key := daemontest.UniqueName("rotate_key")
			first, _ := postRotate(t, n, name, key) // the answer may or may not beat the kill
			awaitExit(t, n)
			require.True(t, ownerLogin(t, before, before.Password), "the kill came before ALTER ROLE")

			n.env = nil
			n.start()
			id, err := postRotate(t, n, name, key)
			require.NoError(t, err)
			if first != "" {
				require.Equal(t, first, id, "the retry answers the first operation")
			}
			op := n.client.Wait(t, id, 2*time.Minute)
			require.Equal(t, apiv1.OperationSucceeded, op.State, "%+v", op.Error)
			require.Equal(t, apiv1.OperationKindRotatePassword, op.Kind)

			after := getDatabase(t, n, name)
			require.NotEqual(t, before.Password, after.Password)
			require.Equal(t, apiv1.DatabaseStatusReady, after.Status, "a rotation leaves the status alone")
			require.Equal(t, before.Generation, after.Generation, "a rotation changes no spec")
			require.False(t, ownerLogin(t, after, before.Password), "the old password no longer logs in")
			require.True(t, ownerLogin(t, after, after.Password), "the new password logs in")

			log := n.logText()
			require.Contains(t, log, "rotate_password", "the log names the operation")
			for _, p := range []string{before.Password, after.Password} {
				require.False(t, strings.Contains(log, p), "dbfleetd's log holds a password")
			}
		})
	}
}

// TestRotatePasswordRefusals: a rotation of a database that does not exist
// is 404, and one while another operation runs on it is 409 naming it.
func TestRotatePasswordRefusals(t *testing.T) {
	n := newNodeOn(t, "", "westeurope")
	n.start()
	missing := n.client.Do(t, http.MethodPost, "/v1/databases/westeurope/"+daemontest.UniqueName("nothere")+":rotate_password", nil)
	require.Equal(t, http.StatusNotFound, missing.Status, "%s", missing.Body)

	name := daemontest.UniqueName("rotate_busy")
	created := n.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name,
		apiv1.DatabaseSpec{DeletionProtection: new(false), SkipFinalBackup: true}).Operation(t)
	busy := n.client.Do(t, http.MethodPost, "/v1/databases/westeurope/"+name+":rotate_password", nil)
	if busy.Status != http.StatusAccepted { // the create may already be done
		require.Equal(t, http.StatusConflict, busy.Status, "%s", busy.Body)
		require.Contains(t, string(busy.Body), created.ID)
	}
	require.Equal(t, apiv1.OperationSucceeded, n.client.Wait(t, created.ID, 2*time.Minute).State)
}
