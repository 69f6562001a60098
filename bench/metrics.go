package bench

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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

// RenderMetrics renders /metrics once over a registry holding the check
// collector of entries (the way `probe serve` serves it) and returns the
// body size.
func RenderMetrics(reg *prometheus.Registry) int64 {
	d := &discard{h: http.Header{}}
	metrics.Write(d, reg)
	return d.n
}

// MetricsRegistry is a registry with the check collector over entries.
func MetricsRegistry(entries []metrics.Entry) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCheckCollector(func() []metrics.Entry { return entries }))
	return reg
}

// BenchRenderMetrics is the P4 benchmark body: 1 000 sites × 30 checks.
func BenchRenderMetrics(b *testing.B) {
	reg := MetricsRegistry(MetricsEntries(1000, 30))
	b.ReportAllocs()
	b.ResetTimer()
	var n int64
	for b.Loop() {
		n = RenderMetrics(reg)
	}
	b.SetBytes(n)
}
