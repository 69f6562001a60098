package ce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/wnline"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// The worker-node checks of a CE service (WN-01basic … WN-99summary, see
// internal/wnline) come from the job of 14tkn-submit: it ships `probe wn`
// with the site's storage configuration and a narrowly scoped storage
// token, and each line of the payload's output becomes one check of the CE
// service. They require 14tkn-submit: a job that never ran, was held or
// failed makes them UNKNOWN "prerequisite 14tkn-submit failed: <the CE's
// reason>".

// wnState is what the submit check learned for the WN checks of the same
// service (its checks run one after the other).
type wnState struct {
	mu      sync.Mutex
	submit  string     // the submit check's detail (the reason when it failed)
	noWN    error      // why the job carried no payload
	payload *wnPayload // what was shipped
	jobID   string
	rep     *wnline.Report
	outErr  error  // the output could not be read as probe wn output
	cleaned string // what the CE's own scratch cleanup found
	repro   []string
}

func (w *wnState) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.submit, w.noWN, w.payload, w.jobID, w.rep, w.outErr, w.cleaned, w.repro = "", nil, nil, "", nil, nil, "", nil
}

// wnChecks are the WN checks of a CE service: none when the site has no
// storage service for the job to check; the crt ones only when the probe
// has a proxy to ship.
func wnChecks(t probe.Target, st *wnState, withProxy bool) []engine.Check {
	if t.Site == nil || len(storageServices(t.Site)) == 0 {
		return nil
	}
	var out []engine.Check
	for _, c := range wnline.Catalogue {
		if c.Credential == engine.CredX509 && !withProxy {
			continue
		}
		id := c.ID
		out = append(out, engine.Check{
			ID: id, Credential: c.Credential, Requires: []string{IDTknSubmit},
			Unmet:     st.unmet,
			Run:       func(context.Context, *engine.Env) engine.Outcome { return st.outcome(id, withProxy) },
			Reproduce: st.reproduce,
		})
	}
	return out
}

// hasProxyFile reports whether the probe's proxy file exists (the crt WN
// checks are in the catalogue only then).
func hasProxyFile(t probe.Target) bool {
	if t.Creds == nil || t.Creds.ProxyPath == "" {
		return false
	}
	_, err := os.Stat(t.Creds.ProxyPath)
	return err == nil
}

func (w *wnState) unmet(failed []string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := "prerequisite " + strings.Join(failed, ", ") + " failed"
	if w.submit != "" {
		s += ": " + w.submit
	}
	return s
}

func (w *wnState) reproduce() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.repro
}

// outcome is one WN check's result, from the parsed payload output.
func (w *wnState) outcome(id string, withProxy bool) engine.Outcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	o := w.lineOutcome(id, withProxy)
	o.Reproduce = w.repro
	return o
}

func (w *wnState) lineOutcome(id string, withProxy bool) engine.Outcome {
	switch {
	case w.noWN != nil:
		return engine.Unknownf("no worker-node payload was shipped: %v", w.noWN)
	case w.outErr != nil:
		return engine.Unknownf("job %s: %v", w.jobID, w.outErr)
	case w.rep == nil:
		return engine.Unknownf("no worker-node output (the submit check did not reach it)")
	}
	if id == wnline.Summary {
		return w.summary(withProxy)
	}
	l, ok := w.rep.Get(id)
	if !ok {
		why := "the payload did not report " + id
		if id == wnline.CrtRead || id == wnline.CrtWrite {
			why += " (the job had no usable proxy; see " + wnline.Credentials + ")"
		}
		return engine.Unknownf("%s", why)
	}
	o := engine.Outcome{State: l.State, Party: l.Party, Detail: l.Detail, Perf: l.Perf}
	if id == wnline.TknWrite && w.cleaned != "" {
		o.Detail = w.cleaned + "; " + o.Detail
		if l.State == engine.OK {
			o.State = engine.Warning
		}
	}
	return o
}

// summary is WN-99summary: the worst of the job's WN checks.
func (w *wnState) summary(withProxy bool) engine.Outcome {
	var states []engine.State
	var bad []string
	var party engine.Party
	n := 0
	for _, c := range wnline.Catalogue {
		if c.ID == wnline.Summary || c.Credential == engine.CredX509 && !withProxy {
			continue
		}
		n++
		o := w.lineOutcome(c.ID, withProxy)
		if o.State.Severity() > engine.Worst(states...).Severity() {
			party = o.Party // the worst check's
		}
		states = append(states, o.State)
		if o.State != engine.OK {
			bad = append(bad, c.ID+" "+o.State.String())
		}
	}
	host := w.rep.Summary.Host
	o := engine.Outcome{State: engine.Worst(states...), Party: party}
	if len(bad) == 0 {
		o.Detail = fmt.Sprintf("all %d worker-node checks OK on %s (job %s)", n, dash(host), w.jobID)
	} else {
		o.Detail = fmt.Sprintf("%d of %d worker-node checks not OK on %s (job %s): %s", len(bad), n, dash(host), w.jobID, strings.Join(bad, ", "))
	}
	return o
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readWNOutput takes probe wn's lines out of the job's stdout (between the
// launcher's begin and exit lines) and parses them.
func readWNOutput(stdout, stderr []byte) (*wnline.Report, error) {
	_, rest, ok := bytes.Cut(stdout, []byte(wnBegin+"\n"))
	if !ok {
		return nil, fmt.Errorf("probe wn did not start: the job's stdout has no %q line (stdout starts %s; stderr %s)",
			wnBegin, wnline.Head(stdout, 80), wnline.Head(stderr, 120))
	}
	body, exit, found := cutExitLine(rest)
	rep, err := wnline.Parse(body)
	switch {
	case errors.Is(err, wnline.ErrEmpty) && found:
		return nil, fmt.Errorf("probe wn wrote nothing and exited %s (stderr %s): %w", exit, wnline.Head(stderr, 160), err)
	case err != nil && !found:
		return rep, fmt.Errorf("probe wn's output: %w; the job ended before the launcher's %q line (killed?; stderr %s)", err, wnExit, wnline.Head(stderr, 120))
	case err != nil:
		return rep, fmt.Errorf("probe wn's output (exit %s): %w (stderr %s)", exit, err, wnline.Head(stderr, 120))
	}
	if code, cerr := strconv.Atoi(exit); cerr != nil || code < 0 || code > 3 {
		return rep, fmt.Errorf("probe wn exited %s after complete output (a crash?; stderr %s)", exit, wnline.Head(stderr, 120))
	}
	return rep, nil
}

// cutExitLine splits the payload's output from the launcher's
// "gridprobe-wn-exit <code>" line.
func cutExitLine(rest []byte) (body []byte, exit string, found bool) {
	idx := bytes.LastIndex(rest, []byte(wnExit+" "))
	if idx < 0 || idx > 0 && rest[idx-1] != '\n' {
		return rest, "", false
	}
	line := rest[idx+len(wnExit)+1:]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	return rest[:idx], strings.TrimSpace(string(line)), true
}

// prepare makes the job of a submit check carry the worker-node payload:
// it returns the job with the payload's run id, or the plain job (and
// records why) when nothing can be shipped. The job's scratch areas are
// cleaned by a cleanup whatever happens to the job.
func (w *wnState) prepare(ctx context.Context, env *engine.Env, t probe.Target, job jobSpec, withProxy bool) (jobSpec, *wnPayload) {
	w.reset()
	runID, err := probe.ServiceRunID(t.RunID, "wn "+env.Check)
	var pl *wnPayload
	if err == nil {
		pl, err = newWNPayload(ctx, t, runID, withProxy)
	}
	if err != nil {
		w.mu.Lock()
		w.noWN = err
		w.mu.Unlock()
		env.Logf("no worker-node payload: %v", err)
		return job, nil
	}
	job.wn, job.withProxy = runID, pl.proxy != ""
	w.mu.Lock()
	w.payload = pl
	w.mu.Unlock()
	env.Cleanup("remove the worker-node job's scratch areas", func(cctx context.Context) error {
		_, err := cleanWNScratch(cctx, t, pl)
		return err
	})
	return job, pl
}

// setJob records the job carrying the payload and the WN reproduce lines.
func (w *wnState) setJob(id string, repro []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.jobID, w.repro = id, repro
}

// setSubmit records the submit check's outcome: its detail is the reason
// the WN checks give when it failed.
func (w *wnState) setSubmit(o engine.Outcome) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if o.State != engine.OK && o.State != engine.Warning {
		w.submit = o.Detail
	}
}

// finish reads the payload's output from the job's stdout and stderr,
// removes what the job left in its scratch areas, and returns a note for
// the submit check's detail.
func (w *wnState) finish(ctx context.Context, t probe.Target, stdout, stderr []byte) string {
	rep, err := readWNOutput(stdout, stderr)
	w.mu.Lock()
	pl := w.payload
	w.mu.Unlock()
	note, cerr := cleanWNScratch(ctx, t, pl)
	if cerr != nil {
		note = strings.TrimPrefix(note+"; the CE check could not clean the job's scratch area: "+cerr.Error(), "; ")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rep, w.outErr, w.cleaned = rep, err, note
	switch {
	case err != nil:
		return "; worker-node payload output unusable (see " + wnline.Summary + ")"
	default:
		return fmt.Sprintf("; worker-node payload on %s: %d checks, %s", dash(rep.Summary.Host), rep.Summary.Checks, rep.Summary.State)
	}
}

// launcher is the job's executable file (the script with its #! line).
func (j jobSpec) launcher(marker string) string {
	return "#!/bin/sh\n# gridprobe worker-node test job: runs probe wn with the job's credentials\n" +
		strings.ReplaceAll(j.script(marker), "; ", "\n") + "\n"
}
