package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// tokenSpec is the token one sub-rule presents: storage scopes on absolute
// storage paths (made relative to the scope base), raw scopes added as they
// are (openid; a version request wlcg:<v> or a group request
// wlcg.groups:<g>, profile §3; a storage scope written by hand), and the
// audience ("" for the endpoint's; several separated by spaces).
type tokenSpec struct {
	scopes []Scope
	raw    []string
	aud    string
	// want checks that the issuer issued what was asked for (a version or
	// group request may be ignored, profile §3.4): a non-empty answer says
	// what the token lacks, and the sub-rule is then untested.
	want func(c cred.Claims) string
}

// audience is the spec's audience, the endpoint's by default.
func (b *Book) audience(s tokenSpec) string {
	if s.aud == "" {
		return b.aud
	}
	return s.aud
}

// scopeStrings are the spec's scopes as the issuer sees them.
func (b *Book) scopeStrings(s tokenSpec) ([]string, error) {
	ss, err := b.t.ScopeStrings(s.scopes...)
	if err != nil {
		return nil, err
	}
	return append(ss, s.raw...), nil
}

// scopeText is the spec's scope list for details and reproduce lines.
func (b *Book) scopeText(s tokenSpec) string {
	ss := []string{}
	if t := b.ScopeString(s.scopes...); t != "" {
		ss = append(ss, t)
	}
	return strings.Join(append(ss, s.raw...), " ")
}

// specToken asks the token source for the spec's token.
func (b *Book) specToken(ctx context.Context, s tokenSpec) (*cred.Token, error) {
	ss, err := b.scopeStrings(s)
	if err != nil {
		return nil, &CredError{err}
	}
	tok, err := b.t.Creds.Token(ctx, b.audience(s), ss...)
	if err != nil {
		return nil, &CredError{err}
	}
	return tok, nil
}

// specStore opens the store presenting the spec's token. untested is set
// when the issuer did not issue what the spec asked for (or refused to).
func (b *Book) specStore(ctx context.Context, s tokenSpec) (st Store, tok *cred.Token, untested string, err error) {
	tok, err = b.specToken(ctx, s)
	if err != nil {
		if s.want != nil || len(s.raw) > 0 || notIssued(err) {
			return nil, nil, "the token source would not issue it: " + b.shorten(errIssuer(err)), nil
		}
		return nil, nil, "", err
	}
	if s.want != nil {
		if lack := s.want(tok.Claims()); lack != "" {
			return nil, tok, fmt.Sprintf("the issuer ignored the request (%s): %s", b.shorten(b.scopeText(s)), lack), nil
		}
	}
	st, err = b.tokenStore(ctx, tok)
	return st, tok, "", err
}

// notIssued: the issuer answered, but would not issue this one token (e.g.
// invalid_scope for a scope the client may not ask for): the rule that
// needed it is untested. An issuer outage, or no token source, ends the
// check instead (every other rule would fail the same way).
func notIssued(err error) bool {
	var f *cred.IssuerFailure
	return errors.As(err, &f) && !f.Outage
}

// wantVersion: the token carries wlcg.ver v.
func wantVersion(v string) func(cred.Claims) string {
	return func(c cred.Claims) string {
		if c.WLCGVersion == v {
			return ""
		}
		return fmt.Sprintf("it issued wlcg.ver %q", c.WLCGVersion)
	}
}

// wantGroup: the token carries group g.
func wantGroup(g string) func(cred.Claims) string {
	return func(c cred.Claims) string {
		if slices.Contains(c.Groups, g) {
			return ""
		}
		return fmt.Sprintf("no wlcg.groups %s in the token (groups %q)", g, strings.Join(c.Groups, " "))
	}
}

// wantNoStorageScope: the token has no storage scope at all.
func wantNoStorageScope(c cred.Claims) string {
	for _, s := range c.Scopes {
		if strings.HasPrefix(s, "storage.") {
			return "it added the scope " + s
		}
	}
	return ""
}

// wantScope: the token has exactly the scope s among its scopes.
func wantScope(s string) func(cred.Claims) string {
	return func(c cred.Claims) string {
		if slices.Contains(c.Scopes, s) {
			return ""
		}
		return fmt.Sprintf("no scope %s in the token (scope %q)", s, strings.Join(c.Scopes, " "))
	}
}

// wantAudiences: the token names every audience of auds (space-separated).
func wantAudiences(auds string) func(cred.Claims) string {
	return func(c cred.Claims) string {
		for _, a := range strings.Fields(auds) {
			if !slices.Contains(c.Audience, a) {
				return fmt.Sprintf("its aud is %q", strings.Join(c.Audience, " "))
			}
		}
		return ""
	}
}

// vo group: the group every member of the VO has (profile §2.1.1: the root
// group is the VO's name).
func (b *Book) voGroup() string { return "/" + b.t.Service.VO }
