package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/wn"
)

// cmdWN runs the worker-node checks inside a job (internal/wn): JSON lines
// on stdout, one per WN check; the exit code is the worst state.
func cmdWN(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("wn", stderr)
	cfgPath := fs.String("c", "gridprobe-wn.yaml", "the site's configuration (as the CE check ships it, or a sites.yaml)")
	site := fs.String("site", "", "the site to check (default: the configuration's only site)")
	runID := fs.String("run-id", "", "run id naming the scratch areas (default: a new one)")
	timeout := fs.Duration("timeout", 10*time.Minute, "deadline for all checks")
	debug := fs.Bool("debug", false, "write the run's debug log to stderr (credentials are never logged)")
	if stop, code := parseFlags(fs, args); stop {
		return code
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "probe wn: %v\n", err)
		return 3
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	opt := wn.Options{Config: cfg, Site: *site, RunID: *runID, Out: stdout}
	if *debug {
		opt.Log = newLogger(stderr)
	}
	return wn.Run(ctx, opt)
}
