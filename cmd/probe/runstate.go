package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/statefile"
)

// clock is the time `probe run` stamps results with (tests shift it to
// stand for a later run).
var clock = time.Now

// runRound runs one round of `probe run` (internal/round has put the
// summary policies of cfg on the services) and, with a state file, gives every result
// its time in state (Since and an "age" perf value) and records the states
// there. An interrupted round only reads the file: the UNKNOWNs of checks
// it never ran must not reset anyone's Age. A state file that cannot be
// used is reported on stderr; the results are printed all the same.
func runRound(ctx context.Context, runner *engine.Runner, cfg *config.Config, sites []*engine.Site,
	statePath string, stderr io.Writer) []engine.Result {
	if runner.Now == nil {
		runner.Now = clock
	}
	results := runner.Run(ctx, sites)
	if statePath == "" {
		return results
	}
	interrupted := ctx.Err() != nil
	out, err := statefile.Update(statePath, results, statefile.Options{Now: clock(), ReadOnly: interrupted,
		Warn: func(s string) { fmt.Fprintf(stderr, "probe run: %s\n", cred.Redact(s)) }})
	if err != nil {
		fmt.Fprintf(stderr, "probe run: %s (results not recorded)\n", cred.Redact(err.Error()))
	} else if interrupted {
		fmt.Fprintf(stderr, "probe run: interrupted: %s not updated\n", statePath)
	}
	return out
}
