package dashboards

import (
	"fmt"

	m "github.com/gridprobe/gridprobe/internal/metrics"
)

// ds is the datasource every panel and variable uses: the dashboard's
// datasource variable.
var ds = &Datasource{Type: "prometheus", UID: "${datasource}"}

// sel is the label filter from the VO, site and protocol variables.
const sel = `vo=~"$vo", site=~"$site", protocol=~"$protocol"`

// File is one generated file.
type File struct {
	Path string // relative to the dashboards directory
	Dash *Dashboard
}

// Dashboards returns the generated dashboards.
func Dashboards() []File {
	return []File{
		{"grafana/gridprobe-token-readiness.json", tokenReadiness()},
		{"grafana/gridprobe-site-history.json", siteHistory()},
		{"grafana/gridprobe-availability.json", arDashboard()},
	}
}

func f64(v float64) *float64 { return &v }
func intp(v int) *int        { return &v }

// stateMappings colour Nagios states ETF-like.
func stateMappings() []any {
	names := []struct{ text, color string }{{"OK", "green"}, {"WARNING", "yellow"}, {"CRITICAL", "red"}, {"UNKNOWN", "orange"}}
	opts := map[string]any{}
	for i, n := range names {
		opts[fmt.Sprint(i)] = map[string]any{"text": n.text, "color": n.color, "index": i}
	}
	return []any{map[string]any{"type": "value", "options": opts}}
}

func stateThresholds() *Thresholds {
	return &Thresholds{Mode: "absolute", Steps: []Step{
		{Color: "green", Value: nil}, {Color: "yellow", Value: f64(1)}, {Color: "red", Value: f64(2)}, {Color: "orange", Value: f64(3)},
	}}
}

func percentThresholds() *Thresholds {
	return &Thresholds{Mode: "absolute", Steps: []Step{
		{Color: "red", Value: nil}, {Color: "orange", Value: f64(50)}, {Color: "yellow", Value: f64(80)}, {Color: "green", Value: f64(95)},
	}}
}

func query(ref, expr, legend string) Target {
	return Target{RefID: ref, Datasource: ds, Expr: expr, LegendFormat: legend, Range: true, Format: "time_series"}
}

func instantTable(ref, expr string) Target {
	return Target{RefID: ref, Datasource: ds, Expr: expr, Instant: true, Format: "table"}
}

func variables() Templating {
	all := Current{Selected: true, Text: []string{"All"}, Value: []string{"$__all"}}
	qv := func(name, label, def string) Variable {
		return Variable{
			Name: name, Label: label, Type: "query", Datasource: ds, Definition: def,
			Query:   map[string]any{"query": def, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
			Refresh: 2, Multi: true, IncludeAll: true, AllValue: ".*", Sort: 1, Current: all, Options: []any{},
		}
	}
	// Site groups filter through the site variable: its values are the
	// sites of gridprobe_site_info in the chosen groups, and its "All" is
	// the list of those sites (no allValue), so every panel's site=~"$site"
	// carries the group filter without a group label on any check series.
	site := qv("site", "Site", fmt.Sprintf(`label_values(%s{vo=~"$vo", tier=~"$tier", country=~"$country", federation=~"$federation"}, site)`, m.SiteInfo))
	site.AllValue = ""
	list := []Variable{
		{Name: "datasource", Label: "Data source", Type: "datasource", Query: "prometheus", Refresh: 1,
			Current: Current{Selected: false, Text: "default", Value: "default"}, Options: []any{}},
		qv("vo", "VO", fmt.Sprintf("label_values(%s, vo)", m.CheckState)),
		qv("protocol", "Protocol", fmt.Sprintf(`label_values(%s{vo=~"$vo"}, protocol)`, m.CheckState)),
		qv("tier", "Tier", fmt.Sprintf(`label_values(%s{vo=~"$vo"}, tier)`, m.SiteInfo)),
		qv("country", "Country", fmt.Sprintf(`label_values(%s{vo=~"$vo", tier=~"$tier"}, country)`, m.SiteInfo)),
		qv("federation", "Federation", fmt.Sprintf(`label_values(%s{vo=~"$vo", tier=~"$tier", country=~"$country"}, federation)`, m.SiteInfo)),
		site,
	}
	return Templating{List: list}
}

func base(uid, title, desc string, panels []Panel) *Dashboard {
	for i := range panels {
		panels[i].ID = i + 1
		if panels[i].Options == nil {
			panels[i].Options = map[string]any{}
		}
		if panels[i].FieldConfig.Defaults.Mappings == nil {
			panels[i].FieldConfig.Defaults.Mappings = []any{}
		}
		if panels[i].FieldConfig.Overrides == nil {
			panels[i].FieldConfig.Overrides = []any{}
		}
		if panels[i].Type != "row" {
			panels[i].Datasource = ds
		}
	}
	return &Dashboard{
		UID: uid, Title: title, Description: desc, Tags: []string{"gridprobe", "wlcg"}, Timezone: "utc",
		Editable: true, GraphTooltip: 1, Refresh: "5m", SchemaVersion: 39, Version: 1,
		Time: TimeRange{From: "now-7d", To: "now"}, Templating: variables(),
		Annotations: Annotations{List: []any{}},
		Links: []Link{{Title: "gridprobe", Type: "dashboards", Tags: []string{"gridprobe"}, AsDropdown: true,
			IncludeVars: true, KeepTime: true}},
		Panels: panels,
	}
}

func row(title string, y int) Panel {
	f := false
	return Panel{Type: "row", Title: title, GridPos: GridPos{H: 1, W: 24, X: 0, Y: y}, Collapsed: &f, Panels: []Panel{}}
}

// Readiness expressions, shared with the rules (recording rules compute
// the same thing for alerting and long ranges).
var (
	// siteReady: 1 if every check of the credential passed at the site for
	// the protocol (all its endpoints of that protocol). Checks failing for
	// a central service (the token issuer) or the probe itself say nothing
	// about the site and are left out; so are the issuers' own rows.
	siteReadyExpr = fmt.Sprintf(`min by (site, protocol, vo, credential) (%s{credential=~"x509|token", check!="99summary", protocol!="issuer"} unless on (%s) (%s >= %d))`,
		m.CheckSuccess, checkLabels, m.CheckParty, m.PartyCentral)
	checkLabels = "site, service, protocol, check, credential, vo"
	// issuerSel selects the issuer services of the chosen VOs.
	issuerSel = `protocol="issuer", vo=~"$vo"`
)

func tokenReadiness() *Dashboard {
	ready := fmt.Sprintf(`100 * avg by (protocol, credential) (%s{%s})`, RecSiteReady, sel)
	panels := []Panel{
		row("Token readiness", 0),
		{
			Type: "bargauge", Title: "Sites ready per protocol: proxy (x509) vs token",
			Description: "Share of sites where every check of the credential passes for the protocol (all endpoints of that protocol at the site). x509 = the proxy (crt) checks, token = the WLCG JWT (tkn) checks. Checks failing because of the token issuer or the probe itself are left out.",
			GridPos:     GridPos{H: 8, W: 10, X: 0, Y: 1},
			Targets:     []Target{{RefID: "A", Datasource: ds, Expr: ready, LegendFormat: "{{protocol}} {{credential}}", Instant: true, Format: "time_series"}},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "percent", Min: f64(0), Max: f64(100), Decimals: intp(0), Thresholds: percentThresholds(),
				Color: map[string]any{"mode": "thresholds"}}},
			Options: map[string]any{"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": true,
				"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
		},
		{
			Type: "stat", Title: "Sites with every token check OK",
			Description: "Sites whose token checks all pass, over sites with token checks, for the selected protocols.",
			GridPos:     GridPos{H: 8, W: 5, X: 10, Y: 1},
			Targets: []Target{{RefID: "A", Datasource: ds, Instant: true, Format: "time_series", LegendFormat: "ready",
				Expr: fmt.Sprintf(`count(min by (site) (%[1]s{credential="token", %[2]s}) == 1) or vector(0)`, RecSiteReady, sel)},
				{RefID: "B", Datasource: ds, Instant: true, Format: "time_series", LegendFormat: "with token checks",
					Expr: fmt.Sprintf(`count(min by (site) (%s{credential="token", %s}))`, RecSiteReady, sel)}},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "none", Decimals: intp(0), Color: map[string]any{"mode": "fixed", "fixedColor": "blue"}}},
			Options: map[string]any{"colorMode": "value", "graphMode": "none", "textMode": "value_and_name",
				"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
		},
		{
			Type: "stat", Title: "Failing token checks (the sites')",
			Description: "Token checks (not summaries) currently not OK/WARNING for the site's own fault; those failing because of the token issuer are counted beside it.",
			GridPos:     GridPos{H: 8, W: 4, X: 15, Y: 1},
			Targets: []Target{{RefID: "A", Datasource: ds, Instant: true, Format: "time_series", LegendFormat: "failing",
				Expr: fmt.Sprintf(`count((%s{credential="token", check!="99summary", %s} == 0) and on (%s) (%s == %d)) or vector(0)`,
					m.CheckSuccess, sel, checkLabels, m.CheckParty, m.PartySite)}},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "none", Decimals: intp(0), Color: map[string]any{"mode": "thresholds"},
				Thresholds: &Thresholds{Mode: "absolute", Steps: []Step{{Color: "green"}, {Color: "red", Value: f64(1)}}}}},
			Options: map[string]any{"colorMode": "background", "graphMode": "none", "textMode": "value",
				"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
		},
		issuerStat(),
		{
			Type: "timeseries", Title: "Readiness over time",
			Description: "Share of sites ready per protocol and credential (the recording rule " + RecSiteReady + ").",
			GridPos:     GridPos{H: 9, W: 24, X: 0, Y: 9},
			Targets:     []Target{query("A", ready, "{{protocol}} {{credential}}")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "percent", Min: f64(0), Max: f64(100),
				Custom: map[string]any{"lineWidth": 2, "fillOpacity": 10, "spanNulls": true, "drawStyle": "line"}}},
			Options: map[string]any{"legend": map[string]any{"displayMode": "table", "placement": "right", "calcs": []string{"lastNotNull", "min"}},
				"tooltip": map[string]any{"mode": "multi", "sort": "desc"}},
		},
		{
			Type: "bargauge", Title: "Sites ready per tier",
			Description: "Share of sites ready per tier, protocol and credential: the readiness joined with " + m.SiteInfo +
				" (one series per site carrying its groups), so the per-check series need no group label.",
			GridPos: GridPos{H: 8, W: 24, X: 0, Y: 18},
			Targets: []Target{{RefID: "A", Datasource: ds, Instant: true, Format: "time_series", LegendFormat: "Tier-{{tier}} {{protocol}} {{credential}}",
				Expr: fmt.Sprintf(`100 * avg by (tier, protocol, credential) (%s{%s} * on (site, vo) group_left (tier) max by (site, vo, tier) (%s))`,
					RecSiteReady, sel, m.SiteInfo)}},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "percent", Min: f64(0), Max: f64(100), Decimals: intp(0), Thresholds: percentThresholds(),
				Color: map[string]any{"mode": "thresholds"}}},
			Options: map[string]any{"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": true,
				"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
		},
		row("Sites × checks", 26),
		{
			Type: "table", Title: "Site × check state",
			Description: "Latest state of every check (rows: site and service; columns: check). 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
			GridPos:     GridPos{H: 12, W: 24, X: 0, Y: 27},
			Targets: []Target{instantTable("A", fmt.Sprintf(`label_join(max by (site, service, protocol, check) (%s{%s}), "endpoint", " ", "site", "service")`,
				m.CheckState, sel))},
			Transformations: []Transformation{{ID: "groupingToMatrix", Options: map[string]any{
				"columnField": "check", "rowField": "endpoint", "valueField": "Value", "emptyValue": "null"}}},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Mappings: stateMappings(), Thresholds: stateThresholds(),
				Color:  map[string]any{"mode": "thresholds"},
				Custom: map[string]any{"align": "center", "cellOptions": map[string]any{"type": "color-background"}, "filterable": true}}},
			Options: map[string]any{"showHeader": true, "cellHeight": "sm", "sortBy": []any{map[string]any{"displayName": "endpoint\\check", "desc": false}}},
		},
		{
			Type: "table", Title: "Time in state (failing checks first)",
			Description: "How long each check has been in its current state (" + m.CheckLastChange + ").",
			GridPos:     GridPos{H: 10, W: 24, X: 0, Y: 39},
			Targets: []Target{
				instantTable("A", fmt.Sprintf(`time() - max by (site, service, protocol, check, credential) (%s{%s})`, m.CheckLastChange, sel)),
				instantTable("B", fmt.Sprintf(`max by (site, service, protocol, check, credential) (%s{%s})`, m.CheckState, sel)),
			},
			Transformations: []Transformation{
				{ID: "merge", Options: map[string]any{}},
				{ID: "organize", Options: map[string]any{"excludeByName": map[string]any{"Time": true},
					"renameByName": map[string]any{"Value #A": "time in state", "Value #B": "state"}}},
				{ID: "sortBy", Options: map[string]any{"sort": []any{map[string]any{"field": "state", "desc": true}}}},
			},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Custom: map[string]any{"filterable": true}},
				Overrides: []any{
					map[string]any{"matcher": map[string]any{"id": "byName", "options": "time in state"},
						"properties": []any{map[string]any{"id": "unit", "value": "s"}}},
					map[string]any{"matcher": map[string]any{"id": "byName", "options": "state"},
						"properties": []any{map[string]any{"id": "mappings", "value": stateMappings()},
							map[string]any{"id": "custom.cellOptions", "value": map[string]any{"type": "color-background"}},
							map[string]any{"id": "thresholds", "value": stateThresholds()},
							map[string]any{"id": "color", "value": map[string]any{"mode": "thresholds"}}}},
				}},
			Options: map[string]any{"showHeader": true, "cellHeight": "sm"},
		},
	}
	panels = append(panels, issuerPanels(41)...)
	panels = append(panels, wnPanels(50)...)  // below the issuer row (41 + 1 + 8)
	panels = append(panels, tpcPanels(67)...) // below the worker-node row (50 + 8 + 9)
	return base("gridprobe-token-readiness", "gridprobe · token readiness",
		"WLCG token readiness of storage and compute endpoints, and of the CEs' worker nodes, from gridprobe's ETF-style checks.", panels)
}

func siteHistory() *Dashboard {
	panels := []Panel{
		row("History", 0),
		{
			Type: "state-timeline", Title: "Check states over time",
			Description: "State of every check of the selected sites over time (one line per site, service and check).",
			GridPos:     GridPos{H: 14, W: 24, X: 0, Y: 1},
			Targets:     []Target{query("A", fmt.Sprintf(`max by (site, service, check) (%s{%s})`, m.CheckState, sel), "{{site}} {{service}} {{check}}")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Mappings: stateMappings(), Thresholds: stateThresholds(),
				Color: map[string]any{"mode": "thresholds"}, Custom: map[string]any{"fillOpacity": 80, "lineWidth": 0}}},
			Options: map[string]any{"mergeValues": true, "showValue": "never", "rowHeight": 0.9, "alignValue": "left",
				"legend": map[string]any{"showLegend": false}, "tooltip": map[string]any{"mode": "single"}},
		},
		{
			Type: "state-timeline", Title: "Token vs proxy readiness per site",
			Description: "1 when every check of the credential passes at the site for the protocol.",
			GridPos:     GridPos{H: 8, W: 24, X: 0, Y: 15},
			Targets:     []Target{query("A", fmt.Sprintf(`%s{%s}`, RecSiteReady, sel), "{{site}} {{protocol}} {{credential}}")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Color: map[string]any{"mode": "thresholds"},
				Thresholds: &Thresholds{Mode: "absolute", Steps: []Step{{Color: "red"}, {Color: "green", Value: f64(1)}}},
				Mappings: []any{map[string]any{"type": "value", "options": map[string]any{
					"0": map[string]any{"text": "failing", "color": "red", "index": 0},
					"1": map[string]any{"text": "ready", "color": "green", "index": 1}}}},
				Custom: map[string]any{"fillOpacity": 80, "lineWidth": 0}}},
			Options: map[string]any{"mergeValues": true, "showValue": "never", "rowHeight": 0.9,
				"legend": map[string]any{"showLegend": false}, "tooltip": map[string]any{"mode": "single"}},
		},
		{
			Type: "timeseries", Title: "Check durations",
			GridPos: GridPos{H: 8, W: 24, X: 0, Y: 23},
			Targets: []Target{query("A", fmt.Sprintf(`max by (site, service, check) (%s{%s, check!="99summary"})`, m.CheckDuration, sel), "{{site}} {{service}} {{check}}")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "s", Min: f64(0),
				Custom: map[string]any{"lineWidth": 1, "drawStyle": "points", "pointSize": 4}}},
			Options: map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom"}, "tooltip": map[string]any{"mode": "multi", "sort": "desc"}},
		},
		row("Probe health", 31),
		{
			Type: "timeseries", Title: "Age of the latest round (vs interval)",
			Description: "Seconds since each service's latest complete round; the rounds-stalled alert fires above three intervals.",
			GridPos:     GridPos{H: 8, W: 12, X: 0, Y: 32},
			Targets: []Target{
				query("A", fmt.Sprintf(`time() - max by (site, service) (%s{%s})`, m.RoundLast, sel), "{{site}} {{service}}"),
				query("B", fmt.Sprintf(`max by (site, service) (%s{%s})`, m.RoundDuration, sel), "duration {{site}} {{service}}"),
			},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "s", Min: f64(0)}},
			Options:     map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom"}, "tooltip": map[string]any{"mode": "multi"}},
		},
		{
			Type: "timeseries", Title: "Token requests by result",
			GridPos:     GridPos{H: 8, W: 12, X: 12, Y: 32},
			Targets:     []Target{query("A", fmt.Sprintf(`sum by (result) (rate(%s[$__rate_interval]))`, m.TokenRequests), "{{result}}")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "reqps", Min: f64(0)}},
			Options:     map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom"}, "tooltip": map[string]any{"mode": "multi"}},
		},
		{
			Type: "stat", Title: "Proxy lifetime left",
			Description: "Time until each configured proxy expires (" + m.ProxyExpiry + ").",
			GridPos:     GridPos{H: 6, W: 24, X: 0, Y: 40},
			Targets:     []Target{{RefID: "A", Datasource: ds, Instant: true, Format: "time_series", LegendFormat: "{{role}}", Expr: fmt.Sprintf(`%s - time()`, m.ProxyExpiry)}},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "s", Color: map[string]any{"mode": "thresholds"},
				Thresholds: &Thresholds{Mode: "absolute", Steps: []Step{{Color: "red"}, {Color: "orange", Value: f64(12 * 3600)}, {Color: "green", Value: f64(48 * 3600)}}}}},
			Options: map[string]any{"colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
				"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
		},
	}
	return base("gridprobe-site-history", "gridprobe · site history",
		"Per-site history of gridprobe's checks, and the probe's own health.", panels)
}
