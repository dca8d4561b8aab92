package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// chromiumPath is the browser the dashboard tests drive: $DBFLEET_CHROMIUM
// (make test sets it), else Debian's. Without one the test is skipped,
// except in CI, where that is a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("DBFLEET_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium not found at %s (CI is set); run scripts/ensure-chromium.sh", path)
		}
		t.Skipf("chromium not found at %s; run scripts/ensure-chromium.sh", path)
	}
	return path
}

// browserTab starts a headless Chromium with a fresh profile and returns a
// tab, closed when the test ends.
func browserTab(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		// Without these Chromium phones home, and this network refuses it.
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		// Chromium makes its singleton socket's directory under TMPDIR and
		// leaves it there: in the test's directory, it goes with the test.
		chromedp.Env("TMPDIR="+t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	return ctx
}

// artifactsDir is where screenshots and page weights go:
// $DBFLEET_ARTIFACTS/ui, else the test's temporary directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if base := os.Getenv("DBFLEET_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, "ui")
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	return dir
}

type dashboard struct {
	t        *testing.T
	tab      context.Context
	endpoint string
	dir      string
	weights  []string
}

func (d *dashboard) do(actions ...chromedp.Action[chromedp.Void]) {
	d.t.Helper()
	require.NoError(d.t, chromedp.Do(d.tab, actions...))
}

func eval[T any](d *dashboard, expression string) T {
	d.t.Helper()
	v, err := chromedp.Run(d.tab, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
	require.NoError(d.t, err, "evaluating %s", expression)
	return v
}

func (d *dashboard) signIn(token string) {
	d.t.Helper()
	d.do(chromedp.Navigate(d.endpoint+"/ui/"), chromedp.WaitVisible("#token"),
		chromedp.SendKeys("#token", token), chromedp.Click("#sign-in"), chromedp.WaitVisible("table.fleet"))
}

func (d *dashboard) signOut() {
	d.t.Helper()
	d.do(chromedp.Click("form.who button"), chromedp.WaitVisible("#token"))
}

// capture writes a full-page PNG of the page and records its weight: the
// bytes of its HTML, CSS and JavaScript as served (nothing is compressed).
func (d *dashboard) capture(name string) {
	d.t.Helper()
	png, err := chromedp.Run(d.tab, chromedp.FullScreenshot(100))
	require.NoError(d.t, err)
	require.NoError(d.t, os.WriteFile(filepath.Join(d.dir, name+".png"), png, 0o644))
	foreign := eval[[]string](d, `performance.getEntriesByType("resource").map(e => e.name).filter(n => !n.startsWith(location.origin))`)
	require.Empty(d.t, foreign, "the page loads nothing from another host")
	html := eval[int](d, `performance.getEntriesByType("navigation")[0].encodedBodySize`)
	assets := eval[[]string](d, `[...document.querySelectorAll("link[rel=stylesheet], script[src]")].map(e => e.href || e.src)`)
	sizes := map[string]int{}
	for _, url := range assets {
		resp, err := http.Get(url) //nolint:gosec,noctx // the test's own server
		require.NoError(d.t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(d.t, err)
		sizes[filepath.Ext(url)] += len(body)
	}
	line := fmt.Sprintf("%-10s html %6d  css %6d  js %5d  total %6d bytes", name, html, sizes[".css"], sizes[".js"], html+sizes[".css"]+sizes[".js"])
	d.weights = append(d.weights, line)
	d.t.Log(line)
}

// TestDashboardInABrowser drives the dashboard in headless Chromium against
// an in-process dbfleetd with three real regions: sign in, see the fleet,
// watch a canary failure halt a rollout without reloading, and check that
// only admin may resume it, with a confirmation.
func TestDashboardInABrowser(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	north, err := daemontest.StartFleet("northeurope")
	require.NoError(t, err)
	t.Cleanup(north.Stop)
	b := setupOn(t, fleet, func(cfg *daemon.Config) {
		for _, r := range north.Regions() {
			cfg.Regions = append(cfg.Regions, engine.RegionConfig{Name: r.Name, AdminDSN: r.AdminDSN()})
		}
	})

	schema, name, ledger := daemontest.UniqueName("app"), daemontest.UniqueName("orders"), daemontest.UniqueName("ledger")
	// No bake time while the fleet is made, so that creating it does not wait.
	policy := &apiv1.RolloutPolicy{Waves: [][]string{{"westeurope"}, {"northeurope"}, {"eastus"}}}
	good := migrations(itemsTable)
	b.putSchema(t, schema, apiv1.SchemaSpec{Migrations: good, Rollout: policy})
	var started []apiv1.Operation
	for _, region := range []string{"westeurope", "northeurope", "eastus"} {
		started = append(started, b.client.Do(t, http.MethodPut, "/v1/databases/"+region+"/"+name,
			apiv1.DatabaseSpec{Schema: schema, SkipFinalBackup: true}).Operation(t))
	}
	started = append(started, b.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+ledger,
		apiv1.DatabaseSpec{Schema: schema, SkipFinalBackup: true}).Operation(t))
	for _, op := range started {
		require.Equal(t, apiv1.OperationSucceeded, b.client.Wait(t, op.ID, time.Minute).State)
	}
	b.create(t, "eastus", ledger, apiv1.DatabaseSpec{Schema: schema, ReplicaOf: "westeurope", SkipFinalBackup: true})
	policy.BakeTime = "10m"
	b.putSchema(t, schema, apiv1.SchemaSpec{Migrations: append(good, apiv1.Migration{Version: 2, Up: "CREATE TABLE b (id int);\nSELEC 1"}), Rollout: policy})
	waiting := b.client.Do(t, http.MethodPut, "/v1/databases/northeurope/"+name, apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2, SkipFinalBackup: true}).Operation(t)
	b.waitFor(t, waiting.ID, func(op apiv1.Operation) bool { return op.State == apiv1.OperationPending && op.Progress != "queued" })

	d := &dashboard{t: t, tab: browserTab(t), endpoint: b.client.Endpoint, dir: artifactsDir(t)}
	t.Logf("screenshots and page weights in %s", d.dir)
	d.signIn(b.client.Token)
	regions := eval[[]string](d, `[...document.querySelectorAll("th.region")].map(e => e.textContent)`)
	require.ElementsMatch(t, []string{"westeurope", "northeurope", "eastus"}, regions)
	require.Contains(t, eval[string](d, `document.querySelector("table.fleet").innerText`), "replica of westeurope")
	d.capture("fleet")

	board := "#rollout-" + schema + "-2"
	d.do(chromedp.Navigate(d.endpoint+"/ui/rollouts"), chromedp.WaitVisible(board))
	require.Contains(t, eval[string](d, `document.querySelector("`+board+`").innerText`), "waiting: wave 2 of 3 starts after westeurope/")
	// A reload would drop this mark: the halt must arrive by live update.
	eval[bool](d, `window.dashboardMark = true`)
	canary := b.client.Do(t, http.MethodPut, "/v1/databases/westeurope/"+name, apiv1.DatabaseSpec{Schema: schema, SchemaVersion: 2, SkipFinalBackup: true}).Operation(t)
	require.Equal(t, apiv1.OperationFailed, b.client.Wait(t, canary.ID, time.Minute).State)
	d.do(chromedp.Poll[chromedp.Void](`document.querySelector("`+board+` .halt") !== null`, chromedp.WithPollingTimeout(20*time.Second)))
	require.True(t, eval[bool](d, `window.dashboardMark === true`), "the page updated without reloading")
	halt := eval[string](d, `document.querySelector("`+board+` .halt").innerText`)
	require.Contains(t, halt, "Halted in westeurope")
	require.Contains(t, halt, "check "+apiv1.CheckMigration+" failed")
	require.Contains(t, halt, "line 2", "the failed check's message")
	require.True(t, eval[bool](d, `document.querySelector("#resume-`+schema+`-2") !== null`), "admin gets a resume button")
	d.capture("rollouts")
	d.do(chromedp.EmulateViewport(390, 844))
	png, err := chromedp.Run(d.tab, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(d.dir, "rollouts-phone.png"), png, 0o644))
	require.LessOrEqual(t, eval[int](d, `document.documentElement.scrollWidth`), 390, "no sideways scrolling at phone width")
	d.do(chromedp.EmulateViewport(1280, 900))

	resumeURL := "/ui/rollouts/" + schema + "/2/resume"
	forge := func(withToken bool) int {
		token := `""`
		if withToken {
			token = `document.querySelector("input[name=csrf_token]").value`
		}
		return eval[int](d, `fetch("`+resumeURL+`", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
			body: "csrf_token=" + encodeURIComponent(`+token+`)}).then(r => r.status)`)
	}
	require.Equal(t, http.StatusForbidden, forge(false), "admin without the CSRF token")

	d.do(chromedp.Navigate(d.endpoint+"/ui/operations?state=failed&target=westeurope/"+name), chromedp.WaitVisible("table.list"))
	require.Equal(t, []string{canary.ID}, eval[[]string](d, `[...document.querySelectorAll("table.list td:first-child a")].map(e => e.textContent)`),
		"the filter leaves the canary's failed operation alone")
	d.do(chromedp.Navigate(d.endpoint+"/ui/operations"), chromedp.WaitVisible("table.list"))
	all := eval[[]string](d, `[...document.querySelectorAll("table.list td:first-child a")].map(e => e.textContent)`)
	require.GreaterOrEqual(t, len(all), 7, "five creates, the waiting upgrade and the canary")
	require.Contains(t, all, waiting.ID)
	d.capture("operations")
	d.do(chromedp.Navigate(d.endpoint+"/ui/operations/"+canary.ID), chromedp.WaitVisible("ol.timeline"))
	steps := eval[[]string](d, `[...document.querySelectorAll(".step-name")].map(e => e.textContent)`)
	require.Equal(t, []string{"ensure_role", "ensure_database", "set_parameters", "migrate"}, steps)
	require.Contains(t, eval[string](d, `document.querySelector("pre.grep").innerText`), canary.ID)
	d.capture("operation")
	d.do(chromedp.Navigate(d.endpoint+"/ui/databases/eastus/"+ledger), chromedp.WaitVisible("#replication"),
		// The replication monitor samples lag every few seconds; the
		// chart comes in by live update.
		chromedp.Poll[chromedp.Void](`(document.querySelector("figure.chart polyline")?.points.length ?? 0) >= 2`, chromedp.WithPollingTimeout(20*time.Second)))
	d.capture("database")

	d.signOut()
	d.signIn(b.reader.Token)
	d.do(chromedp.Navigate(d.endpoint+"/ui/rollouts"), chromedp.WaitVisible(board+" .halt"))
	require.False(t, eval[bool](d, `document.querySelector("#resume-`+schema+`-2") !== null`), "a read token gets no resume button")
	require.Equal(t, http.StatusForbidden, forge(true), "a read token's forged resume, with its own session's CSRF token")
	var s apiv1.Schema
	b.client.Do(t, http.MethodGet, "/v1/schemas/"+schema, nil).Decode(t, &s)
	require.Equal(t, apiv1.RolloutHalted, s.Rollouts[1].State, "still halted")

	d.signOut()
	d.signIn(b.client.Token)
	d.do(chromedp.Navigate(d.endpoint+"/ui/rollouts"), chromedp.Click("#resume-"+schema+"-2"), chromedp.WaitVisible("#confirm-resume"))
	require.Contains(t, eval[string](d, `document.querySelector("h1").innerText`), "Resume the rollout of "+schema+" version 2?")
	d.do(chromedp.Click("#confirm-resume"), chromedp.WaitVisible(board))
	require.False(t, eval[bool](d, `document.querySelector("`+board+` .halt") !== null`), "resumed")
	b.client.Do(t, http.MethodGet, "/v1/schemas/"+schema, nil).Decode(t, &s)
	require.Equal(t, apiv1.RolloutInProgress, s.Rollouts[1].State)

	require.NoError(t, os.WriteFile(filepath.Join(d.dir, "page-weight.txt"), []byte(strings.Join(d.weights, "\n")+"\n"), 0o644))
}
