package metrics

import (
	"bytes"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// testEntries is sites × checks entries with every kind of value: all four
// states, zero and non-zero times and durations, and awkward label values.
func testEntries(sites, checks int) []Entry {
	now := time.Unix(1_800_000_000, 123_456_789)
	var out []Entry
	for s := range sites {
		for c := range checks {
			e := Entry{Result: engine.Result{
				Site: fmt.Sprintf("T2_XX_Site%04d", s), Service: "org.testvo.SE-WebDAV", Protocol: "webdav", VO: "testvo",
				Check: fmt.Sprintf("%dcheck", c), Credential: []string{"none", "x509", "token"}[c%3],
				State: engine.State(c % 4), Start: now.Add(-time.Duration(c) * time.Second),
				Duration: time.Duration(c) * 1234567 * time.Nanosecond,
			}, LastChange: now.Add(-time.Duration(s) * time.Hour)}
			if c%5 == 0 {
				e.Start = time.Time{}
			}
			if c%7 == 0 {
				e.LastChange = time.Time{}
			}
			out = append(out, e)
		}
	}
	if len(out) > 3 {
		out[0].Site = `odd"site\name` + "\nline"
		out[1].Service = "ünïcode-service"
		out[2].VO = ""
	}
	return out
}

func registryText(t testing.TB, entries []Entry) string {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCheckCollector(func() []Entry { return entries }))
	rec := httptest.NewRecorder()
	Write(rec, reg)
	return rec.Body.String()
}

func directText(t testing.TB, reg *prometheus.Registry, entries []Entry) string {
	rec := httptest.NewRecorder()
	Handler(reg, func() []Entry { return entries }).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != ContentType {
		t.Errorf("content type %q", ct)
	}
	return rec.Body.String()
}

func sortedLines(s string) []string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	sort.Strings(l)
	return l
}

func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	return mfs
}

// TestWriteChecksMatchesRegistry: the direct writer produces the lines the
// registry produced (only their order differs) and the same families.
func TestWriteChecksMatchesRegistry(t *testing.T) {
	entries := testEntries(4, 30)
	want := registryText(t, entries)
	got := directText(t, prometheus.NewRegistry(), entries)
	if wl, gl := sortedLines(want), sortedLines(got); !slices.Equal(wl, gl) {
		for i := range min(len(wl), len(gl)) {
			if wl[i] != gl[i] {
				t.Fatalf("line %d: got\n%s\nwant\n%s", i, gl[i], wl[i])
			}
		}
		t.Fatalf("%d lines, want %d", len(gl), len(wl))
	}
	if !strings.Contains(got, `site="odd\"site\\name\nline"`) {
		t.Error("label value not escaped")
	}
	wf, gf := parse(t, want), parse(t, got)
	if len(wf) != len(gf) || len(gf) != len(checkFamilies) {
		t.Fatalf("%d families, want %d", len(gf), len(wf))
	}
	key := func(m *dto.Metric) string {
		var k []string
		for _, lp := range m.GetLabel() {
			k = append(k, lp.GetName()+"="+lp.GetValue())
		}
		return strings.Join(k, ",")
	}
	for name, w := range wf {
		g := gf[name]
		if g == nil || g.GetHelp() != w.GetHelp() || g.GetType() != w.GetType() || len(g.GetMetric()) != len(w.GetMetric()) {
			t.Fatalf("family %s differs: %v vs %v", name, g, w)
		}
		ws := map[string]float64{}
		for _, m := range w.GetMetric() {
			ws[key(m)] = m.GetGauge().GetValue()
		}
		for _, m := range g.GetMetric() {
			if v, ok := ws[key(m)]; !ok || v != m.GetGauge().GetValue() {
				t.Fatalf("%s{%s} = %v, registry has %v (present %v)", name, key(m), m.GetGauge().GetValue(), v, ok)
			}
		}
	}
	// Series in snapshot order: the first entry's sample comes first.
	if i, j := strings.Index(got, `site="odd`), strings.Index(got, `site="T2_XX_Site0003"`); i < 0 || i > j {
		t.Error("series are not in snapshot order")
	}
}

// TestHandlerCombinesRegistry: /metrics is the registry's families plus the
// per-check ones, each family once, sorted by name, accepted by promtool.
func TestHandlerCombinesRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	rounds := NewRounds(reg)
	rounds.Add(Round{Site: "T2_XX_Site0001", Service: "org.testvo.SE-WebDAV", Protocol: "webdav", VO: "testvo"}, time.Hour)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	entries := testEntries(20, 30)
	entries[0].Site = "plain" // promtool lints values too; keep this one ordinary
	text := directText(t, reg, entries)
	var names []string
	for _, l := range strings.Split(text, "\n") {
		if n, ok := strings.CutPrefix(l, "# TYPE "); ok {
			names = append(names, strings.Fields(n)[0])
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("families not sorted or repeated: %v", names)
	}
	for _, want := range []string{CheckState, CheckLastChange, RoundInterval, "go_goroutines"} {
		if !slices.Contains(names, want) {
			t.Errorf("family %s missing", want)
		}
	}
	if got := strings.Count(text, "\n"+CheckState+"{"); got != len(entries) {
		t.Errorf("%d state series, want %d", got, len(entries))
	}
	promtoolCheck(t, text)
	// An empty snapshot still declares the families (promtool accepts it).
	promtoolCheck(t, directText(t, reg, nil))
}

func TestHandlerRefusesDuplicateFamilies(t *testing.T) {
	entries := testEntries(1, 3)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCheckCollector(func() []Entry { return entries }))
	rec := httptest.NewRecorder()
	Handler(reg, func() []Entry { return entries }).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "both registered") {
		t.Errorf("duplicate families served: %d %s", rec.Code, rec.Body)
	}
}

func TestWriteChecksInvalidUTF8(t *testing.T) {
	entries := testEntries(1, 1)
	entries[0].Site = "bad\xffsite"
	var b bytes.Buffer
	if err := WriteChecks(&b, entries); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "site=\"bad\uFFFDsite\"") {
		t.Errorf("invalid UTF-8 not replaced:\n%s", b.String())
	}
	parse(t, b.String())
}

// BenchmarkHandler1000x30 is the exporter at 1 000 sites × 30 checks
// (bench P4 measures the same through bench.BenchRenderMetrics).
func BenchmarkHandler1000x30(b *testing.B) {
	entries := testEntries(1000, 30)
	h := Handler(prometheus.NewRegistry(), func() []Entry { return entries })
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

func BenchmarkWriteChecks1000x30(b *testing.B) {
	entries := testEntries(1000, 30)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteChecks(io.Discard, entries); err != nil {
			b.Fatal(err)
		}
	}
}
