package matrix

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// The rules a check tests (16tkn-access: the WLCG token profile's storage
// rules) get a matrix of their own: one row per rule and protocol, one
// column per release, each cell the rule's verdict. Every verdict that is
// not pass or untested needs an annotation with profile_rule set (explained
// by hand like a cell), and a non-OK check whose every failing rule is
// annotated is explained by those rules.

// RuleRow identifies a rule across releases.
type RuleRow struct {
	Protocol, Check, Rule, Version string
}

// RuleCell is one rule's verdict against one release.
type RuleCell struct {
	Release string
	Row     RuleRow
	engine.RuleResult
}

// RuleRows are the rule rows of the matrix, in the order the checks report
// them (WebDAV before XRootD).
func (m *Matrix) RuleRows() []RuleRow {
	var rows []RuleRow
	for _, row := range m.Rows {
		for _, r := range m.Releases {
			c, ok := m.cells[r.Name][row]
			if !ok {
				continue
			}
			for _, x := range c.Rules {
				rr := RuleRow{Protocol: row.Protocol, Check: row.Check, Rule: x.ID, Version: x.Version}
				if !slices.Contains(rows, rr) {
					rows = append(rows, rr)
				}
			}
		}
	}
	return rows
}

// RuleCell is the verdict of a rule row against a release.
func (m *Matrix) RuleCell(release string, row RuleRow) (RuleCell, bool) {
	c, ok := m.cells[release][Row{row.Protocol, row.Check}]
	if !ok {
		return RuleCell{}, false
	}
	for _, x := range c.Rules {
		if x.ID == row.Rule {
			return RuleCell{Release: release, Row: row, RuleResult: x}, true
		}
	}
	return RuleCell{}, false
}

// notHeld: a verdict that needs explaining.
func notHeld(v string) bool { return v != engine.VerdictPass && v != engine.VerdictUntested }

// WriteRuleTable writes the rule matrix in Markdown: pass, FAIL, warn,
// inconclusive, untested; "(i)" marks a rule of a newer profile version
// than the service is expected to satisfy (informational).
func (m *Matrix) WriteRuleTable(w io.Writer) error {
	rows := m.RuleRows()
	if len(rows) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("| rule | version | check |")
	for _, r := range m.Releases {
		fmt.Fprintf(&b, " %s %s |", r.Name, shortVersion(r.Version))
	}
	b.WriteString("\n|---|---|---|")
	for range m.Releases {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s %s |", row.Rule, row.Version, protoLabel(row.Protocol), row.Check)
		for _, r := range m.Releases {
			c, ok := m.RuleCell(r.Name, row)
			switch {
			case !ok:
				b.WriteString(" – |")
			case c.Verdict == engine.VerdictFail:
				fmt.Fprintf(&b, " **FAIL**%s |", infoMark(c))
			case notHeld(c.Verdict):
				fmt.Fprintf(&b, " **%s**%s |", c.Verdict, infoMark(c))
			default:
				fmt.Fprintf(&b, " %s |", c.Verdict)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func infoMark(c RuleCell) string {
	if c.Informational {
		return " (i)"
	}
	return ""
}

// RuleIssue is a rule verdict that does not hold, and what explains it.
type RuleIssue struct {
	Cell       RuleCell
	Label      string
	Annotation *Annotation
}

// ExplainRules matches every rule verdict that does not hold against the
// annotations with profile_rule set.
func ExplainRules(ms []*Matrix, anns []*Annotation) []RuleIssue {
	var out []RuleIssue
	for _, m := range ms {
		for _, row := range m.RuleRows() {
			for _, r := range m.Releases {
				c, ok := m.RuleCell(r.Name, row)
				if !ok || !notHeld(c.Verdict) {
					continue
				}
				is := RuleIssue{Cell: c, Label: m.releaseLabel(r.Name)}
				for _, a := range anns {
					if a.MatchesRule(c) {
						is.Annotation = a
						break
					}
				}
				out = append(out, is)
			}
		}
	}
	return out
}

// MatchesRule reports whether the annotation explains the rule verdict.
func (a *Annotation) MatchesRule(c RuleCell) bool {
	switch {
	case !slices.Contains(a.ProfileRules, c.Row.Rule):
		return false
	case len(a.Releases) > 0 && !slices.Contains(a.Releases, c.Release):
		return false
	case a.Protocol != "" && a.Protocol != c.Row.Protocol:
		return false
	case a.Check != c.Row.Check:
		return false
	case a.Verdict != "" && a.Verdict != c.Verdict:
		return false
	}
	return a.detail == nil || a.detail.MatchString(c.Detail)
}

// UnexplainedRules are the rule issues without an annotation.
func UnexplainedRules(issues []RuleIssue) []RuleIssue {
	var out []RuleIssue
	for _, is := range issues {
		if is.Annotation == nil {
			out = append(out, is)
		}
	}
	return out
}

// rulesExplain: every rule of the cell that does not hold is annotated
// (and there is at least one), so the rules explain the cell.
func rulesExplain(c Cell, anns []*Annotation) bool {
	n := 0
	for _, x := range c.Rules {
		if !notHeld(x.Verdict) {
			continue
		}
		n++
		rc := RuleCell{Release: c.Release, Row: RuleRow{c.Row.Protocol, c.Row.Check, x.ID, x.Version}, RuleResult: x}
		if !slices.ContainsFunc(anns, func(a *Annotation) bool { return a.MatchesRule(rc) }) {
			return false
		}
	}
	return n > 0
}

// WriteRuleIssues writes the rule issues in Markdown, one row per
// annotation and rule (releases merged), then the unexplained ones.
func WriteRuleIssues(w io.Writer, issues []RuleIssue) error {
	var b strings.Builder
	b.WriteString("| release | rule (version) | check | verdict | what the server does wrong | WLCG rule broken | site workaround |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	type key struct {
		id  string
		row RuleRow
	}
	var order []key
	rels, verdicts := map[key][]string{}, map[key][]string{}
	byKey := map[key]*Annotation{}
	for _, is := range issues {
		if is.Annotation == nil {
			continue
		}
		k := key{is.Annotation.ID, is.Cell.Row}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
			byKey[k] = is.Annotation
		}
		rels[k] = append(rels[k], is.Label)
		v := is.Cell.Verdict + infoMark(is.Cell)
		if !slices.Contains(verdicts[k], v) {
			verdicts[k] = append(verdicts[k], v)
		}
	}
	for _, k := range order {
		a := byKey[k]
		fmt.Fprintf(&b, "| %s | %s (%s) | %s %s | %s | %s | %s | %s |\n", strings.Join(rels[k], ", "), k.row.Rule, k.row.Version,
			protoLabel(k.row.Protocol), k.row.Check, strings.Join(verdicts[k], ", "), mdCell(a.Wrong), mdCell(a.Rule), mdCell(a.Workaround))
	}
	for _, is := range UnexplainedRules(issues) {
		fmt.Fprintf(&b, "| %s | %s (%s) | %s %s | %s | UNEXPLAINED: `%s` | ? | ? |\n", is.Label, is.Cell.Row.Rule, is.Cell.Row.Version,
			protoLabel(is.Cell.Row.Protocol), is.Cell.Row.Check, is.Cell.Verdict, mdCode(is.Cell.Detail))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteRuleReproduce writes, per rule annotation used, how it was
// confirmed by hand.
func WriteRuleReproduce(w io.Writer, issues []RuleIssue) error {
	var b strings.Builder
	done := map[string]bool{}
	for _, is := range issues {
		a := is.Annotation
		if a == nil || done[a.ID] || a.Reproduce == "" {
			continue
		}
		done[a.ID] = true
		proto := protoLabel(a.Protocol)
		if a.Protocol == "" {
			proto = "WebDAV and XRootD"
		}
		fmt.Fprintf(&b, "#### %s (%s %s, rules %s)\n\n```sh\n%s\n```\n\n", a.ID, proto, a.Check, strings.Join(a.ProfileRules, ", "), strings.TrimRight(a.Reproduce, "\n"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
