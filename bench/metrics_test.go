package bench

import (
	"bytes"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gridprobe/gridprobe/internal/metrics"
)

// BenchmarkRenderMetrics is P4: go test -bench RenderMetrics ./bench/
func BenchmarkRenderMetrics(b *testing.B) { BenchRenderMetrics(b) }

func TestRenderMetricsHasEverySeries(t *testing.T) {
	reg := MetricsRegistry(MetricsEntries(3, 30))
	rec := httptest.NewRecorder()
	metrics.Write(rec, reg)
	body := rec.Body.String()
	// 5 series per check: state, success, duration, last run, last change
	if got := strings.Count(body, "\ngridprobe_check_"); got != 3*30*5 {
		t.Errorf("%d series, want %d", got, 3*30*5)
	}
	if n := RenderMetrics(reg); n != int64(len(body)) {
		t.Errorf("RenderMetrics counted %d bytes, body has %d", n, len(body))
	}
	if !bytes.Contains(rec.Body.Bytes(), []byte(`site="T2_XX_Site0002"`)) {
		t.Error("last site missing")
	}
}

// BenchmarkRenderMetricsDirect is the proposed direct writer on the same
// 1 000 × 30 entries.
func BenchmarkRenderMetricsDirect(b *testing.B) {
	entries := MetricsEntries(1000, 30)
	b.ReportAllocs()
	for b.Loop() {
		_ = WriteChecksDirect(&discard{}, entries)
	}
}

func TestDirectWriterMatchesRegistry(t *testing.T) {
	entries := MetricsEntries(4, 30)
	entries[0].Site = `odd"site\name`
	rec := httptest.NewRecorder()
	metrics.Write(rec, MetricsRegistry(entries))
	var direct bytes.Buffer
	if err := WriteChecksDirect(&direct, entries); err != nil {
		t.Fatal(err)
	}
	p1, p2 := expfmt.NewTextParser(model.UTF8Validation), expfmt.NewTextParser(model.UTF8Validation)
	want, err := p1.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p2.TextToMetricFamilies(&direct)
	if err != nil {
		t.Fatalf("direct output does not parse: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d families, want %d", len(got), len(want))
	}
	for name, wf := range want {
		gf := got[name]
		if gf == nil || gf.GetHelp() != wf.GetHelp() || gf.GetType() != wf.GetType() {
			t.Fatalf("family %s differs", name)
		}
		series := func(ms []*dto.Metric) map[string]float64 {
			m := map[string]float64{}
			for _, x := range ms {
				var k []string
				for _, lp := range x.GetLabel() {
					k = append(k, lp.GetName()+"="+lp.GetValue())
				}
				sort.Strings(k)
				m[strings.Join(k, ",")] = x.GetGauge().GetValue()
			}
			return m
		}
		ws, gs := series(wf.GetMetric()), series(gf.GetMetric())
		if len(ws) != len(gs) {
			t.Fatalf("%s: %d series, want %d", name, len(gs), len(ws))
		}
		for k, v := range ws {
			if g, ok := gs[k]; !ok || g != v {
				t.Fatalf("%s{%s} = %v (present %v), want %v", name, k, g, ok, v)
			}
		}
	}
}
