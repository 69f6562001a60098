package report

import (
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// Nagios writes Nagios plugin output for one check or a set of checks (one
// service, usually) and returns the state to exit with:
//
//	CRITICAL - file stat error: 403 Forbidden | '14tkn-read_duration'=0.123s;;;;
//
// For several results the first line is a summary with the worst state,
//
//	CRITICAL - 2 of 12 checks failed: 14tkn-read, 17tkn-write | ...
//
// followed by one long-output line per check ("14tkn-read: CRITICAL - ...").
// All perfdata goes on the first line. A "|" in any text would start
// perfdata, so it is replaced by "/". No result at all is UNKNOWN. If the
// output cannot be written the state is UNKNOWN too: Nagios would otherwise
// show a status nobody could read.
func Nagios(w io.Writer, results []engine.Result) engine.State {
	state := Overall(results)
	n := names(results, byCheck, byMetric, bySiteMetric, bySiteHost)
	var first string
	switch len(results) {
	case 0:
		first = "UNKNOWN - no check results"
	case 1:
		first = statusLine(results[0])
	default:
		first = nagiosSummary(results, n)
	}
	var b strings.Builder
	b.WriteString(nagiosText(first))
	var perf []string
	for i, r := range results {
		for _, p := range perfs(r) {
			perf = append(perf, nagiosPerf(n[i]+"_"+p.Label, p))
		}
	}
	if len(perf) > 0 {
		b.WriteString(" | " + strings.Join(perf, " "))
	}
	b.WriteString("\n")
	if len(results) > 1 {
		for i, r := range results {
			b.WriteString(nagiosText(n[i]+": "+statusLine(r)) + "\n")
		}
	}
	if err := writeRedacted(w, b.String()); err != nil {
		return engine.Unknown
	}
	return state
}

// nagiosSummary is "CRITICAL - 2 of 12 checks failed: a, b; 1 unknown: c;
// 1 warned: d", worst news first, or "OK - all 12 checks OK". Under a
// summary policy it counts the critical checks and then names the others
// that are not OK: "OK - all 8 critical checks OK; commissioning:
// 16tkn-access CRITICAL".
func nagiosSummary(results []engine.Result, n []string) string {
	state := Overall(results)
	groups := []struct {
		state engine.State
		word  string
	}{{engine.Critical, "failed"}, {engine.Unknown, "unknown"}, {engine.Warning, "warned"}}
	// A 99summary restates the other checks; counting it would count
	// every failure twice.
	total, what := 0, "check"
	for _, r := range results {
		if r.Check == engine.SummaryID {
			continue
		}
		if counted(r) {
			total++
		}
		if r.Role != "" {
			what = "critical check"
		}
	}
	var parts []string
	for _, g := range groups {
		var which []string
		for i, r := range results {
			if r.State == g.state && r.Check != engine.SummaryID && counted(r) {
				which = append(which, n[i])
			}
		}
		if len(which) == 0 {
			continue
		}
		count := strconv.Itoa(len(which))
		if len(parts) == 0 {
			count += " of " + strconv.Itoa(total) + " " + plural(total, what)
		}
		parts = append(parts, count+" "+g.word+": "+strings.Join(which, ", "))
	}
	if len(parts) == 0 { // all OK, or only summaries are not
		parts = append(parts, "all "+strconv.Itoa(total)+" "+plural(total, what)+" OK")
	}
	for _, role := range []string{engine.RoleCommissioning, engine.RoleNotCounted} {
		var which []string
		for i, r := range results {
			if r.Role == role && r.State != engine.OK {
				which = append(which, n[i]+" "+r.State.String())
			}
		}
		if len(which) > 0 {
			parts = append(parts, strings.ReplaceAll(role, "_", " ")+": "+strings.Join(which, ", "))
		}
	}
	return engine.OneLine(state.String() + " - " + strings.Join(parts, "; "))
}

// nagiosText makes s safe as plugin output text: one line, no "|".
func nagiosText(s string) string {
	return strings.ReplaceAll(oneLineName(s), "|", "/")
}

// nagiosUnits are the units of measure the Nagios plugin guidelines allow.
var nagiosUnits = map[string]bool{
	"": true, "s": true, "ms": true, "us": true, "%": true,
	"B": true, "KB": true, "MB": true, "GB": true, "TB": true, "c": true,
}

// nagiosPerf formats 'label'=value[UOM];;;; . The label is always quoted,
// a quote inside it doubled, and "=" (never allowed) replaced; a value that
// is not a number is "U" (undetermined), and an unknown unit is dropped.
func nagiosPerf(label string, p engine.Perf) string {
	label = strings.NewReplacer("=", "_", "|", "/", "'", "''").Replace(oneLineName(label))
	v := "U"
	if !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) {
		v = formatFloat(p.Value)
	}
	unit := p.Unit
	if !nagiosUnits[unit] || v == "U" {
		unit = ""
	}
	return "'" + label + "'=" + v + unit + ";;;;"
}
