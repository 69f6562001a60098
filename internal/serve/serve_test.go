package serve

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/metrics"
)

// endpoint is a real TLS listener on loopback for the connection checks.
func endpoint(t *testing.T) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(403) }))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the connection checks hang up after connecting
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts.URL
}

func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func twoSites(url string) string {
	return fmt.Sprintf(`vo: testvo
defaults: {timeout: 5s, budget: 20s, storage_interval: 1h}
sites:
  - name: T2_A
    services:
      - {type: webdav, url: "%[1]s"}
  - name: T2_B
    services:
      - {type: webdav, url: "%[1]s"}
`, url)
}

func newTestServer(t *testing.T, cfgBody string, opts Options) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "sites.yaml")
	writeConfig(t, path, cfgBody)
	opts.ConfigPath = path
	if opts.Log == nil {
		opts.Log = NewLogger(io.Discard, 0)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, path
}

func get(t *testing.T, h http.Handler, target string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Header()
}

func TestParseShard(t *testing.T) {
	for _, bad := range []string{"1", "3/3", "-1/2", "a/b", "0/0"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	sh, err := ParseShard("1/3")
	if err != nil || sh != (Shard{1, 3}) {
		t.Fatalf("ParseShard(1/3) = %v, %v", sh, err)
	}
	// Every site belongs to exactly one of n shards, and the split is even-ish.
	counts := make([]int, 3)
	for i := range 3000 {
		site := fmt.Sprintf("T2_XX_Site%d", i)
		owners := 0
		for k := range 3 {
			if (Shard{k, 3}).Owns(site) {
				owners++
				counts[k]++
			}
		}
		if owners != 1 {
			t.Fatalf("%s owned by %d shards", site, owners)
		}
	}
	for k, n := range counts {
		if n < 850 || n > 1150 {
			t.Errorf("shard %d/3 owns %d of 3000 sites", k, n)
		}
	}
}

func TestSlots(t *testing.T) {
	iv := 30 * time.Minute
	ph := phase("T2_A\x00org.testvo.SE-WebDAV", iv)
	if ph < 0 || ph >= iv || ph != phase("T2_A\x00org.testvo.SE-WebDAV", iv) {
		t.Fatalf("phase %v not deterministic within [0, %v)", ph, iv)
	}
	now := time.Date(2026, 11, 24, 10, 7, 0, 0, time.UTC)
	n1 := nextSlot(now, iv, ph)
	if !n1.After(now) || n1.Sub(now) > iv || (n1.UnixNano()-int64(ph))%int64(iv) != 0 {
		t.Fatalf("nextSlot(%v) = %v (phase %v)", now, n1, ph)
	}
	if n2 := nextAfterRun(n1, iv, ph); n2.Sub(n1) != iv {
		t.Errorf("after an on-slot run the next is %v later, want %v", n2.Sub(n1), iv)
	}
	// An off-slot first run is not followed by a slot less than half an interval later.
	first := n1.Add(-time.Minute)
	if n := nextAfterRun(first, iv, ph); n.Sub(first) < iv/2 {
		t.Errorf("next after off-slot run %v is %v later", first, n.Sub(first))
	}
	// Phases of many services spread over the interval.
	buckets := make([]int, 6)
	for i := range 600 {
		buckets[phase(fmt.Sprintf("T2_S%d\x00svc", i), iv)*6/iv]++
	}
	for i, n := range buckets {
		if n < 60 || n > 140 {
			t.Errorf("phase bucket %d has %d of 600 services", i, n)
		}
	}
}

func TestProbeBadRequests(t *testing.T) {
	s, _ := newTestServer(t, twoSites(endpoint(t)), Options{})
	h := s.Handler()
	for _, tc := range []struct{ target, want string }{
		{"/probe", "missing parameter"},
		{"/probe?site=T2_A", "missing parameter"},
		{"/probe?site=T2_NOPE&service=webdav", `unknown site "T2_NOPE" (configured sites: T2_A, T2_B)`},
		{"/probe?site=T2_A&service=xrootd", `site T2_A has no service "xrootd" (its services: webdav (org.testvo.SE-WebDAV))`},
		{"/probe?site=T2_A&service=webdav&check=42nope", "42nope"},
	} {
		code, body, _ := get(t, h, tc.target)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s = %d %q, want 400 containing %q", tc.target, code, body, tc.want)
		}
	}
	code, _, _ := get(t, h, "/probe?site=T2_A&service=webdav", "X-Prometheus-Scrape-Timeout-Seconds", "soon")
	if code != http.StatusBadRequest {
		t.Errorf("bad scrape timeout header: %d, want 400", code)
	}
}

func TestProbeRunsAndShares(t *testing.T) {
	s, _ := newTestServer(t, twoSites(endpoint(t)), Options{})
	release := make(chan struct{})
	var runs atomic.Int32
	s.beforeRun = func(site, service string, r *run) {
		runs.Add(1)
		<-release
	}
	h := s.Handler()
	const n = 8
	var wg sync.WaitGroup
	bodies := make([]string, n)
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], bodies[i], _ = get(t, h, "/probe?site=T2_A&service=webdav", "X-Prometheus-Scrape-Timeout-Seconds", "20")
		}()
	}
	// Let every request reach the server and find the run in flight.
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(release)
	wg.Wait()
	if got := runs.Load(); got != 1 {
		t.Errorf("%d concurrent /probe requests started %d runs, want 1", n, got)
	}
	for i := range n {
		if codes[i] != 200 || !strings.Contains(bodies[i], `gridprobe_check_state{check="1connection",credential="none",protocol="webdav",service="org.testvo.SE-WebDAV",site="T2_A",vo="testvo"} 0`) {
			t.Fatalf("request %d: %d\n%s", i, codes[i], bodies[i])
		}
		if bodies[i] != bodies[0] && !sameExceptDuration(bodies[i], bodies[0]) {
			t.Errorf("request %d saw another run:\n%s\nvs\n%s", i, bodies[i], bodies[0])
		}
	}
	// A single check with its prerequisites, in debug mode.
	code, body, hdr := get(t, h, "/probe?site=T2_B&service=org.testvo.SE-WebDAV&check=1connection&debug=true")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("debug: %d %v", code, hdr)
	}
	for _, want := range []string{"Logs for the run:", "1connection", "Results:", "Metrics that would have been returned:",
		"gridprobe_probe_success 1", "Effective config of this service", "name: T2_B"} {
		if !strings.Contains(body, want) {
			t.Errorf("debug output lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "99summary") {
		t.Errorf("a single-check run reported a summary:\n%s", body)
	}
	// On-demand results show up in /metrics (both sites are scheduled here).
	_, m, hdr := get(t, h, "/metrics")
	if hdr.Get("Content-Type") != metrics.ContentType {
		t.Errorf("/metrics content type %q", hdr.Get("Content-Type"))
	}
	for _, want := range []string{`site="T2_A"`, `site="T2_B"`, `gridprobe_round_runs_total{protocol="webdav",service="org.testvo.SE-WebDAV",site="T2_A",trigger="probe",vo="testvo"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func sameExceptDuration(a, b string) bool {
	strip := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, metrics.ProbeDuration) {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	return strip(a) == strip(b)
}

func TestProbeHonoursScrapeTimeout(t *testing.T) {
	s, _ := newTestServer(t, twoSites(endpoint(t)), Options{TimeoutOffset: 500 * time.Millisecond})
	block := make(chan struct{})
	defer close(block)
	s.beforeRun = func(string, string, *run) { <-block }
	start := time.Now()
	code, body, _ := get(t, s.Handler(), "/probe?site=T2_A&service=webdav", "X-Prometheus-Scrape-Timeout-Seconds", "1.5")
	took := time.Since(start)
	if code != 200 || !strings.Contains(body, "gridprobe_probe_success 0") {
		t.Errorf("%d %s", code, body)
	}
	if took < 900*time.Millisecond || took > 1400*time.Millisecond {
		t.Errorf("answered after %v, want about 1.5s - 0.5s offset", took)
	}
}

func TestScheduleReloadAndNoOverlap(t *testing.T) {
	url := endpoint(t)
	cfg := fmt.Sprintf(`vo: testvo
defaults: {timeout: 5s, budget: 20s, storage_interval: 1s}
sites:
  - name: T2_A
    services:
      - {type: webdav, url: "%[1]s"}
  - name: T2_B
    services:
      - {type: webdav, url: "%[1]s"}
`, url)
	s, path := newTestServer(t, cfg, Options{InitialSpread: -1})
	var mu sync.Mutex
	inflight := map[string]int{}
	overlap := false
	runs := map[string]int{}
	var slow atomic.Bool
	slow.Store(true)
	s.beforeRun = func(site, service string, r *run) {
		k := site + "/" + service
		mu.Lock()
		inflight[k]++
		runs[k]++
		if inflight[k] > 1 {
			overlap = true
		}
		mu.Unlock()
		if slow.Load() {
			time.Sleep(300 * time.Millisecond) // a slow round, while /probe requests pile on
		}
		mu.Lock()
		inflight[k]--
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	h := s.Handler()
	stopProbes := make(chan struct{})
	var pw sync.WaitGroup
	pw.Add(1)
	go func() { // on-demand requests during scheduled rounds must not overlap them
		defer pw.Done()
		for {
			select {
			case <-stopProbes:
				return
			default:
				get(t, h, "/probe?site=T2_A&service=webdav&check=1connection")
			}
		}
	}()
	waitFor(t, 6*time.Second, "two scheduled rounds of T2_B", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return runs["T2_B/org.testvo.SE-WebDAV"] >= 2
	})
	close(stopProbes)
	pw.Wait()
	before := entryRun(s, "T2_A")
	if before == "" {
		t.Fatal("no result for T2_A")
	}

	// Reload: T2_A unchanged, T2_B removed, T2_C new, with a slow interval
	// so nothing runs in between.
	slow.Store(false)
	cfg2 := strings.Replace(cfg, "storage_interval: 1s", "storage_interval: 1s", 1)
	cfg2 = strings.Replace(cfg2, "T2_B", "T2_C", 1)
	mu.Lock()
	writeConfig(t, path, cfg2)
	mu.Unlock()
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if entryRun(s, "T2_B") != "" {
		t.Error("removed site T2_B still has results")
	}
	if got := entryRun(s, "T2_A"); got == "" {
		t.Error("unchanged T2_A lost its results")
	}
	waitFor(t, 5*time.Second, "a round of the new site T2_C", func() bool { return entryRun(s, "T2_C") != "" })

	// A broken config is refused and the old one stays.
	writeConfig(t, path, "sites: [\n")
	if err := s.Reload(); err == nil {
		t.Error("broken config accepted")
	}
	_, m, _ := get(t, h, "/metrics")
	if !strings.Contains(m, metrics.ConfigReloadSuccess+" 0") || !strings.Contains(m, `site="T2_C"`) {
		t.Errorf("after a failed reload:\n%s", grep(m, "gridprobe_config|T2_C"))
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if overlap {
		t.Error("two runs of one service overlapped")
	}
}

func entryRun(s *Server, site string) string {
	for _, e := range s.snapshot() {
		if e.Site == site && e.Check == "1connection" {
			return e.RunID
		}
	}
	return ""
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func grep(s, alternatives string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, a := range strings.Split(alternatives, "|") {
			if strings.Contains(l, a) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

func TestLastChangeCarriesOver(t *testing.T) {
	j := &job{}
	t0 := time.Unix(1000, 0)
	res := func(st engine.State, at time.Time) []engine.Result {
		return []engine.Result{{Site: "S", Service: "svc", Check: "1connection", Credential: "none", State: st, Start: at, RunID: at.String()}}
	}
	j.record(res(engine.OK, t0), true)
	j.record(res(engine.OK, t0.Add(time.Minute)), true)
	if got := j.entries[0].LastChange; !got.Equal(t0) {
		t.Errorf("same state: last change %v, want %v", got, t0)
	}
	j.record(res(engine.Critical, t0.Add(2*time.Minute)), false)
	if got := j.entries[0].LastChange; !got.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("state changed: last change %v", got)
	}
	// The result itself carries it too, so every output shows one Age.
	if e := j.entries[0]; !e.Since.Equal(e.LastChange) {
		t.Errorf("since %v, last change %v", e.Since, e.LastChange)
	}
}

func TestExpositionPassesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found (Debian package prometheus): ", err)
	}
	s, _ := newTestServer(t, twoSites(endpoint(t)), Options{})
	h := s.Handler()
	if code, body, _ := get(t, h, "/probe?site=T2_A&service=webdav"); code != 200 {
		t.Fatalf("probe: %d %s", code, body)
	}
	for _, target := range []string{"/metrics", "/probe?site=T2_B&service=webdav"} {
		_, body, _ := get(t, h, target)
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool check metrics on %s: %v\n%s\n--- exposition:\n%s", target, err, out, body)
		}
	}
}

func TestStatusPageHTML(t *testing.T) {
	s, _ := newTestServer(t, twoSites(endpoint(t)), Options{})
	h := s.Handler()
	get(t, h, "/probe?site=T2_A&service=webdav")
	code, body, _ := get(t, h, "/")
	if code != 200 {
		t.Fatalf("/: %d", code)
	}
	for _, want := range []string{`data-site="T2_A"`, `data-check="1connection"`, `data-state="OK"`, `data-site="T2_B"`, "no round yet"} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %s", want)
		}
	}
	if strings.Contains(body, "<script src") || strings.Contains(body, "<link") {
		t.Error("status page loads external assets")
	}
	_, body, _ = get(t, h, "/?credential=token")
	if strings.Contains(body, `data-check="1connection"`) {
		t.Error("credential filter kept a credential-less check")
	}
	_, body, _ = get(t, h, "/?protocol=xrootd")
	if strings.Contains(body, `data-site="T2_A"`) {
		t.Error("protocol filter kept a webdav row")
	}
	if code, body, _ := get(t, h, "/healthz"); code != 200 || !strings.HasPrefix(body, "ok") {
		t.Errorf("/healthz: %d %s", code, body)
	}
}
