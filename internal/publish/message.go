package publish

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/report"
)

// MaxSummary is the longest summaryData (SAM3 cuts there).
const MaxSummary = 256

// maxField bounds every single-line value but the summary, so the fixed part
// of a message always fits the smallest allowed max_message_bytes (1024).
const maxField = 200

// Flavours are the VO-feed service flavours of gridprobe's service types.
var Flavours = map[string]string{
	"webdav":      "WEBDAV",
	"xrootd":      "XROOTD",
	"arc-ce":      "ARC-CE",
	"htcondor-ce": "HTCONDOR-CE",
}

// Message is one result ready to send.
type Message struct {
	// ID is the gridprobe-id header: stable across resends, unique per
	// result (<run id>.<sequence>).
	ID string `json:"id"`
	// Body is the metricOutput text (see the package comment).
	Body string `json:"body"`
}

// Format renders r as a metricOutput message of at most maxBytes bytes
// (the details are cut to fit). cut is how many bytes of details were left
// out. gatheredAt names the probe host.
func Format(r engine.Result, id, gatheredAt string, maxBytes int) (m Message, cut int) {
	summary, perf := statusAndPerf(r)
	host, uri := endpoint(r.URL)
	flavour := Flavours[r.Protocol]
	if flavour == "" {
		flavour = strings.ToUpper(r.Protocol)
	}
	var b bytes.Buffer
	field := func(k, v string) {
		b.WriteString(k + ": " + v + "\n")
	}
	field("serviceURI", value(uri, maxField))
	field("hostName", value(host, maxField))
	field("serviceFlavour", value(flavour, maxField))
	field("siteName", value(r.Site, maxField))
	field("metricStatus", r.State.String())
	field("metricName", value(r.Metric(), maxField))
	field("summaryData", value(summary, MaxSummary))
	field("gatheredAt", value(gatheredAt, maxField))
	field("timestamp", r.Start.Add(r.Duration).UTC().Format("2006-01-02T15:04:05Z"))
	field("nagiosName", value(r.Metric()+"-"+r.VO, maxField))
	field("voName", value(r.VO, maxField))
	field("serviceType", value(flavour, maxField))
	if perf != "" {
		field("perfData", value(perf, maxField*4))
	}
	const end = "EOT\n"
	details := detailsData(r)
	room := maxBytes - b.Len() - len("detailsData: \n") - len(end)
	details, cut = fit(details, room)
	b.WriteString("detailsData: " + details + "\n" + end)
	return Message{ID: id, Body: b.String()}, cut
}

// statusAndPerf splits the check's Nagios plugin output (report.Nagios, so
// the same text and perfdata a Nagios would see) into the status line and
// the perfdata.
func statusAndPerf(r engine.Result) (status, perf string) {
	var b strings.Builder
	report.Nagios(&b, []engine.Result{r})
	line, _, _ := strings.Cut(b.String(), "\n")
	status, perf, _ = strings.Cut(line, " | ")
	return status, perf
}

// endpoint returns the host and the SAM serviceURI (host[:port]) of a
// service URL.
func endpoint(raw string) (host, uri string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw, raw
	}
	return u.Hostname(), u.Host
}

// detailsData is the result's detail and its reproduce lines, redacted.
// A line "EOT" would end the message for line readers: it gets a trailing
// dot.
func detailsData(r engine.Result) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(r.Detail))
	if len(r.Reproduce) > 0 {
		b.WriteString("\nReproduce:")
		for _, l := range r.Reproduce {
			b.WriteString("\n" + l)
		}
	}
	lines := strings.Split(cred.Redact(b.String()), "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) == "EOT" {
			l += "."
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// value is s redacted, on one line, at most n bytes (cut at a character
// boundary, ending in "...").
func value(s string, n int) string {
	s = strings.Join(strings.Fields(cred.Redact(s)), " ")
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// fit cuts s to at most room bytes (at a character boundary), ending it with
// a note saying how much was left out. cut is the number of bytes of s
// dropped.
func fit(s string, room int) (string, int) {
	if len(s) <= room {
		return s, 0
	}
	note := func(n int) string { return fmt.Sprintf("\n[gridprobe: details cut, %d bytes left out]", n) }
	keep := max(room-len(note(len(s))), 0)
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + note(len(s)-keep), len(s) - keep
}
