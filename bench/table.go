package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Row is one line of the results table.
type Row struct {
	Figure   string
	Measured string
	Target   string
	// Verdict is PASS, FAIL or "not measured (why)".
	Verdict string
}

// Verdict turns a comparison into PASS or FAIL.
func Verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// Machine describes where the table was measured.
func Machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if _, v, ok := strings.Cut(l, ":"); ok {
					cpu = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	kernel := ""
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		kernel = ", " + strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%d CPUs (%s), %s%s, %s/%s", runtime.NumCPU(), cpu, runtime.Version(), kernel, runtime.GOOS, runtime.GOARCH)
}

// WriteTable writes the rows as a markdown table with the machine, date,
// the command and notes.
func WriteTable(w io.Writer, rows []Row, command string, notes []string) {
	fmt.Fprintf(w, "Measured %s on %s.\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), Machine())
	fmt.Fprintf(w, "Command: `%s`\n\n", command)
	fmt.Fprintln(w, "| figure | measured | target | result |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.Figure, r.Measured, r.Target, r.Verdict)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// Median of ds (ds is sorted in place).
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j] < ds[j-1]; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
	return ds[len(ds)/2]
}

// Secs formats d in seconds with 3 significant decimals.
func Secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

// Markers around the generated part of bench/RESULTS.md: a run replaces
// what is between them and keeps the hand-written analysis around them.
const (
	BeginGenerated = "<!-- bench:begin (written by make bench) -->"
	EndGenerated   = "<!-- bench:end -->"
)

// ReplaceGenerated puts generated between the markers of old; when old has
// no markers (or none at all), the result is a new file: a title and the
// generated part between markers.
func ReplaceGenerated(old, generated string) string {
	block := BeginGenerated + "\n" + generated + EndGenerated + "\n"
	i := strings.Index(old, BeginGenerated)
	j := strings.Index(old, EndGenerated)
	if i < 0 || j < i {
		return "# gridprobe benchmarks (latest run)\n\n" + block
	}
	rest := strings.TrimPrefix(old[j+len(EndGenerated):], "\n")
	return old[:i] + block + rest
}
