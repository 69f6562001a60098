package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// 21tkn-tpc-access: copies the WLCG profile requires the site to refuse,
// each on objects shown to exist. The site refuses as the active side (a
// destination token that may not create there) and as the passive side (a
// source token for another path, presented by the partner pulling from
// the site). A refusal by the partner instead proves nothing about the
// site.

// tpcFixture is what the refusals share.
type tpcFixture struct {
	id     string
	env    *engine.Env
	cp     Copier
	pref   string      // the partner's reference file
	srcTok *cred.Token // storage.read on it, for the partner
	create Store       // the site's scratch area with storage.create on it
	// share: the next copy may take 1/share of the time left.
	share int
}

// tpcRefusal is one sub-rule of 21tkn-tpc-access: try runs the copy that
// must be refused; by is the side the site plays in it (the refusal must
// be the site's); allowed says what a copy that succeeded did.
type tpcRefusal struct {
	name, rule, allowed string
	by                  CopySide
	try                 func(pr *pair, ctx context.Context, fx *tpcFixture) (untested string, err error)
}

// tpcRefusals are the sub-rules, in order: a pull into the site with a
// destination token that has storage.read but not storage.create on the
// scratch area; a pull over a file the site holds with a storage.create
// token (Overwrite: T); the partner pulling the site's reference file with
// a site token for the scratch area. A new rule is a line here.
var tpcRefusals = []tpcRefusal{
	{name: "read-only dst token", rule: ruleReadOnly, by: ActiveSide,
		allowed: "the site wrote the copy", try: (*pair).pullReadOnly},
	{name: "create-only dst token over a file", rule: ruleCreateOnly, by: ActiveSide,
		allowed: "the site replaced the file", try: (*pair).pullOverExisting},
	{name: "src token for another path", rule: ruleOtherPath, by: PassiveSide,
		allowed: "the site served its file", try: (*pair).pullOtherPath},
}

// TPCRefusalNames lists the sub-rules of 21tkn-tpc-access, in order.
func TPCRefusalNames() []string {
	out := make([]string, len(tpcRefusals))
	for i, r := range tpcRefusals {
		out[i] = r.name
	}
	return out
}

// tknTPCAccess (21tkn-tpc-access-<partner>).
func (pr *pair) tknTPCAccess(ctx context.Context, env *engine.Env, id string) engine.Outcome {
	cp, o := pr.open(env, false)
	if o != nil {
		return *o
	}
	fx := &tpcFixture{id: id, env: env, cp: cp, pref: pr.cfg.ReadFile.Path}
	if o := pr.accessSetUp(ctx, env, fx); o != nil {
		return *o
	}
	var t tally
	var asError []string // refused, but with a server error
	for i, r := range tpcRefusals {
		fx.share = len(tpcRefusals) - i + 1
		untested, err := r.try(pr, ctx, fx)
		if untested != "" {
			t.unsure = append(t.unsure, r.name+": "+untested)
			continue
		}
		var ce *CopyError
		switch {
		case IsCred(err) && !errors.As(err, &ce):
			return pr.site.failure("getting a token for "+r.name, "token source", "", err)
		case errors.As(err, &ce) && ce.RefusedAsServerError && ce.Side == r.by:
			asError = append(asError, fmt.Sprintf("%s (%s)", r.name, StatusOf(err)))
			continue
		}
		t.add(r.name, pr.bySite(err, r.by), false, r.rule, r.allowed)
	}
	return refusedAsServerError(t.outcome("TPC refusals"), asError)
}

// ruleRefusalStatus is the rule a refusal signalled as a server error
// breaks.
const ruleRefusalStatus = "RFC 6750 §3.1: a token without the scope needed is refused with 403, not a server error"

// refusedAsServerError: refusals the site made with a server error (5xx
// saying permission denied) are refusals wrongly signalled: WARNING when
// everything else is OK, noted otherwise.
func refusedAsServerError(o engine.Outcome, asError []string) engine.Outcome {
	if len(asError) == 0 {
		return o
	}
	note := fmt.Sprintf("refused with a server error instead of 401/403 (%s): %s", ruleRefusalStatus, strings.Join(asError, ", "))
	if o.State == engine.OK || o.Detail == "nothing tested" {
		return engine.Warnf("TPC refusals: %s; %s", note, strings.TrimPrefix(o.Detail, "TPC refusals: "))
	}
	o.Detail += "; " + note
	return o
}

// accessSetUp: the partner's reference file exists for a token for it
// (the partner first), and the site's scratch area exists, made with a
// storage.create token.
func (pr *pair) accessSetUp(ctx context.Context, env *engine.Env, fx *tpcFixture) *engine.Outcome {
	if fx.pref == "" {
		o := engine.Unknownf("%s has no read_file: nothing to copy", pr.name())
		return &o
	}
	if _, bad := pr.site.needScratch(); bad != nil {
		return bad
	}
	src := &copyEnd{b: pr.p, partner: true, path: fx.pref}
	pctx, cancel := partnerContext(ctx)
	st, who, err := src.open(pctx, false, Read(fx.pref))
	if err == nil {
		_, err = st.Stat(pctx, fx.pref)
	}
	cancel()
	if err != nil {
		o := pr.partnerFault("stat "+fx.pref, who, err)
		return &o
	}
	fx.srcTok = src.tok
	sc := Create(pr.site.scratch.Dir())
	st, tok, err := pr.site.TokenStore(ctx, pr.site.aud, sc)
	if err == nil && !tok.Narrowed {
		o := engine.Unknownf("the token source (%s) gives one token for every request: refusals of narrower tokens cannot be tested", pr.site.t.Creds.Tokens.Describe())
		return &o
	}
	if err == nil {
		err = pr.site.ensureScratch(ctx, env, st)
	}
	if err != nil {
		o := pr.site.tokenFailure(pr.site.failure("set-up: mkdir "+pr.site.scratch.Dir(), pr.site.tokenWho(tok, sc), ruleCreate, err), tok)
		return &o
	}
	fx.create = st
	return nil
}

// bySite keeps an error as the site's answer only when it comes from the
// side the site plays; the other side's answer proves nothing about it.
func (pr *pair) bySite(err error, by CopySide) error {
	var ce *CopyError
	if err == nil || !errors.As(err, &ce) || ce.Side == by {
		return err
	}
	return &Error{Kind: Other, Text: fmt.Sprintf("%s answered, not the site: %s", pr.name(), pr.site.errText(err))}
}

// pullReadOnly: the site's destination token has storage.read on the
// scratch area, not storage.create: the site must refuse to create the
// copy there.
func (pr *pair) pullReadOnly(ctx context.Context, fx *tpcFixture) (string, error) {
	b := pr.site
	target := b.scratch.Path(fx.id + "-read-only.dat")
	tok, err := b.Token(ctx, b.aud, Read(b.scratch.Dir()))
	if err != nil {
		return "", err
	}
	b.cleanup(fx.env, target, false, true)
	return "", pr.copyOnce(ctx, fx, CopyRequest{Mode: Pull, Source: pr.pcp.URL(fx.pref), Destination: fx.cp.URL(target),
		ActiveToken: tok, PassiveToken: fx.srcTok})
}

// pullOverExisting: a file the site holds (made with storage.create) must
// not be replaced by a copy authorised by a storage.create token only.
func (pr *pair) pullOverExisting(ctx context.Context, fx *tpcFixture) (string, error) {
	b := pr.site
	target := b.scratch.Path(fx.id + "-existing.dat")
	b.cleanup(fx.env, target, false, true)
	original := []byte(fmt.Sprintf("gridprobe %s %s existing\n", fx.env.RunID, fx.env.Check))
	if err := fx.create.Write(ctx, target, original, New); err != nil {
		return "cannot create the existing file with a storage.create token: " + b.errText(err), nil
	}
	tok, err := b.Token(ctx, b.aud, Create(b.scratch.Dir()))
	if err != nil {
		return "", err
	}
	err = pr.copyOnce(ctx, fx, CopyRequest{Mode: Pull, Source: pr.pcp.URL(fx.pref), Destination: fx.cp.URL(target),
		ActiveToken: tok, PassiveToken: fx.srcTok, Overwrite: true})
	if err == nil {
		return "", nil
	}
	// Refused: the file must still be the original.
	if info, serr := fx.create.Stat(ctx, target); serr == nil && info.Size != int64(len(original)) {
		return "", nil
	}
	return "", err
}

// pullOtherPath: the partner pulls the site's reference file, presenting
// a site token for another path (the scratch area): the site, as the
// source, must refuse it.
func (pr *pair) pullOtherPath(ctx context.Context, fx *tpcFixture) (string, error) {
	b, p := pr.site, pr.p
	ref := b.t.Service.ReadFile.Path
	switch {
	case ref == "":
		return "no read_file configured", nil
	case p.scratchErr != nil:
		return fmt.Sprintf("%s has no scratch area: %v", pr.name(), p.scratchErr), nil
	}
	sc := Create(p.scratch.Dir())
	pctx, cancel := partnerContext(ctx)
	st, dstTok, err := p.TokenStore(pctx, p.aud, sc)
	if err == nil {
		err = (&copyEnd{b: p, partner: true}).ensureScratch(pctx, fx.env, st)
	}
	cancel()
	if err != nil {
		return pr.partnerFault("mkdir "+p.scratch.Dir(), p.tokenWho(dstTok, sc), err).Detail, nil
	}
	srcTok, err := b.Token(ctx, b.aud, Read(b.scratch.Dir()))
	if err != nil {
		return "", err
	}
	target := p.scratch.Path(fx.id + "-other-path.dat")
	p.cleanup(fx.env, target, false, true)
	return "", pr.copyOnce(ctx, fx, CopyRequest{Mode: Pull, Source: fx.cp.URL(ref), Destination: pr.pcp.URL(target),
		ActiveToken: dstTok, PassiveToken: srcTok})
}

// copyOnce runs one copy with its share of the check's time.
func (pr *pair) copyOnce(ctx context.Context, fx *tpcFixture, req CopyRequest) error {
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok && fx.share > 1 {
		cctx, cancel = context.WithTimeout(ctx, time.Until(dl)/time.Duration(fx.share))
	}
	defer cancel()
	cp := fx.cp
	_, err := cp.Copy(cctx, req)
	return err
}
