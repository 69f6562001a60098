package dashboards

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"

	m "github.com/gridprobe/gridprobe/internal/metrics"
)

// Recording rule names.
const (
	RecSiteReady   = "gridprobe:site_credential_ready:min"
	RecReadiness   = "gridprobe:protocol_credential_ready:ratio"
	RecTimeInState = "gridprobe:check_time_in_state:seconds"
)

// Alert thresholds.
const (
	TokenFailingHours = 6  // token checks failing for more than this
	ProxyExpiryHours  = 12 // proxy lifetime left below this
	StalledIntervals  = 3  // no complete round for this many intervals
)

// RuleFile is a Prometheus rule file.
type RuleFile struct {
	Groups []RuleGroup `yaml:"groups"`
}

// RuleGroup is a group of rules.
type RuleGroup struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval,omitempty"`
	Rules    []Rule `yaml:"rules"`
}

// Rule is a recording or alerting rule.
type Rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// RulesPath is where the rules file is written, relative to dashboards/.
const RulesPath = "prometheus/gridprobe.rules.yml"

// Rules returns gridprobe's recording and alerting rules.
func Rules() RuleFile {
	return RuleFile{Groups: append([]RuleGroup{
		{Name: "gridprobe.recording", Rules: []Rule{
			{Record: RecSiteReady, Expr: siteReadyExpr},
			{Record: RecReadiness, Expr: fmt.Sprintf(`avg by (protocol, vo, credential) (%s)`, RecSiteReady)},
			{Record: RecTimeInState, Expr: fmt.Sprintf(`time() - %s`, m.CheckLastChange)},
			{Record: RecSiteWNReady, Expr: siteWNReadyExpr},
		}},
		{Name: "gridprobe.alerts", Rules: []Rule{
			{
				Alert: "GridprobeTokenCheckFailing",
				// The time in state comes from the probe itself, so the alert
				// survives Prometheus restarts and needs no long `for`.
				// Only the site's own failures: a token check UNKNOWN because
				// the issuer is down is the issuer alert's business.
				Expr: fmt.Sprintf(`(time() - %s > %d) and on (%s) (%s{credential="token", check!="99summary"} == 0) and on (%s) (%s == %d)`,
					m.CheckLastChange, TokenFailingHours*3600, checkLabels, m.CheckSuccess, checkLabels, m.CheckParty, m.PartySite),
				For:    "5m",
				Labels: map[string]string{"severity": "warning"},
				Annotations: map[string]string{
					"summary":     "Token check {{ $labels.check }} failing at {{ $labels.site }} for more than " + fmt.Sprint(TokenFailingHours) + "h",
					"description": "{{ $labels.service }} ({{ $labels.protocol }}, VO {{ $labels.vo }}) at {{ $labels.site }}: {{ $labels.check }} has not passed with a token for {{ $value | humanizeDuration }}. Rerun it with `probe run --site {{ $labels.site }} --check {{ $labels.check }} --reproduce` or GET /probe?site={{ $labels.site }}&service={{ $labels.service }}&check={{ $labels.check }}&debug=true.",
				},
			},
			{
				Alert:  "GridprobeIssuerFailing",
				Expr:   fmt.Sprintf(`%s{protocol="issuer", check="99summary"} == 2`, m.CheckState),
				For:    "10m",
				Labels: map[string]string{"severity": "critical"},
				Annotations: map[string]string{
					"summary":     "Token issuer {{ $labels.service }} (VO {{ $labels.vo }}) is CRITICAL",
					"description": "The token issuer checked as {{ $labels.service }} at {{ $labels.site }} fails (see its 1connection, 2ssl, 3discovery, 4jwks, 5token). Meanwhile every site token check reports UNKNOWN for the central service and no site alert fires. Rerun it with `probe run --site {{ $labels.site }} --service issuer --reproduce`.",
				},
			},
			{
				Alert:  "GridprobeProxyExpiringSoon",
				Expr:   fmt.Sprintf(`%s - time() < %d`, m.ProxyExpiry, ProxyExpiryHours*3600),
				For:    "10m",
				Labels: map[string]string{"severity": "warning"},
				Annotations: map[string]string{
					"summary":     "gridprobe {{ $labels.role }} expires in {{ $value | humanizeDuration }}",
					"description": "The {{ $labels.role }} used by gridprobe on {{ $labels.instance }} expires within " + fmt.Sprint(ProxyExpiryHours) + "h; renew it or every proxy (crt) check will fail.",
				},
			},
			{
				Alert:  "GridprobeProxyUnusable",
				Expr:   fmt.Sprintf(`%s == 0`, m.ProxyUsable),
				For:    "10m",
				Labels: map[string]string{"severity": "critical"},
				Annotations: map[string]string{
					"summary":     "gridprobe {{ $labels.role }} is missing, expired or unreadable",
					"description": "gridprobe on {{ $labels.instance }} cannot load its {{ $labels.role }}; its proxy (crt) checks report failures that are not the sites' fault.",
				},
			},
			{
				Alert: "GridprobeRoundsStalled",
				Expr: fmt.Sprintf(`time() - %s > %d * %s`,
					m.RoundLast, StalledIntervals, m.RoundInterval),
				For:    "10m",
				Labels: map[string]string{"severity": "warning"},
				Annotations: map[string]string{
					"summary":     "No complete gridprobe round of {{ $labels.service }} at {{ $labels.site }} for " + fmt.Sprint(StalledIntervals) + " intervals",
					"description": "The latest complete round ended {{ $value | humanizeDuration }} ago; results shown for this service are stale.",
				},
			},
			{
				Alert:  "GridprobeConfigReloadFailed",
				Expr:   fmt.Sprintf(`%s == 0`, m.ConfigReloadSuccess),
				For:    "5m",
				Labels: map[string]string{"severity": "warning"},
				Annotations: map[string]string{
					"summary":     "gridprobe on {{ $labels.instance }} could not reload sites.yaml",
					"description": "The previous configuration is still in use; see the probe's log for the file:line:col errors.",
				},
			},
		}},
	}, append(arGroups(), publishGroups()...)...)}
}

// RulesYAML renders the rule file.
func RulesYAML() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Generated by `go run ./dashboards/gen`; do not edit. Tests: prometheus/gridprobe.rules_test.yml.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(Rules()); err != nil {
		return nil, fmt.Errorf("encode rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode rules: %w", err)
	}
	return b.Bytes(), nil
}
