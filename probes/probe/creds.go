package probe

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
)

// ErrNoTokenSource is returned when sites.yaml configures no token source and
// WLCG bearer-token discovery found none either.
var ErrNoTokenSource = errors.New("no token source: configure credentials.token (issuer or file) or provide a token by WLCG bearer-token discovery")

// Credentials gives a round's checks their credentials, loading each proxy
// and the CA directory once per round (a proxy renewed between rounds is
// picked up by the next round).
type Credentials struct {
	ProxyPath        string // VO A proxy (the probe's own)
	ForeignProxyPath string // another VO's proxy, for access/contain checks
	NoVOMSProxyPath  string // a proxy without VOMS attributes
	CADir            string
	VOMSDir          string
	// Tokens is nil when no token source exists; token checks then report
	// UNKNOWN with ErrNoTokenSource.
	Tokens cred.Source

	mu      sync.Mutex
	proxies map[string]proxyOrErr
	ca      *cred.CAStore
	caErr   error
	caDone  bool
}

type proxyOrErr struct {
	p   *cred.Proxy
	err error
}

// NewCredentials resolves the configured paths with the grid defaults.
func NewCredentials(c config.Credentials, tokens cred.Source) *Credentials {
	return &Credentials{
		ProxyPath:        cred.ProxyPath(c.X509.Proxy),
		ForeignProxyPath: c.X509.ForeignProxy,
		NoVOMSProxyPath:  c.X509.NoVOMSProxy,
		CADir:            cred.CADir(c.X509.CADir),
		VOMSDir:          cred.VOMSDir(c.X509.VOMSDir),
		Tokens:           tokens,
	}
}

// CA loads the CA directory once.
func (c *Credentials) CA() (*cred.CAStore, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.caDone {
		c.ca, c.caErr = cred.LoadCAPool(c.CADir)
		if c.caErr != nil {
			c.caErr = fmt.Errorf("CA directory %s: %w", c.CADir, c.caErr)
		}
		c.caDone = true
	}
	return c.ca, c.caErr
}

func (c *Credentials) proxy(role, path string) (*cred.Proxy, error) {
	if path == "" {
		return nil, fmt.Errorf("no %s configured (credentials.x509)", role)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proxies == nil {
		c.proxies = map[string]proxyOrErr{}
	}
	if got, ok := c.proxies[path]; ok {
		return got.p, got.err
	}
	p, err := cred.LoadProxy(path)
	if err != nil {
		err = fmt.Errorf("%s: %w", role, err)
	}
	c.proxies[path] = proxyOrErr{p, err}
	return p, err
}

// UseProxy makes path's proxy p, already loaded (tests, and tools that hold
// the proxy in memory).
func (c *Credentials) UseProxy(path string, p *cred.Proxy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proxies == nil {
		c.proxies = map[string]proxyOrErr{}
	}
	c.proxies[path] = proxyOrErr{p: p}
}

// Proxy is the probe's own VOMS proxy.
func (c *Credentials) Proxy() (*cred.Proxy, error) { return c.proxy("proxy", c.ProxyPath) }

// ForeignProxy is a proxy of another VO.
func (c *Credentials) ForeignProxy() (*cred.Proxy, error) {
	return c.proxy("foreign_proxy", c.ForeignProxyPath)
}

// NoVOMSProxy is a proxy without VOMS attributes.
func (c *Credentials) NoVOMSProxy() (*cred.Proxy, error) {
	return c.proxy("novoms_proxy", c.NoVOMSProxyPath)
}

// Token asks the token source for a token with the given scopes and
// audience.
func (c *Credentials) Token(ctx context.Context, aud string, scopes ...string) (*cred.Token, error) {
	if c.Tokens == nil {
		return nil, ErrNoTokenSource
	}
	t, err := c.Tokens.Token(ctx, cred.TokenRequest{Scopes: scopes, Audience: aud})
	if err != nil {
		return nil, fmt.Errorf("token for scope %q aud %s from %s: %w", joinScopes(scopes), aud, c.Tokens.Describe(), err)
	}
	return t, nil
}

func joinScopes(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}
