package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/protocol"
	"github.com/gridprobe/gridprobe/internal/report"
	"github.com/gridprobe/gridprobe/internal/round"
)

const defaultConfig = "sites.yaml"

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", stderr)
	cfgPath := fs.String("c", defaultConfig, "sites.yaml to read")
	var sites, services, checks listFlag
	fs.Var(&sites, "site", "run only this site (repeatable, comma-separated)")
	fs.Var(&services, "service", "run only services of this type ("+strings.Join(protocol.Types(), ", ")+") or name")
	fs.Var(&checks, "check", "run only this check id (e.g. 14tkn-read) and its prerequisites")
	format := fs.String("format", "table", "output: table, nagios, checkmk, json")
	reproduce := fs.Bool("reproduce", false, "print the reproduce commands (table and nagios formats)")
	debug := fs.Bool("debug", false, "write the run's debug log to stderr (credentials are never logged)")
	concurrency := fs.Int("concurrency", 0, "sites at once (default: defaults.concurrency from sites.yaml)")
	progress := fs.String("progress", "auto", "progress on stderr: auto (when stderr is a terminal), on, off")
	state := fs.String("state", "", "keep the last states in this file, so Age is the time in state (runs may share it)")
	publishFlag := fs.Bool("publish", false, "also send every result to the broker of sites.yaml's publish: section (ETF/SAM messages over STOMP)")
	if stop, code := parseFlags(fs, args); stop {
		return code
	}
	switch *format {
	case "table", "nagios", "checkmk", "json":
	default:
		fmt.Fprintf(stderr, "probe run: unknown format %q (table, nagios, checkmk, json)\n", *format)
		return 3
	}

	cfg, err := loadConfig(ctx, *cfgPath, stderr) // with sites_from: the feed's sites too
	if err != nil {
		fmt.Fprintf(stderr, "probe run: %v\n", err)
		return 3
	}
	rd, err := round.Build(cfg, round.Options{Sites: sites, Services: services, Checks: checks})
	if err != nil {
		fmt.Fprintf(stderr, "probe run: %v\n", err)
		return 3
	}
	defer rd.Close()
	if rd.TokenErr != nil && *debug {
		fmt.Fprintf(stderr, "probe run: tokens: %v\n", cred.Redact(rd.TokenErr.Error()))
	}
	engineSites := rd.Sites
	pub, err := runPublisher(cfg, *publishFlag, *debug, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "probe run: %v\n", err)
		return 3
	}
	runner := rd.Runner(cfg.Defaults.Concurrency, nil)
	if *concurrency > 0 {
		runner.Concurrency = *concurrency
	}
	if *debug {
		runner.Log = newLogger(stderr)
	}
	showProgress := *progress == "on" || (*progress == "auto" && report.IsTerminal(stderr))
	if showProgress {
		p := &progressLine{w: stderr, total: len(engineSites), start: time.Now()}
		runner.OnSiteDone = p.siteDone
		defer p.finish()
	}
	results := runRound(ctx, runner, cfg, engineSites, *state, stderr)
	defer publishResults(pub, cfg, results, stderr)
	return printResults(stdout, results, *format, *reproduce, ctx.Err() != nil)
}

// printResults writes results in the chosen format and returns the exit
// code: the worst Nagios state of the services (report.Overall; UNKNOWN if
// interrupted and all else OK).
func printResults(w io.Writer, results []engine.Result, format string, reproduce, interrupted bool) int {
	var err error
	worst := report.Overall(results) // per service its 99summary, which applies the summary policy
	switch format {
	case "table":
		err = report.Table(w, results, report.TableOptions{Color: report.IsTerminal(w), Now: time.Now(),
			Reproduce: reproduce, Width: report.TerminalWidth(w)})
	case "nagios":
		worst = report.Nagios(w, results)
		if reproduce {
			err = report.Reproduce(w, results)
		}
	case "checkmk":
		err = report.Checkmk(w, results)
	case "json":
		err = report.JSON(w, results, report.JSONOptions{})
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe: writing %s output: %v\n", format, err)
		return 3
	}
	if interrupted && worst == engine.OK {
		return int(engine.Unknown)
	}
	return int(worst)
}

// progressLine shows "sites done / total, failures so far" on a terminal.
type progressLine struct {
	mu     sync.Mutex
	w      io.Writer
	total  int
	done   int
	failed map[string]bool
	start  time.Time
}

func (p *progressLine) siteDone(site string, results []engine.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if p.failed == nil {
		p.failed = map[string]bool{}
	}
	for _, r := range results {
		if r.State == engine.Critical {
			p.failed[site] = true
		}
	}
	fmt.Fprintf(p.w, "\r\033[Ksites %d/%d done, %d with CRITICAL checks, %s", p.done, p.total, len(p.failed),
		time.Since(p.start).Round(time.Second))
}

func (p *progressLine) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done > 0 {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// logger writes the runner's debug log through the redactor.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func newLogger(w io.Writer) *logger { return &logger{w: w} }

func (l *logger) Logf(format string, args ...any) {
	line := cred.Redact(fmt.Sprintf(format, args...))
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s %s\n", time.Now().UTC().Format("15:04:05.000"), line)
}
