package ce

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// PingScopes are what HTCondor requires for WRITE (submitting), all three
// together.
var PingScopes = []string{"compute.create", "compute.modify", "compute.cancel"}

type condorSvc struct {
	t    probe.Target
	u    *url.URL
	host string
	pool string // host:port of the CE's collector (shared port)
	aud  string
	job  jobSpec
	wn   *wnState // the worker-node checks' share of 14tkn-submit's job
	// wnProxy: the probe's proxy goes with the job (x509userproxy).
	wnProxy bool
}

// NewHTCondor builds the HTCondor-CE catalogue for one service:
// 1connection, 13tkn-ping, 14tkn-submit, 16tkn-access (2ssl does not apply:
// TLS runs inside CEDAR).
func NewHTCondor(t probe.Target) (*engine.Service, error) { return newHTCondor(t, jobSpec{}) }

func newHTCondor(t probe.Target, job jobSpec) (*engine.Service, error) {
	if t.Service == nil || t.Service.URL == nil {
		return nil, fmt.Errorf("htcondor-ce: no URL")
	}
	u := t.Service.URL
	host, port := probe.HostPort(u)
	s := &condorSvc{t: t, u: u, host: host, pool: net.JoinHostPort(host, port), aud: t.Audience(), job: job,
		wn: &wnState{}, wnProxy: hasProxyFile(t)}
	svc := t.NewService(TypeHTCondor)
	submitTO := max(svc.Timeout, MinSubmitTimeout)
	svc.Checks = []engine.Check{
		{ID: IDConnection, Credential: engine.CredNone, Run: s.runConnection},
		{ID: IDTknPing, Credential: engine.CredToken, Requires: []string{IDConnection}, Run: s.runPing, Reproduce: s.reproPing},
		{ID: IDTknSubmit, Credential: engine.CredToken, Requires: []string{IDTknPing}, Timeout: submitTO, Run: s.runSubmit, Reproduce: s.reproSubmit},
		{ID: IDTknAccess, Credential: engine.CredToken, Requires: []string{IDConnection}, Run: s.runAccess, Reproduce: s.reproAccess},
	}
	svc.Checks = append(svc.Checks, wnChecks(t, s.wn, s.wnProxy)...)
	return svc, nil
}

func (s *condorSvc) runConnection(ctx context.Context, _ *engine.Env) engine.Outcome {
	return probe.Connection(ctx, s.u, nil)
}

// prepare finds the tools, gets a token and locates the CE's schedd.
func (s *condorSvc) prepare(ctx context.Context, scopes ...string) (*condorTools, *cred.Token, schedd, *engine.Outcome) {
	fail := func(o engine.Outcome) (*condorTools, *cred.Token, schedd, *engine.Outcome) {
		return nil, nil, schedd{}, &o
	}
	if s.t.Creds == nil {
		return fail(engine.Unknownf("no credentials configured"))
	}
	tools, err := findCondorTools(s.t.Creds.CADir)
	if err != nil {
		return fail(engine.Unknownf("%v", err))
	}
	tok, err := s.t.Creds.Token(ctx, s.aud, scopes...)
	if err != nil {
		return fail(credUnknown(err, "no token: %v", err))
	}
	sd, err := tools.locateSchedd(ctx, tok, s.pool, s.host)
	if err != nil {
		return fail(engine.Critf("cannot locate the CE's schedd: %v (%s; %s)", err, explainCondor(err.Error()), tok.Summary()))
	}
	return tools, tok, sd, nil
}

// ping runs condor_ping WRITE against the schedd.
func (s *condorSvc) ping(ctx context.Context, tools *condorTools, tok *cred.Token, sd schedd) (pingResult, toolRun) {
	r := tools.run(ctx, tok, "", "condor_ping", "-addr", sd.Addr, "-verbose", "WRITE") // -addr excludes -pool
	p := parsePing(r.stdout + "\n" + r.stderr)
	if !p.Authorized && p.Failure == "" {
		p.Failure = firstLine(r.output(), 160)
		if r.err != nil && p.Failure == "" {
			p.Failure = r.err.Error()
		}
	}
	return p, r
}

// missingScopes lists the wanted scopes the token does not carry.
func missingScopes(tok *cred.Token, wanted []string) []string {
	have := tok.Claims().Scopes
	var miss []string
	for _, w := range wanted {
		if !slices.Contains(have, w) {
			miss = append(miss, w)
		}
	}
	return miss
}

// runPing: condor_ping WRITE with a token carrying compute.create
// compute.modify compute.cancel for the CE audience.
func (s *condorSvc) runPing(ctx context.Context, _ *engine.Env) engine.Outcome {
	o := s.doPing(ctx)
	o.Reproduce = s.reproPing()
	return o
}

func (s *condorSvc) doPing(ctx context.Context) engine.Outcome {
	tools, tok, sd, bad := s.prepare(ctx, PingScopes...)
	if bad != nil {
		return *bad
	}
	start := time.Now()
	p, r := s.ping(ctx, tools, tok, sd)
	took := time.Since(start)
	perf := []engine.Perf{{Label: "ping_time", Value: took.Seconds(), Unit: "s"}}
	if r.err != nil && ctx.Err() != nil {
		return engine.Critf("condor_ping WRITE on schedd %s did not answer: %v", sd.Name, r.err)
	}
	if p.Authorized {
		o := engine.Okf("WRITE authorized on schedd %s (%s) as %s via %s; %s", sd.Name, s.pool, orDash(p.Mapping), orDash(p.Method), tok.Summary())
		o.Perf = perf
		return o
	}
	var o engine.Outcome
	if user := deniedUser(p.Failure); user != "" || strings.Contains(p.Failure, "SECMAN:2010") {
		if miss := missingScopes(tok, PingScopes); len(miss) > 0 {
			o = engine.Critf("WRITE DENIED on schedd %s for %s: the token lacks %s (has %q; WRITE needs %s together)",
				sd.Name, orDash(user), strings.Join(miss, " "), strings.Join(tok.Claims().Scopes, " "), strings.Join(PingScopes, " "))
		} else {
			o = engine.Critf("WRITE DENIED on schedd %s for %s although the token has %s: the mapped user is likely not in the CE's ALLOW_WRITE (%s)",
				sd.Name, orDash(user), strings.Join(PingScopes, " "), tok.Summary())
		}
	} else {
		o = engine.Critf("WRITE failed on schedd %s: %s: %s (%s)", sd.Name, p.Failure, explainCondor(p.Failure), tok.Summary())
	}
	o.Perf = perf
	return o
}

// HTCondor job states (JobStatus).
var condorStates = map[string]string{
	"1": "Idle", "2": "Running", "3": "Removed", "4": "Completed", "5": "Held", "6": "TransferringOutput", "7": "Suspended",
}

var clusterRE = regexp.MustCompile(`submitted to cluster (\d+)`)

// runSubmit: a trace job like condor_ce_trace: spooled submit, poll,
// transfer the output back, verify the marker, remove the job.
func (s *condorSvc) runSubmit(ctx context.Context, env *engine.Env) engine.Outcome {
	o := s.submit(ctx, env)
	o.Reproduce = s.reproSubmit()
	s.wn.setSubmit(o)
	return o
}

func (s *condorSvc) submit(ctx context.Context, env *engine.Env) engine.Outcome {
	tools, tok, sd, bad := s.prepare(ctx, SubmitScopes...)
	if bad != nil {
		return *bad
	}
	dir, err := os.MkdirTemp("", "gridprobe-condor-job-")
	if err != nil {
		return engine.Unknownf("job directory: %v", err)
	}
	defer os.RemoveAll(dir)
	marker := newMarker(env.RunID, env.Check)
	name := jobName(env.RunID, env.Check)
	js, pl := s.wn.prepare(ctx, env, s.t, s.job, s.wnProxy)
	if err := s.writeJob(dir, js, pl, marker, name); err != nil {
		return engine.Unknownf("%v", err)
	}
	start := time.Now()
	r := tools.run(ctx, tok, dir, "condor_submit", "-pool", s.pool, "-addr", sd.Addr, "-spool", "gridprobe.sub")
	m := clusterRE.FindStringSubmatch(r.stdout)
	if r.err != nil && m != nil {
		// Submitted, then failed (e.g. spooling its files): remove it.
		env.Cleanup("remove HTCondor job "+m[1], func(cctx context.Context) error { return s.remove(cctx, tools, sd, m[1]) })
	}
	if r.err != nil || m == nil {
		out := firstLine(r.output(), 160)
		return engine.Critf("condor_submit to schedd %s failed: %s (%s; %s)", sd.Name, out, explainCondor(out), tok.Summary())
	}
	cluster := m[1]
	env.Logf("submitted HTCondor job %s.0 to %s", cluster, sd.Name)
	if pl != nil {
		s.wn.setJob(cluster, s.reproWN(js, pl))
	}
	env.Cleanup("remove HTCondor job "+cluster, func(cctx context.Context) error {
		return s.remove(cctx, tools, sd, cluster)
	})

	var trail stateTrail
	last, bad := s.waitCompleted(ctx, env, tools, tok, sd, cluster, start, &trail)
	if bad != nil {
		return *bad
	}
	took := time.Since(start)
	perf := []engine.Perf{{Label: "job_time", Value: took.Seconds(), Unit: "s"}}
	r = tools.run(ctx, tok, dir, "condor_transfer_data", "-pool", s.pool, "-addr", sd.Addr, cluster)
	if r.err != nil {
		o := engine.Critf("job %s completed in %s but condor_transfer_data failed: %s", cluster, took.Round(time.Second), firstLine(r.output(), 160))
		o.Perf = perf
		return o
	}
	out, _ := os.ReadFile(filepath.Join(dir, jobStdout))
	errOut, _ := os.ReadFile(filepath.Join(dir, jobStderr))
	wnNote := ""
	if pl != nil {
		wnNote = s.wn.finish(ctx, s.t, out, errOut)
	}
	o := condorJobOutcome(condorJob{cluster: cluster, took: took, last: last, trail: trail, out: out, errOut: errOut,
		marker: marker, schedd: sd.Name}, wnNote)
	o.Perf = perf
	return o
}

// condorJob is what a finished job left to judge.
type condorJob struct {
	cluster     string
	took        time.Duration
	last        map[string]string
	trail       stateTrail
	out, errOut []byte
	marker      string
	schedd      string
}

// condorJobOutcome judges a completed job: killed, a non-zero exit, output
// without the marker, or OK.
func condorJobOutcome(j condorJob, wnNote string) engine.Outcome {
	owner := orDash(j.last["Owner"])
	took := j.took.Round(time.Second)
	if j.last["ExitBySignal"] == "true" {
		return engine.Critf("job %s killed by signal %s after %s (states %s; owner %s)", j.cluster, j.last["ExitSignal"], took, j.trail, owner)
	}
	if code := j.last["ExitCode"]; code != "0" {
		why := fmt.Sprintf("job %s completed with exit code %s after %s", j.cluster, orDash(code), took)
		if e := firstLine(string(j.errOut), 100); e != "" {
			why += " (stderr: " + e + ")"
		}
		return engine.Critf("%s (states %s; owner %s on schedd %s)", why, j.trail, owner, j.schedd)
	}
	if !strings.Contains(string(j.out), j.marker) {
		return engine.Critf("job %s completed in %s but its output (%d bytes) lacks the marker %s (states %s)", j.cluster, took, len(j.out), j.marker, j.trail)
	}
	return engine.Okf("job %s completed in %s (states %s), marker found in output (%d bytes, %d lines); owner %s on schedd %s%s",
		j.cluster, took, j.trail, len(j.out), strings.Count(string(j.out), "\n"), owner, j.schedd, wnNote)
}

// writeJob writes the job's script, input files and submit description
// into the (private, temporary) submit directory.
func (s *condorSvc) writeJob(dir string, js jobSpec, pl *wnPayload, marker, name string) error {
	if err := os.WriteFile(filepath.Join(dir, "gridprobe-job.sh"), []byte("#!/bin/sh\n"+js.script(marker)+"\n"), 0o755); err != nil {
		return fmt.Errorf("job script: %w", err)
	}
	if pl != nil {
		if err := writeInputs(dir, pl.files(js.launcher(marker))); err != nil {
			return fmt.Errorf("job input files: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "gridprobe.sub"), []byte(js.condorSubmit(name, s.t.Service.Queue)), 0o644); err != nil {
		return fmt.Errorf("submit file: %w", err)
	}
	return nil
}

// waitCompleted follows the job until it completed (its last state
// attributes) or returns why it will not (held, removed, gone, timeout).
func (s *condorSvc) waitCompleted(ctx context.Context, env *engine.Env, tools *condorTools, tok *cred.Token, sd schedd,
	cluster string, start time.Time, trail *stateTrail) (map[string]string, *engine.Outcome) {
	var last map[string]string
	wait := 500 * time.Millisecond
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return nil, critf("job %s on schedd %s not finished after %s (states %s)", cluster, sd.Name, time.Since(start).Round(time.Second), trail)
		case <-time.After(wait):
		}
		wait = pollInterval
		q, err := s.query(ctx, tools, tok, sd, cluster)
		if err != nil {
			env.Logf("condor_q: %v", err)
			continue
		}
		if q == nil {
			return nil, critf("job %s left the queue of schedd %s before its output was fetched (states %s)", cluster, sd.Name, trail)
		}
		last = q
		st := condorStates[q["JobStatus"]]
		switch q["JobStatus"] {
		case "5":
			if q["HoldReasonCode"] == "16" {
				st = "Spooling"
				break
			}
			trail.add(st)
			return nil, critf("job %s HELD on schedd %s: %s (hold code %s/%s; states %s)", cluster, sd.Name,
				orDash(q["HoldReason"]), q["HoldReasonCode"], q["HoldReasonSubCode"], trail)
		case "3":
			trail.add(st)
			return nil, critf("job %s removed on schedd %s: %s (states %s)", cluster, sd.Name, orDash(q["RemoveReason"]), trail)
		case "4":
			done = true
		}
		if st == "" {
			st = "JobStatus " + q["JobStatus"]
		}
		trail.add(st)
	}
	return last, nil
}

func critf(format string, a ...any) *engine.Outcome {
	o := engine.Critf(format, a...)
	return &o
}

var queryAttrs = []string{"JobStatus", "HoldReasonCode", "HoldReasonSubCode", "ExitCode", "ExitBySignal", "ExitSignal", "Owner", "HoldReason", "RemoveReason"}

// query reads the job's state attributes; nil when the job is not in the
// queue.
func (s *condorSvc) query(ctx context.Context, tools *condorTools, tok *cred.Token, sd schedd, cluster string) (map[string]string, error) {
	args := []string{"-pool", s.pool, "-addr", sd.Addr, cluster, "-af:t"}
	r := tools.run(ctx, tok, "", "condor_q", append(args, queryAttrs...)...)
	if r.err != nil {
		return nil, fmt.Errorf("%v: %s", r.err, firstLine(r.output(), 160))
	}
	line := strings.TrimSpace(r.stdout)
	if line == "" {
		return nil, nil
	}
	line, _, _ = strings.Cut(line, "\n")
	f := strings.Split(line, "\t")
	q := map[string]string{}
	for i, a := range queryAttrs {
		if i < len(f) {
			q[a] = strings.TrimSpace(f[i])
		}
	}
	return q, nil
}

// remove takes the job out of the queue with a fresh token: condor_rm, then
// condor_rm -forcex when it lingers in the removed state.
func (s *condorSvc) remove(ctx context.Context, tools *condorTools, sd schedd, cluster string) error {
	tok, err := s.t.Creds.Token(ctx, s.aud, SubmitScopes...)
	if err != nil {
		return fmt.Errorf("no token to remove job %s: %w", cluster, err)
	}
	r := tools.run(ctx, tok, "", "condor_rm", "-pool", s.pool, "-addr", sd.Addr, cluster)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	forced := false
	for i := 0; ; i++ {
		q, err := s.query(ctx, tools, tok, sd, cluster)
		if err == nil && q == nil {
			return nil
		}
		if err == nil && q["JobStatus"] == "3" && !forced && i >= 2 {
			tools.run(ctx, tok, "", "condor_rm", "-pool", s.pool, "-addr", sd.Addr, "-forcex", cluster)
			forced = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("job %s still in the queue of %s (condor_rm: %s): %w", cluster, sd.Name, firstLine(r.output(), 120), ctx.Err())
		case <-tick.C:
		}
	}
}

// listJobs returns the cluster ids of the gridprobe jobs in the schedd's
// queue (for tests and operators).
func (s *condorSvc) listJobs(ctx context.Context, tools *condorTools, tok *cred.Token, sd schedd) ([]string, error) {
	r := tools.run(ctx, tok, "", "condor_q", "-pool", s.pool, "-addr", sd.Addr, "-allusers",
		"-constraint", "GridprobeJob =!= undefined", "-af", "ClusterId")
	if r.err != nil {
		return nil, fmt.Errorf("%v: %s", r.err, firstLine(r.output(), 160))
	}
	return strings.Fields(r.stdout), nil
}

// runAccess: a compute.read token is DENIED WRITE; forged, untrusted-issuer,
// expired and other-audience tokens fail; a control token passes.
func (s *condorSvc) runAccess(ctx context.Context, _ *engine.Env) engine.Outcome {
	o := s.access(ctx)
	o.Reproduce = s.reproAccess()
	return o
}

func (s *condorSvc) access(ctx context.Context) engine.Outcome {
	tools, good, sd, bad := s.prepare(ctx, PingScopes...)
	if bad != nil {
		return *bad
	}
	if p, _ := s.ping(ctx, tools, good, sd); !p.Authorized {
		return engine.Unknownf("control token not authorized for WRITE on schedd %s, so refusals prove nothing: %s (%s)", sd.Name, p.Failure, good.Summary())
	}
	cases, notes, err := badTokens(ctx, s.t.Creds, good, s.aud, PingScopes)
	if err != nil {
		return engine.Unknownf("%v", err)
	}
	var v verdicts
	// A compute.read token authenticates and must then be DENIED WRITE.
	rt, err := s.t.Creds.Token(ctx, s.aud, "compute.read")
	switch {
	case err != nil:
		notes = append(notes, fmt.Sprintf("compute.read only: not tested (%v)", err))
	case !rt.Narrowed:
		notes = append(notes, "compute.read only: not tested (the token source gives one token for all scopes)")
	default:
		bt := badToken{name: "compute.read only"}
		p, r := s.ping(ctx, tools, rt, sd)
		switch {
		case p.Authorized:
			v.accepted(bt)
		case strings.Contains(p.Failure, "SECMAN:2010"):
			v.refused(bt, "DENIED")
		case strings.Contains(p.Failure, "AUTHENTICATE"):
			v.refused(bt, "refused at authentication, not by scope")
		default:
			v.noAnswer(bt, errors.New(firstLine(r.output(), 100)))
		}
	}
	for _, bt := range cases {
		p, r := s.ping(ctx, tools, bt.tok, sd)
		switch {
		case p.Authorized:
			v.accepted(bt)
		case strings.Contains(p.Failure, "AUTHENTICATE") || strings.Contains(p.Failure, "SECMAN:2010"):
			v.refused(bt, shortFailure(p.Failure))
		default:
			v.noAnswer(bt, errors.New(firstLine(r.output(), 100)))
		}
	}
	return v.outcome(notes)
}

// shortFailure keeps the first HTCondor error code, e.g. AUTHENTICATE:1004.
func shortFailure(f string) string {
	for _, part := range strings.Split(f, " | ") {
		if i := strings.Index(part, ":"); i > 0 {
			if j := strings.Index(part[i+1:], ":"); j > 0 {
				code := part[:i+1+j]
				if _, err := strconv.Atoi(part[i+1 : i+1+j]); err == nil && code != "AUTHENTICATE:1003" {
					return code
				}
			}
		}
	}
	return firstLine(f, 40)
}
