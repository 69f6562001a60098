package cred

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// RefreshMargin is how long before expiry a cached token is replaced.
const RefreshMargin = 60 * time.Second

// Result labels counted by ClientCredentials.Stats.
const (
	StatIssued   = "issued"    // a new token from the issuer
	StatCacheHit = "cache_hit" // served from the cache
	StatShared   = "shared"    // joined a request already in flight for the same key
	StatRefused  = "refused"   // the issuer answered with an OAuth error (invalid_scope, …)
	StatError    = "error"     // discovery, transport or response failure
)

// ClientCredentials obtains one token per (scopes, audience) from an OAuth2
// issuer with the client-credentials grant, caches it until RefreshMargin
// before it expires, and never sends two requests at once for the same key.
// Safe for concurrent use.
type ClientCredentials struct {
	Issuer           string
	ClientID         string
	ClientSecretFile string // read at every token request (it may be rotated)
	// Timeout bounds discovery plus one token request (default 30s); it
	// applies even when the caller's context has none.
	Timeout time.Duration

	client *http.Client
	now    func() time.Time

	discMu    sync.Mutex
	tokenURL  string
	authStyle oauth2.AuthStyle

	mu       sync.Mutex
	cache    map[string]*Token
	inflight map[string]*ccCall
	stats    map[string]uint64
}

type ccCall struct {
	done chan struct{}
	tok  *Token
	err  error
}

// NewClientCredentials prepares a client for issuer (an https URL). caFile,
// when not empty, is a PEM file of extra CAs trusted for the issuer's HTTPS
// besides the system ones.
func NewClientCredentials(issuer, clientID, clientSecretFile, caFile string) (*ClientCredentials, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("token issuer %q: want an https:// URL", issuer)
	}
	if clientID == "" || clientSecretFile == "" {
		return nil, fmt.Errorf("token issuer %s: client_id and client_secret_file are required", issuer)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("token issuer CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("token issuer CA file %s: no PEM certificate", caFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	// Tokens are fetched in a burst at the start of a round and then come
	// from the cache: a connection idle that long will not be reused soon,
	// and its read loop should not outlive the round by the default 90s.
	tr.IdleConnTimeout = IdleConnTimeout
	return &ClientCredentials{
		Issuer:           strings.TrimSuffix(issuer, "/"),
		ClientID:         clientID,
		ClientSecretFile: clientSecretFile,
		client:           &http.Client{Transport: tr},
		now:              time.Now,
		cache:            map[string]*Token{},
		inflight:         map[string]*ccCall{},
		stats:            map[string]uint64{},
	}, nil
}

// IdleConnTimeout is how long a connection to the issuer is kept open
// unused.
const IdleConnTimeout = 10 * time.Second

// Close closes the idle connections to the issuer (and with them their
// read-loop goroutines). Call it when the round that uses the source ends;
// the source stays usable (a later request opens a new connection) and
// its token cache is kept. It implements io.Closer and never fails.
func (c *ClientCredentials) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// Describe implements Source.
func (c *ClientCredentials) Describe() string {
	return fmt.Sprintf("client credentials of %s at %s", c.ClientID, c.Issuer)
}

// Stats returns how many Token calls ended in each result (StatIssued,
// StatCacheHit, StatShared, StatRefused, StatError).
func (c *ClientCredentials) Stats() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.stats))
	for k, v := range c.stats {
		out[k] = v
	}
	return out
}

func cacheKey(req TokenRequest) (string, []string) {
	scopes := slices.Clone(req.Scopes)
	sort.Strings(scopes)
	scopes = slices.Compact(scopes)
	return strings.Join(scopes, " ") + "\x00" + req.Audience, scopes
}

// Token implements Source: a narrowed token for exactly req.
func (c *ClientCredentials) Token(ctx context.Context, req TokenRequest) (*Token, error) {
	key, scopes := cacheKey(req)
	c.mu.Lock()
	if t, ok := c.cache[key]; ok && c.now().Before(t.Expiry.Add(-RefreshMargin)) {
		c.stats[StatCacheHit]++
		c.mu.Unlock()
		return t, nil
	}
	call, shared := c.inflight[key]
	if shared {
		c.stats[StatShared]++
	} else {
		call = &ccCall{done: make(chan struct{})}
		c.inflight[key] = call
		// The request outlives a caller that gives up, so that others
		// waiting for the same key still get it; Timeout bounds it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout())
		go func() {
			defer cancel()
			tok, err := c.fetch(fctx, TokenRequest{Scopes: scopes, Audience: req.Audience})
			c.mu.Lock()
			delete(c.inflight, key)
			var ie *IssuerError
			switch {
			case err == nil:
				c.cache[key] = tok
				c.stats[StatIssued]++
			case errors.As(err, &ie):
				c.stats[StatRefused]++
			default:
				c.stats[StatError]++
			}
			call.tok, call.err = tok, err
			c.mu.Unlock()
			close(call.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.tok, call.err
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a token from %s: %w", c.Issuer, ctx.Err())
	}
}

func (c *ClientCredentials) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 30 * time.Second
}

// IssuerError is the issuer's OAuth2 error answer to a token request.
type IssuerError struct {
	Issuer      string
	Status      int
	Code        string // "invalid_scope", "invalid_client", …
	Description string // the issuer's error_description
	Scopes      []string
	Audience    string
}

func (e *IssuerError) Error() string {
	s := fmt.Sprintf("issuer %s refused a token for scope %q audience %q: HTTP %d %s",
		e.Issuer, strings.Join(e.Scopes, " "), e.Audience, e.Status, e.Code)
	if e.Description != "" {
		s += ": " + e.Description
	}
	return Redact(s)
}

func (c *ClientCredentials) fetch(ctx context.Context, req TokenRequest) (*Token, error) {
	tokenURL, style, err := c.endpoint(ctx)
	if err != nil {
		return nil, err
	}
	secret, err := os.ReadFile(c.ClientSecretFile)
	if err != nil {
		return nil, fmt.Errorf("client secret: %w", err)
	}
	sec := strings.TrimSpace(string(secret))
	if sec == "" {
		return nil, fmt.Errorf("client secret file %s is empty", c.ClientSecretFile)
	}
	RegisterSecret(sec)
	cfg := clientcredentials.Config{
		ClientID:     c.ClientID,
		ClientSecret: sec,
		TokenURL:     tokenURL,
		Scopes:       req.Scopes,
		AuthStyle:    style,
	}
	if req.Audience != "" {
		cfg.EndpointParams = url.Values{"audience": {req.Audience}}
	}
	ot, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.client))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			ie := &IssuerError{Issuer: c.Issuer, Code: re.ErrorCode, Description: re.ErrorDescription,
				Scopes: req.Scopes, Audience: req.Audience}
			if re.Response != nil {
				ie.Status = re.Response.StatusCode
			}
			if ie.Code == "" {
				ie.Code = "(no OAuth error code)"
				ie.Description = Redact(firstLine(string(re.Body), 200))
			}
			return nil, ie
		}
		return nil, fmt.Errorf("token request to %s: %s", tokenURL, Redact(err.Error()))
	}
	if ot.AccessToken == "" {
		return nil, fmt.Errorf("token endpoint %s answered without an access_token", tokenURL)
	}
	registerToken(ot.AccessToken, ot.Expiry)
	t, err := NewToken(ot.AccessToken, c.Describe())
	if err != nil {
		return nil, fmt.Errorf("token from %s: %w", tokenURL, err)
	}
	if !ot.Expiry.IsZero() && (t.Expiry.IsZero() || ot.Expiry.Before(t.Expiry)) {
		t.Expiry = ot.Expiry
	}
	t.Narrowed = true
	t.Request = TokenRequest{Scopes: slices.Clone(req.Scopes), Audience: req.Audience}
	return t, nil
}

func firstLine(s string, max int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// endpoint discovers (once successfully) the token endpoint and the client
// authentication style from <issuer>/.well-known/openid-configuration.
func (c *ClientCredentials) endpoint(ctx context.Context) (string, oauth2.AuthStyle, error) {
	c.discMu.Lock()
	defer c.discMu.Unlock()
	if c.tokenURL != "" {
		return c.tokenURL, c.authStyle, nil
	}
	wellKnown := c.Issuer + "/.well-known/openid-configuration"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, wellKnown, nil)
	if err != nil {
		return "", 0, fmt.Errorf("issuer discovery: %w", err)
	}
	hreq.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(hreq)
	if err != nil {
		return "", 0, fmt.Errorf("issuer discovery: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("issuer discovery %s: %w", wellKnown, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("issuer discovery %s: HTTP %s", wellKnown, resp.Status)
	}
	var meta struct {
		Issuer        string   `json:"issuer"`
		TokenEndpoint string   `json:"token_endpoint"`
		AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := json.Unmarshal(body, &meta); err != nil {
		return "", 0, fmt.Errorf("issuer discovery %s: not JSON: %w", wellKnown, err)
	}
	if strings.TrimSuffix(meta.Issuer, "/") != c.Issuer {
		return "", 0, fmt.Errorf("issuer discovery %s: metadata names issuer %q, configured %q", wellKnown, meta.Issuer, c.Issuer)
	}
	u, err := url.Parse(meta.TokenEndpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", 0, fmt.Errorf("issuer discovery %s: token_endpoint %q is not an https URL", wellKnown, meta.TokenEndpoint)
	}
	style := oauth2.AuthStyleInHeader // client_secret_basic, the default method
	if len(meta.AuthMethods) > 0 && !slices.Contains(meta.AuthMethods, "client_secret_basic") &&
		slices.Contains(meta.AuthMethods, "client_secret_post") {
		style = oauth2.AuthStyleInParams
	}
	c.tokenURL, c.authStyle = meta.TokenEndpoint, style
	return c.tokenURL, c.authStyle, nil
}
