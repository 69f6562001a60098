package bench

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gridprobe/gridprobe/internal/metrics"
)

// BenchmarkRenderMetrics is P4: go test -bench RenderMetrics ./bench/
func BenchmarkRenderMetrics(b *testing.B) { BenchRenderMetrics(b) }

func TestRenderMetricsHasEverySeries(t *testing.T) {
	h := MetricsHandler(MetricsEntries(3, 30))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	// 6 series per check: state, success, party, duration, last run, last change
	if got := strings.Count(body, "\ngridprobe_check_"); got != 3*30*6 {
		t.Errorf("%d series, want %d", got, 3*30*6)
	}
	// 2 services per site, each with its round metrics
	if got := strings.Count(body, "\n"+metrics.RoundInterval+"{"); got != 3*2 {
		t.Errorf("%d round series, want %d", got, 3*2)
	}
	if !strings.Contains(body, "\ngo_goroutines ") {
		t.Error("Go collector missing")
	}
	if n := RenderMetrics(h); n < int64(len(body))*9/10 || n > int64(len(body))*11/10 {
		t.Errorf("RenderMetrics counted %d bytes, body has %d", n, len(body))
	}
	if !strings.Contains(body, `site="T2_XX_Site0002"`) {
		t.Error("last site missing")
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := p.TextToMetricFamilies(strings.NewReader(body)); err != nil {
		t.Errorf("exposition does not parse: %v", err)
	}
}
