// Command probe is gridprobe's command line: it reads sites.yaml, runs the
// checks of every selected site and service with the configured
// credentials, and prints the results (ETF-style table, Nagios plugin output,
// Checkmk local checks or JSON). It only wires flags to the config, engine
// and report packages; no protocol code lives here.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gridprobe/gridprobe/internal/round"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: probe <command> [flags]

commands:
  run       run checks and print results (exit code = worst Nagios state)
  validate  check a sites.yaml and exit 0 (valid) or 1
  list      print the check catalogue and the configured sites and services
  import    write a sites.yaml from the experiment's VO feed and/or CRIC
  cleanup   list (and with --older-than remove) scratch dirs left by crashed runs
  serve     run scheduled rounds; serve /metrics, /probe and the status page
  wn        inside a CE test job: check the worker node with the job's credentials (JSON lines)
  report    availability and reliability (--ar) over a time window, from Prometheus
  version   print the version

run 'probe <command> -h' for the flags of a command.
`

func main() {
	round.TuneGC()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 3
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		ctx, stop := interruptContext(stderr)
		defer stop()
		return cmdRun(ctx, rest, stdout, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "list":
		return cmdList(rest, stdout, stderr)
	case "import":
		ctx, stop := interruptContext(stderr)
		defer stop()
		return cmdImport(ctx, rest, stdout, stderr)
	case "serve":
		ctx, stop := interruptContext(stderr)
		defer stop()
		return cmdServe(ctx, rest, stdout, stderr)
	case "report":
		ctx, stop := interruptContext(stderr)
		defer stop()
		return cmdReport(ctx, rest, stdout, stderr)
	case "cleanup":
		ctx, stop := interruptContext(stderr)
		defer stop()
		return cmdCleanup(ctx, rest, stdout, stderr)
	case "wn":
		ctx, stop := interruptContext(stderr)
		defer stop()
		return cmdWN(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "gridprobe probe %s\n", version)
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "probe: unknown command %q\n\n%s", cmd, usage)
		return 3
	}
}

// interruptContext is cancelled by the first SIGINT/SIGTERM (checks stop,
// cleanups still run); a second signal exits at once.
func interruptContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sig:
		case <-ctx.Done():
			return
		}
		fmt.Fprintln(stderr, "probe: interrupted: stopping checks, cleaning up scratch areas (interrupt again to quit now)")
		cancel()
		<-sig
		fmt.Fprintln(stderr, "probe: second interrupt: exiting without cleanup")
		os.Exit(3)
	}()
	return ctx, func() { signal.Stop(sig); cancel() }
}

// listFlag collects a repeatable or comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("probe "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses and reports whether the caller should stop (help or a
// flag error) and with which exit code.
func parseFlags(fs *flag.FlagSet, args []string) (stop bool, code int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, 0
		}
		return true, 3
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return true, 3
	}
	return false, 0
}
