package dashboards

import (
	"fmt"

	m "github.com/gridprobe/gridprobe/internal/metrics"
)

// Third-party copy: the TPC checks are ordinary checks whose id names the
// rule and the partner (11crt-tpc-pull-<partner>, …, 21tkn-tpc-access-
// <partner>), so the pair (site, partner) and the rule are taken from the
// check label; no series carries a partner label of its own.

// tpcCheck matches the TPC check ids.
const tpcCheck = `check=~"[0-9]+(crt|tkn)-tpc-(pull|push|access)-.+"`

// withPartner adds the partner (and, with rule, the rule without its
// number) from the check id.
func withPartner(expr string, rule bool) string {
	e := fmt.Sprintf(`label_replace(%s, "partner", "$1", "check", "[0-9]+(?:crt|tkn)-tpc-(?:pull|push|access)-(.+)")`, expr)
	if rule {
		e = fmt.Sprintf(`label_replace(%s, "rule", "$1", "check", "[0-9]+((?:crt|tkn)-tpc-(?:pull|push|access))-.+")`, e)
	}
	return e
}

// tpcPanels are the TPC readiness row, at height y.
func tpcPanels(y int) []Panel {
	success := withPartner(fmt.Sprintf(`%s{%s, %s}`, m.CheckSuccess, sel, tpcCheck), false)
	state := withPartner(fmt.Sprintf(`%s{%s, %s}`, m.CheckState, sel, tpcCheck), true)
	return []Panel{
		row("Third-party copy (TPC) readiness", y),
		{
			Type: "bargauge", Title: "TPC pairs ready per credential",
			Description: "Share of (site, partner) pairs whose TPC checks of the credential all pass: proxy (x509: 11crt-tpc-pull, 12crt-tpc-push) " +
				"and token (token: 19tkn-tpc-pull, 20tkn-tpc-push, 21tkn-tpc-access). A partner's own failure makes the site's check UNKNOWN, so it shows here as not ready.",
			GridPos: GridPos{H: 8, W: 8, X: 0, Y: y + 1},
			Targets: []Target{{RefID: "A", Datasource: ds, Instant: true, Format: "time_series", LegendFormat: "{{credential}}",
				Expr: fmt.Sprintf(`100 * avg by (credential) (min by (site, partner, credential) (%s))`, success)}},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: "percent", Min: f64(0), Max: f64(100), Decimals: intp(0), Thresholds: percentThresholds(),
				Color: map[string]any{"mode": "thresholds"}}},
			Options: map[string]any{"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": true,
				"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
		},
		{
			Type: "table", Title: "TPC pairs × credential and direction",
			Description: "Latest state of each TPC rule per pair (rows: site → partner; columns: the rule, crt = proxy, tkn = token). " +
				"0 OK, 1 WARNING, 2 CRITICAL (the site's fault), 3 UNKNOWN (the partner's or the probe's).",
			GridPos: GridPos{H: 8, W: 16, X: 8, Y: y + 1},
			Targets: []Target{instantTable("A", fmt.Sprintf(`label_join(max by (site, partner, rule) (%s), "pair", " → ", "site", "partner")`, state))},
			Transformations: []Transformation{{ID: "groupingToMatrix", Options: map[string]any{
				"columnField": "rule", "rowField": "pair", "valueField": "Value", "emptyValue": "null"}}},
			FieldConfig: FieldConfig{Defaults: FieldDefaults{Mappings: stateMappings(), Thresholds: stateThresholds(),
				Color:  map[string]any{"mode": "thresholds"},
				Custom: map[string]any{"align": "center", "cellOptions": map[string]any{"type": "color-background"}, "filterable": true}}},
			Options: map[string]any{"showHeader": true, "cellHeight": "sm", "sortBy": []any{map[string]any{"displayName": "pair\\rule", "desc": false}}},
		},
	}
}
