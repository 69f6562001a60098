package report

import (
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// Checkmk writes one Checkmk local-check line per result:
//
//	2 org.testvo.SE-WebDAV-14tkn-read duration=0.123 file stat error: 403 Forbidden
//
// state, service name, metrics (name=value[;warn;crit] joined by "|", "-"
// for none) and the status detail. Checkmk shows the state itself, so the
// detail has no "STATE - " prefix. The service name is the ETF metric name;
// when results of several sites or endpoints would share one, it is
// qualified ("T2_XX_Example/org.testvo.SE-WebDAV-14tkn-read", with
// "@host:port" if still ambiguous) because
// Checkmk merges services of the same name. A name with blanks is written
// in the quoted form ("My service"). The "<<<local>>>" section header is
// the agent's business, not written here.
func Checkmk(w io.Writer, results []engine.Result) error {
	n := names(results, byMetric, bySiteMetric, bySiteHost)
	var b strings.Builder
	for i, r := range results {
		b.WriteString(strconv.Itoa(int(r.State)) + " " + checkmkName(n[i]) + " " +
			checkmkMetrics(perfs(r)) + " " + checkmkDetail(r) + "\n")
	}
	return writeRedacted(w, b.String())
}

// checkmkName quotes a service name when it contains blanks; a double
// quote cannot be escaped there, so it becomes a single one.
func checkmkName(s string) string {
	s = strings.ReplaceAll(oneLineName(s), `"`, "'")
	if s == "" {
		s = "unnamed"
	}
	if strings.ContainsAny(s, " \t") {
		return `"` + s + `"`
	}
	return s
}

// checkmkMetrics formats metrics as name=value joined by "|", or "-".
// Metric names are reduced to letters, digits and "_"; values that are not
// numbers are left out.
func checkmkMetrics(ps []engine.Perf) string {
	var out []string
	for _, p := range ps {
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			continue
		}
		out = append(out, checkmkMetricName(p.Label)+"="+formatFloat(p.Value))
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, "|")
}

func checkmkMetricName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "value"
	}
	return string(b)
}

// checkmkDetail is the one-line detail. Checkmk turns a literal `\n` into
// a line break and a Nagios core behind it would read "|" as the start of
// perfdata, so both are defused.
func checkmkDetail(r engine.Result) string {
	d := detail(r)
	if d == "" {
		d = r.State.String()
	}
	return strings.NewReplacer("|", "/", `\n`, `\ n`).Replace(d)
}
