package dashboards

import (
	"fmt"

	"github.com/gridprobe/gridprobe/internal/downtime"
	m "github.com/gridprobe/gridprobe/internal/metrics"
)

// Availability and reliability (A/R), computed the way WLCG computes them
// from the summary results (ETF/SAM, ARGO):
//
//	availability = time up / (total time − time unknown)
//	reliability  = time up / (total time − time unknown − time in scheduled downtime)
//
// where a service is up while its 99summary is OK or WARNING, down while it
// is CRITICAL, and unknown while it is UNKNOWN or while there is no result at
// all (the probe or Prometheus was not running: that time is not known).
// During a scheduled outage (gridprobe_service_scheduled_downtime, from
// GOCDB) availability counts the service down and reliability leaves the
// time out. A site combines its services as WLCG does: OR over the endpoints
// of one protocol (the best of them), AND over protocols (the worst); in
// both, unknown ranks between up and down.
//
// Recording rules, every minute:
//   - gridprobe:service_availability:status, gridprobe:service_reliability:status,
//     gridprobe:site_availability:status, gridprobe:site_reliability:status:
//     2 up, 1 unknown, 0 down (so OR is max and AND is min);
//   - gridprobe:{service,site}_{availability,reliability}:up: 1 up, 0 down,
//     no sample while unknown, so avg_over_time(…[range]) is the A/R over
//     the range (one sample a minute, each worth a minute);
//
// and, after them in the same group, the rolling daily ratios
// gridprobe:…:avg_1d.
// `probe report --ar` and the monthly panels take avg_over_time of the :up
// series over the month.
const (
	RecServiceAvailStatus = "gridprobe:service_availability:status"
	RecServiceRelStatus   = "gridprobe:service_reliability:status"
	RecSiteAvailStatus    = "gridprobe:site_availability:status"
	RecSiteRelStatus      = "gridprobe:site_reliability:status"
	RecServiceAvailUp     = "gridprobe:service_availability:up"
	RecServiceRelUp       = "gridprobe:service_reliability:up"
	RecSiteAvailUp        = "gridprobe:site_availability:up"
	RecSiteRelUp          = "gridprobe:site_reliability:up"
	RecServiceAvail1d     = "gridprobe:service_availability:avg_1d"
	RecServiceRel1d       = "gridprobe:service_reliability:avg_1d"
	RecSiteAvail1d        = "gridprobe:site_availability:avg_1d"
	RecSiteRel1d          = "gridprobe:site_reliability:avg_1d"
)

const (
	svcLabels = "site, service, protocol, vo"
	// summary is the per-service summary state, one series per service.
	summaryBase = `max by (` + svcLabels + `) (%[1]s{check="99summary"} < bool 2) * 2 + max by (` + svcLabels + `) (%[1]s{check="99summary"} == bool 3)`
	// inDowntime is the services in a scheduled outage now.
	inDowntime = `(max by (` + svcLabels + `) (%[2]s) == 1)`
)

// serviceStatusExprs are the availability and reliability status of every
// service: the summary's up/unknown/down, overridden during a scheduled
// outage (down for availability, unknown for reliability).
func serviceStatusExprs() (avail, rel string) {
	base := fmt.Sprintf(`(`+summaryBase+`) unless on (`+svcLabels+`) `+inDowntime, m.CheckState, downtime.MetricScheduled)
	dt := fmt.Sprintf(inDowntime, m.CheckState, downtime.MetricScheduled)
	avail = fmt.Sprintf(`(%s) or on (%s) (0 * %s)`, base, svcLabels, dt)
	rel = fmt.Sprintf(`(%s) or on (%s) %s`, base, svcLabels, dt)
	return avail, rel
}

// siteStatusExpr combines a site's services: the best endpoint of each
// protocol, then the worst protocol.
func siteStatusExpr(serviceStatus string) string {
	return fmt.Sprintf(`min by (site, vo) (max by (site, protocol, vo) (%s))`, serviceStatus)
}

// upExpr keeps the known samples of a status as 1 (up) or 0 (down).
func upExpr(status string) string { return fmt.Sprintf(`(%s != 1) / 2`, status) }

func arGroups() []RuleGroup {
	avail, rel := serviceStatusExprs()
	return []RuleGroup{
		{Name: "gridprobe.availability", Interval: "1m", Rules: []Rule{
			{Record: RecServiceAvailStatus, Expr: avail},
			{Record: RecServiceRelStatus, Expr: rel},
			{Record: RecSiteAvailStatus, Expr: siteStatusExpr(RecServiceAvailStatus)},
			{Record: RecSiteRelStatus, Expr: siteStatusExpr(RecServiceRelStatus)},
			{Record: RecServiceAvailUp, Expr: upExpr(RecServiceAvailStatus)},
			{Record: RecServiceRelUp, Expr: upExpr(RecServiceRelStatus)},
			{Record: RecSiteAvailUp, Expr: upExpr(RecSiteAvailStatus)},
			{Record: RecSiteRelUp, Expr: upExpr(RecSiteRelStatus)},
			// In the same group, after the samples they average: a group of its
			// own could run before or after this one at the same instant.
			{Record: RecServiceAvail1d, Expr: fmt.Sprintf(`avg_over_time(%s[1d])`, RecServiceAvailUp)},
			{Record: RecServiceRel1d, Expr: fmt.Sprintf(`avg_over_time(%s[1d])`, RecServiceRelUp)},
			{Record: RecSiteAvail1d, Expr: fmt.Sprintf(`avg_over_time(%s[1d])`, RecSiteAvailUp)},
			{Record: RecSiteRel1d, Expr: fmt.Sprintf(`avg_over_time(%s[1d])`, RecSiteRelUp)},
		}},
	}
}

// arDashboard shows A/R per site and service, daily and over 30 days.
func arDashboard() *Dashboard {
	siteSel := `vo=~"$vo", site=~"$site"`
	daily := func(title, up string, y, x int) Panel {
		return Panel{
			Type: "timeseries", Title: title, Interval: "1d",
			Description: "Per site and UTC day: time up over known time (" + up + "); unknown time (UNKNOWN, no result) excluded.",
			GridPos:     GridPos{H: 9, W: 12, X: x, Y: y},
			Targets:     []Target{query("A", fmt.Sprintf(`100 * avg_over_time(%s{%s}[1d])`, up, siteSel), "{{site}}")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "percent", Min: f64(0), Max: f64(100), Decimals: intp(1),
				Thresholds: percentThresholds(), Color: map[string]any{"mode": "palette-classic"},
				Custom: map[string]any{"drawStyle": "bars", "fillOpacity": 60, "lineWidth": 1}}},
			Options: map[string]any{"legend": map[string]any{"displayMode": "table", "placement": "bottom", "calcs": []string{"mean", "min"}},
				"tooltip": map[string]any{"mode": "multi", "sort": "asc"}},
		}
	}
	monthly := func(title, up, by string, y int) Panel {
		return Panel{
			Type: "table", Title: title,
			Description: "Availability and reliability over the last 30 days (WLCG: reliability leaves scheduled downtime out).",
			GridPos:     GridPos{H: 9, W: 24, X: 0, Y: y},
			Targets: []Target{
				instantTable("A", fmt.Sprintf(`100 * avg_over_time(%s{%s}[30d])`, up, siteSel)),
				instantTable("B", fmt.Sprintf(`100 * avg_over_time(%s{%s}[30d])`, by, siteSel)),
			},
			Transformations: []Transformation{
				{ID: "merge", Options: map[string]any{}},
				{ID: "organize", Options: map[string]any{"excludeByName": map[string]any{"Time": true},
					"renameByName": map[string]any{"Value #A": "availability", "Value #B": "reliability"}}},
				{ID: "sortBy", Options: map[string]any{"sort": []any{map[string]any{"field": "availability", "desc": false}}}},
			},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "percent", Min: f64(0), Max: f64(100), Decimals: intp(2),
				Thresholds: percentThresholds(), Color: map[string]any{"mode": "thresholds"},
				Custom: map[string]any{"cellOptions": map[string]any{"type": "color-text"}, "filterable": true}}},
			Options: map[string]any{"showHeader": true, "cellHeight": "sm"},
		}
	}
	panels := []Panel{
		row("Daily", 0),
		daily("Site availability per day", RecSiteAvailUp, 1, 0),
		daily("Site reliability per day", RecSiteRelUp, 1, 12),
		row("Monthly (30 days)", 10),
		monthly("Sites: availability and reliability, 30 days", RecSiteAvailUp, RecSiteRelUp, 11),
		monthly("Services: availability and reliability, 30 days", RecServiceAvailUp, RecServiceRelUp, 20),
		row("Status", 29),
		{
			Type: "state-timeline", Title: "Service status for A/R (up, unknown, down; scheduled downtime counts down)",
			GridPos: GridPos{H: 10, W: 24, X: 0, Y: 30},
			Targets: []Target{query("A", fmt.Sprintf(`%s{%s}`, RecServiceAvailStatus, siteSel), "{{site}} {{service}}")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Color: map[string]any{"mode": "thresholds"},
				Thresholds: &Thresholds{Mode: "absolute", Steps: []Step{{Color: "red"}, {Color: "orange", Value: f64(1)}, {Color: "green", Value: f64(2)}}},
				Mappings: []any{map[string]any{"type": "value", "options": map[string]any{
					"0": map[string]any{"text": "down", "color": "red", "index": 0},
					"1": map[string]any{"text": "unknown", "color": "orange", "index": 1},
					"2": map[string]any{"text": "up", "color": "green", "index": 2}}}},
				Custom: map[string]any{"fillOpacity": 80, "lineWidth": 0}}},
			Options: map[string]any{"mergeValues": true, "showValue": "never", "rowHeight": 0.9,
				"legend": map[string]any{"showLegend": false}, "tooltip": map[string]any{"mode": "single"}},
		},
	}
	d := base("gridprobe-availability", "gridprobe · availability and reliability",
		"WLCG availability and reliability of sites and services from gridprobe's 99summary results (recording rules in prometheus/gridprobe.rules.yml).", panels)
	d.Time = TimeRange{From: "now-30d", To: "now"}
	return d
}
