package provider

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

// fakeReply is a canned answer of fakeBackend.
type fakeReply struct {
	status int
	body   any
}

// fakeBackend is a dbfleetd on loopback that answers each "METHOD path"
// with its canned reply, 404 not_found for anything else, and records the
// requests it got.
type fakeBackend struct {
	replies map[string]fakeReply
	mu      sync.Mutex
	got     []string
	bodies  map[string][]byte
	// url is where it listens.
	url string
}

// newFakeBackend starts a fakeBackend with replies and returns it with a
// client for it that never retries.
func newFakeBackend(t *testing.T, replies map[string]fakeReply) (*fakeBackend, *client.Client) {
	t.Helper()
	b := &fakeBackend{replies: replies, bodies: make(map[string][]byte)}
	server := httptest.NewServer(b)
	t.Cleanup(server.Close)
	b.url = server.URL
	c, err := client.New(client.Config{Endpoint: server.URL, Token: "t0ken"})
	require.NoError(t, err)
	return b, c
}

func (b *fakeBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	line := r.Method + " " + r.URL.Path
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.got = append(b.got, line)
	b.bodies[line] = body
	b.mu.Unlock()
	rep, ok := b.replies[line]
	if !ok {
		rep = fakeReply{status: http.StatusNotFound, body: apiv1.ErrorResponse{Error: apiv1.Error{Code: apiv1.CodeNotFound, Message: line + " not found"}}}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	if rep.body != nil {
		_ = json.NewEncoder(w).Encode(rep.body)
	}
}

// requests returns the "METHOD path" of every request so far.
func (b *fakeBackend) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got...)
}

// body decodes the body of the last request line into out.
func (b *fakeBackend) body(t *testing.T, line string, out any) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Contains(t, b.bodies, line)
	require.NoError(t, json.Unmarshal(b.bodies[line], out))
}

// apiErrorReply is an error answer with status, code and message.
func apiErrorReply(status int, code, message string) fakeReply {
	return fakeReply{status: status, body: apiv1.ErrorResponse{Error: apiv1.Error{Code: code, Message: message}}}
}

// fieldErrorReply is an error answer with status, code and message whose
// details name field, the request field at fault, as dbfleetd's do.
func fieldErrorReply(status int, code, field, message string) fakeReply {
	return fakeReply{status: status, body: apiv1.ErrorResponse{Error: apiv1.Error{
		Code: code, Message: message, Details: map[string]string{"field": field},
	}}}
}
