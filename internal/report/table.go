package report

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/tw"
	"golang.org/x/term"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// TableOptions controls the status table.
type TableOptions struct {
	// Color puts ANSI colours on the State cell; the caller decides
	// (IsTerminal), so pipes and files stay plain.
	Color bool
	// Now is the reference time for the Age column, the time each check has
	// been in its state (Result.Since; "unknown" when not known) (zero:
	// time.Now()). Checked is when the check ran.
	Now time.Time
	// Reproduce lists every result's reproduce lines under the table.
	Reproduce bool
	// Width is the terminal width; details wrap to fit it. Zero means no
	// limit: one line per check, good for grep.
	Width int
}

// minDetailWidth is the narrowest the detail column gets, however narrow
// the terminal: below that a detail is unreadable anyway.
const minDetailWidth = 30

// ANSI SGR colours for the State cell. Four escape codes do not justify a
// colour library, and raw codes keep golden files exact.
var stateColor = map[engine.State]string{
	engine.OK:       "\x1b[32m", // green
	engine.Warning:  "\x1b[33m", // yellow
	engine.Critical: "\x1b[31m", // red
	engine.Unknown:  "\x1b[35m", // magenta
}

const colorReset = "\x1b[0m"

// Table writes the ETF-style status table, State · Service · Status detail ·
// Age · Checked, one row per result in the given order, grouped by site.
// With one site the site is the table's title; with several a Site column
// shows each site once, at the top of its group. A summary line follows the
// table, then (with opts.Reproduce) the reproduce listing.
func Table(w io.Writer, results []engine.Result, opts TableOptions) error {
	if len(results) == 0 {
		return writeRedacted(w, "no results\n")
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	sites, groups := bySite(results)
	multi := len(sites) > 1
	ordered := make([]engine.Result, 0, len(results))
	var svc []string // the Service column: unique within a site
	for _, g := range groups {
		group := make([]engine.Result, len(g))
		for j, i := range g {
			group[j] = results[i]
		}
		ordered = append(ordered, group...)
		svc = append(svc, names(group, byMetric, byMetricHost)...)
	}

	header := []string{"State", "Service", "Status detail", "Age", "Checked"}
	if multi {
		header = append([]string{"Site"}, header...)
	}
	detailCol := len(header) - 3
	rows := make([][]string, len(ordered))
	for i, r := range ordered {
		row := []string{
			r.State.String(),
			svc[i],
			statusLine(r),
			ageOf(r, now),
			end(r).UTC().Format(timeLayout),
		}
		if multi {
			row = append([]string{redact(r.Site)}, row...)
		}
		rows[i] = row
	}

	if opts.Width > 0 {
		dw := detailWidth(header, rows, detailCol, opts.Width)
		for _, row := range rows {
			row[detailCol] = strings.Join(wrap(row[detailCol], dw), "\n")
		}
	}
	if opts.Color {
		stateCol := detailCol - 2
		for i, row := range rows {
			if c, ok := stateColor[ordered[i].State]; ok {
				row[stateCol] = c + row[stateCol] + colorReset
			}
		}
	}

	var b strings.Builder
	if !multi {
		fmt.Fprintf(&b, "%s\n", redact(sites[0]))
	}
	tb := tablewriter.NewTable(&b,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithTrimSpace(tw.Off),
	)
	if multi {
		tb.Configure(func(c *tablewriter.Config) {
			c.Row.Merging = tw.CellMerging{Mode: tw.MergeVertical, ByColumnIndex: tw.Mapper[int, bool]{0: true}}
			c.Row.Formatting.MergeMode = tw.MergeVertical
		})
	}
	tb.Header(header)
	if err := tb.Bulk(rows); err != nil {
		return fmt.Errorf("status table: %w", err)
	}
	if err := tb.Render(); err != nil {
		return fmt.Errorf("status table: %w", err)
	}
	n := fmt.Sprintf("%d %s", len(results), plural(len(results), "check"))
	if multi {
		n = fmt.Sprintf("%d sites, %s", len(sites), n)
	}
	fmt.Fprintf(&b, "%s: %s\n", n, summaryCounts(results))
	if opts.Reproduce {
		if s := reproduceText(ordered); s != "" {
			b.WriteString("\n" + s)
		}
	}
	return writeRedacted(w, b.String())
}

// detailWidth is what is left of width for the detail column once the
// other columns, padding and borders are laid out (at least
// minDetailWidth).
func detailWidth(header []string, rows [][]string, detailCol, width int) int {
	used := len(header) + 1 + 2*len(header) // borders and one space of padding each side
	for c := range header {
		if c == detailCol {
			continue
		}
		m := twwidth.Width(header[c])
		for _, row := range rows {
			m = max(m, twwidth.Width(row[c]))
		}
		used += m
	}
	return max(width-used, minDetailWidth)
}

// wrap breaks s into lines of at most width display columns, at spaces
// where it can and inside a word only when the word alone is too long (a
// long URL). tablewriter offers either never breaking words (the table
// overflows) or breaking every line mid-word with a marker (URLs no longer
// copy); neither suits a detail.
func wrap(s string, width int) []string {
	var lines []string
	line, lw := "", 0
	flush := func() {
		if lw > 0 {
			lines = append(lines, line)
		}
		line, lw = "", 0
	}
	for _, word := range strings.Fields(s) {
		ww := twwidth.Width(word)
		switch {
		case lw > 0 && lw+1+ww <= width:
			line, lw = line+" "+word, lw+1+ww
		case ww <= width:
			flush()
			line, lw = word, ww
		default:
			flush()
			for _, r := range word {
				rw := twwidth.Width(string(r))
				if lw+rw > width {
					flush()
				}
				line, lw = line+string(r), lw+rw
			}
		}
	}
	flush()
	if len(lines) == 0 {
		return []string{""}
	}
	return lines
}

// age formats a duration the way the Age column shows it: "3s", "2m",
// "1h4m", "2d3h".
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	default:
		days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, h)
	}
}

// fder is what *os.File offers to find its descriptor.
type fder interface{ Fd() uintptr }

// IsTerminal reports whether w is a terminal (colour and wrapping make
// sense), not a pipe or a file.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(fder)
	return ok && term.IsTerminal(int(f.Fd()))
}

// TerminalWidth returns w's width in columns, or 0 when w is not a
// terminal (then TableOptions.Width 0 means "do not wrap").
func TerminalWidth(w io.Writer) int {
	f, ok := w.(fder)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

var _ fder = (*os.File)(nil)
