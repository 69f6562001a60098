package metrics

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The round families (five per service, 2 000 services with 1 000 sites)
// are kept in a plain map and written by hand, like the check families
// (see text.go): gathering 10 000 series through a prometheus.Registry
// costs tens of milliseconds per scrape. The output is what the registry
// would write for the same GaugeVecs and CounterVec, byte for byte: same
// help, type and labels, series sorted by their label values.

// Round labels one service's rounds.
type Round struct {
	Site, Service, Protocol, VO string
}

// roundState is one service's round values; has* false: no series.
type roundState struct {
	duration, last, running, interval             float64
	hasDuration, hasLast, hasRunning, hasInterval bool
	runs                                          map[string]float64 // by trigger
}

// Rounds holds the per-service round metrics of the scheduler. Its methods
// are safe for concurrent use.
type Rounds struct {
	mu  sync.Mutex
	svc map[Round]*roundState

	reloadOK, reloadTime prometheus.Gauge
}

// roundFamily is one round gauge family and where its value is.
type roundFamily struct {
	name, help string
	value      func(s *roundState) (float64, bool)
}

// roundGauges are the round gauge families sorted by name; RoundRuns (the
// counter) sorts after all of them.
var roundGauges = []roundFamily{
	{RoundDuration, "How long the service's latest complete round took.",
		func(s *roundState) (float64, bool) { return s.duration, s.hasDuration }},
	{RoundInterval, "The configured interval between the service's rounds.",
		func(s *roundState) (float64, bool) { return s.interval, s.hasInterval }},
	{RoundLast, "When the service's latest complete round ended (Unix seconds).",
		func(s *roundState) (float64, bool) { return s.last, s.hasLast }},
	{RoundRunning, "1 while a round of the service is running.",
		func(s *roundState) (float64, bool) { return s.running, s.hasRunning }},
}

const roundRunsHelp = "Complete rounds of the service, by trigger (schedule or probe, the on-demand endpoint)."

// roundRunsLabels are the labels of RoundRuns.
var roundRunsLabels = append(append([]string{}, RoundLabels...), "trigger")

// NewRounds creates the round metrics and registers them with reg. The
// config reload gauges are ordinary registry gauges. The per-service
// families, when reg is a *prometheus.Registry, are written by Handler and
// Write when they are given this Rounds (a plain Gather of reg, such as
// promhttp's, does not see them); reg only reserves their names, so that
// registering another collector of one of them fails. With any other
// Registerer they are collected through it like any collector.
func NewRounds(reg prometheus.Registerer) *Rounds {
	r := &Rounds{
		svc: map[Round]*roundState{},
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: ConfigReloadSuccess,
			Help: "1 if the last config (re)load succeeded, else 0 (the previous config stays in use)."}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: ConfigReloadTime,
			Help: "When the config was last loaded successfully (Unix seconds)."}),
	}
	c := &roundCollector{r: r}
	for _, f := range roundGauges {
		c.descs = append(c.descs, prometheus.NewDesc(f.name, f.help, RoundLabels, nil))
	}
	c.runs = prometheus.NewDesc(RoundRuns, roundRunsHelp, roundRunsLabels, nil)
	_, c.describeOnly = reg.(*prometheus.Registry)
	reg.MustRegister(c, r.reloadOK, r.reloadTime)
	return r
}

// roundCollector puts the round families in a registry: only their
// descriptions when Handler writes them, else the series too.
type roundCollector struct {
	r            *Rounds
	descs        []*prometheus.Desc // one per roundGauges entry
	runs         *prometheus.Desc
	describeOnly bool
}

func (c *roundCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	ch <- c.runs
}

func (c *roundCollector) Collect(ch chan<- prometheus.Metric) {
	if c.describeOnly {
		return
	}
	for _, row := range c.r.rows() {
		lv := []string{row.Site, row.Service, row.Protocol, row.VO}
		for i, f := range roundGauges {
			if v, ok := f.value(&row.roundState); ok {
				ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.GaugeValue, v, lv...)
			}
		}
		for trigger, v := range row.runs {
			ch <- prometheus.MustNewConstMetric(c.runs, prometheus.CounterValue, v, append(lv, trigger)...)
		}
	}
}

// state returns r's entry, creating it; m.mu must be held.
func (m *Rounds) state(r Round) *roundState {
	s := m.svc[r]
	if s == nil {
		s = &roundState{}
		m.svc[r] = s
	}
	return s
}

// Add declares a scheduled service (running 0, its interval).
func (m *Rounds) Add(r Round, interval time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state(r)
	s.running, s.hasRunning = 0, true
	s.interval, s.hasInterval = interval.Seconds(), true
}

// Started marks a round as running.
func (m *Rounds) Started(r Round) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state(r)
	s.running, s.hasRunning = 1, true
}

// Finished records a round that ended at end after took; complete is false
// for a partial (single-check) run, which only clears the running flag.
func (m *Rounds) Finished(r Round, trigger string, end time.Time, took time.Duration, complete bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state(r)
	s.running, s.hasRunning = 0, true
	if !complete {
		return
	}
	s.duration, s.hasDuration = took.Seconds(), true
	s.last, s.hasLast = unixSeconds(end), true
	if s.runs == nil {
		s.runs = map[string]float64{}
	}
	s.runs[trigger]++
}

// Remove drops a service that left the config: its series, and the run
// counts of every service with its site and name.
func (m *Rounds) Remove(r Round) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.svc, r)
	for k, s := range m.svc {
		if k.Site == r.Site && k.Service == r.Service {
			s.runs = nil
		}
	}
}

// Reloaded records the outcome of a config (re)load.
func (m *Rounds) Reloaded(ok bool, when time.Time) {
	if !ok {
		m.reloadOK.Set(0)
		return
	}
	m.reloadOK.Set(1)
	m.reloadTime.Set(unixSeconds(when))
}

// roundRow is a copy of one service's values.
type roundRow struct {
	Round
	roundState
}

// rows copies the values out (the runs maps are copied too), sorted by the
// label values in label name order: protocol, service, site, vo.
func (m *Rounds) rows() []roundRow {
	m.mu.Lock()
	out := make([]roundRow, 0, len(m.svc))
	for r, s := range m.svc {
		row := roundRow{r, *s}
		if len(s.runs) > 0 {
			row.runs = make(map[string]float64, len(s.runs))
			for k, v := range s.runs {
				row.runs[k] = v
			}
		}
		out = append(out, row)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b roundRow) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Service, b.Service),
			cmp.Compare(a.Site, b.Site), cmp.Compare(a.VO, b.VO))
	})
	return out
}

// roundFamilyNames are the families WriteRounds writes, sorted.
var roundFamilyNames = func() []string {
	var n []string
	for _, f := range roundGauges {
		n = append(n, f.name)
	}
	return append(n, RoundRuns)
}()

// WriteRounds writes the round families of m to w in the text exposition
// format 0.0.4, sorted by name, each series once, sorted by its label
// values as the registry sorts them. A label value that is not valid UTF-8
// has its invalid bytes replaced by U+FFFD.
func (m *Rounds) WriteRounds(w io.Writer) error {
	rows := m.rows()
	bw := bufio.NewWriterSize(w, 64<<10)
	// `{protocol="…",service="…",site="…"` of each row, shared by every
	// family; `,vo="…"} ` is added per family (trigger sorts before vo).
	lbuf := make([]byte, 0, len(rows)*96)
	offs := make([]int, 2*len(rows)+1)
	for i := range rows {
		r := &rows[i]
		lbuf = append(lbuf, `{protocol="`...)
		lbuf = appendLabelValue(lbuf, r.Protocol)
		lbuf = append(lbuf, `",service="`...)
		lbuf = appendLabelValue(lbuf, r.Service)
		lbuf = append(lbuf, `",site="`...)
		lbuf = appendLabelValue(lbuf, r.Site)
		lbuf = append(lbuf, '"')
		offs[2*i+1] = len(lbuf)
		lbuf = append(lbuf, `,vo="`...)
		lbuf = appendLabelValue(lbuf, r.VO)
		lbuf = append(lbuf, `"} `...)
		offs[2*i+2] = len(lbuf)
	}
	header := func(name, help, typ string) {
		bw.WriteString("# HELP ")
		bw.WriteString(name)
		bw.WriteByte(' ')
		bw.WriteString(helpEscaper.Replace(help))
		bw.WriteString("\n# TYPE ")
		bw.WriteString(name)
		bw.WriteByte(' ')
		bw.WriteString(typ)
		bw.WriteByte('\n')
	}
	var num []byte
	for _, f := range roundGauges {
		header(f.name, f.help, "gauge")
		for i := range rows {
			v, ok := f.value(&rows[i].roundState)
			if !ok {
				continue
			}
			bw.WriteString(f.name)
			bw.Write(lbuf[offs[2*i]:offs[2*i+2]])
			num = appendFloat(num[:0], v)
			num = append(num, '\n')
			if _, err := bw.Write(num); err != nil {
				return fmt.Errorf("writing %s: %w", f.name, err)
			}
		}
	}
	header(RoundRuns, roundRunsHelp, "counter")
	// Rows are sorted by protocol, service, site, vo; the registry sorts
	// the counter by protocol, service, site, trigger, vo: within a run of
	// rows equal in the first three, go by trigger, then vo.
	var triggers []string
	for lo := 0; lo < len(rows); {
		hi := lo + 1
		for hi < len(rows) && rows[hi].Protocol == rows[lo].Protocol &&
			rows[hi].Service == rows[lo].Service && rows[hi].Site == rows[lo].Site {
			hi++
		}
		triggers = triggers[:0]
		for i := lo; i < hi; i++ {
			for t := range rows[i].runs {
				if !slices.Contains(triggers, t) {
					triggers = append(triggers, t)
				}
			}
		}
		slices.Sort(triggers)
		for _, t := range triggers {
			for i := lo; i < hi; i++ {
				v, ok := rows[i].runs[t]
				if !ok {
					continue
				}
				bw.WriteString(RoundRuns)
				bw.Write(lbuf[offs[2*i]:offs[2*i+1]])
				num = append(num[:0], `,trigger="`...)
				num = appendLabelValue(num, t)
				num = append(num, '"')
				num = append(num, lbuf[offs[2*i+1]:offs[2*i+2]]...) // `,vo="…"} `
				num = appendFloat(num, v)
				num = append(num, '\n')
				if _, err := bw.Write(num); err != nil {
					return fmt.Errorf("writing %s: %w", RoundRuns, err)
				}
			}
		}
		lo = hi
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing round metrics: %w", err)
	}
	return nil
}
