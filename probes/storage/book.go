package storage

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// Book is the rulebook bound to one storage service for one round: its
// target, its transport, its scratch area and what the checks created.
type Book struct {
	t      probe.Target
	tr     Transport
	aud    string
	voArea string

	scratch probe.Scratch
	// scratchErr is why there is no scratch area (no write_dir): writing
	// rules report UNKNOWN with it.
	scratchErr error
	// sweepOnce registers the service-end sweep of the scratch area once.
	sweepOnce sync.Once
	// scratchMade: the scratch directory exists (made by an earlier check
	// of the service), so later checks skip the mkdir.
	scratchMade atomic.Bool
	// deleted: objects the checks removed themselves (no cleanup needed).
	deleted probe.DeletedSet
	// removedBy names the credential that removed an object after an
	// earlier one was refused (remove tries it first from then on).
	removedBy atomic.Value // string: a removal way's name
	// accepted: requests the SE accepted with a token, by audience.
	accepted acceptedTokens
}

// NewBook binds the rulebook to a service.
func NewBook(t probe.Target, tr Transport) *Book {
	b := &Book{t: t, tr: tr, aud: t.Audience(), voArea: t.VOArea()}
	b.scratch, b.scratchErr = t.Scratch()
	return b
}

// Audience is the service's token audience.
func (b *Book) Audience() string { return b.aud }

// VOArea is the VO's area on the endpoint.
func (b *Book) VOArea() string { return b.voArea }

// Target is the service the book is bound to.
func (b *Book) Target() probe.Target { return b.t }

// Scope is one WLCG storage scope on an absolute storage path.
type Scope = probe.StorageScope

// The storage scopes on an absolute storage path.
var (
	Read   = probe.Read
	Create = probe.Create
	Modify = probe.Modify
)

// Stage is storage.stage on an absolute storage path.
func Stage(p string) Scope { return Scope{Op: "storage.stage", Path: p} }

// Proxy opens the store of a proxy role: the proxy's own problems (none
// configured, expired) are a *CredError.
func (b *Book) Proxy(ctx context.Context, role Role) (Store, *cred.Proxy, error) {
	var (
		p   *cred.Proxy
		err error
	)
	switch role {
	case Foreign:
		p, err = b.t.Creds.ForeignProxy()
	case NoVOMS:
		p, err = b.t.Creds.NoVOMSProxy()
	default:
		p, err = b.t.Creds.Proxy()
	}
	if err != nil {
		return nil, nil, &CredError{err}
	}
	st, err := b.tr.Proxy(ctx, role, p)
	return st, p, err
}

// Token asks the token source for the narrowest token: scopes on absolute
// storage paths, made relative to the scope base, for aud.
func (b *Book) Token(ctx context.Context, aud string, scopes ...Scope) (*cred.Token, error) {
	ss, err := b.t.ScopeStrings(scopes...)
	if err != nil {
		return nil, &CredError{err}
	}
	tok, err := b.t.Creds.Token(ctx, aud, ss...)
	if err != nil {
		return nil, &CredError{err}
	}
	return tok, nil
}

// TokenStore opens the store presenting the narrowest token for scopes and
// aud. The token is returned even when the store cannot be opened (for the
// detail).
func (b *Book) TokenStore(ctx context.Context, aud string, scopes ...Scope) (Store, *cred.Token, error) {
	tok, err := b.Token(ctx, aud, scopes...)
	if err != nil {
		return nil, nil, err
	}
	st, err := b.tokenStore(ctx, tok)
	return st, tok, err
}

// ScopeString is the scope list as the issuer sees it.
func (b *Book) ScopeString(scopes ...Scope) string { return b.t.ScopeString(scopes...) }

// relScopes is ScopeString with the scratch directory shortened.
func (b *Book) relScopes(scopes ...Scope) string { return b.shorten(b.ScopeString(scopes...)) }

// shorten names what lies in the scratch directory by its place in it
// (<scratch>/x, as a storage path and as a scope path) in a detail; the
// directory itself keeps its full name, so a detail still says where it is.
func (b *Book) shorten(s string) string {
	if b.scratchErr != nil {
		return s
	}
	s = strings.ReplaceAll(s, b.scratch.Dir()+"/", "<scratch>/")
	if sp, err := b.t.ScopePath(b.scratch.Dir()); err == nil && sp != "/" {
		s = strings.ReplaceAll(s, sp+"/", "<scratch>/")
		s = strings.ReplaceAll(s, ":"+sp, ":<scratch>") // a scope on the directory itself
	}
	return s
}

// rel names a path in details, scratch paths by their place in it.
func (b *Book) rel(p string) string { return b.shorten(p) }

// proxyWho names a proxy in details: its role and VOMS FQAN (else subject).
func proxyWho(role Role, p *cred.Proxy) string {
	if p == nil {
		return role.String()
	}
	if f := p.FQANs(); len(f) > 0 {
		return role.String() + " " + f[0]
	}
	return role.String() + " " + p.Subject
}

// tokenWho names the token actually presented: the scopes asked for when the
// source narrows tokens, else the token's own scopes.
func (b *Book) tokenWho(tok *cred.Token, scopes ...Scope) string {
	if tok != nil && !tok.Narrowed {
		own := strings.Join(tok.Claims().Scopes, " ")
		if own == "" {
			own = "no scope claim"
		}
		return "token (one for every check) " + b.shorten(own)
	}
	return "token " + b.relScopes(scopes...)
}

// tokenDesc is how a failing detail names the token (never its value).
func tokenDesc(t *cred.Token) string {
	if t == nil {
		return "no token"
	}
	d := t.Summary()
	if iss := t.Claims().Issuer; iss != "" && !strings.Contains(d, iss) {
		d += " iss=" + iss
	}
	return d
}

// needScratch returns the scratch area or the UNKNOWN outcome saying why
// there is none.
func (b *Book) needScratch() (probe.Scratch, *engine.Outcome) {
	if b.scratchErr != nil {
		o := engine.Unknownf("no scratch area: %v", b.scratchErr)
		return probe.Scratch{}, &o
	}
	return b.scratch, nil
}

// errText is an error for a detail, scratch paths shortened.
func (b *Book) errText(err error) string { return b.shorten(err.Error()) }

// failure turns a failed step into an outcome: the probe's own set-up
// problems are UNKNOWN, everything the endpoint did (or did not do in time)
// is CRITICAL. why names the rule the failure breaks ("" for none).
func (b *Book) failure(step, who, why string, err error) engine.Outcome {
	rule := ""
	if why != "" {
		rule = " (" + why + ")"
	}
	msg := fmt.Sprintf("%s with the %s failed%s: %s", b.shorten(step), who, rule, b.errText(err))
	if IsCred(err) {
		return engine.Unknownf("%s", msg)
	}
	return engine.Critf("%s", msg)
}

// withRepro attaches reproduce lines to an outcome.
func withRepro(o engine.Outcome, lines []string) engine.Outcome {
	o.Reproduce = lines
	return o
}
