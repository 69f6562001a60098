package xrootd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage"
	"github.com/gridprobe/gridprobe/probes/xrootd/gsi"
	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
	"github.com/gridprobe/gridprobe/probes/xrootd/ztn"
)

// transport is storage.Transport over root://: one pooled session per
// credential (GSI for a proxy, ztn for a token: a check never falls back
// from one to the other), brought up with TLS verified against the grid CA
// directory.
type transport struct {
	u     *url.URL
	url   string // endpoint URL without path
	creds *probe.Credentials

	mu       sync.Mutex
	sessions map[string]*xrd.Session
}

var _ storage.Transport = (*transport)(nil)

func newTransport(u *url.URL, creds *probe.Credentials) *transport {
	return &transport{u: u, url: u.String(), creds: creds, sessions: map[string]*xrd.Session{}}
}

// pooled returns the session for key, dialing it with opts when there is
// none. Dial errors are not cached: the next check tries again.
func (t *transport) pooled(ctx context.Context, key string, opts xrd.Options) (*xrd.Session, error) {
	t.mu.Lock()
	if c, ok := t.sessions[key]; ok {
		t.mu.Unlock()
		return c, nil
	}
	t.mu.Unlock()
	c, err := xrd.Dial(ctx, t.url, opts)
	if err != nil {
		return nil, err
	}
	return t.adopt(key, c), nil
}

// adopt puts sess into the pool under key and returns it, or, when the
// pool has one already, closes sess and returns the pooled one. A check
// that brought a session up itself adopts it for the later checks that
// would bring up the same one.
func (t *transport) adopt(key string, sess *xrd.Session) *xrd.Session {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.sessions[key]; ok {
		_ = sess.Close()
		return old
	}
	t.sessions[key] = sess
	return sess
}

// forget drops a session that saw a transport error, so the next check
// dials afresh instead of inheriting a broken connection.
func (t *transport) forget(key string, sess *xrd.Session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.sessions[key]; ok && cur == sess {
		delete(t.sessions, key)
	}
	_ = sess.Close()
}

func (t *transport) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, c := range t.sessions {
		_ = c.Close()
		delete(t.sessions, k)
	}
}

// tlsOptions is the TLS part of every session: the grid CA directory.
func (t *transport) tlsOptions() (xrd.Options, error) {
	ca, err := t.creds.CA()
	if err != nil {
		return xrd.Options{}, &storage.CredError{Err: err}
	}
	return xrd.Options{TLSConfig: ca.TLSConfig(t.u.Hostname(), nil)}, nil
}

// gsiAuth returns the authenticator factory for a proxy: GSI only.
// extraNames are further host names accepted for the server certificate.
func (t *transport) gsiAuth(p *cred.Proxy, extraNames []string) (func() []secproto.Authenticator, error) {
	gc, err := gsi.NewCredential(p.Chain, p.Cert.PrivateKey)
	if err != nil {
		return nil, &storage.CredError{Err: fmt.Errorf("proxy %s: %w", p.Path, err)}
	}
	caDir := t.creds.CADir
	return func() []secproto.Authenticator {
		return []secproto.Authenticator{gsi.New(gsi.Config{Credential: gc, CADir: caDir, ExtraServerNames: extraNames})}
	}, nil
}

// gsiKey is the pool key of a proxy role's GSI session.
func gsiKey(role storage.Role) string { return "gsi " + role.String() }

func (t *transport) Proxy(ctx context.Context, role storage.Role, p *cred.Proxy) (storage.Store, error) {
	opts, err := t.tlsOptions()
	if err != nil {
		return nil, err
	}
	if opts.Auth, err = t.gsiAuth(p, nil); err != nil {
		return nil, err
	}
	return t.login(ctx, gsiKey(role), opts, gsiName, "GSI login with the "+role.String())
}

// tokenKey is the pool key of the ztn session of a token: one per token
// (its jti: a session logged in with one token never serves another, even
// for the same scopes and audience, e.g. a fresh token), else one per
// audience and scope set, or one for a token source that does not narrow.
func tokenKey(tok *cred.Token) string {
	if id := tok.Claims().ID; id != "" {
		return "ztn jti " + id
	}
	if !tok.Narrowed {
		return "ztn unnarrowed"
	}
	ss := append([]string(nil), tok.Request.Scopes...)
	sort.Strings(ss)
	return "ztn " + tok.Request.Audience + " " + strings.Join(ss, " ")
}

func (t *transport) Token(ctx context.Context, tok *cred.Token) (storage.Store, error) {
	opts, err := t.tlsOptions()
	if err != nil {
		return nil, err
	}
	opts.Auth = func() []secproto.Authenticator {
		return []secproto.Authenticator{ztn.New(func() (string, error) { return tok.Bearer(), nil })}
	}
	return t.login(ctx, tokenKey(tok), opts, ztn.Name, "token login")
}

// login returns the pooled session of key, refusing one that did not
// authenticate with proto.
func (t *transport) login(ctx context.Context, key string, opts xrd.Options, proto, what string) (storage.Store, error) {
	sess, err := t.pooled(ctx, key, opts)
	if err != nil {
		return nil, classify("login", "", fmt.Errorf("%s to %s failed: %w", what, t.url, err))
	}
	if err := authenticatedWith(sess, proto); err != nil {
		return nil, err
	}
	return &store{t: t, key: key, sess: sess}, nil
}

// gsiName is the GSI protocol name in the server's security list.
const gsiName = "gsi"

// authenticatedWith refuses a session that did not authenticate with the
// check's protocol: a server that accepts anonymous sessions never sees the
// credential, so nothing the check then does says anything about it.
func authenticatedWith(sess *xrd.Session, proto string) error {
	if got := sess.Info().AuthProtocol; got != proto {
		if got == "" {
			got = "no authentication at all"
		}
		return &storage.Error{Op: "login", Kind: storage.Other,
			Text: fmt.Sprintf("%s accepted the session with %s: the %s credential was never presented, so this check cannot test it", sess.Addr(), got, proto)}
	}
	return nil
}

// LateWrites: root:// writes are persist-on-close (POSC): a write cut short
// leaves nothing behind.
func (t *transport) LateWrites() time.Duration { return 0 }

// errText renders an error for a detail, adding the GSI failure class
// (client side or from the server's kXR_AuthFailed text) when there is one.
func errText(err error) string {
	msg := err.Error()
	if c := gsi.ErrorClass(err); c != "" {
		return msg + " [gsi: " + c + "]"
	}
	var se *xrd.ServerError
	if errors.As(err, &se) && se.Code == xrd.ErrAuthFailed && strings.Contains(se.Message, "Secgsi") {
		if c := gsi.ClassifyServerError(se.Message); c != gsi.ClassUnknown && c != "" {
			return msg + " [gsi: " + c + "]"
		}
	}
	return msg
}
