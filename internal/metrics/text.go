package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// The per-check families are written here by hand, straight from the
// snapshot, instead of through a prometheus.Registry: with 1 000 sites ×
// 30 checks the registry builds 180 000 client_model protobufs per scrape,
// sorts each family's 30 000 series by label pairs and encodes them one by
// one, which takes seconds; writing the text directly takes tens of
// milliseconds. The output is the registry's exposition in content (same
// families, help, type, labels, values; labels in the same order) with the
// series in snapshot order (config and catalogue order) instead of sorted.

// checkFamily is one per-check gauge family: its name, help and how an
// entry's value is derived (ok false: the entry has no sample in it).
type checkFamily struct {
	name, help string
	value      func(e *Entry) (v float64, ok bool)
}

// checkFamilies are the per-check families, sorted by name (the order the
// registry gathers them in).
var checkFamilies = []checkFamily{
	{CheckDuration, "How long the check's latest run took.",
		func(e *Entry) (float64, bool) { return e.Duration.Seconds(), true }},
	{CheckLastChange, "When the check entered its current state (Unix seconds); time() minus this is the time in state.",
		func(e *Entry) (float64, bool) { return unixSeconds(e.LastChange), !e.LastChange.IsZero() }},
	{CheckLastRun, "When the check's latest run started (Unix seconds).",
		func(e *Entry) (float64, bool) { return unixSeconds(e.Start), !e.Start.IsZero() }},
	{CheckParty, "Whose fault the check's latest non-OK result is: 0 none (OK), 1 the site, 2 a central service (the token issuer), 3 the probe (its credentials or config).",
		func(e *Entry) (float64, bool) { return PartyValue(e.Party), true }},
	{CheckRawState, "99summary only: the worst state of the service's checks whatever its summary policy (gridprobe_check_state is the policy's summary).",
		func(e *Entry) (float64, bool) {
			if e.RawState == nil || e.Check != engine.SummaryID {
				return 0, false
			}
			return float64(*e.RawState), true
		}},
	{CheckState, "Nagios state of the check's latest run: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
		func(e *Entry) (float64, bool) { return float64(e.State), true }},
	{CheckSuccess, "1 if the check's latest run was OK or WARNING, else 0.",
		func(e *Entry) (float64, bool) {
			if Success(e.State) {
				return 1, true
			}
			return 0, true
		}},
}

// WriteChecks writes the per-check families of entries to w in the text
// exposition format 0.0.4: HELP and TYPE lines, then one sample per entry
// that has a value, in entries' order. entries must hold each (site,
// service, check, credential) at most once. A label value that is not
// valid UTF-8 has its invalid bytes replaced by U+FFFD (the registry would
// refuse the whole series).
func WriteChecks(w io.Writer, entries []Entry) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	// The label part `{check="…",…,vo="…"} ` of an entry is the same in
	// every family: build all of them once into one buffer. Label names in
	// sorted order, as the registry writes them.
	lbuf := make([]byte, 0, len(entries)*160)
	offs := make([]int, len(entries)+1)
	for i := range entries {
		e := &entries[i]
		for j, lv := range [...]struct{ name, val string }{
			{"check", e.Check}, {"credential", e.Credential}, {"protocol", e.Protocol},
			{"service", e.Service}, {"site", e.Site}, {"vo", e.VO},
		} {
			if j == 0 {
				lbuf = append(lbuf, '{')
			} else {
				lbuf = append(lbuf, ',')
			}
			lbuf = append(lbuf, lv.name...)
			lbuf = append(lbuf, '=', '"')
			lbuf = appendLabelValue(lbuf, lv.val)
			lbuf = append(lbuf, '"')
		}
		lbuf = append(lbuf, '}', ' ')
		offs[i+1] = len(lbuf)
	}
	var num []byte
	for _, f := range checkFamilies {
		header := false // written before the first sample: a family without any is left out, as the registry does
		for i := range entries {
			v, ok := f.value(&entries[i])
			if !ok {
				continue
			}
			if !header {
				writeHeader(bw, f)
				header = true
			}
			bw.WriteString(f.name)
			bw.Write(lbuf[offs[i]:offs[i+1]])
			num = appendFloat(num[:0], v)
			num = append(num, '\n')
			if _, err := bw.Write(num); err != nil {
				return fmt.Errorf("writing %s: %w", f.name, err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing check metrics: %w", err)
	}
	return nil
}

func writeHeader(bw *bufio.Writer, f checkFamily) {
	bw.WriteString("# HELP ")
	bw.WriteString(f.name)
	bw.WriteByte(' ')
	bw.WriteString(helpEscaper.Replace(f.help))
	bw.WriteString("\n# TYPE ")
	bw.WriteString(f.name)
	bw.WriteString(" gauge\n")
}

var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

// appendLabelValue appends v escaped for a quoted label value of the text
// format: backslash, double quote and line feed are escaped.
func appendLabelValue(b []byte, v string) []byte {
	plain := true
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\\' || c == '"' || c == '\n' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain { // the common case: printable ASCII identifiers
		return append(b, v...)
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat formats v as the text format does (Go's shortest 'g', with
// NaN, +Inf, -Inf; zero of either sign as 0).
func appendFloat(b []byte, v float64) []byte {
	switch {
	case v == 0:
		return append(b, '0')
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// ContentType is what Handler and Write serve: the text format 0.0.4, which
// every Prometheus version accepts.
const ContentType = string(expfmt.FmtText)

// Write gathers g and writes the text exposition to w, with the round
// families of rounds (nil: none) written directly in name order.
func Write(w http.ResponseWriter, g prometheus.Gatherer, rounds *Rounds) { write(w, g, nil, rounds) }

// directBlock is a run of families written by hand rather than gathered:
// names (sorted) and the function that writes all of them.
type directBlock struct {
	names []string
	write func(io.Writer) error
}

// write writes g's families and, in name order between them, the per-check
// families of checks() if checks is not nil and the round families of
// rounds if not nil. A directly written family also gathered from g is an
// error: the exposition would name it twice.
func write(w http.ResponseWriter, g prometheus.Gatherer, checks func() []Entry, rounds *Rounds) {
	var blocks []directBlock // sorted by first name
	if checks != nil {
		names := make([]string, len(checkFamilies))
		for i, f := range checkFamilies {
			names[i] = f.name
		}
		blocks = append(blocks, directBlock{names, func(w io.Writer) error { return WriteChecks(w, checks()) }})
	}
	if rounds != nil {
		blocks = append(blocks, directBlock{roundFamilyNames, rounds.WriteRounds})
	}
	mfs, err := g.Gather()
	if err != nil && len(mfs) == 0 {
		http.Error(w, fmt.Sprintf("gathering metrics: %v", err), http.StatusInternalServerError)
		return
	}
	for _, mf := range mfs {
		for _, b := range blocks {
			if slices.Contains(b.names, mf.GetName()) {
				http.Error(w, "metric family "+mf.GetName()+" is both registered and written directly", http.StatusInternalServerError)
				return
			}
		}
	}
	w.Header().Set("Content-Type", ContentType)
	enc := expfmt.NewEncoder(w, expfmt.FmtText)
	for _, mf := range mfs {
		for len(blocks) > 0 && blocks[0].names[0] < mf.GetName() {
			if err := blocks[0].write(w); err != nil {
				return // the client went away
			}
			blocks = blocks[1:]
		}
		if err := enc.Encode(mf); err != nil {
			return // the client went away; nothing useful left to say
		}
	}
	for _, b := range blocks {
		if err := b.write(w); err != nil {
			return // the client went away
		}
	}
}

// Handler serves g as text exposition 0.0.4 with, in name order, the
// per-check families of checks() (written directly, see WriteChecks) when
// checks is not nil, and the round families of rounds when rounds is not
// nil (written directly, see Rounds.WriteRounds); g must then not hold a
// CheckCollector. promhttp is not
// used because it negotiates the format (OpenMetrics, protobuf, escaping
// parameters) from the Accept header; the probe always answers in the one
// format that every Prometheus and promtool accept.
func Handler(g prometheus.Gatherer, checks func() []Entry, rounds *Rounds) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { write(w, g, checks, rounds) })
}
