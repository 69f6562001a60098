// Package metrics declares gridprobe's Prometheus metrics (names from
// DESIGN.md) and writes them in the text exposition format 0.0.4.
//
// Check metrics come from a snapshot of the latest results taken at every
// scrape rather than from GaugeVecs: a service removed by a config reload
// then disappears from the exposition without anyone deleting label sets.
// /metrics writes that snapshot directly as text (WriteChecks, for speed
// with thousands of sites) next to the registry's other collectors; the
// on-demand /probe endpoint puts the same families through a
// CheckCollector in its own registry. Labels are fixed identifiers only
// (site, service, protocol, check, credential, vo): never a detail text, a
// DN, a token or a path.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	CheckParty          = "gridprobe_check_party"
	CheckRawState       = "gridprobe_check_raw_state"
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

// Party values of CheckParty.
const (
	PartyNone    = 0
	PartySite    = 1
	PartyCentral = 2
	PartyProbe   = 3
)

// PartyValue is the CheckParty value of a result's party.
func PartyValue(p engine.Party) float64 {
	switch p {
	case engine.PartySite:
		return PartySite
	case engine.PartyCentral:
		return PartyCentral
	case engine.PartyProbe:
		return PartyProbe
	}
	return PartyNone
}

// Success reports whether a state counts as success: OK or WARNING (a
// warning such as a certificate close to expiry still works).
func Success(s engine.State) bool { return s == engine.OK || s == engine.Warning }

// CheckCollector exports the per-check metrics of a snapshot of entries,
// taken at every scrape, through a prometheus.Registry. It suits small
// snapshots (the on-demand /probe endpoint); /metrics writes the snapshot
// directly with WriteChecks (see Handler), which is the same exposition
// without the registry's cost.
type CheckCollector struct {
	snapshot func() []Entry
	descs    []*prometheus.Desc // one per checkFamilies entry
}

// NewCheckCollector returns a collector over snapshot, which must be safe
// for concurrent use and return each (site, service, check, credential) at
// most once.
func NewCheckCollector(snapshot func() []Entry) *CheckCollector {
	c := &CheckCollector{snapshot: snapshot}
	for _, f := range checkFamilies {
		c.descs = append(c.descs, prometheus.NewDesc(f.name, f.help, CheckLabels, nil))
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *CheckCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *CheckCollector) Collect(ch chan<- prometheus.Metric) {
	entries := c.snapshot()
	for i := range entries {
		e := &entries[i]
		lv := []string{e.Site, e.Service, e.Protocol, e.Check, e.Credential, e.VO}
		for j, f := range checkFamilies {
			if v, ok := f.value(e); ok {
				ch <- prometheus.MustNewConstMetric(c.descs[j], prometheus.GaugeValue, v, lv...)
			}
		}
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
