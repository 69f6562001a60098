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
			if c == checks-1 { // each service's summary, with its raw worst state
				raw := engine.Critical
				e.Check, e.RawState = engine.SummaryID, &raw
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
	Write(rec, reg, nil)
	return rec.Body.String()
}

func directText(t testing.TB, reg *prometheus.Registry, rounds *Rounds, entries []Entry) string {
	rec := httptest.NewRecorder()
	Handler(reg, func() []Entry { return entries }, rounds).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
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
	got := directText(t, prometheus.NewRegistry(), nil, entries)
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
	exerciseRounds(rounds, 20)
	rounds.Reloaded(true, time.Unix(1_800_000_000, 0))
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	entries := testEntries(20, 30)
	entries[0].Site = "plain" // promtool lints values too; keep this one ordinary
	text := directText(t, reg, rounds, entries)
	var names []string
	for _, l := range strings.Split(text, "\n") {
		if n, ok := strings.CutPrefix(l, "# TYPE "); ok {
			names = append(names, strings.Fields(n)[0])
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("families not sorted or repeated: %v", names)
	}
	for _, want := range append([]string{CheckState, CheckLastChange, ConfigReloadSuccess, "go_goroutines"}, roundFamilyNames...) {
		if !slices.Contains(names, want) {
			t.Errorf("family %s missing", want)
		}
	}
	if got := strings.Count(text, "\n"+CheckState+"{"); got != len(entries) {
		t.Errorf("%d state series, want %d", got, len(entries))
	}
	promtoolCheck(t, text)
	// An empty snapshot still declares the families (promtool accepts it).
	promtoolCheck(t, directText(t, reg, rounds, nil))
}

func TestHandlerRefusesDuplicateFamilies(t *testing.T) {
	entries := testEntries(1, 3)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCheckCollector(func() []Entry { return entries }))
	rec := httptest.NewRecorder()
	Handler(reg, func() []Entry { return entries }, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
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
	reg := prometheus.NewRegistry()
	rounds := NewRounds(reg)
	exerciseRounds(rounds, 1000) // 2 000 services, as bench P4
	h := Handler(reg, func() []Entry { return entries }, rounds)
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

// refRounds is the round metrics as real client_golang vectors (what
// Rounds was before it wrote its families by hand): the expected output.
type refRounds struct {
	duration, last, running, interval *prometheus.GaugeVec
	runs                              *prometheus.CounterVec
}

func newRefRounds(reg prometheus.Registerer) *refRounds {
	g := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, RoundLabels)
	}
	r := &refRounds{
		duration: g(RoundDuration, "How long the service's latest complete round took."),
		last:     g(RoundLast, "When the service's latest complete round ended (Unix seconds)."),
		running:  g(RoundRunning, "1 while a round of the service is running."),
		interval: g(RoundInterval, "The configured interval between the service's rounds."),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: RoundRuns,
			Help: "Complete rounds of the service, by trigger (schedule or probe, the on-demand endpoint)."},
			append(append([]string{}, RoundLabels...), "trigger")),
	}
	reg.MustRegister(r.duration, r.last, r.running, r.interval, r.runs)
	return r
}

func (r Round) values() []string { return []string{r.Site, r.Service, r.Protocol, r.VO} }

func (m *refRounds) Add(r Round, interval time.Duration) {
	m.running.WithLabelValues(r.values()...).Set(0)
	m.interval.WithLabelValues(r.values()...).Set(interval.Seconds())
}
func (m *refRounds) Started(r Round) { m.running.WithLabelValues(r.values()...).Set(1) }
func (m *refRounds) Finished(r Round, trigger string, end time.Time, took time.Duration, complete bool) {
	m.running.WithLabelValues(r.values()...).Set(0)
	if !complete {
		return
	}
	m.duration.WithLabelValues(r.values()...).Set(took.Seconds())
	m.last.WithLabelValues(r.values()...).Set(unixSeconds(end))
	m.runs.WithLabelValues(append(r.values(), trigger)...).Inc()
}
func (m *refRounds) Remove(r Round) {
	for _, v := range []*prometheus.GaugeVec{m.duration, m.last, m.running, m.interval} {
		v.DeleteLabelValues(r.values()...)
	}
	m.runs.DeletePartialMatch(prometheus.Labels{"site": r.Site, "service": r.Service})
}

// roundOps is what both implementations under comparison implement.
type roundOps interface {
	Add(Round, time.Duration)
	Started(Round)
	Finished(Round, string, time.Time, time.Duration, bool)
	Remove(Round)
}

// exerciseRounds drives m through every kind of call, with label values
// that need escaping, services that differ only in vo (the counter sorts
// trigger before vo), partial and complete runs and removals; sites × 2
// services in all before the removals.
func exerciseRounds(m roundOps, sites int) {
	end := time.Unix(1_800_000_000, 987_654_321)
	var all []Round
	for s := range sites {
		site := fmt.Sprintf("T2_XX_Site%04d", (s*7919)%sites) // not in sorted order
		all = append(all,
			Round{Site: site, Service: "org.testvo.SE-WebDAV", Protocol: "webdav", VO: "testvo"},
			Round{Site: site, Service: "org.testvo.SE-XRootD", Protocol: "xrootd", VO: "testvo"})
	}
	all = append(all,
		Round{Site: `odd"site\name` + "\nline", Service: "ünïcode-service", Protocol: "arc", VO: ""},
		Round{Site: "T2_VP", Service: "ce", Protocol: "htcondor", VO: "0"}, // site sorts before vo
		Round{Site: "T2_VO", Service: "ce", Protocol: "htcondor", VO: "b"},
		Round{Site: "T2_VO", Service: "ce", Protocol: "htcondor", VO: "a"},
		Round{Site: "T2_VO", Service: "ce", Protocol: "htcondor", VO: "c"})
	for i, r := range all {
		m.Add(r, time.Duration(i+1)*time.Minute)
		switch i % 5 {
		case 0: // never ran
		case 1:
			m.Started(r) // running
		case 2:
			m.Started(r)
			m.Finished(r, "schedule", end.Add(time.Duration(i)*time.Second), time.Duration(i)*1234567*time.Nanosecond, true)
		case 3:
			m.Finished(r, "schedule", end, 2*time.Second, true)
			m.Finished(r, "probe", end, 0, true)
			m.Finished(r, "probe", end, time.Second/3, true)
		case 4:
			m.Started(r)
			m.Finished(r, "probe", end, time.Second, false) // partial: clears running only
		}
	}
	vo := all[len(all)-3:]
	m.Finished(vo[0], "schedule", end, time.Second, true)
	m.Finished(vo[1], "probe", end, time.Second, true)
	m.Finished(vo[2], "schedule", end, time.Second, true)
	m.Finished(vo[2], "probe", end, time.Second, true)
	m.Started(Round{Site: "T2_NEW", Service: "s", Protocol: "webdav", VO: "v"}) // never added
	if len(all) > 8 {
		m.Remove(all[3])
		m.Remove(all[7])
		m.Remove(all[3]) // twice
	}
}

// TestWriteRoundsMatchesRegistry: the hand-written round families are the
// registry's exposition of the same values in GaugeVecs, byte for byte.
func TestWriteRoundsMatchesRegistry(t *testing.T) {
	refReg := prometheus.NewRegistry()
	ref := newRefRounds(refReg)
	exerciseRounds(ref, 10)
	rec := httptest.NewRecorder()
	Write(rec, refReg, nil)
	want := rec.Body.String()

	reg := prometheus.NewRegistry()
	rounds := NewRounds(reg)
	exerciseRounds(rounds, 10)
	var b bytes.Buffer
	if err := rounds.WriteRounds(&b); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
		for i := range min(len(wl), len(gl)) {
			if wl[i] != gl[i] {
				t.Fatalf("line %d: got\n%s\nwant\n%s", i, gl[i], wl[i])
			}
		}
		t.Fatalf("%d lines, want %d", len(gl), len(wl))
	}
	for _, s := range []string{`site="odd\"site\\name\nline"`, RoundRuns + `{protocol="htcondor",service="ce",site="T2_VO",trigger="probe",vo="a"}`,
		`site="T2_NEW"`} {
		if !strings.Contains(want, s) {
			t.Errorf("exercise does not cover %s", s)
		}
	}
	if mfs := parse(t, want); len(mfs) != len(roundFamilyNames) {
		t.Errorf("%d families", len(mfs))
	}

	// Handler and Write given rounds write them, with the reload gauges
	// from the registry.
	rounds.Reloaded(true, time.Unix(1_800_000_000, 0))
	full := directText(t, reg, rounds, nil)
	if !strings.Contains(full, want) || !strings.Contains(full, ConfigReloadSuccess+" 1") {
		t.Errorf("Handler does not write the round families:\n%s", full)
	}
	rec = httptest.NewRecorder()
	Write(rec, reg, rounds)
	if w := rec.Body.String(); !strings.Contains(w, want) || strings.Contains(w, CheckState) {
		t.Errorf("Write: round families missing or check families present:\n%s", w)
	}

	// Through any other Registerer they are collected by the registry,
	// with the same result.
	other := prometheus.NewRegistry()
	exerciseRounds(NewRounds(prometheus.WrapRegistererWith(nil, other)), 10)
	mfs, err := other.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var ob bytes.Buffer
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "gridprobe_round_") {
			if err := expfmt.NewEncoder(&ob, expfmt.FmtText).Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ob.String() != want {
		t.Errorf("collected through a wrapped registerer:\n%s\nwant\n%s", ob.String(), want)
	}
}

func TestRoundsReserveFamilyNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewRounds(reg)
	for _, n := range roundFamilyNames {
		if err := reg.Register(prometheus.NewGauge(prometheus.GaugeOpts{Name: n, Help: "other"})); err == nil {
			t.Errorf("%s registered twice", n)
		}
	}
	// A second Rounds on the same registry is refused too.
	defer func() {
		if recover() == nil {
			t.Error("second NewRounds on one registry accepted")
		}
	}()
	NewRounds(reg)
}

func TestRoundsConcurrent(t *testing.T) {
	reg := prometheus.NewRegistry()
	rounds := NewRounds(reg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			exerciseRounds(rounds, 5)
		}
	}()
	for range 50 {
		parse(t, directText(t, reg, rounds, nil))
	}
	<-done
}

func BenchmarkWriteRounds2000(b *testing.B) {
	rounds := NewRounds(prometheus.NewRegistry())
	exerciseRounds(rounds, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if err := rounds.WriteRounds(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
