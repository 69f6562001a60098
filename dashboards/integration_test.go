package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/gridprobe/gridprobe/internal/serve"
	"github.com/gridprobe/gridprobe/internal/serve/servetest"
)

// TestQueriesAgainstRealPrometheus starts `probe serve` against the testbed
// and a real Prometheus (Debian package) scraping it every second with the
// rules loaded, then runs every dashboard query and every rule expression
// through the Prometheus HTTP API: each must return data. Alert
// expressions are run with their comparisons turned into `bool` ones, so
// they return data whether or not the alert would fire (the firing logic is
// covered by promtool test rules).
func TestQueriesAgainstRealPrometheus(t *testing.T) {
	servetest.Testbed(t)
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not found (Debian package prometheus): %v", err)
	}
	pub := testPublisher(t) // serve publishes its rounds to the testbed broker (publishing alert)
	s := servetest.Start(t, serve.Options{Publish: pub.Publish})
	s.Registry().MustRegister(pub.Collectors()...)
	s.WaitRounds(t, 3*time.Minute)
	probeHost := strings.TrimPrefix(s.URL, "http://")

	dir := t.TempDir()
	rules, err := filepath.Abs(RulesPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: gridprobe
    static_configs: [{targets: [%q]}]
  - job_name: gridprobe-probe
    metrics_path: /probe
    scrape_interval: 10s
    scrape_timeout: 8s
    params: {site: [T2_LOCAL_Testbed], service: [webdav]}
    static_configs: [{targets: [%q]}]
`, rules, probeHost, probeHost)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	promURL := "http://127.0.0.1:" + port
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:"+port, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Logf("prometheus log:\n%s", b)
		}
	})
	waitReady(t, promURL, 20*time.Second)
	t.Logf("prometheus ready after %v", time.Since(start).Round(time.Millisecond))

	type q struct {
		name, expr string
		rng        bool
	}
	var qs []q
	p := parser.NewParser(parser.Options{})
	for _, e := range Exprs() {
		expr := Substitute(e.Expr)
		if e.Alert {
			ast, err := p.ParseExpr(expr)
			if err != nil {
				t.Fatalf("%s: %v", e.Name, err)
			}
			expr = boolify(ast).String()
		}
		qs = append(qs, q{e.Name, expr, e.Panel})
	}
	qs = append(qs,
		q{"the /probe scrape succeeded", `up{job="gridprobe-probe"} == 1`, false},
		q{"the /probe scrape returned check metrics", `gridprobe_check_state{job="gridprobe-probe", site="T2_LOCAL_Testbed"}`, false},
		q{"the /probe run succeeded", `gridprobe_probe_success{job="gridprobe-probe"}`, false},
	)

	// Wait until every query has data (the first samples take a few
	// seconds; the /probe job scrapes every 10s), then report the empty ones.
	deadline := time.Now().Add(60 * time.Second)
	pending := qs
	for len(pending) > 0 && time.Now().Before(deadline) {
		var still []q
		for _, x := range pending {
			n, err := queryCount(promURL, x.expr, false)
			if err != nil {
				t.Fatalf("%s: %s: %v", x.name, x.expr, err)
			}
			if n == 0 {
				still = append(still, x)
				continue
			}
			if x.rng {
				if n, err := queryCount(promURL, x.expr, true); err != nil || n == 0 {
					still = append(still, x)
				}
			}
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(time.Second)
		}
	}
	for _, x := range pending {
		t.Errorf("no data after %v: %s: %s", time.Since(start).Round(time.Second), x.name, x.expr)
	}
	t.Logf("%d queries, %d with data, after %v", len(qs), len(qs)-len(pending), time.Since(start).Round(time.Millisecond))
}

// boolify turns every comparison of an expression into a `bool` one (except
// in set operations, which have none), so that the expression returns a
// sample for every series it looks at.
func boolify(e parser.Expr) parser.Expr {
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if b, ok := n.(*parser.BinaryExpr); ok && b.Op.IsComparisonOperator() {
			b.ReturnBool = true
		}
		return nil
	})
	return e
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func waitReady(t *testing.T, base string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("prometheus not ready after %v", d)
}

// queryCount runs an instant query (or a range query over the last minute)
// and returns how many series came back.
func queryCount(base, expr string, rng bool) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v := url.Values{"query": {expr}}
	path := "/api/v1/query"
	if rng {
		now := time.Now()
		path = "/api/v1/query_range"
		v.Set("start", fmt.Sprint(now.Add(-time.Minute).Unix()))
		v.Set("end", fmt.Sprint(now.Unix()))
		v.Set("step", "1")
	}
	req, err := http.NewRequestWithContext(ctx, "GET", base+path+"?"+v.Encode(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("query: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("query answer %q: %w", body, err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("query failed: %s", r.Error)
	}
	return len(r.Data.Result), nil
}
