package storage

import (
	"context"
	"errors"
	"fmt"
	"hash/adler32"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// Check ids of the TPC rules (ETF numbering: 11–12 with the proxy, 19–21
// with tokens). A service runs each rule once per partner, with the
// partner's name appended: 19tkn-tpc-pull-<partner>.
const (
	IDCrtTPCPull   = "11crt-tpc-pull"
	IDCrtTPCPush   = "12crt-tpc-push"
	IDTknTPCPull   = "19tkn-tpc-pull"
	IDTknTPCPush   = "20tkn-tpc-push"
	IDTknTPCAccess = "21tkn-tpc-access"
)

// tpcRule is one TPC check of the rulebook, run once per partner.
type tpcRule struct {
	id    string
	cred  string
	run   func(pr *pair, ctx context.Context, env *engine.Env, id string) engine.Outcome
	repro func(pr *pair, id string) []string
}

// tpcRules are the TPC rules, in ETF order.
var tpcRules = []tpcRule{
	{IDCrtTPCPull, engine.CredX509, copyRule(Pull, true), reproCopyRule(Pull, true)},
	{IDCrtTPCPush, engine.CredX509, copyRule(Push, true), reproCopyRule(Push, true)},
	{IDTknTPCPull, engine.CredToken, copyRule(Pull, false), reproCopyRule(Pull, false)},
	{IDTknTPCPush, engine.CredToken, copyRule(Push, false), reproCopyRule(Push, false)},
	{IDTknTPCAccess, engine.CredToken, (*pair).tknTPCAccess, (*pair).reproTknTPCAccess},
}

// TPCIDs lists the TPC rules' ids (without a partner's name), in order.
func TPCIDs() []string {
	out := make([]string, len(tpcRules))
	for i, r := range tpcRules {
		out[i] = r.id
	}
	return out
}

// TPCCheckID is the check id of a TPC rule with one partner.
func TPCCheckID(rule, partner string) string { return rule + "-" + partner }

// TPCRule is the TPC rule a check id belongs to ("" for none), and the
// partner it names.
func TPCRule(id string) (rule, partner string) {
	for _, r := range tpcRules {
		if p, ok := strings.CutPrefix(id, r.id+"-"); ok && p != "" {
			return r.id, p
		}
	}
	return "", ""
}

// tpcChecks are the TPC checks of the service: every rule not in without,
// once per partner, each requiring gate.
func (b *Book) tpcChecks(gate string, without []string) []engine.Check {
	var out []engine.Check
	for _, pr := range b.pairs() {
		for _, r := range tpcRules {
			if slices.Contains(without, r.id) {
				continue
			}
			id := TPCCheckID(r.id, pr.cfg.Name)
			out = append(out, engine.Check{
				ID: id, Credential: r.cred, Requires: []string{gate},
				Run: func(ctx context.Context, env *engine.Env) engine.Outcome {
					return withRepro(r.run(pr, ctx, env, id), r.repro(pr, id))
				},
				Reproduce: func() []string { return r.repro(pr, id) },
			})
		}
	}
	return out
}

// copyEnd is one end of a copy: the side's rulebook, the file, the token
// the side is given in the copy (nil with the proxy) and how details name
// that credential.
type copyEnd struct {
	b       *Book
	partner bool
	path    string
	tok     *cred.Token
	who     string
}

// copyRule is a positive copy rule: pull (the site's destination fetches
// the partner's file) or push (the site sends its file to the partner),
// with the proxy or with tokens.
func copyRule(mode CopyMode, crt bool) func(pr *pair, ctx context.Context, env *engine.Env, id string) engine.Outcome {
	return func(pr *pair, ctx context.Context, env *engine.Env, id string) engine.Outcome {
		return pr.runCopy(ctx, env, id, mode, crt)
	}
}

// copyWant is what the copy of a source must be.
type copyWant struct {
	size  int64
	adler string // "" when neither sites.yaml nor the server gives it
}

// runCopy: the source is checked (and the partner's side before anything
// of the site's, so that a partner outage is told apart), the destination
// directory made, the copy followed to its final line, and the copy
// verified at the destination (size and adler32). Both sides' objects are
// removed by the cleanups, through each side's scratch guard.
func (pr *pair) runCopy(ctx context.Context, env *engine.Env, id string, mode CopyMode, crt bool) engine.Outcome {
	cp, o := pr.open(env, crt)
	if o != nil {
		return *o
	}
	src, dst, o := pr.ends(mode)
	if o != nil {
		return *o
	}
	first, then := pr.partnerFirst(src, dst)
	var w copyWant
	for _, step := range []func() *engine.Outcome{
		func() *engine.Outcome { return pr.prepare(ctx, env, first, &w, crt) },
		func() *engine.Outcome { return pr.prepare(ctx, env, then, &w, crt) },
	} {
		if o := step(); o != nil {
			return *o
		}
	}
	dst.path = dst.b.scratch.Path(id + ".dat")
	dst.b.cleanup(env, dst.path, false, !crt)
	req, o := pr.request(cp, mode, src, dst, crt)
	if o != nil {
		return *o
	}
	cctx, cancel := copyContext(ctx)
	res, err := cp.Copy(cctx, req)
	cancel()
	if err != nil {
		return pr.copyFailed(mode, src, dst, err)
	}
	check, o := pr.verify(ctx, dst, w, crt)
	if o != nil {
		return *o
	}
	out := engine.Okf("%s: %d B, %s, %d marker(s), %.2fs; %s", pr.copyWords(mode, src, dst), w.size, check, res.Markers, res.Took.Seconds(), pr.credWords(mode, src, dst, crt))
	out.Perf = []engine.Perf{{Label: "copy_time", Value: res.Took.Seconds(), Unit: "s"}, {Label: "size", Value: float64(w.size), Unit: "B"}}
	return out
}

// ends names the source and destination of a copy, or the UNKNOWN outcome
// when one is not configured.
func (pr *pair) ends(mode CopyMode) (src, dst *copyEnd, o *engine.Outcome) {
	site, partner := &copyEnd{b: pr.site}, &copyEnd{b: pr.p, partner: true}
	if mode == Pull {
		src, dst = partner, site
		src.path = pr.cfg.ReadFile.Path
	} else {
		src, dst = site, partner
		src.path = pr.site.t.Service.ReadFile.Path
	}
	switch {
	case src.path == "" && src.partner:
		x := engine.Unknownf("%s has no read_file: nothing to pull", pr.name())
		return nil, nil, &x
	case src.path == "":
		x := engine.Unknownf("no read_file configured: nothing to push")
		return nil, nil, &x
	case dst.b.scratchErr != nil && dst.partner:
		x := engine.Unknownf("%s has no scratch area: %v", pr.name(), dst.b.scratchErr)
		return nil, nil, &x
	case dst.b.scratchErr != nil:
		x := engine.Unknownf("no scratch area: %v", dst.b.scratchErr)
		return nil, nil, &x
	}
	return src, dst, nil
}

// partnerFirst orders the ends: the partner's first.
func (pr *pair) partnerFirst(src, dst *copyEnd) (*copyEnd, *copyEnd) {
	if dst.partner {
		return dst, src
	}
	return src, dst
}

// prepare readies one end: the source is shown to exist (what its copy
// must be), the destination's scratch directory is made. Each with the
// credential that end is given in the copy.
func (pr *pair) prepare(ctx context.Context, env *engine.Env, e *copyEnd, w *copyWant, crt bool) *engine.Outcome {
	if e.partner {
		var cancel context.CancelFunc
		ctx, cancel = partnerContext(ctx)
		defer cancel()
	}
	isSrc := e.path != ""
	var sc Scope
	if isSrc {
		sc = Read(e.path)
	} else {
		sc = Create(e.b.scratch.Dir())
	}
	st, who, err := e.open(ctx, crt, sc)
	e.who = who
	if err == nil && isSrc {
		err = pr.expect(ctx, e, st, w)
	} else if err == nil {
		err = e.ensureScratch(ctx, env, st)
	}
	if err == nil {
		return nil
	}
	step := "stat " + e.path
	if !isSrc {
		step = "mkdir " + e.b.scratch.Dir()
	}
	o := pr.fault(e, step, err)
	return &o
}

// open is the end's store with the proxy, or with the narrowest token for
// sc at the end's own audience (kept as the end's token).
func (e *copyEnd) open(ctx context.Context, crt bool, sc Scope) (Store, string, error) {
	if crt {
		st, p, err := e.b.Proxy(ctx, Own)
		return st, proxyWho(Own, p), err
	}
	st, tok, err := e.b.TokenStore(ctx, e.b.aud, sc)
	e.tok = tok
	return st, e.b.tokenWho(tok, sc), err
}

// ensureScratch makes the end's scratch directory. On the partner the
// service-end sweep is registered only once the directory exists: a
// partner that is down leaves nothing to sweep and no cleanup error.
func (e *copyEnd) ensureScratch(ctx context.Context, env *engine.Env, st Store) error {
	if e.partner && !e.b.scratchMade.Load() {
		if err := st.Mkdir(ctx, e.b.scratch.Dir(), true); err != nil && !Is(err, Exists) {
			return err
		}
		e.b.scratchMade.Store(true)
	}
	return e.b.ensureScratch(ctx, env, st)
}

// expect stats the source and finds what its copy must be: size and
// adler32 from sites.yaml, else from the server.
func (pr *pair) expect(ctx context.Context, e *copyEnd, st Store, w *copyWant) error {
	info, err := st.Stat(ctx, e.path)
	if err != nil {
		return err
	}
	ref := e.b.t.Service.ReadFile
	if ref.Size >= 0 && info.Size != ref.Size {
		return &errContent{fmt.Sprintf("%s is %d B, sites.yaml says %d", e.path, info.Size, ref.Size)}
	}
	w.size, w.adler = info.Size, ref.Adler32
	if w.adler == "" {
		if cs, err := st.Checksum(ctx, e.path, "adler32"); err == nil {
			w.adler = strings.ToLower(strings.TrimSpace(cs))
		}
	}
	return nil
}

// fault is a failure on one end: the partner's is never the site's
// CRITICAL.
func (pr *pair) fault(e *copyEnd, step string, err error) engine.Outcome {
	if e.partner {
		return pr.partnerFault(step, e.who, err)
	}
	var why string
	if e.path == "" && e.tok != nil {
		why = ruleCreate
	}
	if _, content := err.(*errContent); content {
		return engine.Critf("%s", err)
	}
	return e.b.tokenFailure(e.b.failure(step, e.who, why, err), e.tok)
}

// request builds the copy: URLs on each side's endpoint, the active side's
// token (the destination's for a pull, the source's for a push) and the
// passive side's, or the proxy.
func (pr *pair) request(cp Copier, mode CopyMode, src, dst *copyEnd, crt bool) (CopyRequest, *engine.Outcome) {
	req := CopyRequest{Mode: mode, Source: pr.urlOf(cp, src), Destination: pr.urlOf(cp, dst)}
	if crt {
		p, err := pr.site.t.Creds.Proxy()
		if err != nil {
			o := engine.Unknownf("%v", err)
			return req, &o
		}
		req.Proxy = p
		return req, nil
	}
	req.ActiveToken, req.PassiveToken = dst.tok, src.tok
	if mode == Push {
		req.ActiveToken, req.PassiveToken = src.tok, dst.tok
	}
	return req, nil
}

// urlOf is the URL of an end's file (source) or copy (destination).
func (pr *pair) urlOf(cp Copier, e *copyEnd) string {
	if e.partner {
		return pr.pcp.URL(e.path)
	}
	return cp.URL(e.path)
}

// copyContext leaves a fifth of the check's time (at most 10 s) for
// verifying and cleaning up after the copy.
func copyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl.Add(-min(time.Until(dl)/5, 10*time.Second)))
}

// copyFailed words a copy that did not succeed and says whose fault it
// is: a failure of the partner's side (its credential request, or its side
// of the transfer as the site reports it) is the partner's, UNKNOWN; what
// the site's active side did (refused, failed, broke the stream, never
// ended it) is the site's CRITICAL.
func (pr *pair) copyFailed(mode CopyMode, src, dst *copyEnd, err error) engine.Outcome {
	what := pr.copyWords(mode, src, dst)
	var ce *CopyError
	switch {
	case IsCred(err):
		return engine.Unknownf("%s: %v", what, err)
	case !errors.As(err, &ce):
		return engine.Critf("%s failed: %s", what, pr.site.errText(err))
	case ce.Stage == StageCredential:
		return engine.Unknownf("%s failed, not the site: its credential for the copy (a macaroon requested with the proxy): %s", pr.name(), pr.site.errText(err)).Blame(engine.PartyCentral)
	case ce.Side == PassiveSide:
		return engine.Unknownf("%s failed its side of the %s, not the site: %s", pr.name(), mode, pr.site.errText(err)).Blame(engine.PartyCentral)
	}
	site := dst
	if mode == Push {
		site = src
	}
	why := ""
	switch ce.Err.Kind {
	case Denied:
		why = " (" + ruleCreate + ")"
		if mode == Push {
			why = " (" + ruleRead + ")"
		}
	case Unsupported:
		why = " (the site does not do third-party copy)"
	}
	o := engine.Critf("%s failed at the site%s: %s", what, why, pr.site.errText(err))
	return pr.site.tokenFailure(o, site.tok)
}

// copyWords names a copy: its direction, file and copy.
func (pr *pair) copyWords(mode CopyMode, src, dst *copyEnd) string {
	if mode == Pull {
		return fmt.Sprintf("pull of %s's %s to %s", pr.cfg.Name, src.path, pr.site.rel(dst.path))
	}
	return fmt.Sprintf("push of %s to %s's %s", src.path, pr.cfg.Name, pr.p.rel(dst.path))
}

// credWords names the credentials of a copy.
func (pr *pair) credWords(mode CopyMode, src, dst *copyEnd, crt bool) string {
	if crt {
		return "proxy at the site, a macaroon from " + pr.cfg.Name
	}
	s, d := pr.tokenScopes(src), pr.tokenScopes(dst)
	return fmt.Sprintf("tokens: src %s, dst %s", s, d)
}

// tokenScopes names an end's token by its scopes (the end's own book
// shortens its scratch paths).
func (pr *pair) tokenScopes(e *copyEnd) string {
	if e.tok == nil {
		return "none"
	}
	s := strings.Join(e.tok.Request.Scopes, " ")
	if !e.tok.Narrowed {
		s = "(one for every check)"
	}
	return e.b.shorten(s)
}

// verify checks the copy at the destination: its size, and its adler32
// (the server's, else computed from a read). It returns how the adler32
// was checked.
func (pr *pair) verify(ctx context.Context, dst *copyEnd, w copyWant, crt bool) (string, *engine.Outcome) {
	if dst.partner {
		var cancel context.CancelFunc
		ctx, cancel = partnerContext(ctx)
		defer cancel()
	}
	st, who, err := (&copyEnd{b: dst.b, partner: dst.partner}).open(ctx, crt, Read(dst.path))
	var info Info
	if err == nil {
		info, err = st.Stat(ctx, dst.path)
	}
	if err != nil {
		o := pr.fault(&copyEnd{b: dst.b, partner: dst.partner, who: who}, "stat of the copy "+dst.path, err)
		return "", &o
	}
	if info.Size != w.size {
		o := engine.Critf("the copy %s is %d B, the source %d B", dst.b.rel(dst.path), info.Size, w.size)
		return "", &o
	}
	if w.adler == "" {
		return "no adler32 to compare", nil
	}
	got, how, err := adlerOf(ctx, st, dst.path)
	switch {
	case err != nil:
		o := pr.fault(&copyEnd{b: dst.b, partner: dst.partner, who: who}, "adler32 of the copy "+dst.path, err)
		return "", &o
	case !sameAdler(got, w.adler):
		o := engine.Critf("the copy %s has adler32 %s (%s), the source %s", dst.b.rel(dst.path), got, how, w.adler)
		return "", &o
	}
	return "adler32 " + w.adler + " (" + how + ")", nil
}

// adlerOf is the server's adler32 of p, else the one of its content.
func adlerOf(ctx context.Context, st Store, p string) (string, string, error) {
	if cs, err := st.Checksum(ctx, p, "adler32"); err == nil {
		return strings.ToLower(strings.TrimSpace(cs)), "the server's", nil
	}
	h := adler32.New()
	if _, err := st.Read(ctx, p, h); err != nil {
		return "", "", err
	}
	return fmt.Sprintf("%08x", h.Sum32()), "read back", nil
}

// sameAdler compares adler32 values as numbers (some servers drop leading
// zeros).
func sameAdler(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 16, 32)
	y, err2 := strconv.ParseUint(b, 16, 32)
	return err1 == nil && err2 == nil && x == y
}
