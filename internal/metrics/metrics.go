// Package metrics declares gridprobe's Prometheus metrics (names from
// DESIGN.md) and writes them in the text exposition format 0.0.4.
//
// Check metrics come from a custom collector over a snapshot of the latest
// results rather than from GaugeVecs: a service removed by a config reload
// then disappears from the exposition without anyone deleting label sets,
// and the on-demand /probe endpoint reuses the same collector over one run's
// results in its own registry. Labels are fixed identifiers only (site,
// service, protocol, check, credential, vo): never a detail text, a DN, a
// token or a path.
package metrics

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// Metric names. The dashboards and alert rules (dashboards/) use these
// constants, so a rename breaks their tests rather than the dashboards.
const (
	CheckState          = "gridprobe_check_state"
	CheckSuccess        = "gridprobe_check_success"
	CheckDuration       = "gridprobe_check_duration_seconds"
	CheckLastRun        = "gridprobe_check_last_run_timestamp_seconds"
	CheckLastChange     = "gridprobe_check_last_change_timestamp_seconds"
	RoundDuration       = "gridprobe_round_duration_seconds"
	RoundLast           = "gridprobe_round_last_timestamp_seconds"
	RoundRunning        = "gridprobe_round_running"
	RoundInterval       = "gridprobe_round_interval_seconds"
	RoundRuns           = "gridprobe_round_runs_total"
	TokenRequests       = "gridprobe_token_requests_total"
	ProxyExpiry         = "gridprobe_proxy_expiry_timestamp_seconds"
	ProxyUsable         = "gridprobe_proxy_usable"
	ConfigReloadSuccess = "gridprobe_config_last_reload_successful"
	ConfigReloadTime    = "gridprobe_config_last_reload_success_timestamp_seconds"
	ProbeSuccess        = "gridprobe_probe_success"
	ProbeDuration       = "gridprobe_probe_duration_seconds"
)

// CheckLabels are the labels of every per-check metric, in order.
var CheckLabels = []string{"site", "service", "protocol", "check", "credential", "vo"}

// RoundLabels are the labels of the per-service round metrics.
var RoundLabels = []string{"site", "service", "protocol", "vo"}

// Entry is one check's latest result and when its state last changed.
type Entry struct {
	engine.Result
	// LastChange is when the check entered its current state (the start of
	// the first run that reported it); zero means unknown (not exported).
	LastChange time.Time
}

// Success reports whether a state counts as success: OK or WARNING (a
// warning such as a certificate close to expiry still works).
func Success(s engine.State) bool { return s == engine.OK || s == engine.Warning }

// CheckCollector exports the per-check metrics of a snapshot of entries,
// taken at every scrape.
type CheckCollector struct {
	snapshot                                      func() []Entry
	state, success, duration, lastRun, lastChange *prometheus.Desc
}

// NewCheckCollector returns a collector over snapshot, which must be safe
// for concurrent use and return each (site, service, check, credential) at
// most once.
func NewCheckCollector(snapshot func() []Entry) *CheckCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, CheckLabels, nil)
	}
	return &CheckCollector{
		snapshot:   snapshot,
		state:      d(CheckState, "Nagios state of the check's latest run: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."),
		success:    d(CheckSuccess, "1 if the check's latest run was OK or WARNING, else 0."),
		duration:   d(CheckDuration, "How long the check's latest run took."),
		lastRun:    d(CheckLastRun, "When the check's latest run started (Unix seconds)."),
		lastChange: d(CheckLastChange, "When the check entered its current state (Unix seconds); time() minus this is the time in state."),
	}
}

// Describe implements prometheus.Collector.
func (c *CheckCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.success, c.duration, c.lastRun, c.lastChange} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *CheckCollector) Collect(ch chan<- prometheus.Metric) {
	for _, e := range c.snapshot() {
		lv := []string{e.Site, e.Service, e.Protocol, e.Check, e.Credential, e.VO}
		success := 0.0
		if Success(e.State) {
			success = 1
		}
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, float64(e.State), lv...)
		ch <- prometheus.MustNewConstMetric(c.success, prometheus.GaugeValue, success, lv...)
		ch <- prometheus.MustNewConstMetric(c.duration, prometheus.GaugeValue, e.Duration.Seconds(), lv...)
		if !e.Start.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastRun, prometheus.GaugeValue, unixSeconds(e.Start), lv...)
		}
		if !e.LastChange.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastChange, prometheus.GaugeValue, unixSeconds(e.LastChange), lv...)
		}
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// ContentType is what Handler and Write serve: the text format 0.0.4, which
// every Prometheus version accepts.
const ContentType = string(expfmt.FmtText)

// Write gathers g and writes the text exposition to w.
func Write(w http.ResponseWriter, g prometheus.Gatherer) {
	mfs, err := g.Gather()
	if err != nil && len(mfs) == 0 {
		http.Error(w, fmt.Sprintf("gathering metrics: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	enc := expfmt.NewEncoder(w, expfmt.FmtText)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return // the client went away; nothing useful left to say
		}
	}
}

// Handler serves g as text exposition 0.0.4. promhttp is not used because
// it negotiates the format (OpenMetrics, protobuf, escaping parameters) from
// the Accept header; the probe always answers in the one format that every
// Prometheus and promtool accept.
func Handler(g prometheus.Gatherer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { Write(w, g) })
}
