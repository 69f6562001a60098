package bench

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/metrics"
)

// MetricsEntries is a snapshot of sites × checks results as the exporter
// holds them: two storage services per site, checks spread over both.
func MetricsEntries(sites, checks int) []metrics.Entry {
	now := time.Now()
	out := make([]metrics.Entry, 0, sites*checks)
	for s := 0; s < sites; s++ {
		site := fmt.Sprintf("T2_XX_Site%04d", s)
		for c := 0; c < checks; c++ {
			proto, svc := "webdav", "org.testvo.SE-WebDAV"
			if c%2 == 1 {
				proto, svc = "xrootd", "org.testvo.SE-XRootD"
			}
			out = append(out, metrics.Entry{
				Result: engine.Result{
					Site: site, Service: svc, Protocol: proto, VO: "testvo",
					Check: fmt.Sprintf("%dcheck", c), Credential: []string{"none", "x509", "token"}[c%3],
					State: engine.State(c % 4), Start: now.Add(-time.Duration(c) * time.Second),
					Duration: time.Duration(c+1) * time.Millisecond,
				},
				LastChange: now.Add(-time.Hour),
			})
		}
	}
	return out
}

// discard is a ResponseWriter that counts and drops the body.
type discard struct {
	h http.Header
	n int64
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*discard)(nil)

// RenderMetrics serves one GET /metrics from h and returns the body size.
func RenderMetrics(h http.Handler) int64 {
	d := &discard{h: http.Header{}}
	h.ServeHTTP(d, metricsRequest)
	return d.n
}

var metricsRequest = httptest.NewRequest(http.MethodGet, "/metrics", nil)

// MetricsHandler is /metrics as `probe serve` wires it (internal/serve):
// a registry with the round metrics of every service of entries, the Go
// and process collectors, and the per-check families written straight
// from the snapshot by metrics.Handler.
func MetricsHandler(entries []metrics.Entry) http.Handler {
	reg := prometheus.NewRegistry()
	rounds := metrics.NewRounds(reg)
	seen := map[metrics.Round]bool{}
	end := time.Now()
	for _, e := range entries {
		r := metrics.Round{Site: e.Site, Service: e.Service, Protocol: e.Protocol, VO: e.VO}
		if !seen[r] {
			seen[r] = true
			rounds.Add(r, 30*time.Minute)
			rounds.Finished(r, "schedule", end, time.Second, true)
		}
	}
	rounds.Reloaded(true, end)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return metrics.Handler(reg, func() []metrics.Entry { return entries }, rounds)
}

// BenchRenderMetrics is the P4 benchmark body: /metrics with 1 000 sites
// × 30 checks (2 000 services).
func BenchRenderMetrics(b *testing.B) {
	h := MetricsHandler(MetricsEntries(1000, 30))
	b.ReportAllocs()
	b.ResetTimer()
	var n int64
	for b.Loop() {
		n = RenderMetrics(h)
	}
	b.SetBytes(n)
}
