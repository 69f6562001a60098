package matrix

import (
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/engine"
)

func withRules(r engine.Result, rules ...engine.RuleResult) engine.Result {
	r.Rules = rules
	return r
}

func rule(id, ver, verdict string, info bool) engine.RuleResult {
	return engine.RuleResult{ID: id, Version: ver, Verdict: verdict, Detail: id + " " + verdict, Informational: info}
}

const ruleAnnotations = `
annotations:
  - id: prefix
    releases: [bookworm]
    check: 16tkn-access
    profile_rules: [path-elements-read]
    verdict: fail
    wrong: prefix matching
    rule: whole path elements
    workaround: upgrade
    reproduce: curl
  - id: nopath
    check: 16tkn-access
    profile_rules: [scope-without-path, stat-stage]
    wrong: w
    rule: r
    workaround: none
  - id: groups
    check: 16tkn-access
    profile_rules: [capabilities-over-groups]
    wrong: w
    rule: r
    workaround: none
`

// TestRuleMatrix: rule rows per release; annotations explain rule
// verdicts (not cells); a check whose failing rules are all annotated is
// explained by them; an unannotated rule verdict is unexplained; a rule
// annotation matching no verdict is stale.
func TestRuleMatrix(t *testing.T) {
	results := []engine.Result{
		withRules(res("T2_LOCAL_bookworm", "xrootd", "16tkn-access", engine.Critical, "satisfies none"),
			rule("read", "1.0", engine.VerdictPass, false), rule("path-elements-read", "1.0", engine.VerdictFail, false),
			rule("scope-without-path", "1.0", engine.VerdictFail, false), rule("stat-stage", "1.1", engine.VerdictFail, true),
			rule("stage", "1.0", engine.VerdictUntested, false)),
		withRules(res("T2_LOCAL_trixie", "xrootd", "16tkn-access", engine.Critical, "satisfies none"),
			rule("read", "1.0", engine.VerdictPass, false), rule("path-elements-read", "1.0", engine.VerdictPass, false),
			rule("scope-without-path", "1.0", engine.VerdictFail, false), rule("stat-stage", "1.1", engine.VerdictFail, true),
			rule("wlcg-ver-minor", "1.1", engine.VerdictFail, true)),
	}
	m := New(testReleases, results)
	var b strings.Builder
	if err := m.WriteRuleTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"| rule | version | check | bookworm 5.5.3 | trixie 5.8.1 |",
		"| path-elements-read | 1.0 | XRootD 16tkn-access | **FAIL** | pass |",
		"| stat-stage | 1.1 | XRootD 16tkn-access | **FAIL** (i) | **FAIL** (i) |",
		"| stage | 1.0 | XRootD 16tkn-access | untested | – |",
		"| wlcg-ver-minor | 1.1 | XRootD 16tkn-access | – | **FAIL** (i) |",
	} {
		if !strings.Contains(b.String(), line+"\n") {
			t.Errorf("rule table lacks %q:\n%s", line, b.String())
		}
	}
	anns, err := ParseAnnotations([]byte(ruleAnnotations))
	if err != nil {
		t.Fatal(err)
	}
	ri := ExplainRules([]*Matrix{m}, anns)
	un := UnexplainedRules(ri)
	if len(ri) != 6 || len(un) != 1 || un[0].Cell.Row.Rule != "wlcg-ver-minor" || un[0].Cell.Release != "trixie" {
		t.Fatalf("rule issues %d, unexplained %+v", len(ri), un)
	}
	issues, stale := Explain(m, anns)
	for _, is := range issues {
		switch is.Cell.Release {
		case "bookworm":
			if is.Derived == "" {
				t.Errorf("bookworm 16tkn-access: every failing rule is annotated, yet not explained: %+v", is)
			}
		case "trixie":
			if is.Derived != "" || is.Annotation != nil {
				t.Errorf("trixie 16tkn-access: wlcg-ver-minor is not annotated, yet explained: %+v", is)
			}
		}
	}
	if strings.Join(stale, ",") != "groups" {
		t.Errorf("stale = %v, want the groups annotation only", stale)
	}
	var w strings.Builder
	if err := WriteRuleIssues(&w, ri); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| bookworm 5.5.3 | path-elements-read (1.0) | XRootD 16tkn-access | fail | prefix matching | whole path elements | upgrade |",
		"| bookworm 5.5.3, trixie 5.8.1 | stat-stage (1.1) | XRootD 16tkn-access | fail (i) | w | r | none |",
		"| trixie 5.8.1 | wlcg-ver-minor (1.1) | XRootD 16tkn-access | fail | UNEXPLAINED: `wlcg-ver-minor fail` | ? | ? |",
	} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("rule issues lack %q:\n%s", want, w.String())
		}
	}
	// A verdict the annotation does not name does not match it.
	c, _ := m.RuleCell("bookworm", RuleRow{"xrootd", "16tkn-access", "path-elements-read", "1.0"})
	c.Verdict = engine.VerdictWarn
	if anns[0].MatchesRule(c) {
		t.Error("an annotation for verdict fail matched a warn")
	}
	if _, err := ParseAnnotations([]byte("annotations:\n  - {id: x, check: c, wrong: w, rule: r, workaround: n, verdict: bad}\n")); err == nil {
		t.Error("verdict bad accepted")
	}
}
