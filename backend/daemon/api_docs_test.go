package daemon_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
)

// TestAPIDocsPageIsSelfContained renders the API document as make docs does (scripts/docs.sh api),
// opens the page in headless Chromium from a loopback server, and checks that it shows every
// operation of the document and that the page asked no host but loopback for anything: no CDN
// script, no web font, no telemetry.
func TestAPIDocsPageIsSelfContained(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	page := filepath.Join(dir, "index.html")
	cmd := exec.CommandContext(t.Context(), "scripts/docs.sh", "api", page)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "scripts/docs.sh api:\n%s", out)

	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)

	var mu sync.Mutex
	var requested []string
	ctx := browserTab(t)
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, e.Request.URL)
			mu.Unlock()
		}
	}))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(`[data-component-name="Menu/Menu"] .menu-item-type-group a`),
	))
	// Open each tag's group of the menu in turn and collect the operations it lists, as
	// "#/<tag>/<operationId in lower case> <summary>".
	links, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(async () => {
		const seen = new Set();
		const groups = Array.from(document.querySelectorAll('[data-component-name="Menu/Menu"] .menu-item-type-group'));
		for (const g of groups) {
			g.querySelector('a').click();
			for (let i = 0; i < 50 && !g.querySelector('a[href^="#/"]'); i++) {
				await new Promise(r => setTimeout(r, 100));
			}
			for (const a of g.querySelectorAll('a[href^="#/"]')) {
				seen.add(a.getAttribute('href') + ' ' + a.textContent);
			}
		}
		return Array.from(seen);
	})()`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	// Whatever the page fetches late (fonts, images, beacons) has had time to ask.
	require.NoError(t, chromedp.Do(ctx, chromedp.Sleep(2*time.Second)))

	for _, op := range documentOperations(t) {
		want := "#/" + strings.ToLower(op.tag) + "/" + strings.ToLower(op.id) + " " + op.summary
		require.True(t, slices.ContainsFunc(links, func(l string) bool { return strings.HasPrefix(l, want) }),
			"the API page's menu does not list operation %s (%q); it lists %q", op.id, want, links)
	}

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, requested, "Chromium reported no request at all; the network listener saw nothing")
	var remote []string
	for _, raw := range requested {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		switch u.Scheme {
		case "data", "blob", "about":
			continue
		}
		if host := u.Hostname(); host != "127.0.0.1" && host != "localhost" && host != "::1" {
			remote = append(remote, raw)
		}
	}
	require.Empty(t, remote, "the API page asked other hosts for these; it must load nothing from another host")
}

// documentedOperation is an operation of the API document as its page lists it.
type documentedOperation struct{ id, tag, summary string }

// documentOperations lists every operation of the API document.
func documentOperations(t *testing.T) []documentedOperation {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(api.OpenAPIDocument(), &doc))
	var ops []documentedOperation
	for _, item := range doc.Paths {
		for _, raw := range item {
			var op struct {
				OperationID string   `json:"operationId"`
				Tags        []string `json:"tags"`
				Summary     string   `json:"summary"`
			}
			require.NoError(t, json.Unmarshal(raw, &op))
			require.Len(t, op.Tags, 1, "operation %s", op.OperationID)
			ops = append(ops, documentedOperation{id: op.OperationID, tag: op.Tags[0], summary: op.Summary})
		}
	}
	require.Len(t, ops, 24, "the document's operations changed; update this count with them")
	return ops
}
