package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Round labels one service's rounds.
type Round struct {
	Site, Service, Protocol, VO string
}

func (r Round) values() []string { return []string{r.Site, r.Service, r.Protocol, r.VO} }

// Rounds holds the per-service round metrics of the scheduler.
type Rounds struct {
	duration, last, running, interval *prometheus.GaugeVec
	runs                              *prometheus.CounterVec
	reloadOK, reloadTime              prometheus.Gauge
}

// NewRounds creates the round metrics and registers them with reg.
func NewRounds(reg prometheus.Registerer) *Rounds {
	g := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, RoundLabels)
	}
	r := &Rounds{
		duration: g(RoundDuration, "How long the service's latest complete round took."),
		last:     g(RoundLast, "When the service's latest complete round ended (Unix seconds)."),
		running:  g(RoundRunning, "1 while a round of the service is running."),
		interval: g(RoundInterval, "The configured interval between the service's rounds."),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: RoundRuns,
			Help: "Complete rounds of the service, by trigger (schedule or probe, the on-demand endpoint)."},
			append(append([]string{}, RoundLabels...), "trigger")),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: ConfigReloadSuccess,
			Help: "1 if the last config (re)load succeeded, else 0 (the previous config stays in use)."}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: ConfigReloadTime,
			Help: "When the config was last loaded successfully (Unix seconds)."}),
	}
	reg.MustRegister(r.duration, r.last, r.running, r.interval, r.runs, r.reloadOK, r.reloadTime)
	return r
}

// Add declares a scheduled service (running 0, its interval).
func (m *Rounds) Add(r Round, interval time.Duration) {
	m.running.WithLabelValues(r.values()...).Set(0)
	m.interval.WithLabelValues(r.values()...).Set(interval.Seconds())
}

// Started marks a round as running.
func (m *Rounds) Started(r Round) { m.running.WithLabelValues(r.values()...).Set(1) }

// Finished records a round that ended at end after took; complete is false
// for a partial (single-check) run, which only clears the running flag.
func (m *Rounds) Finished(r Round, trigger string, end time.Time, took time.Duration, complete bool) {
	m.running.WithLabelValues(r.values()...).Set(0)
	if !complete {
		return
	}
	m.duration.WithLabelValues(r.values()...).Set(took.Seconds())
	m.last.WithLabelValues(r.values()...).Set(unixSeconds(end))
	m.runs.WithLabelValues(append(r.values(), trigger)...).Inc()
}

// Remove drops a service that left the config.
func (m *Rounds) Remove(r Round) {
	for _, v := range []*prometheus.GaugeVec{m.duration, m.last, m.running, m.interval} {
		v.DeleteLabelValues(r.values()...)
	}
	m.runs.DeletePartialMatch(prometheus.Labels{"site": r.Site, "service": r.Service})
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
