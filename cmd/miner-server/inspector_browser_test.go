package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// chromiumPath finds Debian's headless-capable Chromium (`make chromium` installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: run `make chromium` (apt-get install chromium)")
	return ""
}

// screenshotDir is where the browser test writes its screenshots: $HARDNEG_UI_SCREENSHOTS
// when set (docs/INSPECTOR.md's images are made so), else the test's temporary folder.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("HARDNEG_UI_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestInspectorInABrowser drives the inspector in headless Chromium against a real
// server with data: the collections page lists the collection, the playground runs a
// policy and shows a removed candidate with its rule, the histogram renders, a false
// negative reported from the list reaches the server, each page's screenshot is written
// and no console error occurs.
func TestInspectorInABrowser(t *testing.T) {
	exe := chromiumPath(t)
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	const n = 40
	if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "docs", Dim: 2, Metric: hardnegv1.Metric_METRIC_DOT}); err != nil {
		t.Fatal(err)
	}
	// d00 … d39 score 1, 0.975, 0.95, … against d00's vector (1, 0).
	items := &hardnegv1.ItemBatch{Dim: 2}
	id := func(i int) string { return "d" + strconv.Itoa(i/10) + strconv.Itoa(i%10) }
	for i := range n {
		items.Ids = append(items.Ids, id(i))
		items.Vectors = append(items.Vectors, f32bytes([]float32{1 - float32(i)/n, 0.01 * float32(i%3)})...)
		items.Versions = append(items.Versions, int64(1000*(1+i%4))) // 1000 … 4000, 10 items each
	}
	if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "docs", Items: items}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "docs", Anchors: []*hardnegv1.Anchor{{Id: "d00", PositiveIds: []string{"d01"}}}}); err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.WSURLReadTimeout(2*time.Minute)) // a cold start on a busy machine can pass the default 20 s
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		console []chromedp.ConsoleMessage
		wg      sync.WaitGroup
	)
	msgs := chromedp.Console(bctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for m, err := range msgs {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, m)
			mu.Unlock()
		}
	}()
	defer func() {
		cancelBrowser()
		wg.Wait()
		for _, m := range console {
			if m.Type == chromedp.ConsoleError || m.IsException() {
				t.Errorf("console: %s", m)
			}
		}
	}()
	// Every step gets its own deadline from the browser's context.
	step := func(name string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	shots := screenshotDir(t)
	screenshot := func(name string) {
		t.Helper()
		// The whole page: a viewport as tall as the document (at most 3,000 px).
		h, err := strconv.Atoi(eval(`String(Math.min(3000, document.documentElement.scrollHeight))`))
		if err != nil {
			t.Fatal(err)
		}
		step("viewport", chromedp.EmulateViewport(1280, int64(h)))
		// Let the browser lay out and paint the resized page (two animation frames).
		if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(png, []byte("\x89PNG")) || len(png) < 20_000 {
			t.Fatalf("screenshot %s: %d bytes, not a PNG of a rendered page", name, len(png))
		}
		p := filepath.Join(shots, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Size() != int64(len(png)) {
			t.Fatalf("screenshot %s: %v, %v", p, fi, err)
		}
	}
	base := "http://" + ts.srv.HTTPAddr() + "/ui/"

	// The collections page lists the collection with its size.
	step("collections page", chromedp.Steps(chromedp.Navigate(base+"#/collections"), chromedp.WaitVisible(`#collections tr[data-collection="docs"]`)))
	if row := eval(`document.querySelector('#collections tr[data-collection="docs"]').innerText`); !strings.Contains(row, "docs") || !strings.Contains(row, strconv.Itoa(n)) ||
		!strings.Contains(row, "exact") || !strings.Contains(row, "1000 … 4000 (4; 10 at 4000)") {
		t.Errorf("collections row %q: want docs, %d items, exact search, versions 1000 … 4000", row, n)
	}
	step("history chart", chromedp.WaitVisible(`#totals dd`))
	screenshot("collections")

	// The playground: fill in an anchor and a policy, run Mine.
	step("playground", chromedp.Steps(
		chromedp.Navigate(base+"#/playground?c=docs"),
		chromedp.WaitVisible(`#policy-fields input[name="absolute_margin"]`),
		chromedp.SetValue(`#anchor-id`, "d00"),
		chromedp.SetValue(`#positive-ids`, "d01"),
		chromedp.SetValue(`#policy-fields input[name="num_negatives"]`, "4"),
		chromedp.SetValue(`#policy-fields input[name="absolute_margin"]`, "0.06"),
		chromedp.Click(`#run`),
		chromedp.WaitVisible(`#candidates tr[data-fate="margin"]`),
	))
	// s⁺ = 0.975: d02 (0.95) and d03 (0.925) fail the margin (score ≥ 0.915), d04 … d07
	// are returned.
	if fate := eval(`document.querySelector('#candidates tr[data-id="d02"] .fate').textContent`); fate != "margin" {
		t.Errorf("d02 fate %q, want margin", fate)
	}
	if fate := eval(`document.querySelector('#candidates tr[data-id="d01"] .fate').textContent`); fate != "positive" {
		t.Errorf("d01 fate %q, want positive", fate)
	}
	if got := eval(`[...document.querySelectorAll('#candidates tr[data-fate="returned"]')].map(r => r.dataset.id).join(",")`); got != "d04,d05,d06,d07" {
		t.Errorf("returned %q, want d04,d05,d06,d07", got)
	}
	// The histogram has bars and the s⁺ and margin lines.
	if got := eval(`String(document.querySelectorAll('#histogram rect').length) + "/" + String(document.querySelectorAll('#histogram line[data-line]').length)`); got == "0/0" || strings.HasPrefix(got, "0/") || strings.HasSuffix(got, "/0") {
		t.Errorf("histogram rects/lines %s", got)
	}
	if w := eval(`String(document.querySelector('#histogram').getBBox().width)`); w == "0" {
		t.Errorf("histogram has no extent")
	}
	// The URL now encodes the policy, and the equivalent calls are shown.
	hash := eval(`location.hash`)
	q, err := url.ParseQuery(strings.SplitN(hash, "?", 2)[1])
	if err != nil || q.Get("anchor") != "d00" || q.Get("policy") != `{"num_negatives":4,"absolute_margin":0.06}` {
		t.Errorf("shareable URL %q (%v)", hash, err)
	}
	py, grpcurl := eval(`document.querySelector('#python-call').textContent`), eval(`document.querySelector('#grpcurl-call').textContent`)
	if !strings.Contains(py, `anchor_ids=["d00"]`) || !strings.Contains(py, "absolute_margin=0.06") || !strings.Contains(py, "explain=200") {
		t.Errorf("python call %q", py)
	}
	if !strings.Contains(grpcurl, "hardneg.v1.MinerService/Mine") || !strings.Contains(grpcurl, ts.srv.GRPCAddr()) {
		t.Errorf("grpcurl call %q", grpcurl)
	}
	// An id holding a quote stays inside the shell word the grpcurl command quotes.
	eval(`(() => { const a = document.querySelector('#anchor-id'); a.value = "d0'; touch x; '"; a.dispatchEvent(new Event("input", {bubbles: true})); return ""; })()`)
	if got := eval(`document.querySelector('#grpcurl-call').textContent`); !strings.Contains(got, `"id":"d0'\''; touch x; '\''"`) {
		t.Errorf("grpcurl call with a quote in an id: %q", got)
	}
	eval(`(() => { const a = document.querySelector('#anchor-id'); a.value = "d00"; a.dispatchEvent(new Event("input", {bubbles: true})); return ""; })()`)
	// Defaults that depend on the metric are described, not shown as off.
	if got := eval(`document.querySelector('#policy-fields input[name="duplicate_threshold"]').placeholder`); got != "0.80 under cosine (on the collection's scale); off under dot and L2" {
		t.Errorf("duplicate_threshold placeholder %q", got)
	}
	// A uint64 keeps every digit: sent as a decimal string.
	eval(`(() => { const a = document.querySelector('#policy-fields input[name="seed"]'); a.value = "18446744073709551615"; a.dispatchEvent(new Event("input", {bubbles: true})); return ""; })()`)
	if got := eval(`document.querySelector('#grpcurl-call').textContent`); !strings.Contains(got, `"seed":"18446744073709551615"`) {
		t.Errorf("grpcurl call with the largest seed: %q", got)
	}
	eval(`(() => { const a = document.querySelector('#policy-fields input[name="seed"]'); a.value = ""; a.dispatchEvent(new Event("input", {bubbles: true})); return ""; })()`)
	screenshot("playground")

	// Report d04 as a false negative from the list; the server excludes it from then on.
	step("report", chromedp.Steps(
		chromedp.Click(`#candidates tr[data-id="d04"] button`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#candidates tr[data-id="d04"] button').textContent === "reported"`),
	))
	mr, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "docs", Anchors: []*hardnegv1.Anchor{{Id: "d00", PositiveIds: []string{"d01"}}},
		Policy: &hardnegv1.MiningPolicy{NumNegatives: 4, AbsoluteMargin: proto.Float32(0.06)}})
	if err != nil {
		t.Fatal(err)
	}
	if r := mr.Results[0]; r.Removed.Feedback != 1 || r.Negatives[0].Id != "d05" {
		t.Errorf("after the report: feedback %d, first negative %s; want 1, d05", r.Removed.Feedback, r.Negatives[0].Id)
	}

	// The shared URL, opened afresh, runs the same request (now with the feedback).
	step("shared URL", chromedp.Steps(chromedp.Navigate("about:blank"), chromedp.Navigate(base+hash), chromedp.WaitVisible(`#candidates tr[data-fate="feedback"]`)))
	if got := eval(`document.querySelector('#policy-fields input[name="absolute_margin"]').value`); got != "0.06" {
		t.Errorf("shared URL restored absolute_margin %q", got)
	}

	// The int64 and message fields can be set too: min_version as a decimal string,
	// synthetic as a JSON object; a bad object is named, nothing sent.
	step("int64 and message fields", chromedp.Steps(
		chromedp.SetValue(`#policy-fields input[name="min_version"]`, "0"),
		chromedp.SetValue(`#policy-fields input[name="synthetic"]`, `{"num_mixed": 0}`),
	))
	eval(`document.querySelector('#candidates tbody').replaceChildren(), ""`) // so the wait sees this run's rows
	step("run with int64 and message fields", chromedp.Steps(
		chromedp.Click(`#run`),
		chromedp.WaitVisible(`#candidates tr[data-fate="returned"]`),
	))
	if e := eval(`document.querySelector('#error').textContent`); e != "" {
		t.Errorf("run with min_version and synthetic: %s", e)
	}
	if got := eval(`new URLSearchParams(location.hash.split("?")[1]).get("policy")`); got != `{"num_negatives":4,"absolute_margin":0.06,"min_version":"0","synthetic":{"num_mixed":0}}` {
		t.Errorf("policy with min_version and synthetic: %s", got)
	}
	if py := eval(`document.querySelector('#python-call').textContent`); !strings.Contains(py, "min_version=0,") || !strings.Contains(py, `synthetic={"num_mixed": 0}`) {
		t.Errorf("python call %q", py)
	}
	// A policy field without effect is shown as a warning beside the result.
	if got := eval(`document.querySelector('#summary').textContent`); strings.Contains(got, "policy warnings") {
		t.Errorf("summary of a policy without ignored fields: %q", got)
	}
	eval(`document.querySelector('#candidates tbody').replaceChildren(), ""`)
	step("run with a field without effect", chromedp.Steps(
		chromedp.SetValue(`#policy-fields input[name="temperature"]`, "0.5"),
		chromedp.Click(`#run`),
		chromedp.WaitVisible(`#candidates tr[data-fate="returned"]`),
	))
	if got := eval(`document.querySelector('#summary').textContent`); !strings.Contains(got, "policy.temperature: has no effect unless sampling is SAMPLING_STRATEGY_SOFTMAX") {
		t.Errorf("summary with temperature under top sampling: %q", got)
	}
	eval(`document.querySelector('#policy-fields input[name="temperature"]').value = "", ""`)
	step("bad message field", chromedp.Steps(
		chromedp.SetValue(`#policy-fields input[name="synthetic"]`, `{num_mixed: 2}`),
		chromedp.Click(`#run`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#error').textContent.includes("policy.synthetic")`),
	))
	step("JSON that is not an object", chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#error').textContent = ""`),
		chromedp.SetValue(`#policy-fields input[name="synthetic"]`, `[2]`),
		chromedp.Click(`#run`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#error').textContent.includes("policy.synthetic: not a JSON object")`),
	))
	step("int64 field that is not an integer", chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#policy-fields input[name="synthetic"]').value = ""`),
		// 1e3 passes the number field's own check (step 1) but is not a decimal integer.
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#policy-fields input[name="min_version"]').value = "1e3"`),
		chromedp.Click(`#run`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#error').textContent.includes("policy.min_version: not an integer")`),
	))
	step("no anchor", chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#policy-fields input[name="min_version"]').value = ""`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#anchor-id').value = ""`),
		chromedp.Click(`#run`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#error').textContent.includes("anchor: give an anchor id")`),
	))
	step("a vector that is not JSON numbers", chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#anchor-vector').value = "[NaN, 1]"`),
		chromedp.Click(`#run`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#error').textContent.includes("anchor vector: not a JSON array of numbers")`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#anchor-vector').value = "{\"a\": 1}"`),
		chromedp.Click(`#run`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#error').textContent.includes("anchor vector: want a non-empty JSON array")`),
	))
}

// TestInspectorAsksForAToken opens the inspector of a server with authentication on:
// the page asks for a token, and with a read token it lists the collections.
func TestInspectorAsksForAToken(t *testing.T) {
	exe := chromiumPath(t)
	const tok = "read-token-0123456789"
	srv, base := startHTTPServer(t, "-auth-tokens=r:read:"+tok)
	if _, err := srv.svc.CreateCollection(context.Background(), &hardnegv1.CreateCollectionRequest{Name: "secret", Dim: 2, Metric: hardnegv1.Metric_METRIC_DOT}); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WSURLReadTimeout(2*time.Minute))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	sctx, cancelStep := context.WithTimeout(bctx, 60*time.Second)
	defer cancelStep()
	if err := chromedp.Do(sctx, chromedp.Steps(
		chromedp.Navigate(base+"/ui/#/collections"),
		chromedp.WaitVisible(`#token`),
		chromedp.WaitVisible(`#error`),
	)); err != nil {
		t.Fatal(err)
	}
	if msg, err := chromedp.Run(sctx, chromedp.Text(`#error`)); err != nil || !strings.Contains(msg, "Unauthenticated") {
		t.Fatalf("without a token the page shows %q (%v), want Unauthenticated", msg, err)
	}
	if rows, err := chromedp.Run(sctx, chromedp.Evaluate[int](`document.querySelectorAll('#collections tbody tr').length`)); err != nil || rows != 0 {
		t.Fatalf("without a token %d collections listed (%v)", rows, err)
	}
	if err := chromedp.Do(sctx, chromedp.Steps(
		chromedp.SetValue(`#token`, tok),
		chromedp.Evaluate[chromedp.Void](`setTimeout(() => document.querySelector('#token').dispatchEvent(new Event('change')), 0)`),
		chromedp.WaitVisible(`#collections tr[data-collection="secret"]`),
	)); err != nil {
		t.Fatalf("with the read token: %v", err)
	}
	// The page has started afresh with the token: it knows the server and the policy.
	if err := chromedp.Do(sctx, chromedp.Steps(
		chromedp.Poll[chromedp.Void](`document.querySelector('#version').textContent.startsWith("miner-server")`),
		chromedp.Navigate(base+"/ui/#/playground"),
		chromedp.WaitVisible(`#policy-fields input[name="num_negatives"]`),
	)); err != nil {
		t.Fatalf("after the token: %v", err)
	}
}
