package report

import (
	"io"
	"strings"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// Reproduce writes the shell lines that rerun each result's check by hand,
// for every result that has some, each block under a comment naming the
// check and its state:
//
//	# org.testvo.SE-WebDAV-14tkn-read (CRITICAL)
//	curl ...
//
// Names carry the site (and endpoint) only when they would be ambiguous
// otherwise. Nothing is written when no result has reproduce lines.
func Reproduce(w io.Writer, results []engine.Result) error {
	return writeRedacted(w, reproduceText(results))
}

func reproduceText(results []engine.Result) string {
	n := names(results, byMetric, bySiteMetric, bySiteHost)
	var b strings.Builder
	for i, r := range results {
		if len(r.Reproduce) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString("# " + oneLineName(n[i]) + " (" + r.State.String() + ")\n")
		for _, line := range r.Reproduce {
			b.WriteString(redact(line) + "\n")
		}
	}
	return b.String()
}

// oneLineName keeps a name (which came from configuration) on one line.
func oneLineName(s string) string { return strings.Join(strings.Fields(s), " ") }
