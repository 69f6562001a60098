package metrics_test

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/metrics"
	"github.com/gridprobe/gridprobe/internal/serve/servetest"
)

// TestProxyExpiryOfTestbedProxy exports the expiry of the testbed's real
// VOMS proxy and lints the exposition.
func TestProxyExpiryOfTestbedProxy(t *testing.T) {
	servetest.Testbed(t)
	path := os.Getenv("X509_USER_PROXY")
	px, err := cred.LoadProxy(path)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCredentials(func() cred.Source { return nil },
		func() []metrics.ProxyFile { return []metrics.ProxyFile{{Role: metrics.RoleProxy, Path: path}} }))
	rec := httptest.NewRecorder()
	metrics.Handler(reg, nil, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	want := `gridprobe_proxy_expiry_timestamp_seconds{role="proxy"} ` + prometheusFloat(float64(px.NotAfter.Unix()))
	if !strings.Contains(text, `gridprobe_proxy_usable{role="proxy"} 1`) || !strings.Contains(text, want) {
		t.Errorf("want %s in:\n%s", want, text)
	}
	if strings.Contains(text, path) {
		t.Error("the proxy path leaked into the exposition")
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// prometheusFloat formats like the text exposition (Go's %g with
// exponent for large values).
func prometheusFloat(v float64) string {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	g.Set(v)
	r := prometheus.NewRegistry()
	r.MustRegister(g)
	rec := httptest.NewRecorder()
	metrics.Handler(r, nil, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	return strings.TrimPrefix(lines[len(lines)-1], "x ")
}
