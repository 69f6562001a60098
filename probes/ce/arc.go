package ce

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// Check ids (ETF numbering).
const (
	IDConnection = "1connection"
	IDSSL        = "2ssl"
	IDInfo       = "3info"
	IDCrtSubmit  = "4crt-submit"
	IDTknPing    = "13tkn-ping"
	IDTknSubmit  = "14tkn-submit"
	IDTknAccess  = "16tkn-access"
)

// MinSubmitTimeout is the least time a submit check gets, whatever the
// service's per-check timeout: a job's round trip takes tens of seconds.
const MinSubmitTimeout = 5 * time.Minute

// SubmitScopes are the scopes a job's life cycle needs (submit, follow,
// fetch output, remove); the token asks for exactly these.
var SubmitScopes = []string{"compute.create", "compute.read", "compute.modify", "compute.cancel"}

// OtherAudience is the audience of the token tkn-access expects to be refused.
const OtherAudience = "https://other-ce.gridprobe.invalid"

// ExpiredTokenEnv names a file holding a validly signed but expired token
// for the CE (with the CE's audience); tkn-access tests it when set.
// Client-credential issuers never hand out expired tokens.
const ExpiredTokenEnv = "GRIDPROBE_CE_EXPIRED_TOKEN_FILE"

// pollInterval is how often a running job's state is read.
var pollInterval = 2 * time.Second

type arcSvc struct {
	t     probe.Target
	u     *url.URL
	ws    string // the A-REX wsurl, e.g. https://ce:443/arex
	aud   string
	queue string
	job   jobSpec
	wn    *wnState // the worker-node checks' share of 14tkn-submit's job
	// wnProxy: the probe's proxy is shipped to the job (crt WN checks).
	wnProxy bool
}

// NewARC builds the ARC-CE catalogue for one service:
// 1connection, 2ssl, 3info, 4crt-submit, 14tkn-submit, 16tkn-access.
func NewARC(t probe.Target) (*engine.Service, error) { return newARC(t, jobSpec{}) }

func newARC(t probe.Target, job jobSpec) (*engine.Service, error) {
	if t.Service == nil || t.Service.URL == nil {
		return nil, fmt.Errorf("arc-ce: no URL")
	}
	u := t.Service.URL
	if u.Scheme != "https" {
		return nil, fmt.Errorf("arc-ce URL %s: want https://host[:port]/arex", u)
	}
	s := &arcSvc{t: t, u: u, ws: strings.TrimSuffix(u.String(), "/"), aud: t.Audience(), queue: t.Service.Queue, job: job,
		wn: &wnState{}, wnProxy: hasProxyFile(t)}
	svc := t.NewService(TypeARC)
	submitTO := max(svc.Timeout, MinSubmitTimeout)
	infoCred := s.infoCred()
	svc.Checks = []engine.Check{
		{ID: IDConnection, Credential: engine.CredNone, Run: s.runConnection},
		{ID: IDSSL, Credential: engine.CredNone, Requires: []string{IDConnection}, Run: s.runSSL, Reproduce: func() []string { return probe.ReproduceTLS(s.u) }},
		{ID: IDInfo, Credential: infoCred, Requires: []string{IDSSL}, Run: s.runInfo,
			Reproduce: func() []string { return s.reproInfo(infoCred) }},
		{ID: IDCrtSubmit, Credential: engine.CredX509, Requires: []string{IDSSL}, Timeout: submitTO,
			Run: func(ctx context.Context, env *engine.Env) engine.Outcome {
				return s.runSubmit(ctx, env, engine.CredX509)
			},
			Reproduce: func() []string { return s.reproSubmit(engine.CredX509) }},
		{ID: IDTknSubmit, Credential: engine.CredToken, Requires: []string{IDSSL}, Timeout: submitTO,
			Run: func(ctx context.Context, env *engine.Env) engine.Outcome {
				return s.runSubmit(ctx, env, engine.CredToken)
			},
			Reproduce: func() []string { return s.reproSubmit(engine.CredToken) }},
		{ID: IDTknAccess, Credential: engine.CredToken, Requires: []string{IDSSL}, Run: s.runTknAccess, Reproduce: s.reproAccess},
	}
	svc.Checks = append(svc.Checks, wnChecks(t, s.wn, s.wnProxy)...)
	return svc, nil
}

func (s *arcSvc) runConnection(ctx context.Context, _ *engine.Env) engine.Outcome {
	return probe.Connection(ctx, s.u, nil)
}

// runSSL is the shared 2ssl check.
func (s *arcSvc) runSSL(ctx context.Context, _ *engine.Env) engine.Outcome {
	ca, err := s.t.Creds.CA()
	if err != nil {
		return engine.Unknownf("cannot load the CA directory: %v", err)
	}
	return probe.TLS(ctx, s.u, ca, s.t.CertExpiryWarning())
}

// listWith lists jobs on a fresh connection with tok.
func (s *arcSvc) listWith(ctx context.Context, ca *cred.CAStore, tok *cred.Token) error {
	bc := newARCClient(s.ws, ca.TLSConfig(s.u.Host, nil), tok)
	defer bc.close()
	_, err := bc.list(ctx)
	return err
}

// client builds a REST client with the given credential. For tokens it asks
// for scopes with the CE as audience.
func (s *arcSvc) client(ctx context.Context, credKind string, scopes ...string) (*arcClient, *cred.Token, error) {
	if s.t.Creds == nil {
		return nil, nil, fmt.Errorf("no credentials configured")
	}
	ca, err := s.t.Creds.CA()
	if err != nil {
		return nil, nil, err
	}
	if credKind == engine.CredX509 {
		p, err := s.t.Creds.Proxy()
		if err != nil {
			return nil, nil, err
		}
		return newARCClient(s.ws, ca.TLSConfig(s.u.Host, &p.Cert), nil), nil, nil
	}
	tok, err := s.t.Creds.Token(ctx, s.aud, scopes...)
	if err != nil {
		return nil, nil, err
	}
	return newARCClient(s.ws, ca.TLSConfig(s.u.Host, nil), tok), tok, nil
}

// credDesc says which credential a detail is about.
func (s *arcSvc) credDesc(kind string, tok *cred.Token) string {
	if kind == engine.CredToken {
		return tok.Summary()
	}
	if p, err := s.t.Creds.Proxy(); err == nil {
		return "proxy " + p.Summary()
	}
	return "proxy"
}

// infoCred is the credential 3info uses: the proxy when there is one, else
// a token with compute.read.
func (s *arcSvc) infoCred() string {
	if s.t.Creds != nil && s.t.Creds.ProxyPath != "" {
		if _, err := os.Stat(s.t.Creds.ProxyPath); err == nil {
			return engine.CredX509
		}
	}
	if s.t.Creds != nil && s.t.Creds.Tokens != nil {
		return engine.CredToken
	}
	return engine.CredX509
}

// runInfo: GET <wsurl>/rest/1.0/info answers GLUE2 JSON in which the REST
// interface is advertised, the queue exists and the service is in
// production.
func (s *arcSvc) runInfo(ctx context.Context, _ *engine.Env) engine.Outcome {
	kind := s.infoCred()
	o := s.info(ctx, kind)
	o.Reproduce = s.reproInfo(kind)
	return o
}

func (s *arcSvc) info(ctx context.Context, kind string) engine.Outcome {
	c, tok, err := s.client(ctx, kind, "compute.read")
	if err != nil {
		return credUnknown(err, "no %s credential: %v", kind, err)
	}
	defer c.close()
	start := time.Now()
	body, err := c.info(ctx)
	if err != nil {
		return engine.Critf("info query failed: %v (%s)", err, s.credDesc(kind, tok))
	}
	took := time.Since(start)
	doc, err := parseInfo(body)
	if err != nil {
		return engine.Critf("%s/rest/1.0/info: %v", s.ws, err)
	}
	r := analyzeInfo(doc, s.ws, s.queue)
	var summary []string
	if q := r.Queue; q != nil {
		summary = append(summary, fmt.Sprintf("queue %s %s (free slots %s, running %s, waiting %s)",
			q.Name, orDash(q.ServingState), orDash(string(q.FreeSlots)), orDash(string(q.RunningJobs)), orDash(string(q.WaitingJobs))))
	}
	if e := r.Endpoint; e != nil {
		summary = append(summary, fmt.Sprintf("REST %s %s health %s serving %s", RESTInterface, e.InterfaceVersion, orDash(e.HealthState), orDash(e.ServingState)))
	}
	summary = append(summary, fmt.Sprintf("service %s quality %s", orDash(r.Service), orDash(r.Quality)))
	if r.LRMS != "" {
		summary = append(summary, "LRMS "+r.LRMS)
	}
	state := engine.OK
	var probs []string
	for _, p := range r.Problems {
		probs = append(probs, p.text)
		if p.critical {
			state = engine.Critical
		} else {
			state = engine.Worst(state, engine.Warning)
		}
	}
	o := engine.Outcome{State: state, Perf: []engine.Perf{{Label: "info_time", Value: took.Seconds(), Unit: "s"}, {Label: "info_bytes", Value: float64(len(body)), Unit: "B"}}}
	if len(probs) > 0 {
		o.Detail = strings.Join(probs, "; ") + "; " + strings.Join(summary, "; ")
	} else {
		o.Detail = strings.Join(summary, "; ")
	}
	return o
}

// credShort names the credential in an OK detail: the proxy's DN, the
// token's subject.
func credShort(kind string, tok *cred.Token) string {
	if kind == engine.CredToken {
		return "token sub=" + orDash(tok.Claims().Subject)
	}
	return "proxy"
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// runSubmit: submit the test job, follow its live state to the end, fetch
// its stdout and find the marker; the job is removed by a cleanup.
func (s *arcSvc) runSubmit(ctx context.Context, env *engine.Env, kind string) engine.Outcome {
	o := s.submit(ctx, env, kind)
	o.Reproduce = s.reproSubmit(kind)
	if kind == engine.CredToken {
		s.wn.setSubmit(o)
	}
	return o
}

func (s *arcSvc) submit(ctx context.Context, env *engine.Env, kind string) engine.Outcome {
	c, tok, err := s.client(ctx, kind, SubmitScopes...)
	if err != nil {
		if kind == engine.CredToken {
			return credUnknown(err, "no token: %v", err)
		}
		return engine.Unknownf("no proxy: %v", err)
	}
	who := s.credDesc(kind, tok)
	marker := newMarker(env.RunID, env.Check)
	js, pl := s.job, (*wnPayload)(nil)
	if kind == engine.CredToken {
		js, pl = s.wn.prepare(ctx, env, s.t, s.job, s.wnProxy)
	}
	start := time.Now()
	it, err := c.submit(ctx, js.adl(jobName(env.RunID, env.Check), s.queue, marker))
	if err != nil {
		c.close()
		return engine.Critf("job submission to %s failed: %v (%s)", s.ws, err, who)
	}
	id := it.ID
	env.Logf("submitted ARC job %s", id)
	s.removeLater(env, c, kind, id)

	if pl != nil {
		s.wn.setJob(id, s.reproWN(js, pl))
		if err := c.upload(ctx, id, pl.files(js.launcher(marker))); err != nil {
			return engine.Critf("job %s: uploading its input files failed: %v (%s)", id, err, who)
		}
	}
	var trail stateTrail
	trail.add(it.State)
	state, err := s.follow(ctx, c, id, &trail)
	took := time.Since(start)
	perf := []engine.Perf{{Label: "job_time", Value: took.Seconds(), Unit: "s"}}
	if err != nil {
		o := engine.Critf("job %s not finished after %s (states %s; last error: %v; %s)", id, took.Round(time.Second), trail, err, who)
		o.Perf = perf
		return o
	}
	reason, _ := c.diagnose(ctx, id, "failed")
	if reason = strings.TrimSpace(reason); reason != "" || state != "FINISHED" {
		if reason == "" {
			reason = "no failure reason published"
		}
		o := engine.Critf("job %s %s after %s: %s (states %s; %s)", id, state, took.Round(time.Second), firstLine(reason, 160), trail, who)
		o.Perf = perf
		return o
	}
	out, err := c.sessionFile(ctx, id, jobStdout)
	if err != nil {
		files := "unknown"
		if ls, lerr := c.session(ctx, id); lerr == nil {
			files = orNone(ls.File)
		}
		o := engine.Critf("job %s finished in %s but its stdout cannot be fetched: %v (session files: %s; states %s)", id, took.Round(time.Second), err, files, trail)
		o.Perf = perf
		return o
	}
	wnNote := ""
	if pl != nil {
		errOut, _ := c.sessionFile(ctx, id, jobStderr)
		wnNote = s.wn.finish(ctx, s.t, out, errOut)
	}
	if !strings.Contains(string(out), marker) {
		o := engine.Critf("job %s finished in %s but its stdout (%d bytes) lacks the marker %s (states %s)", id, took.Round(time.Second), len(out), marker, trail)
		o.Perf = perf
		return o
	}
	o := engine.Okf("job %s finished in %s (states %s), marker found in stdout (%d bytes, %d lines); queue %s; %s%s",
		id, took.Round(time.Second), trail, len(out), strings.Count(string(out), "\n"), orDash(s.queue), credShort(kind, tok), wnNote)
	o.Perf = perf
	return o
}

// removeLater registers the job's removal: whatever happens next, with a
// fresh credential (the check's token may have expired by then).
func (s *arcSvc) removeLater(env *engine.Env, c *arcClient, kind, id string) {
	env.Cleanup("remove ARC job "+id, func(cctx context.Context) error {
		defer c.close()
		cc := c
		if kind == engine.CredToken {
			fresh, _, err := s.client(cctx, kind, SubmitScopes...)
			if err != nil {
				return fmt.Errorf("no token to remove job %s: %w", id, err)
			}
			defer fresh.close()
			cc = fresh
		}
		return cc.remove(cctx, id)
	})
}

// follow polls the live state (diagnose/status: action=status lags behind by
// the info provider's period) until the job is FINISHED/FAILED/KILLED/DELETED.
func (s *arcSvc) follow(ctx context.Context, c *arcClient, id string, trail *stateTrail) (string, error) {
	var lastErr error
	wait := time.Second
	for {
		select {
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = ctx.Err()
			}
			return "", lastErr
		case <-time.After(wait):
		}
		wait = pollInterval
		st, err := c.diagnose(ctx, id, "status")
		if err != nil {
			lastErr = err // the status file may not exist yet right after submission
			if isDenied(err) {
				return "", err
			}
			continue
		}
		st = strings.ToUpper(strings.TrimSpace(st))
		trail.add(st)
		if arcTerminal(st) {
			return st, nil
		}
	}
}

// runTknAccess: a token the CE must refuse is refused, next to a control
// token (same scopes, right audience) that is accepted: a forged token
// (the issuer's name, a key it never published), one from an untrusted
// issuer, an expired one (when ExpiredTokenEnv provides it) and one for
// another audience.
func (s *arcSvc) runTknAccess(ctx context.Context, _ *engine.Env) engine.Outcome {
	o := s.tknAccess(ctx)
	o.Reproduce = s.reproAccess()
	return o
}

func (s *arcSvc) tknAccess(ctx context.Context) engine.Outcome {
	c, good, err := s.client(ctx, engine.CredToken, SubmitScopes...)
	if err != nil {
		return credUnknown(err, "no token: %v", err)
	}
	defer c.close()
	if _, err := c.list(ctx); err != nil {
		return engine.Unknownf("control token refused, so refusals prove nothing: GET jobs: %v (%s)", err, good.Summary())
	}
	cases, notes, err := badTokens(ctx, s.t.Creds, good, s.aud, SubmitScopes)
	if err != nil {
		return engine.Unknownf("%v", err)
	}
	ca, err := s.t.Creds.CA()
	if err != nil {
		return engine.Unknownf("cannot load the CA directory: %v", err)
	}
	var v verdicts
	for _, bt := range cases {
		err := s.listWith(ctx, ca, bt.tok)
		var he *httpError
		if err != nil && !errors.As(err, &he) && ctx.Err() == nil {
			// No HTTP answer at all (a reset, a garbled TLS record): one retry
			// on a fresh connection, so a transient glitch is not a verdict.
			err = s.listWith(ctx, ca, bt.tok)
		}
		switch {
		case err == nil:
			v.accepted(bt)
		case isDenied(err):
			var he *httpError
			errors.As(err, &he)
			v.refused(bt, strconv.Itoa(he.Code))
		case deniedAsServerError(err):
			var he *httpError
			errors.As(err, &he)
			v.refusedAsError(bt, strconv.Itoa(he.Code))
		default:
			v.noAnswer(bt, err)
		}
	}
	return v.outcome(notes)
}
