package xrootd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/xrootd/gsi"
	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
	"github.com/gridprobe/gridprobe/probes/xrootd/ztn"
)

// Check ids, in catalogue order.
const (
	IDConnection   = "1connection"
	IDVersion      = "3version"
	IDCrtRead      = "4crt-read"
	IDCrtContain   = "5crt-contain"
	IDCrtAccess    = "6crt-access"
	IDCrtWrite     = "7crt-write"
	IDCrtDirectory = "8crt-directory"
	IDFederation   = "9federation"
	IDTknRead      = "14tkn-read"
	IDTknContain   = "15tkn-contain"
	IDTknAccess    = "16tkn-access"
	IDTknWrite     = "17tkn-write"
	IDTknDirectory = "18tkn-directory"
)

// OtherAudience is the audience of the "token for another endpoint" that
// 16tkn-access expects to be refused (the same as the WebDAV probe's).
const OtherAudience = "https://gridprobe-other-endpoint.invalid"

// maxRead bounds what a check reads into memory.
const maxRead = 256 << 20

// Credential kinds of the GSI sessions.
const (
	kindProxy   = "proxy"
	kindForeign = "foreign proxy"
	kindNoVOMS  = "proxy without VOMS"
)

// svc is one service's state for one round.
type svc struct {
	t       probe.Target
	u       *url.URL
	url     string // endpoint URL without path
	aud     string
	voArea  string
	scratch probe.Scratch
	// scratchErr is why there is no scratch area (no write_dir).
	scratchErr error

	mu       sync.Mutex
	sessions map[string]*xrd.Session
	// scratchCleanup registers the removal of the scratch dir once.
	scratchCleanup sync.Once
	// scratchMade: the scratch directory exists (made or found by an
	// earlier check of this service), so later checks skip the mkdir.
	scratchMade atomic.Bool
	// deleted: objects the checks removed themselves (no cleanup needed).
	deleted probe.DeletedSet
}

// New builds the XRootD service of a target: its ordered checks with their
// prerequisites. Credentials are loaded by the checks that use them, so a
// missing or expired proxy is the detail of those checks only.
func New(t probe.Target) (*engine.Service, error) {
	if t.Service == nil || t.Service.URL == nil {
		return nil, fmt.Errorf("xrootd: service without url")
	}
	switch t.Service.URL.Scheme {
	case "root", "roots", "xroot", "xroots":
	default:
		return nil, fmt.Errorf("xrootd: %s: want a root:// or roots:// URL", t.Service.RawURL)
	}
	if t.Creds == nil {
		return nil, fmt.Errorf("xrootd: no credentials")
	}
	u := *t.Service.URL
	u.Path, u.RawPath, u.RawQuery, u.Fragment, u.User = "", "", "", "", nil
	s := &svc{t: t, u: &u, url: u.String(), aud: t.Audience(), sessions: map[string]*xrd.Session{}}
	s.scratch, s.scratchErr = t.Scratch()
	s.voArea = t.VOArea()

	sv := t.NewService(config.TypeXRootD)
	sv.Close = s.close
	ver := []string{IDVersion}
	sv.Checks = []engine.Check{
		{ID: IDConnection, Credential: engine.CredNone, Run: s.runConnection},
		{ID: IDVersion, Credential: engine.CredNone, Requires: []string{IDConnection}, Run: s.runVersion, Reproduce: s.reproVersion},
		{ID: IDCrtRead, Credential: engine.CredX509, Requires: ver, Run: s.runCrtRead, Reproduce: s.reproCrtRead},
		{ID: IDCrtContain, Credential: engine.CredX509, Requires: ver, Run: s.runCrtContain},
		{ID: IDCrtAccess, Credential: engine.CredX509, Requires: ver, Run: s.runCrtAccess},
		{ID: IDCrtWrite, Credential: engine.CredX509, Requires: ver, Run: s.runCrtWrite},
		{ID: IDCrtDirectory, Credential: engine.CredX509, Requires: ver, Run: s.runCrtDirectory},
		{ID: IDTknRead, Credential: engine.CredToken, Requires: ver, Run: s.runTknRead, Reproduce: s.reproTknRead},
		{ID: IDTknContain, Credential: engine.CredToken, Requires: ver, Run: s.runTknContain},
		{ID: IDTknAccess, Credential: engine.CredToken, Requires: ver, Run: s.runTknAccess},
		{ID: IDTknWrite, Credential: engine.CredToken, Requires: ver, Run: s.runTknWrite},
		{ID: IDTknDirectory, Credential: engine.CredToken, Requires: ver, Run: s.runTknDirectory},
	}
	if t.Service.Federation != "" {
		// 9federation only where a redirector is configured; it goes
		// after the crt checks, in catalogue order.
		fed := engine.Check{ID: IDFederation, Credential: engine.CredX509, Requires: ver, Run: s.runFederation, Reproduce: s.reproFederation}
		at := 7 // after 8crt-directory
		sv.Checks = append(sv.Checks[:at], append([]engine.Check{fed}, sv.Checks[at:]...)...)
	}
	return sv, nil
}

func (s *svc) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, c := range s.sessions {
		_ = c.Close()
		delete(s.sessions, k)
	}
}

// conn is a pooled session with the credential it was authenticated with.
type conn struct {
	s    *svc
	key  string
	sess *xrd.Session
	// who names the credential in details ("proxy /testvo/Role=NULL…",
	// "token storage.read:/x").
	who string
}

// pooled returns the session for key, dialing it with opts when there is
// none. Dial errors are not cached: the next check tries again.
func (s *svc) pooled(ctx context.Context, key, rawURL string, opts xrd.Options) (*xrd.Session, error) {
	s.mu.Lock()
	if c, ok := s.sessions[key]; ok {
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	c, err := xrd.Dial(ctx, rawURL, opts)
	if err != nil {
		return nil, err
	}
	return s.adopt(key, c), nil
}

// forget drops a session that saw a transport error, so the next check
// dials afresh instead of inheriting a broken connection.
func (s *svc) forget(key string, sess *xrd.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.sessions[key]; ok && cur == sess {
		delete(s.sessions, key)
	}
	_ = sess.Close()
}

// note forgets the session after an error that is not a server answer.
func (c *conn) note(err error) error {
	if err == nil {
		return nil
	}
	var se *xrd.ServerError
	if !errors.As(err, &se) {
		c.s.forget(c.key, c.sess)
	}
	return err
}

func (c *conn) Stat(ctx context.Context, p string) (xrd.StatInfo, error) {
	st, err := c.sess.Stat(ctx, p)
	return st, c.note(err)
}

func (c *conn) ReadFile(ctx context.Context, p string) ([]byte, string, error) {
	b, by, err := c.sess.ReadFile(ctx, p, maxRead)
	return b, by, c.note(err)
}

func (c *conn) WriteFile(ctx context.Context, p string, data []byte, o xrd.WriteOptions) (string, error) {
	to, err := c.sess.WriteFile(ctx, p, data, o)
	return to, c.note(err)
}

func (c *conn) Checksum(ctx context.Context, p string) (xrd.Checksum, error) {
	cs, err := c.sess.Checksum(ctx, p, "adler32")
	return cs, c.note(err)
}

func (c *conn) Mkdir(ctx context.Context, p string, parents bool) error {
	return c.note(c.sess.Mkdir(ctx, p, 0o755, parents))
}

func (c *conn) Dirlist(ctx context.Context, p string) ([]xrd.DirEntry, error) {
	d, err := c.sess.Dirlist(ctx, p, false)
	return d, c.note(err)
}

func (c *conn) Rm(ctx context.Context, p string) error    { return c.note(c.sess.Rm(ctx, p)) }
func (c *conn) Rmdir(ctx context.Context, p string) error { return c.note(c.sess.Rmdir(ctx, p)) }

// openRead opens p for reading, reads up to 64 bytes and closes it: the
// smallest proof that the credential may read p.
func (c *conn) openRead(ctx context.Context, p string) (int, error) {
	f, err := c.sess.Open(ctx, p, xrd.OpenRead, 0)
	if err != nil {
		return 0, c.note(err)
	}
	defer func() { _ = f.Close(ctx) }()
	buf := make([]byte, 64)
	n, err := f.ReadAt(ctx, buf, 0)
	if err != nil && n == 0 && !errors.Is(err, io.EOF) {
		return 0, c.note(err)
	}
	return n, nil
}

// overwrite opens an existing file with kXR_delete (truncate) and writes
// data: what a create-only token must not be able to do.
func (c *conn) overwrite(ctx context.Context, p string, data []byte) error {
	_, err := c.sess.WriteFile(ctx, p, data, xrd.WriteOptions{Overwrite: true})
	return c.note(err)
}

// tlsOptions is the TLS part of every session: the grid CA directory.
func (s *svc) tlsOptions() (xrd.Options, error) {
	ca, err := s.t.Creds.CA()
	if err != nil {
		return xrd.Options{}, err
	}
	return xrd.Options{TLSConfig: ca.TLSConfig(s.u.Hostname(), nil)}, nil
}

// loadProxy returns the proxy of a kind.
func (s *svc) loadProxy(kind string) (*cred.Proxy, error) {
	switch kind {
	case kindForeign:
		return s.t.Creds.ForeignProxy()
	case kindNoVOMS:
		return s.t.Creds.NoVOMSProxy()
	default:
		return s.t.Creds.Proxy()
	}
}

// gsiAuth returns the authenticator factory for a proxy: GSI only.
// extraNames are further host names accepted for the server certificate.
func (s *svc) gsiAuth(p *cred.Proxy, extraNames []string) (func() []secproto.Authenticator, error) {
	gc, err := gsi.NewCredential(p.Chain, p.Cert.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", p.Path, err)
	}
	caDir := s.t.Creds.CADir
	return func() []secproto.Authenticator {
		return []secproto.Authenticator{gsi.New(gsi.Config{Credential: gc, CADir: caDir, ExtraServerNames: extraNames})}
	}, nil
}

// credError marks errors of the local credential set-up (UNKNOWN, not the
// endpoint's fault).
type credError struct{ err error }

func (e *credError) Error() string { return e.err.Error() }
func (e *credError) Unwrap() error { return e.err }

// gsiConn returns the pooled GSI session of a proxy kind.
func (s *svc) gsiConn(ctx context.Context, kind string) (*conn, *cred.Proxy, error) {
	p, err := s.loadProxy(kind)
	if err != nil {
		return nil, nil, &credError{err}
	}
	opts, err := s.tlsOptions()
	if err != nil {
		return nil, nil, &credError{err}
	}
	if opts.Auth, err = s.gsiAuth(p, nil); err != nil {
		return nil, nil, &credError{err}
	}
	key := "gsi " + kind
	sess, err := s.pooled(ctx, key, s.url, opts)
	if err != nil {
		return nil, p, fmt.Errorf("GSI login to %s with the %s failed: %w", s.url, kind, err)
	}
	if err := authenticatedWith(sess, gsiName); err != nil {
		return nil, p, err
	}
	return &conn{s: s, key: key, sess: sess, who: kind + " " + proxyDesc(p)}, p, nil
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
		return fmt.Errorf("%s accepted the session with %s: the %s credential was never presented, so this check cannot test it", sess.Addr(), got, proto)
	}
	return nil
}

// proxyDesc names a proxy in details: its VOMS FQAN, else its subject.
func proxyDesc(p *cred.Proxy) string {
	if p == nil {
		return ""
	}
	if f := p.FQANs(); len(f) > 0 {
		return f[0]
	}
	return p.Subject
}

// scope is one token scope on an absolute storage path.
type scope = probe.StorageScope

var read, create, modify = probe.Read, probe.Create, probe.Modify

// scopeStrings maps the scopes onto the issuer's base path.
func (s *svc) scopeStrings(scopes ...scope) ([]string, error) { return s.t.ScopeStrings(scopes...) }

// scopeString is the scope list as the issuer sees it (for details and
// reproduce comments); an unmappable path is shown as is.
func (s *svc) scopeString(scopes ...scope) string { return s.t.ScopeString(scopes...) }

// relScopes is scopeString with scratch paths shortened for details.
func (s *svc) relScopes(scopes ...scope) string {
	out := s.scopeString(scopes...)
	if s.scratchErr == nil {
		if sp, err := s.t.ScopePath(s.scratch.Dir()); err == nil {
			out = strings.ReplaceAll(out, sp, "<scratch>")
		}
	}
	return out
}

// token asks the token source for the narrowest token.
func (s *svc) token(ctx context.Context, aud string, scopes ...scope) (*cred.Token, error) {
	ss, err := s.scopeStrings(scopes...)
	if err != nil {
		return nil, &credError{err}
	}
	t, err := s.t.Creds.Token(ctx, aud, ss...)
	if err != nil {
		return nil, &credError{err}
	}
	return t, nil
}

// tokenConn returns a pooled ztn session authenticated with a token for
// the scopes and audience (ztn only).
func (s *svc) tokenConn(ctx context.Context, aud string, scopes ...scope) (*conn, *cred.Token, error) {
	tok, err := s.token(ctx, aud, scopes...)
	if err != nil {
		return nil, nil, err
	}
	opts, err := s.tlsOptions()
	if err != nil {
		return nil, tok, &credError{err}
	}
	opts.Auth = func() []secproto.Authenticator {
		return []secproto.Authenticator{ztn.New(func() (string, error) { return tok.Bearer(), nil })}
	}
	key := s.tokenKey(aud, tok, scopes...)
	sess, err := s.pooled(ctx, key, s.url, opts)
	if err != nil {
		return nil, tok, fmt.Errorf("token login to %s failed: %w", s.url, err)
	}
	if err := authenticatedWith(sess, ztn.Name); err != nil {
		return nil, tok, err
	}
	return &conn{s: s, key: key, sess: sess, who: "token " + s.relScopes(scopes...)}, tok, nil
}

// tokenKey is the pool key of a ztn session with tok (for aud and scopes).
func (s *svc) tokenKey(aud string, tok *cred.Token, scopes ...scope) string {
	if !tok.Narrowed {
		return "ztn unnarrowed " + aud
	}
	ss, _ := s.scopeStrings(scopes...)
	sort.Strings(ss)
	return "ztn " + aud + " " + strings.Join(ss, " ")
}

// adopt puts sess into the pool under key and returns it, or, when the
// pool has one already, closes sess and returns the pooled one. A check
// that brought a session up itself adopts it for the later checks that
// would bring up the same one.
func (s *svc) adopt(key string, sess *xrd.Session) *xrd.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.sessions[key]; ok {
		_ = sess.Close()
		return old
	}
	s.sessions[key] = sess
	return sess
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

// needScratch returns the scratch area or an UNKNOWN outcome.
func (s *svc) needScratch() (probe.Scratch, *engine.Outcome) {
	if s.scratchErr != nil {
		o := engine.Unknownf("no scratch area: %v", s.scratchErr)
		return probe.Scratch{}, &o
	}
	return s.scratch, nil
}

// ensureScratch creates the run's scratch directory with c (mkdir -p; an
// existing one is fine) unless an earlier check of the service did, after
// registering — once per service, so it runs
// after every object's cleanup — the removal of the directory itself.
func (s *svc) ensureScratch(ctx context.Context, env *engine.Env, c *conn) error {
	s.scratchCleanup.Do(func() {
		env.Cleanup("scratch dir "+s.scratch.Dir(), func(ctx context.Context) error {
			return s.remove(ctx, s.scratch.Dir(), true, false)
		})
	})
	if s.scratchMade.Load() {
		return nil // only the service-end cleanup removes it
	}
	if err := c.Mkdir(ctx, s.scratch.Dir(), true); err != nil && !xrd.IsExists(err) {
		return fmt.Errorf("creating the scratch directory %s with the %s: %w", s.scratch.Dir(), c.who, err)
	}
	s.scratchMade.Store(true)
	return nil
}

// cleanup registers the removal of p (inside the scratch area) before the
// check creates it, so an object created by a request that then failed or
// timed out is removed too. Once the check deleted p itself (deleteNow),
// the cleanup does nothing.
func (s *svc) cleanup(env *engine.Env, p string, dir, tokenFirst bool) {
	s.deleted.Set(p, false) // p is about to be created (again)
	env.Cleanup(p, func(ctx context.Context) error {
		if s.deleted.Has(p) {
			return nil
		}
		return s.remove(ctx, p, dir, tokenFirst)
	})
}

// remove deletes p (rm, or rmdir when dir) through the scratch guard with
// the first credential that may: the proxy over GSI and a storage.modify
// token for the scratch area over ztn, in the order asked. A missing object counts as removed.
func (s *svc) remove(ctx context.Context, p string, dir, tokenFirst bool) error {
	if err := s.scratch.Check(p); err != nil {
		return err
	}
	del := func(c *conn) func(ctx context.Context, p string) error {
		return func(ctx context.Context, p string) error {
			var err error
			if dir {
				err = c.Rmdir(ctx, p)
			} else {
				err = c.Rm(ctx, p)
			}
			if xrd.IsNotFound(err) {
				return nil
			}
			return err
		}
	}
	viaProxy := func() error {
		c, _, err := s.gsiConn(ctx, kindProxy)
		if err != nil {
			return err
		}
		return s.scratch.Delete(ctx, p, del(c))
	}
	viaToken := func() error {
		// One storage.modify token and ztn session for the whole scratch
		// area serves every cleanup of the service.
		c, _, err := s.tokenConn(ctx, s.aud, modify(s.scratch.Dir()))
		if err != nil {
			return err
		}
		return s.scratch.Delete(ctx, p, del(c))
	}
	ways := []func() error{viaProxy, viaToken}
	if tokenFirst {
		ways[0], ways[1] = ways[1], ways[0]
	}
	var errs []string
	for _, w := range ways {
		err := w()
		if err == nil {
			return nil
		}
		errs = append(errs, err.Error())
		if ctx.Err() != nil {
			break
		}
	}
	return errors.New(strings.Join(errs, "; then "))
}
