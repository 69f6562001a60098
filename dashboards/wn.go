package dashboards

import (
	"fmt"

	m "github.com/gridprobe/gridprobe/internal/metrics"
)

// Worker-node readiness: the WN-* checks of the CEs' test jobs (probe wn),
// which read and write the site's storage with the job's own token and
// proxy from a worker node.

// RecSiteWNReady: 1 when every worker-node check of the credential passed
// at the site (all its CEs).
const RecSiteWNReady = "gridprobe:site_wn_ready:min"

// wnSel selects the worker-node checks (not their summary).
const wnSel = `check=~"WN-.*", check!="WN-99summary"`

var siteWNReadyExpr = fmt.Sprintf(`min by (site, vo, credential) (%s{%s, credential=~"x509|token"})`, m.CheckSuccess, wnSel)

// wnPanels is the "Worker nodes" row of the token-readiness dashboard,
// starting at grid row y.
func wnPanels(y int) []Panel {
	sel := `vo=~"$vo", site=~"$site"` // WN checks belong to CE protocols; the protocol variable does not apply
	return []Panel{
		row("Worker nodes (CE test jobs: probe wn with the job's own token and proxy)", y),
		{
			Type: "stat", Title: "Sites whose test jobs read and write with their token",
			Description: "Sites where every token worker-node check passes (WN-10credentials, WN-11token-lifetime, WN-20tkn-read, WN-21tkn-write on every CE), over sites with worker-node checks.",
			GridPos:     GridPos{H: 7, W: 8, X: 0, Y: y + 1},
			Targets: []Target{
				{RefID: "A", Datasource: ds, Instant: true, Format: "time_series", LegendFormat: "jobs ready with tokens",
					Expr: fmt.Sprintf(`count(%s{credential="token", %s} == 1) or vector(0)`, RecSiteWNReady, sel)},
				{RefID: "B", Datasource: ds, Instant: true, Format: "time_series", LegendFormat: "sites with WN checks",
					Expr: fmt.Sprintf(`count(min by (site) (%s{%s, %s}))`, m.CheckSuccess, wnSel, sel)},
			},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "none", Decimals: intp(0), Color: map[string]any{"mode": "fixed", "fixedColor": "blue"}}},
			Options: map[string]any{"colorMode": "value", "graphMode": "none", "textMode": "value_and_name",
				"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
		},
		{
			Type: "stat", Title: "Failing worker-node checks",
			Description: "Worker-node checks (not summaries) currently not OK/WARNING, by credential.",
			GridPos:     GridPos{H: 7, W: 8, X: 8, Y: y + 1},
			Targets: []Target{{RefID: "A", Datasource: ds, Instant: true, Format: "time_series", LegendFormat: "{{credential}}",
				Expr: fmt.Sprintf(`sum by (credential) (%s{%s, %s} == bool 0)`, m.CheckSuccess, wnSel, sel)}},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "none", Decimals: intp(0), Color: map[string]any{"mode": "thresholds"},
				Thresholds: &Thresholds{Mode: "absolute", Steps: []Step{{Color: "green"}, {Color: "red", Value: f64(1)}}}}},
			Options: map[string]any{"colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
				"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
		},
		{
			Type: "state-timeline", Title: "Worker-node readiness over time",
			Description: "1 when every worker-node check of the credential passes at the site (recording rule " + RecSiteWNReady + ").",
			GridPos:     GridPos{H: 7, W: 8, X: 16, Y: y + 1},
			Targets:     []Target{query("A", fmt.Sprintf(`%s{%s}`, RecSiteWNReady, sel), "{{site}} {{credential}}")},
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
			Type: "table", Title: "Worker-node readiness per site (site × WN check)",
			Description: "Latest state of every worker-node check of every CE (rows: site and CE; columns: WN check). 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. UNKNOWN \"prerequisite 14tkn-submit failed\" means the test job did not run; the detail on the status page gives the CE's reason.",
			GridPos:     GridPos{H: 9, W: 24, X: 0, Y: y + 8},
			Targets: []Target{instantTable("A", fmt.Sprintf(`label_join(max by (site, service, check) (%s{check=~"WN-.*", %s}), "endpoint", " ", "site", "service")`,
				m.CheckState, sel))},
			Transformations: []Transformation{{ID: "groupingToMatrix", Options: map[string]any{
				"columnField": "check", "rowField": "endpoint", "valueField": "Value", "emptyValue": "null"}}},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Mappings: stateMappings(), Thresholds: stateThresholds(),
				Color:  map[string]any{"mode": "thresholds"},
				Custom: map[string]any{"align": "center", "cellOptions": map[string]any{"type": "color-background"}, "filterable": true}}},
			Options: map[string]any{"showHeader": true, "cellHeight": "sm", "sortBy": []any{map[string]any{"displayName": "endpoint\\check", "desc": false}}},
		},
	}
}
