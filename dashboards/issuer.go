package dashboards

import (
	"fmt"

	m "github.com/gridprobe/gridprobe/internal/metrics"
)

// issuerStat shows each token issuer's summary beside site readiness: when
// it is red, the sites' token checks are UNKNOWN for it, not failing.
func issuerStat() Panel {
	return Panel{
		Type: "stat", Title: "Token issuer",
		Description: "State of each VO token issuer (type issuer, its 99summary). While an issuer is CRITICAL the sites' token checks report UNKNOWN for the central service and no site alert fires.",
		GridPos:     GridPos{H: 8, W: 5, X: 19, Y: 1},
		Targets: []Target{{RefID: "A", Datasource: ds, Instant: true, Format: "time_series", LegendFormat: "{{service}}",
			Expr: fmt.Sprintf(`max by (service) (%s{%s, check="99summary"})`, m.CheckState, issuerSel)}},
		FieldConfig: FieldConfig{Defaults: FieldDefaults{Mappings: stateMappings(), Thresholds: stateThresholds(), Color: map[string]any{"mode": "thresholds"}}},
		Options: map[string]any{"colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
	}
}

// issuerPanels are the token issuer row: its checks, its token latency and
// the site token checks it currently makes UNKNOWN.
func issuerPanels(y int) []Panel {
	return []Panel{
		row("Token issuer", y),
		{
			Type: "table", Title: "Issuer checks",
			Description: "Latest state of every check of the token issuers (1connection 2ssl 3discovery 4jwks 5token). 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
			GridPos:     GridPos{H: 8, W: 12, X: 0, Y: y + 1},
			Targets: []Target{instantTable("A", fmt.Sprintf(`label_join(max by (site, service, check) (%s{%s}), "issuer", " ", "site", "service")`,
				m.CheckState, issuerSel))},
			Transformations: []Transformation{{ID: "groupingToMatrix", Options: map[string]any{
				"columnField": "check", "rowField": "issuer", "valueField": "Value", "emptyValue": "null"}}},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Mappings: stateMappings(), Thresholds: stateThresholds(),
				Color:  map[string]any{"mode": "thresholds"},
				Custom: map[string]any{"align": "center", "cellOptions": map[string]any{"type": "color-background"}}}},
			Options: map[string]any{"showHeader": true, "cellHeight": "sm"},
		},
		{
			Type: "timeseries", Title: "Issuer token latency",
			Description: "How long the issuer's 5token check took to get a token (issuer latency).",
			GridPos:     GridPos{H: 8, W: 6, X: 12, Y: y + 1},
			Targets:     []Target{query("A", fmt.Sprintf(`max by (service) (%s{%s, check="5token"})`, m.CheckDuration, issuerSel), "{{service}}")},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "s", Min: f64(0), Custom: map[string]any{"lineWidth": 2, "spanNulls": true}}},
			Options:     map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom"}, "tooltip": map[string]any{"mode": "multi"}},
		},
		{
			Type: "stat", Title: "Site token checks UNKNOWN for the issuer",
			Description: "Site token checks that could not run because a central service (the token issuer) failed: not the sites' fault.",
			GridPos:     GridPos{H: 8, W: 6, X: 18, Y: y + 1},
			Targets: []Target{{RefID: "A", Datasource: ds, Instant: true, Format: "time_series", LegendFormat: "central",
				Expr: fmt.Sprintf(`count(%s{credential="token", protocol!="issuer", %s} == %d) or vector(0)`, m.CheckParty, sel, m.PartyCentral)}},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "none", Decimals: intp(0), Color: map[string]any{"mode": "thresholds"},
				Thresholds: &Thresholds{Mode: "absolute", Steps: []Step{{Color: "green"}, {Color: "orange", Value: f64(1)}}}}},
			Options: map[string]any{"colorMode": "background", "graphMode": "none", "textMode": "value",
				"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
		},
	}
}
