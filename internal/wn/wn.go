// Package wn is `probe wn`, the worker-node payload a CE test job runs (the
// same static binary as the probe). On the worker node it
//
//   - reports the node's basics (WN-01basic) and its reach to the site's
//     storage endpoints (WN-02network);
//   - discovers the job's credentials as grid software does — WLCG
//     bearer-token discovery (BEARER_TOKEN, BEARER_TOKEN_FILE,
//     $XDG_RUNTIME_DIR/bt_u<euid>, /tmp/bt_u<euid>), HTCondor's
//     $_CONDOR_CREDS/*.use, X509_USER_PROXY — and reports what it found
//     (WN-10credentials: issuer, scopes, audience, lifetime, clock offset
//     against iat; never the token) and the token's lifetime at job start
//     and end (WN-11token-lifetime, against defaults.wn_min_token_lifetime);
//   - reads the site's reference file and writes, reads back and deletes a
//     file in the run's scratch area with the job's token (WN-20tkn-read,
//     WN-21tkn-write) and, when the job has one, its proxy (WN-22crt-read,
//     WN-23crt-write), through the SE checks themselves: the storage
//     services are built from the configuration by internal/plan with the
//     check selection 14tkn-read, 17tkn-write, 4crt-read, 7crt-write and run
//     by the engine, so the job is held to the same storage rules as the SE
//     checks, and its scratch area is cleaned by the same guarded cleanups.
//
// Results go to stdout as JSON lines (internal/wnline), one per check, the
// WN-99summary line last; the process exits with the worst Nagios state.
package wn

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/wnline"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// Options configure one payload run.
type Options struct {
	Config *config.Config
	Site   string // the site to check; "" = the configuration's only site
	RunID  string // names the scratch areas (engine.NewRunID when empty)
	Out    io.Writer
	Log    engine.Logger // debug lines (never a credential); nil: none
	// Getenv reads the environment (os.Getenv when nil).
	Getenv func(string) string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// payload is one run's state.
type payload struct {
	opt   Options
	site  *config.Site
	out   *writer
	creds *jobCreds
}

// Run runs the worker-node checks and writes their lines; it returns the
// worst state's Nagios exit code (3 for a payload that could not start).
func Run(ctx context.Context, opt Options) int {
	if opt.Getenv == nil {
		opt.Getenv = os.Getenv
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.RunID == "" {
		opt.RunID = engine.NewRunID()
	}
	site, err := pickSite(opt.Config, opt.Site)
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe wn: %v\n", err)
		return int(engine.Unknown)
	}
	p := &payload{opt: opt, site: site, out: &writer{w: opt.Out, now: opt.Now}}
	return p.run(ctx)
}

func pickSite(cfg *config.Config, name string) (*config.Site, error) {
	var names []string
	for i := range cfg.Sites {
		if cfg.Sites[i].Name == name || name == "" && len(cfg.Sites) == 1 {
			return &cfg.Sites[i], nil
		}
		names = append(names, cfg.Sites[i].Name)
	}
	if name == "" {
		return nil, fmt.Errorf("%s has %d sites (%s): choose one with --site", cfg.File, len(cfg.Sites), strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("no site %q in %s (sites: %s)", name, cfg.File, strings.Join(names, ", "))
}

func (p *payload) run(ctx context.Context) int {
	cfg := p.opt.Config
	start := p.opt.Now()
	caDir := cred.CADir(cfg.Credentials.X509.CADir)
	nd := inspect(p.opt.Getenv, caDir)
	p.out.emit(wnline.Basic, start, basicOutcome(nd))

	var eps []endpoint
	var auds []string
	for i := range p.site.Services {
		sv := &p.site.Services[i]
		if sv.IsStorage() {
			eps = append(eps, endpoint{Kind: sv.Type, URL: sv.URL})
			t := probe.Target{Config: cfg, Site: p.site, Service: sv}
			if a := t.Audience(); !slices.Contains(auds, a) {
				auds = append(auds, a)
			}
		}
	}
	t0 := p.opt.Now()
	p.out.emit(wnline.Network, t0, networkOutcome(ctx, eps))

	t0 = p.opt.Now()
	p.creds = discover(p.opt.Getenv, cfg.Credentials.X509.Proxy)
	credO := credentialsOutcome(p.creds, auds, t0)
	p.out.emit(wnline.Credentials, t0, credO)
	startSnap := snapshot{at: t0, tok: p.creds.Token}
	lifeO := lifetimeOutcome(startSnap, startSnap, cfg.Defaults.WNMinLifetime)

	p.storage(ctx, nd, credO, lifeO)

	end := p.opt.Now()
	endSnap := snapshot{at: end}
	if p.creds.Source != nil {
		endSnap.tok, _ = peek(p.creds.Source, p.opt.Getenv)
	}
	p.out.emit(wnline.TokenLifetime, t0, lifetimeOutcome(startSnap, endSnap, cfg.Defaults.WNMinLifetime))
	return p.out.summary(nd.Host, p.opt.RunID, start)
}

// storage runs the WN storage checks; the token ones need WN-10credentials
// and the token's lifetime at job start to be usable.
func (p *payload) storage(ctx context.Context, nd node, credO, lifeO engine.Outcome) {
	tokenOK := usable(credO.State) && usable(lifeO.State) && p.creds.Token != nil
	creds := probe.NewCredentials(p.opt.Config.Credentials, nil)
	creds.CADir = nd.CADir
	creds.ProxyPath = ""
	if p.creds.Proxy != nil {
		creds.ProxyPath = p.creds.ProxyPath
	}
	var tok *cred.Token
	if tokenOK {
		creds.Tokens, tok = p.creds.Source, p.creds.Token
	}
	r := &storageRun{cfg: p.opt.Config, site: p.site, runID: p.opt.RunID, creds: creds, token: tok,
		proxy: p.creds.Proxy != nil, parts: map[string][]part{}}
	t0 := p.opt.Now()
	var err error
	if nd.CAErr == nil {
		err = r.run(ctx, p.opt.Log)
	}
	for _, c := range wnline.Catalogue {
		if c.Storage == "" || c.Credential == engine.CredX509 && p.creds.Proxy == nil {
			continue
		}
		var o engine.Outcome
		switch {
		case c.Credential == engine.CredToken && !tokenOK:
			o = engine.Unknownf("%s", unmet(credO, lifeO, p.creds))
		case nd.CAErr != nil:
			// Trusting the grid CAs is the worker node's duty (the site's).
			o = engine.Critf("the worker node has no usable CA directory (%s: %v): jobs cannot verify the storage's certificates", nd.CADir, nd.CAErr)
		case err != nil:
			o = engine.Unknownf("cannot build the storage checks: %v", err)
		default:
			o = outcome(r.parts[c.ID])
		}
		p.out.emit(c.ID, t0, o)
	}
}

func usable(s engine.State) bool { return s == engine.OK || s == engine.Warning }

// unmet words why the token checks did not run.
func unmet(credO, lifeO engine.Outcome, jc *jobCreds) string {
	switch {
	case !usable(credO.State):
		return "prerequisite " + wnline.Credentials + " failed: " + credO.Detail
	case !usable(lifeO.State):
		return "prerequisite " + wnline.TokenLifetime + " failed: " + lifeO.Detail
	}
	return "the job has no token (" + strings.Join(jc.Looked, "; ") + ")"
}

// writer writes the lines and remembers their states for the summary.
type writer struct {
	w      io.Writer
	now    func() time.Time
	states []engine.State
	ids    []string
	err    error
}

func (w *writer) emit(id string, start time.Time, o engine.Outcome) {
	credential := engine.CredNone
	for _, c := range wnline.Catalogue {
		if c.ID == id {
			credential = c.Credential
		}
	}
	if o.Detail == "" {
		o.Detail = "no detail"
	}
	l := wnline.Line{Check: id, Credential: credential, State: o.State, Party: o.Party, Detail: o.Detail, Reproduce: o.Reproduce,
		Perf: o.Perf, Start: start.UTC(), DurationMS: w.now().Sub(start).Milliseconds()}
	b, err := wnline.Marshal(l)
	if err == nil {
		_, err = w.w.Write(b)
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	w.states = append(w.states, o.State)
	if o.State != engine.OK {
		w.ids = append(w.ids, id+" "+o.State.String())
	}
}

// summary writes WN-99summary and returns the exit code.
func (w *writer) summary(host, runID string, start time.Time) int {
	worst := engine.Worst(w.states...)
	detail := fmt.Sprintf("all %d worker-node checks OK", len(w.states))
	if len(w.ids) > 0 {
		detail = fmt.Sprintf("%d of %d worker-node checks not OK: %s", len(w.ids), len(w.states), strings.Join(w.ids, ", "))
	}
	l := wnline.Line{Check: wnline.Summary, Credential: engine.CredNone, State: worst, Detail: detail,
		Start: start.UTC(), DurationMS: w.now().Sub(start).Milliseconds(), Host: host, RunID: runID, Checks: len(w.states)}
	b, err := wnline.Marshal(l)
	if err == nil {
		_, err = w.w.Write(b)
	}
	if err != nil || w.err != nil {
		fmt.Fprintf(os.Stderr, "probe wn: writing results: %v\n", firstErr(w.err, err))
		return int(engine.Unknown)
	}
	return int(worst)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
