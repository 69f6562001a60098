package config_test

import (
	"reflect"
	"strings"
	"testing"

	. "github.com/gridprobe/gridprobe/internal/config"
	_ "github.com/gridprobe/gridprobe/probes/all"
)

const policyConfig = `vo: testvo
defaults:
  summary:
    - critical: ["*"]
    - type: xrootd
      commissioning: ["1?tkn-*"]
      commissioning_effect: none
    - vo: cms
      type: xrootd
      commissioning: [16tkn-access]
    - vo: cms
      critical: [1connection, 14tkn-read]
sites:
  - name: S
    services:
      - {type: xrootd, url: "root://a"}
      - {type: xrootd, url: "root://b", name: b, summary: {commissioning: [], commissioning_effect: warning}}
      - {type: xrootd, url: "root://c", name: c, vo: cms}
      - {type: webdav, url: "https://d", vo: cms}
      - {type: webdav, url: "https://e", vo: atlas}
      - {type: arc-ce, url: "https://f", summary: {critical: [1connection]}}
`

func texts(ps []Pattern) []string {
	if ps == nil {
		return nil
	}
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Text)
	}
	return out
}

// TestSummaryEffective: the most specific rule applies (vo+type, type, vo,
// neither) and a service's own keys replace only those keys.
func TestSummaryEffective(t *testing.T) {
	c, err := ParseWith("sites.yaml", []byte(policyConfig), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	type eff struct {
		critical, commissioning []string
		effect                  string
	}
	want := []eff{
		{nil, []string{"1?tkn-*"}, EffectNone},                      // type xrootd
		{nil, []string{}, EffectWarning},                            // own keys replace the rule's
		{nil, []string{"16tkn-access"}, EffectWarning},              // vo cms + type xrootd
		{[]string{"1connection", "14tkn-read"}, nil, EffectWarning}, // vo cms
		{[]string{"*"}, nil, EffectWarning},                         // the rule for every service
		{[]string{"1connection"}, nil, EffectWarning},               // every service + own critical
	}
	for i, w := range want {
		sv := &c.Sites[0].Services[i]
		p := c.Summary(sv)
		if p == nil {
			t.Fatalf("service %d (%s): no policy", i, sv.RawURL)
		}
		got := eff{texts(p.Critical), texts(p.Commissioning), p.Effect}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("service %d (%s): %+v, want %+v", i, sv.RawURL, got, w)
		}
	}
	// The patterns keep their position for messages.
	if p := c.Defaults.Summary[1].Policy.Commissioning[0]; p.Line != 6 || p.Col != 23 {
		t.Errorf("pattern at %d:%d, want 6:23", p.Line, p.Col)
	}
	// Without rules or an own policy: none.
	c2, err := ParseWith("sites.yaml", []byte(base), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if p := c2.Summary(&c2.Sites[0].Services[0]); p != nil {
		t.Errorf("policy %+v without any summary key", p)
	}
}

func TestSummaryErrors(t *testing.T) {
	rules := func(body string) string {
		return "vo: testvo\ndefaults:\n  summary:\n" + body + "sites:\n  - name: S\n    services:\n      - {type: webdav, url: \"https://a\"}\n"
	}
	tests := []struct {
		name, in string
		want     []string
	}{
		{"unknown key in a rule", rules("    - {type: webdav, comissioning: [2ssl]}\n"),
			[]string{`sites.yaml:4:22: unknown key "comissioning" in defaults.summary[0] (did you mean "commissioning"?)`}},
		{"bad type", rules("    - {type: webdaw}\n"),
			[]string{`sites.yaml:4:14: defaults.summary[0].type "webdaw": must be one of arc-ce, htcondor-ce, issuer, webdav, xrootd`}},
		{"duplicate rule", rules("    - {type: webdav}\n    - {type: webdav, critical: [2ssl]}\n"),
			[]string{`sites.yaml:5:7: defaults.summary[1]: a rule for type webdav is already defined at line 4`}},
		{"bad effect", rules("    - {commissioning_effect: ignore}\n"),
			[]string{`sites.yaml:4:30: defaults.summary[0].commissioning_effect "ignore": must be warning (cap the summary at WARNING) or none (leave it out)`}},
		{"empty critical", rules("    - {critical: []}\n"),
			[]string{`sites.yaml:4:18: defaults.summary[0].critical: empty; leave the key out to count every check`}},
		{"summary not a list", rules("    critical: [a]\n"),
			[]string{`sites.yaml:4:5: defaults.summary: expected a list, got a mapping`}},
		{"service: summary itself", svc("summary: {critical: [99summary]}"),
			[]string{`sites.yaml:7:30: summary.critical: "99summary" is the summary itself`}},
		{"service: not an id", svc("summary: {commissioning: [tkn access]}"),
			[]string{`sites.yaml:7:35: summary.commissioning: "tkn access" is not a check id (like "16tkn-access") or a pattern (like "1?tkn-*")`}},
		{"service: bad pattern", svc("summary: {commissioning: ['1[tkn-*']}"),
			[]string{`sites.yaml:7:35: summary.commissioning: "1[tkn-*" is not a valid pattern (*, ? and [...] over check ids)`}},
		{"service: twice", svc("summary: {commissioning: [2ssl, 2ssl]}"),
			[]string{`sites.yaml:7:41: summary.commissioning: "2ssl" is listed twice`}},
		{"service: unknown key", svc("summary: {critcal: [2ssl]}"),
			[]string{`sites.yaml:7:19: unknown key "critcal" in summary (did you mean "critical"?)`}},
		{"service: not a mapping", svc("summary: [2ssl]"),
			[]string{`sites.yaml:7:18: summary: expected a mapping, got a list`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWith("sites.yaml", []byte(tc.in), testEnv)
			if err == nil {
				t.Fatalf("no error for\n%s", tc.in)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// fakeCatalogue stands in for the probes' catalogue: 9federation only
// where a redirector is configured, as the XRootD probe does.
func fakeCatalogue(_ *Config, _ *Site, sv *Service) ([]string, error) {
	switch sv.Type {
	case "xrootd":
		ids := []string{"1connection", "3version", "4crt-read", "14tkn-read", "16tkn-access"}
		if sv.Federation != "" {
			ids = append(ids, "9federation")
		}
		return ids, nil
	case "webdav":
		return []string{"1connection", "2ssl", "14tkn-read", "16tkn-access"}, nil
	}
	return []string{"1connection"}, nil
}

func withCatalogue(t *testing.T, fn Catalogue) {
	old := CurrentCatalogue()
	SetCatalogue(fn)
	t.Cleanup(func() { SetCatalogue(old) })
}

// TestSummaryCatalogue: ids and patterns must name a check of the service
// (own policy) or of some service a rule's key applies to.
func TestSummaryCatalogue(t *testing.T) {
	withCatalogue(t, fakeCatalogue)
	good := `vo: testvo
defaults:
  summary:
    - {type: xrootd, commissioning: [9federation, "1?tkn-*"]}
sites:
  - name: S
    services:
      - {type: xrootd, url: "root://a"}
      - {type: xrootd, url: "root://b", name: b, federation: "root://r"}
`
	if _, err := ParseWith("sites.yaml", []byte(good), testEnv); err != nil {
		t.Fatalf("9federation exists in one service the rule applies to: %v", err)
	}
	bad := `vo: testvo
defaults:
  summary:
    - {type: xrootd, commissioning: [9federation, "1?tkn-*"]}
    - {type: webdav, critical: ["3*"]}
    - {type: arc-ce, critical: [5nothing]}
sites:
  - name: S
    services:
      - {type: xrootd, url: "root://a"}
      - {type: webdav, url: "https://w", summary: {commissioning: [16tkn-acess, "17*"]}}
`
	_, err := ParseWith("sites.yaml", []byte(bad), testEnv)
	want := []string{
		`sites.yaml:4:38: defaults.summary[0].commissioning: no check "9federation" in the services of type xrootd it applies to (checks: 1connection, 3version, 4crt-read, 14tkn-read, 16tkn-access)`,
		`sites.yaml:5:33: defaults.summary[1].critical: pattern "3*" matches no check of the services of type webdav it applies to (checks: 1connection, 2ssl, 14tkn-read, 16tkn-access)`,
		`sites.yaml:11:68: summary.commissioning: no check "16tkn-acess" in service org.testvo.SE-WebDAV of site S (did you mean "16tkn-access"?)`,
		`sites.yaml:11:81: summary.commissioning: pattern "17*" matches no check of service org.testvo.SE-WebDAV of site S (checks: 1connection, 2ssl, 14tkn-read, 16tkn-access)`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The arc-ce rule applies to no service: nothing to check it against.
	// Shape errors come first: the catalogue is only asked about a file
	// that is otherwise valid.
	_, err = ParseWith("sites.yaml", []byte(strings.Replace(bad, "- {type: xrootd, url", "- {type: xrootd, tiemout: 1s, url", 1)), testEnv)
	if err == nil || strings.Contains(err.Error(), "no check") || !strings.Contains(err.Error(), `"tiemout"`) {
		t.Errorf("with a shape error: %v", err)
	}
}

// TestSummaryRedactedRoundTrip: the effective config written by Redacted
// holds the policies and parses back to the same ones (an empty
// commissioning list stays "none", not "inherit").
func TestSummaryRedactedRoundTrip(t *testing.T) {
	c, err := ParseWith("sites.yaml", []byte(policyConfig), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"commissioning: ['1?tkn-*']", "commissioning: []", "commissioning_effect: none"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Redacted lacks %q:\n%s", want, out)
		}
	}
	c2, err := ParseWith("sites.yaml", out, env(nil))
	if err != nil {
		t.Fatalf("Redacted output does not parse: %v\n%s", err, out)
	}
	clearLines(c)
	clearLines(c2)
	if !reflect.DeepEqual(c, c2) {
		t.Errorf("round trip differs:\n%+v\n%+v\n%s", c, c2, out)
	}
}
