package storage

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// When a token the probe needs is refused (14tkn-read, 17tkn-write,
// 18tkn-directory), the diagnosis finds out why before the check reports:
// it repeats the refused operation with tokens that differ from the refused
// one in one thing — the audience, the scope path, a freshly issued token,
// the profile version claim — each still the narrowest for the operation,
// and asks whether the SE accepts any token of the issuer at all. It stops
// at the first variant accepted, and never sends more than diagMaxSteps
// requests or runs past a share of the check's deadline.

// diagMaxSteps bounds the requests of one diagnosis.
const diagMaxSteps = 16

// diagShare is the part of the check's remaining time a diagnosis may use.
const diagShare = 0.6

// clockSlack is the clock difference a token's times are allowed before
// they count as the cause (profile v1.1 §4.3.1: nbf back-dated ~60 s).
const clockSlack = 30 * time.Second

// diagCase is a refused token request to diagnose.
type diagCase struct {
	what   string  // e.g. "read /testvo/reference.dat"
	scopes []Scope // the refused token's scopes
	aud    string  // its audience
	tok    *cred.Token
	err    error
	op     Op // the operation, for the reproduce lines
	// again repeats the operation with another store.
	again func(ctx context.Context, st Store) error
}

// variant is one token tried by a diagnosis.
type variant struct {
	vary string
	spec tokenSpec
	// cause says what acceptance of the variant means; party is whose
	// fault that is.
	cause, party string
}

// diagnosis is the outcome of a diagnosis: the engine's record, and the
// decisive pair for the reproduce lines.
type diagnosis struct {
	rec      engine.Diagnosis
	accepted *variant
}

// refusal reports whether err is a refusal a diagnosis can explain.
func refusal(err error) bool {
	k := KindOf(err)
	return k == Denied || k == LoginRefused
}

// diagnose runs the diagnosis of c; nil when there is nothing to vary (no
// refusal, or a token source that does not narrow).
func (b *Book) diagnose(ctx context.Context, c diagCase) *diagnosis {
	if c.tok == nil || !c.tok.Narrowed || !refusal(c.err) || b.t.Creds.Tokens == nil {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Duration(float64(time.Until(dl))*diagShare)))
		defer cancel()
	}
	d := &diagnosis{}
	d.rec.Steps = append(d.rec.Steps, engine.DiagnosisStep{Vary: "nothing (the refused request)", Token: b.tokenClaims(c.tok),
		Request: c.what, Answer: b.errText(c.err)})
	if cause := clockCause(c.tok.Claims(), time.Now()); cause != "" {
		d.rec.Cause, d.rec.Party = cause, "central"
		d.rec.Steps = append(d.rec.Steps, engine.DiagnosisStep{Vary: "claims (no request)", Token: b.tokenClaims(c.tok), Answer: cause})
		return d
	}
	vs := b.variants(c)
	if what, ok := b.accepted.withAudience(c.tok); ok {
		d.rec.Steps = append(d.rec.Steps, engine.DiagnosisStep{Vary: "audience (not varied)", Token: "aud " + originOf(c.tok).audience,
			Answer: "the SE accepted a token with this audience in this service (" + what + "): the audience is not why"})
		vs = slices.DeleteFunc(vs, func(v variant) bool { return v.vary == "audience" })
	}
	for _, v := range vs {
		if len(d.rec.Steps) > diagMaxSteps || ctx.Err() != nil {
			d.rec.Steps = append(d.rec.Steps, engine.DiagnosisStep{Vary: "stopped", Answer: "step or time budget used up"})
			break
		}
		if b.tryVariant(ctx, c, v, d) {
			d.accepted = &v
			d.rec.Cause, d.rec.Party = v.cause, v.party
			return d
		}
	}
	b.issuerAtAll(ctx, c, d)
	return d
}

// tryVariant presents one variant; true when the SE accepted it.
func (b *Book) tryVariant(ctx context.Context, c diagCase, v variant, d *diagnosis) bool {
	req := c.what
	again := c.again
	if v.vary == "issuer" {
		req = "stat " + b.voArea
		again = func(ctx context.Context, st Store) error { _, err := st.Stat(ctx, b.voArea); return err }
	}
	step := engine.DiagnosisStep{Vary: v.vary, Token: fmt.Sprintf("scope %q aud %s", b.shorten(b.scopeText(v.spec)), b.audience(v.spec)), Request: req}
	tok, err := b.specToken(ctx, v.spec)
	if err == nil {
		step.Token = b.tokenClaims(tok)
		var st Store
		if st, err = b.tr.Token(ctx, tok); err == nil {
			err = again(ctx, st)
		}
	}
	if err == nil {
		step.Answer, step.Accepted = "accepted", true
	} else {
		step.Answer = b.errText(err)
	}
	d.rec.Steps = append(d.rec.Steps, step)
	return step.Accepted
}

// issuerAtAll: after no variant was accepted, does the SE accept any token
// of this issuer (storage.read on the VO area, aud any, for a stat of it)?
func (b *Book) issuerAtAll(ctx context.Context, c diagCase, d *diagnosis) {
	if ctx.Err() != nil {
		return
	}
	if what, ok := b.accepted.ofIssuer(c.tok); ok {
		d.rec.Steps = append(d.rec.Steps, engine.DiagnosisStep{Vary: "issuer (not asked)",
			Answer: "the SE accepted a token of this issuer in this service (" + what + "), so the refusal is its rule for this request"})
		return
	}
	v := variant{vary: "issuer", spec: tokenSpec{scopes: []Scope{Read(b.voArea)}, aud: cred.AnyAudience}}
	iss := c.tok.Claims().Issuer
	tried := len(d.rec.Steps) - 1
	if b.tryVariant(ctx, c, v, d) {
		d.rec.Steps[len(d.rec.Steps)-1].Answer += ": the SE accepts this issuer's tokens, so the refusal is its rule for this request"
		return
	}
	d.rec.Cause = fmt.Sprintf("the SE accepted none of %d tokens of %s (any audience, path, age): untrusted issuer, keys not fetched, or no area mapped",
		tried+1, iss)
	d.rec.Party = "site"
}

// variants are the tokens a diagnosis of c tries, in order: other
// audiences, other scope paths, a fresh token, another version claim.
func (b *Book) variants(c diagCase) []variant {
	var vs []variant
	same := func(aud string) tokenSpec { return tokenSpec{scopes: c.scopes, aud: aud} }
	for _, a := range b.audienceForms(c.aud) {
		cause := fmt.Sprintf("refused with aud %s, accepted with aud %s: the SE's audience list lacks the URL clients use (profile §2.1.1)", c.aud, a)
		party := "site"
		if a == cred.AnyAudience {
			cause = fmt.Sprintf("refused with aud %s and every other URL form of the endpoint, accepted with aud %s: the SE's audience list lacks the endpoint's URLs (profile §2.1.1)", c.aud, a)
		} else if b.t.Service.Audience != "" && c.aud == b.t.Service.Audience && c.aud != b.endpointAudience() {
			cause = fmt.Sprintf("refused with the configured audience %s, accepted with %s: sites.yaml's audience for this service is wrong", c.aud, a)
			party = "probe"
		}
		vs = append(vs, variant{vary: "audience", spec: same(a), cause: cause, party: party})
	}
	vs = append(vs, b.scopeVariants(c)...)
	vs = append(vs, variant{vary: "fresh token", spec: tokenSpec{scopes: c.scopes, raw: []string{"wlcg"}, aud: c.aud},
		cause: fmt.Sprintf("refused with a token issued at %s, accepted with a freshly issued one: the SE's clock is ahead of the issuer's, or it kept an earlier refusal",
			c.tok.Claims().IssuedAt.UTC().Format(time.TimeOnly)), party: "site"})
	if ver := c.tok.Claims().WLCGVersion; ver != "1.0" {
		vs = append(vs, variant{vary: "wlcg.ver", spec: tokenSpec{scopes: c.scopes, raw: []string{"wlcg:1.0"}, aud: c.aud, want: wantVersion("1.0")},
			cause: fmt.Sprintf("refused with wlcg.ver %q, accepted with 1.0: issuers must keep issuing 1.0 until every SE understands newer versions (profile §2.1.1), and SEs must accept newer minor versions (v1.1 §4.3.3)", ver),
			party: "central"})
	}
	return vs
}

// scopeVariants: the scope paths without the scope base (absolute), the
// parent directory, and, for a delete, storage.read added (a server that
// stats before deleting).
func (b *Book) scopeVariants(c diagCase) []variant {
	var vs []variant
	base := strings.TrimSuffix(b.t.Service.ScopeBase, "/")
	if base != "" {
		var raw []string
		for _, s := range c.scopes {
			raw = append(raw, s.Op+":"+s.Path)
		}
		vs = append(vs, variant{vary: "scope path", spec: tokenSpec{raw: raw, aud: c.aud},
			cause: fmt.Sprintf("refused with %s, accepted with the absolute path %s: the SE's base path for this issuer is not scope_base %s (profile §2.2.3)",
				b.ScopeString(c.scopes...), strings.Join(raw, " "), base), party: "site"})
	}
	var parents []Scope
	for _, s := range c.scopes {
		if d := path.Dir(s.Path); d != s.Path && (base == "" || d == base || strings.HasPrefix(d, base+"/")) {
			parents = append(parents, Scope{Op: s.Op, Path: d})
		}
	}
	if len(parents) == len(c.scopes) && len(parents) > 0 {
		vs = append(vs, variant{vary: "scope path", spec: tokenSpec{scopes: parents, aud: c.aud},
			cause: fmt.Sprintf("refused with %s, accepted with its directory %s: the SE does not apply a scope path to the object itself (profile §2.2.1)",
				b.relScopes(c.scopes...), b.relScopes(parents...)), party: "site"})
	}
	if c.op.Kind == OpDelete || c.op.Kind == OpRmdir {
		withRead := append(slices.Clone(c.scopes), Read(c.op.Path))
		vs = append(vs, variant{vary: "scope set", spec: tokenSpec{scopes: withRead, aud: c.aud},
			cause: "refused with storage.modify alone, accepted with storage.read added: the SE needs storage.read to delete (it stats first), though storage.modify includes deleting (profile §2.2.1)",
			party: "site"})
	}
	return vs
}

// endpointAudience is the endpoint's own URL as audience (the default).
func (b *Book) endpointAudience() string {
	u := b.t.Service.URL
	return u.Scheme + "://" + u.Host
}

// audienceForms are the audiences a diagnosis tries besides used: the
// configured one, the endpoint's URL with every storage scheme (https,
// davs, roots, root; its own first), with and without the port, the bare
// host:port, and the WLCG "any" audience.
func (b *Book) audienceForms(used string) []string {
	u := b.t.Service.URL
	host, port := u.Hostname(), u.Port()
	// The endpoint's own scheme, its sibling, then the other protocol's.
	schemes := []string{"https", "davs", "roots", "root"}
	if strings.HasPrefix(u.Scheme, "root") {
		schemes = []string{"roots", "root", "https", "davs"}
	}
	if u.Scheme == "root" {
		schemes[0], schemes[1] = "root", "roots"
	}
	if !slices.Contains(schemes, u.Scheme) {
		schemes = append([]string{u.Scheme}, schemes...)
	}
	out := []string{b.aud}
	for _, s := range schemes {
		if port != "" {
			out = append(out, s+"://"+host+":"+port)
		}
		out = append(out, s+"://"+host)
	}
	if port != "" {
		out = append(out, host+":"+port)
	}
	out = append(out, cred.AnyAudience)
	var uniq []string
	for _, a := range out {
		if a != used && !slices.Contains(uniq, a) {
			uniq = append(uniq, a)
		}
	}
	return uniq
}

// clockCause says why a token's times make it unusable now (by this host's
// clock): not yet valid, issued in the future, expired; "" when fine.
func clockCause(c cred.Claims, now time.Time) string {
	switch {
	case !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(clockSlack)):
		return fmt.Sprintf("the token is not valid yet: its nbf is %s ahead of this host's clock, so the issuer's clock runs ahead (or it does not back-date nbf, profile §4.3.1)",
			c.NotBefore.Sub(now).Round(time.Second))
	case !c.IssuedAt.IsZero() && c.IssuedAt.After(now.Add(clockSlack)):
		return fmt.Sprintf("the token was issued %s in the future by this host's clock: the issuer's clock runs ahead", c.IssuedAt.Sub(now).Round(time.Second))
	case !c.Expiry.IsZero() && !c.Expiry.After(now):
		return fmt.Sprintf("the token expired %s ago: the issuer handed out an expired token", now.Sub(c.Expiry).Round(time.Second))
	}
	return ""
}

// tokenClaims describes a token for a diagnosis step (never its value).
func (b *Book) tokenClaims(t *cred.Token) string {
	if t == nil {
		return "no token"
	}
	c := t.Claims()
	s := fmt.Sprintf("scope %q aud %s wlcg.ver %s", b.shorten(strings.Join(c.Scopes, " ")), strings.Join(c.Audience, ","), c.WLCGVersion)
	if !c.IssuedAt.IsZero() {
		s += " iat " + c.IssuedAt.UTC().Format(time.TimeOnly)
	}
	return s
}

// withDiagnosis runs the diagnosis of a refused token request and folds it
// into the failed outcome o: the cause first in the detail, the party's
// state (a central or probe fault is UNKNOWN, never the site's CRITICAL),
// the decisive pair as reproduce lines, every step in JSON.
func (b *Book) withDiagnosis(ctx context.Context, o engine.Outcome, c diagCase) engine.Outcome {
	d := b.diagnose(ctx, c)
	if d == nil {
		return o
	}
	rec := d.rec
	o.Diagnosis = &rec
	if rec.Cause == "" {
		return o
	}
	o.Detail = rec.Party + ": " + rec.Cause + "; " + o.Detail
	if rec.Party != string(engine.PartySite) {
		o.State = engine.Unknown
	}
	o = o.Blame(engine.Party(rec.Party))
	o.Reproduce = b.reproPair(c, d)
	return o
}

// reproPair are the reproduce lines of the decisive pair: the refused
// request and the accepted variant (or, for an issuer the SE does not
// accept, the last refusal).
func (b *Book) reproPair(c diagCase, d *diagnosis) []string {
	forWrite := c.op.Kind == OpPut || c.op.Kind == OpMkdir
	refused := c.op
	refused.Refused, refused.LoginRefusal, refused.Local = true, true, reproLocal(c.op.Kind, "gridprobe-diagnosis.dat")
	lines := []string{comment("diagnosis: %s", d.rec.Cause)}
	if c.op.Kind == OpPut {
		lines = append(lines, payloadLine(refused.Local, 1024))
	}
	lines = append(lines, b.needTokenText(c.aud, forWrite, b.ScopeString(c.scopes...)), b.line(asToken, refused))
	if d.accepted == nil {
		return lines
	}
	ok := c.op
	ok.Local = refused.Local
	return append(lines, b.needTokenText(b.audience(d.accepted.spec), forWrite, b.scopeText(d.accepted.spec)), b.line(asToken, ok))
}

// errIssuer is what a variant's token request failed with, short.
func errIssuer(err error) string {
	var ie *cred.IssuerError
	if errors.As(err, &ie) {
		return fmt.Sprintf("the issuer refused: %s %s", ie.Code, ie.Description)
	}
	return err.Error()
}
