package storage

import (
	"context"
	"io"
	"strings"
	"sync"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// acceptedTokens remembers, per token issuer and audience, one request of
// the service the SE accepted with a token of that issuer and audience. A
// refusal's diagnosis then does not vary the audience of a token whose
// issuer and audience the SE has shown it accepts (an audience is checked
// before any scope, whatever the request), nor ask whether the SE accepts
// the issuer at all once it accepted one of its tokens: on a server that
// closes the connection after each refusal, each of those variants costs a
// connection (XrdHttp) or a session (XRootD).
type acceptedTokens struct {
	m sync.Map // tokenOrigin → the request accepted (string)
}

// tokenOrigin is a token's issuer and audience (space-separated).
type tokenOrigin struct{ issuer, audience string }

func originOf(tok *cred.Token) tokenOrigin {
	c := tok.Claims()
	return tokenOrigin{c.Issuer, strings.Join(c.Audience, " ")}
}

// note records that the SE accepted what with tok.
func (a *acceptedTokens) note(tok *cred.Token, what string) {
	a.m.LoadOrStore(originOf(tok), what)
}

// withAudience is a request accepted with a token of tok's issuer and
// audience.
func (a *acceptedTokens) withAudience(tok *cred.Token) (string, bool) {
	v, ok := a.m.Load(originOf(tok))
	if !ok {
		return "", false
	}
	return v.(string), true
}

// ofIssuer is a request accepted with any token of tok's issuer.
func (a *acceptedTokens) ofIssuer(tok *cred.Token) (what string, ok bool) {
	iss := tok.Claims().Issuer
	a.m.Range(func(k, v any) bool {
		if k.(tokenOrigin).issuer == iss {
			what, ok = v.(string), true
		}
		return !ok
	})
	return what, ok
}

// recording is a token's Store that notes every request the SE accepted.
type recording struct {
	Store
	b   *Book
	tok *cred.Token
}

func (r recording) ok(err error, what, p string) error {
	if err == nil {
		r.b.accepted.note(r.tok, what+" "+r.b.rel(p))
	}
	return err
}

func (r recording) Stat(ctx context.Context, p string) (Info, error) {
	i, err := r.Store.Stat(ctx, p)
	return i, r.ok(err, "stat", p)
}

func (r recording) Read(ctx context.Context, p string, w io.Writer) (ReadInfo, error) {
	i, err := r.Store.Read(ctx, p, w)
	return i, r.ok(err, "read", p)
}

func (r recording) ReadRange(ctx context.Context, p string, off, n int64) ([]byte, error) {
	d, err := r.Store.ReadRange(ctx, p, off, n)
	return d, r.ok(err, "ranged read of", p)
}

func (r recording) Write(ctx context.Context, p string, data []byte, mode WriteMode) error {
	return r.ok(r.Store.Write(ctx, p, data, mode), "write", p)
}

func (r recording) Delete(ctx context.Context, p string) error {
	return r.ok(r.Store.Delete(ctx, p), "delete", p)
}

func (r recording) Rmdir(ctx context.Context, p string) error {
	return r.ok(r.Store.Rmdir(ctx, p), "rmdir", p)
}

func (r recording) Mkdir(ctx context.Context, p string, parents bool) error {
	return r.ok(r.Store.Mkdir(ctx, p, parents), "mkdir", p)
}

func (r recording) List(ctx context.Context, p string) ([]Info, error) {
	l, err := r.Store.List(ctx, p)
	return l, r.ok(err, "list", p)
}

func (r recording) Checksum(ctx context.Context, p, alg string) (string, error) {
	s, err := r.Store.Checksum(ctx, p, alg)
	return s, r.ok(err, "checksum of", p)
}

// tokenStore opens the store presenting tok; its accepted requests are noted.
func (b *Book) tokenStore(ctx context.Context, tok *cred.Token) (Store, error) {
	st, err := b.tr.Token(ctx, tok)
	if err != nil || st == nil {
		return st, err
	}
	return recording{Store: st, b: b, tok: tok}, nil
}
