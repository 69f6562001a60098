// Package report turns engine results into every output gridprobe speaks,
// one file per format: the ETF-style status table (table.go), Nagios plugin
// output (nagios.go), Checkmk local-check lines (checkmk.go), JSON
// (json.go) and the copy-and-paste reproduce listing (reproduce.go).
//
// Every format renders into memory first and writes once, and every string
// taken from a result passes through redaction twice: field by field before
// formatting (so a redaction can neither break a format's syntax nor a
// table's alignment) and over the finished text (belt and braces for
// anything a field-level pass could miss). A token must never reach the
// writer.
//
// The quoting and escaping rules of Nagios perfdata and Checkmk local checks
// are written here by hand: no Go library implements them, and they are a
// few lines each.
package report

import (
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// redact removes credentials from text: cred.Redact, behind a variable so
// a test can prove every format calls it.
var redact = cred.Redact

// writeRedacted writes s to w after a final redaction pass.
func writeRedacted(w io.Writer, s string) error {
	_, err := io.WriteString(w, redact(s))
	return err
}

// detail returns r's detail redacted and folded to one line of at most
// engine.MaxDetail characters. Redaction comes first so a cut never leaves
// half a token behind.
func detail(r engine.Result) string {
	return engine.OneLine(redact(r.Detail))
}

// statusLine is the Nagios-style "STATE - detail" line of one result.
func statusLine(r engine.Result) string {
	d := detail(r)
	if d == "" {
		return r.State.String()
	}
	return r.State.String() + " - " + d
}

// end is when r's check finished.
func end(r engine.Result) time.Time { return r.Start.Add(r.Duration) }

// timeLayout is the ETF "Checked" timestamp layout (always UTC).
const timeLayout = "2006-01-02 15:04:05"

// hostOf returns host[:port] of an endpoint URL, or the URL itself.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return u.Host
}

// Ways to name a result, from shortest to most specific.
const (
	byCheck      = iota // 14tkn-read
	byMetric            // org.testvo.SE-WebDAV-14tkn-read
	byMetricHost        // org.testvo.SE-WebDAV-14tkn-read@se.example.org:1094
	bySiteMetric        // T2_XX_Example/org.testvo.SE-WebDAV-14tkn-read
	bySiteHost          // T2_XX_Example/org.testvo.SE-WebDAV-14tkn-read@se.example.org:1094
)

func nameAt(r engine.Result, how int) string {
	switch how {
	case byCheck:
		return r.Check
	case byMetric:
		return r.Metric()
	case byMetricHost:
		return r.Metric() + "@" + hostOf(r.URL)
	case bySiteMetric:
		return r.Site + "/" + r.Metric()
	default:
		return r.Site + "/" + r.Metric() + "@" + hostOf(r.URL)
	}
}

// names gives every result the first of the naming schemes in ways under
// which no two results share a name (the last one if none is unique). A
// site with two WebDAV endpoints thus gets "...-14tkn-read@se1:443" and
// "...-14tkn-read@se2:443" rather than two rows nobody can tell apart, and
// the same check at two sites gets the site in front. Names are redacted.
func names(results []engine.Result, ways ...int) []string {
	out := make([]string, len(results))
	for _, how := range ways {
		seen := make(map[string]bool, len(results))
		unique := true
		for i, r := range results {
			n := nameAt(r, how)
			if seen[n] {
				unique = false
			}
			seen[n] = true
			out[i] = redact(n)
		}
		if unique {
			break
		}
	}
	return out
}

// bySite returns the indices of results grouped by site, sites in order of
// first appearance and results in their given order within a site.
func bySite(results []engine.Result) (sites []string, groups [][]int) {
	pos := map[string]int{}
	for i, r := range results {
		p, ok := pos[r.Site]
		if !ok {
			p = len(sites)
			pos[r.Site] = p
			sites = append(sites, r.Site)
			groups = append(groups, nil)
		}
		groups[p] = append(groups[p], i)
	}
	return sites, groups
}

// counts returns how many results are in each state, indexed by State.
func counts(results []engine.Result) [4]int {
	var c [4]int
	for _, r := range results {
		if r.State >= engine.OK && r.State <= engine.Unknown {
			c[r.State]++
		}
	}
	return c
}

// worst is the most severe state of results; UNKNOWN when there are none
// (no result is not good news).
func worst(results []engine.Result) engine.State {
	if len(results) == 0 {
		return engine.Unknown
	}
	states := make([]engine.State, len(results))
	for i, r := range results {
		states[i] = r.State
	}
	return engine.Worst(states...)
}

// Overall is the state a set of results stands for (the exit code of
// `probe run`, the state of Nagios output): per service its 99summary,
// which applies the service's summary policy, or the worst of its results
// when the run made no summary (selected checks only); then the worst of
// those. No results is UNKNOWN.
func Overall(results []engine.Result) engine.State {
	if len(results) == 0 {
		return engine.Unknown
	}
	type svc struct{ site, service, url string }
	summary := map[svc]bool{}
	for _, r := range results {
		if r.Check == engine.SummaryID {
			summary[svc{r.Site, r.Service, r.URL}] = true
		}
	}
	state := engine.OK
	for _, r := range results {
		if r.Check == engine.SummaryID || !summary[svc{r.Site, r.Service, r.URL}] {
			state = engine.Worst(state, r.State)
		}
	}
	return state
}

// counted reports whether r counts for its service's summary: no summary
// policy, or a critical check under one.
func counted(r engine.Result) bool { return r.Role == "" || r.Role == engine.RoleCritical }

// ageOf is how long r's check has been in its state at now, or "unknown".
func ageOf(r engine.Result, now time.Time) string {
	if r.Since.IsZero() {
		return "unknown"
	}
	return age(now.Sub(r.Since))
}

// formatFloat renders a perf value the shortest way that round-trips.
func formatFloat(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// perfs returns r's performance data plus its duration (as "duration" in
// seconds) unless the probe already reported one. Labels are redacted.
func perfs(r engine.Result) []engine.Perf {
	out := make([]engine.Perf, 0, len(r.Perf)+1)
	hasDuration := false
	for _, p := range r.Perf {
		if p.Label == "duration" {
			hasDuration = true
		}
		p.Label = redact(p.Label)
		out = append(out, p)
	}
	if !hasDuration && r.Duration > 0 {
		out = append(out, engine.Perf{Label: "duration", Value: r.Duration.Seconds(), Unit: "s"})
	}
	return out
}

// plural returns word, with an "s" unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// summaryCounts is "9 OK, 1 WARNING, 1 CRITICAL, 1 UNKNOWN" (zeros left out).
func summaryCounts(results []engine.Result) string {
	c := counts(results)
	var parts []string
	for _, s := range []engine.State{engine.OK, engine.Warning, engine.Critical, engine.Unknown} {
		if c[s] > 0 {
			parts = append(parts, strconv.Itoa(c[s])+" "+s.String())
		}
	}
	return strings.Join(parts, ", ")
}
