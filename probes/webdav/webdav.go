package webdav

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// Check ids, in catalogue order.
const (
	IDConnection   = "1connection"
	IDSSL          = "2ssl"
	IDCrtExtension = "3crt_extension"
	IDCrtRead      = "4crt-read"
	IDCrtAccess    = "6crt-access"
	IDCrtWrite     = "7crt-write"
	IDCrtDirectory = "8crt-directory"
	IDMacaroon     = "10macaroon"
	IDTknRead      = "14tkn-read"
	IDTknAccess    = "16tkn-access"
	IDTknWrite     = "17tkn-write"
	IDTknDirectory = "18tkn-directory"
)

// OtherAudience is the audience of the "token for another endpoint" that
// 16tkn-access expects to be refused: a name no real endpoint has.
const OtherAudience = "https://gridprobe-other-endpoint.invalid"

// svc is one service's state for one round: its target, scratch area and
// one HTTP client per credential.
type svc struct {
	t       probe.Target
	u       *url.URL
	aud     string
	voArea  string
	scratch probe.Scratch
	// scratchErr is why there is no scratch area (no write_dir); writing
	// checks report UNKNOWN with it.
	scratchErr error

	// uncertain: a PUT or MKCOL got no answer (timeout, reset); the final
	// cleanup then waits for late server operations and sweeps the area.
	uncertain atomic.Bool

	mu         sync.Mutex
	clients    map[string]*client
	proxies    map[string]*cred.Proxy
	dirCleanup sync.Once
	// scratchMade: the scratch directory exists (made or found by an
	// earlier check of this service), so later checks skip the MKCOL.
	scratchMade atomic.Bool
	// deleted: objects the checks removed themselves (no cleanup needed).
	deleted probe.DeletedSet
}

// New builds the WebDAV service of a target: its ordered checks with their
// prerequisites. Credentials are loaded by the checks themselves, so a
// missing or expired proxy is the detail of the checks that need it.
func New(t probe.Target) (*engine.Service, error) {
	if t.Service == nil || t.Service.URL == nil {
		return nil, fmt.Errorf("webdav: service without url")
	}
	if t.Service.URL.Scheme != "https" {
		return nil, fmt.Errorf("webdav: %s: want an https:// (or davs://) URL", t.Service.RawURL)
	}
	if t.Creds == nil {
		return nil, fmt.Errorf("webdav: no credentials")
	}
	return newSvc(t).service(), nil
}

func newSvc(t probe.Target) *svc {
	s := &svc{t: t, u: t.Service.URL, aud: t.Audience(), clients: map[string]*client{}, proxies: map[string]*cred.Proxy{}}
	s.scratch, s.scratchErr = t.Scratch()
	s.voArea = t.VOArea()
	return s
}

// service is the ordered check list.
func (s *svc) service() *engine.Service {
	sv := s.t.NewService(config.TypeWebDAV)
	sv.Close = s.close
	ssl := []string{IDSSL}
	sv.Checks = []engine.Check{
		{ID: IDConnection, Credential: engine.CredNone, Run: s.runConnection},
		{ID: IDSSL, Credential: engine.CredNone, Requires: []string{IDConnection}, Run: s.runSSL, Reproduce: func() []string { return probe.ReproduceTLS(s.u) }},
		{ID: IDCrtExtension, Credential: engine.CredX509, Requires: ssl, Run: s.runCrtExtension},
		{ID: IDCrtRead, Credential: engine.CredX509, Requires: ssl, Run: s.runCrtRead},
		{ID: IDCrtAccess, Credential: engine.CredX509, Requires: ssl, Run: s.runCrtAccess},
		{ID: IDCrtWrite, Credential: engine.CredX509, Requires: ssl, Run: s.runCrtWrite},
		{ID: IDCrtDirectory, Credential: engine.CredX509, Requires: ssl, Run: s.runCrtDirectory},
		{ID: IDMacaroon, Credential: engine.CredX509, Requires: ssl, Run: s.runMacaroon},
		{ID: IDTknRead, Credential: engine.CredToken, Requires: ssl, Run: s.runTknRead},
		{ID: IDTknAccess, Credential: engine.CredToken, Requires: ssl, Run: s.runTknAccess},
		{ID: IDTknWrite, Credential: engine.CredToken, Requires: ssl, Run: s.runTknWrite},
		{ID: IDTknDirectory, Credential: engine.CredToken, Requires: ssl, Run: s.runTknDirectory},
	}
	return sv
}

func (s *svc) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		c.close()
	}
}

// Client kinds.
const (
	kindProxy   = "proxy"
	kindForeign = "foreign proxy"
	kindNoVOMS  = "proxy without VOMS"
	kindBearer  = "token"
)

// client returns the service's client for a credential kind, loading the
// CA directory and the proxy once (Credentials caches them per round).
func (s *svc) client(kind string) (*client, *cred.Proxy, error) {
	s.mu.Lock()
	if c, ok := s.clients[kind]; ok {
		p := s.proxies[kind]
		s.mu.Unlock()
		return c, p, nil
	}
	s.mu.Unlock()
	var (
		p   *cred.Proxy
		err error
	)
	switch kind {
	case kindProxy:
		p, err = s.t.Creds.Proxy()
	case kindForeign:
		p, err = s.t.Creds.ForeignProxy()
	case kindNoVOMS:
		p, err = s.t.Creds.NoVOMSProxy()
	}
	if err != nil {
		return nil, nil, err
	}
	ca, err := s.t.Creds.CA()
	if err != nil {
		return nil, nil, err
	}
	var cert *tls.Certificate
	if p != nil {
		cert = &p.Cert
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[kind]; ok {
		return c, s.proxies[kind], nil
	}
	c := newClient(s.u, ca.TLSConfig(s.u.Host, cert), kind)
	c.uncertain = &s.uncertain
	s.clients[kind], s.proxies[kind] = c, p
	return c, p, nil
}

// token asks for the narrowest token: scopes on absolute storage paths
// ("storage.read", "/testvo/x") are made relative to the scope base.
func (s *svc) token(ctx context.Context, aud string, scopes ...scope) (*cred.Token, error) {
	ss, err := s.t.ScopeStrings(scopes...)
	if err != nil {
		return nil, err
	}
	return s.t.Creds.Token(ctx, aud, ss...)
}

// scope is one token scope on an absolute storage path.
type scope = probe.StorageScope

var read, create, modify = probe.Read, probe.Create, probe.Modify

// scopeString is the scope list as the issuer sees it (for reproduce
// comments); an unmappable path is shown as is.
func (s *svc) scopeString(scopes ...scope) string { return s.t.ScopeString(scopes...) }

// needScratch returns the scratch area or an UNKNOWN outcome.
func (s *svc) needScratch() (probe.Scratch, *engine.Outcome) {
	if s.scratchErr != nil {
		o := engine.Unknownf("no scratch area: %v", s.scratchErr)
		return probe.Scratch{}, &o
	}
	return s.scratch, nil
}

// ensureScratch creates the run's scratch directory (MKCOL; an existing one
// is fine) with the given credential unless an earlier check of the service
// did, after registering — once per service, so it runs after every
// object's cleanup — the cleanup that removes the directory itself if it
// exists.
func (s *svc) ensureScratch(ctx context.Context, env *engine.Env, c *client, tok *cred.Token) error {
	if err := s.mkScratch(ctx, env, c, tok); err != nil {
		return fmt.Errorf("creating the scratch directory %s: %w", s.scratch.Dir(), err)
	}
	return nil
}

// mkScratch is ensureScratch with the bare HTTP error.
func (s *svc) mkScratch(ctx context.Context, env *engine.Env, c *client, tok *cred.Token) error {
	s.dirCleanup.Do(func() {
		env.Cleanup("scratch dir "+s.scratch.Dir(), s.sweepScratch)
	})
	if s.scratchMade.Load() {
		return nil // only the service-end cleanup removes it
	}
	_, _, err := c.call(ctx, "MKCOL", s.scratch.Dir(), tok, nil, nil, 201, 405)
	if err == nil {
		s.scratchMade.Store(true)
	}
	return err
}

// cleanup registers the removal of p (inside the scratch area) before the
// check creates it, so an object created by a request that then failed or
// timed out is removed too. Once the check deleted p itself (deleteNow),
// the cleanup does nothing.
func (s *svc) cleanup(env *engine.Env, p string, tokenFirst bool) {
	s.deleted.Set(p, false) // p is about to be created (again)
	env.Cleanup(p, func(ctx context.Context) error {
		if s.deleted.Has(p) {
			return nil
		}
		return s.remove(ctx, p, tokenFirst)
	})
}

// remove deletes p through the scratch guard with the first credential that
// may: the proxy and a storage.modify token for the scratch area (in the
// order asked), then a storage.read+storage.modify token (servers that stat before deleting, see
// KNOWN_ISSUES.md). A missing object counts as removed.
func (s *svc) remove(ctx context.Context, p string, tokenFirst bool) error {
	if err := s.scratch.Check(p); err != nil {
		return err
	}
	viaProxy := func() error {
		c, _, err := s.client(kindProxy)
		if err != nil {
			return err
		}
		return s.scratch.Delete(ctx, p, c.deleteFunc(nil))
	}
	viaToken := func(scopes ...scope) func() error {
		return func() error {
			c, _, err := s.client(kindBearer)
			if err != nil {
				return err
			}
			tok, err := s.token(ctx, s.aud, scopes...)
			if err != nil {
				return err
			}
			return s.scratch.Delete(ctx, p, c.deleteFunc(tok))
		}
	}
	// Tokens for the whole scratch area: one (cached) token serves every
	// cleanup of the service.
	area := s.scratch.Dir()
	ways := []func() error{viaProxy, viaToken(modify(area))}
	if tokenFirst {
		ways[0], ways[1] = ways[1], ways[0]
	}
	ways = append(ways, viaToken(read(area), modify(area)))
	var errs []error
	for _, w := range ways {
		err := w()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return joinErrs(errs)
}

// joinErrs joins errors on one line.
func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	return errors.New(strings.Join(parts, "; then "))
}

// lateWrites is how long the final cleanup waits when a creating request
// got no answer: the server may carry it out after the client gave up.
const lateWrites = 3 * time.Second

// sweepScratch is the last cleanup of a round: it removes whatever is left
// in the scratch directory (two levels deep; the probe creates no deeper
// tree) and the directory itself. Objects have their own cleanups; this
// catches what a request cut short created after its cleanup ran.
func (s *svc) sweepScratch(ctx context.Context) error {
	if s.uncertain.Load() {
		select {
		case <-time.After(lateWrites):
		case <-ctx.Done():
		}
	}
	var errs []error
	var sweep func(dir string, depth int)
	sweep = func(dir string, depth int) {
		entries, err := s.list(ctx, dir)
		if err != nil {
			if he, ok := asHTTP(err); !ok || he.Code != http.StatusNotFound {
				errs = append(errs, err)
			}
			return
		}
		for _, e := range entries {
			if e.Path == dir || !s.scratch.Contains(e.Path) {
				continue
			}
			if e.IsDir && depth < 2 {
				sweep(e.Path, depth+1)
			}
			if err := s.remove(ctx, e.Path, false); err != nil {
				errs = append(errs, err)
			}
		}
	}
	sweep(s.scratch.Dir(), 0)
	if err := s.remove(ctx, s.scratch.Dir(), false); err != nil {
		errs = append(errs, err)
	}
	return joinErrs(errs)
}

// list is PROPFIND depth 1 with the proxy, else with a read token.
func (s *svc) list(ctx context.Context, dir string) ([]entry, error) {
	c, _, err := s.client(kindProxy)
	if err == nil {
		entries, err := c.propfind(ctx, dir, nil, "1")
		if err == nil {
			return entries, nil
		}
		if he, ok := asHTTP(err); ok && he.Code == http.StatusNotFound {
			return nil, err
		}
	}
	bc, _, err := s.client(kindBearer)
	if err != nil {
		return nil, err
	}
	tok, err := s.token(ctx, s.aud, read(dir))
	if err != nil {
		return nil, err
	}
	return bc.propfind(ctx, dir, tok, "1")
}
