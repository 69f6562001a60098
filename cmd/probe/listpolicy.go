package main

import (
	"strings"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// roleNote is what `probe list` adds after a check whose summary policy
// does not simply count it.
func roleNote(p *engine.SummaryPolicy, id string) string {
	switch p.Role(id) {
	case engine.RoleCommissioning:
		return "  [commissioning]"
	case engine.RoleNotCounted:
		return "  [not counted]"
	}
	return ""
}

// summaryNote says what 99summary means for a service: the worst of its
// checks, or what its effective summary policy (as written: cp; resolved:
// p) makes of them.
func summaryNote(cp *config.SummaryPolicy, p *engine.SummaryPolicy) string {
	if p == nil {
		return "worst of the above"
	}
	var b strings.Builder
	b.WriteString("worst of the critical checks")
	if len(p.Commissioning) > 0 {
		if p.CommissioningCap == engine.OK {
			b.WriteString(", commissioning ones left out")
		} else {
			b.WriteString(", commissioning ones at most WARNING")
		}
	}
	b.WriteString(" (summary policy: critical: ")
	if cp.Critical == nil {
		b.WriteString("every check")
	} else {
		b.WriteString(patternList(cp.Critical))
	}
	if cp.Commissioning != nil {
		b.WriteString("; commissioning: " + patternList(cp.Commissioning) + ", effect " + cp.Effect)
	}
	b.WriteString(")")
	return b.String()
}

func patternList(ps []config.Pattern) string {
	if len(ps) == 0 {
		return "none"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Text
	}
	return strings.Join(s, ", ")
}
