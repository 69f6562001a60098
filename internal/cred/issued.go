package cred

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/internal/checkctx"
)

// RefreshMargin is how long before expiry a cached token is replaced.
const RefreshMargin = 60 * time.Second

// DefaultIssuerTimeout bounds discovery plus one token request when the
// source sets no Timeout.
const DefaultIssuerTimeout = 30 * time.Second

// Result labels counted by the issuer sources' Stats.
const (
	StatIssued     = "issued"      // a new token from the issuer
	StatCacheHit   = "cache_hit"   // served from the cache
	StatShared     = "shared"      // joined a request already in flight for the same key
	StatRefused    = "refused"     // the issuer answered with an OAuth error (invalid_scope, …)
	StatError      = "error"       // discovery, transport or response failure
	StatFailedFast = "failed_fast" // not asked: the issuer already failed in this round (Round)
)

// IssuerConfig says how to reach a token issuer and authenticate to it.
type IssuerConfig struct {
	Issuer string // the issuer's identifier (https URL, its tokens' iss)
	// URL is where the issuer is reached when not at Issuer (a node or a
	// proxy in front of it); discovery is read there and must still name
	// Issuer. Empty: Issuer.
	URL              string
	ClientID         string
	ClientSecretFile string // client_secret_basic / client_secret_post
	ClientKeyFile    string // private_key_jwt (PEM RSA or EC P-256 key)
	CAFile           string // extra CAs for the issuer's https
	// Timeout bounds discovery plus one token request, whatever the
	// caller's deadline (default DefaultIssuerTimeout).
	Timeout time.Duration
}

// issued is what the sources that ask an issuer share: one token per
// (scopes, audience), cached until RefreshMargin before it expires, never
// two requests at once for the same key, a request that outlives a caller
// that gives up, and the caller's check deadline paused while it waits
// (checkctx.Pause: the wait for a token is not the site's time).
type issued struct {
	ic *issuerClient
	// Timeout bounds discovery plus one token request (default
	// DefaultIssuerTimeout); it applies even when the caller has no
	// deadline.
	Timeout time.Duration
	desc    string
	grant   func(req TokenRequest) (url.Values, error)
	// answered sees every successful answer (refresh-token rotation).
	answered func(*tokenAnswer)
	now      func() time.Time

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

func newIssued(ic *issuerClient, timeout time.Duration, desc string) issued {
	if timeout <= 0 {
		timeout = DefaultIssuerTimeout
	}
	ic.timeout = timeout
	return issued{ic: ic, Timeout: timeout, desc: desc, now: time.Now,
		cache: map[string]*Token{}, inflight: map[string]*ccCall{}, stats: map[string]uint64{}}
}

// IdleConnTimeout is how long a connection to the issuer is kept open
// unused.
const IdleConnTimeout = 10 * time.Second

// Close closes the idle connections to the issuer (and with them their
// read-loop goroutines). Call it when the round that uses the source ends;
// the source stays usable (a later request opens a new connection) and
// its token cache is kept. It implements io.Closer and never fails.
func (s *issued) Close() error {
	s.ic.hc.CloseIdleConnections()
	return nil
}

// Describe implements Source.
func (s *issued) Describe() string { return s.desc }

// IssuerURL is the issuer's identifier.
func (s *issued) IssuerURL() string { return s.ic.issuer }

// HTTPClient is the client that reaches the issuer (the configured CA
// file plus the system roots).
func (s *issued) HTTPClient() *http.Client { return s.ic.hc }

// AuthMethod is the client authentication in use at the token endpoint.
func (s *issued) AuthMethod() string { return s.ic.AuthMethod() }

// Metadata discovers the issuer (once successfully) and returns what its
// discovery document says.
func (s *issued) Metadata(ctx context.Context) (*Metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	return s.ic.metadata(ctx)
}

// Stats returns how many Token calls ended in each result (StatIssued,
// StatCacheHit, StatShared, StatRefused, StatError, StatFailedFast).
func (s *issued) Stats() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.stats))
	for k, v := range s.stats {
		out[k] = v
	}
	return out
}

func (s *issued) count(stat string) {
	s.mu.Lock()
	s.stats[stat]++
	s.mu.Unlock()
}

func cacheKey(req TokenRequest) (string, []string) {
	scopes := slices.Clone(req.Scopes)
	sort.Strings(scopes)
	scopes = slices.Compact(scopes)
	return strings.Join(scopes, " ") + "\x00" + req.Audience, scopes
}

// Cached returns a token for req from the cache if one is still good.
func (s *issued) Cached(req TokenRequest) (*Token, bool) {
	key, _ := cacheKey(req)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.cache[key]; ok && s.now().Before(t.Expiry.Add(-RefreshMargin)) {
		s.stats[StatCacheHit]++
		return t, true
	}
	return nil, false
}

// Token implements Source: a narrowed token for exactly req.
func (s *issued) Token(ctx context.Context, req TokenRequest) (*Token, error) {
	if t, ok := s.Cached(req); ok {
		return t, nil
	}
	key, scopes := cacheKey(req)
	s.mu.Lock()
	call, shared := s.inflight[key]
	if shared {
		s.stats[StatShared]++
	} else {
		call = &ccCall{done: make(chan struct{})}
		s.inflight[key] = call
		// The request outlives a caller that gives up, so that others
		// waiting for the same key still get it; Timeout bounds it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.Timeout)
		go func() {
			defer cancel()
			tok, err := s.fetch(fctx, TokenRequest{Scopes: scopes, Audience: req.Audience})
			s.mu.Lock()
			delete(s.inflight, key)
			var ie *IssuerError
			switch {
			case err == nil:
				s.cache[key] = tok
				s.stats[StatIssued]++
			case errors.As(err, &ie) && !isOutage(err):
				s.stats[StatRefused]++
			default:
				s.stats[StatError]++
			}
			call.tok, call.err = tok, err
			s.mu.Unlock()
			close(call.done)
		}()
	}
	s.mu.Unlock()
	resume := checkctx.Pause(ctx)
	defer resume()
	select {
	case <-call.done:
		if IsCentral(call.err) {
			checkctx.NoteCentral(ctx, call.err)
		}
		return call.tok, call.err
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a token from %s: %w", s.ic.issuer, ctx.Err())
	}
}

// Issue asks the issuer for a new token for req, bypassing the cache (the
// issuer probe measures the issuer, not the cache). The token is not
// cached. latency is the token endpoint's answer time.
func (s *issued) Issue(ctx context.Context, req TokenRequest) (tok *Token, latency time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	_, scopes := cacheKey(req)
	return s.fetchTimed(ctx, TokenRequest{Scopes: scopes, Audience: req.Audience})
}

func (s *issued) fetch(ctx context.Context, req TokenRequest) (*Token, error) {
	t, _, err := s.fetchTimed(ctx, req)
	return t, err
}

func (s *issued) fetchTimed(ctx context.Context, req TokenRequest) (*Token, time.Duration, error) {
	grant, err := s.grant(req)
	if err != nil {
		return nil, 0, err
	}
	if len(req.Scopes) > 0 {
		grant.Set("scope", strings.Join(req.Scopes, " "))
	}
	if req.Audience != "" {
		grant.Set("audience", req.Audience)
	}
	ans, err := s.ic.post(ctx, grant, req)
	if err != nil {
		return nil, 0, err
	}
	if s.answered != nil {
		s.answered(ans)
	}
	t, err := s.tokenOf(ans, req)
	return t, ans.Latency, err
}

// tokenOf turns an answer into a Token and refuses what no site could
// use: a JWT without exp, naming another issuer, or already expired — the
// issuer's fault, said as such.
func (s *issued) tokenOf(ans *tokenAnswer, req TokenRequest) (*Token, error) {
	registerToken(ans.AccessToken, time.Time{})
	t, err := NewToken(ans.AccessToken, s.desc)
	if err != nil {
		return nil, issuerFailure(s.ic.issuer, "token", false, "unreadable token: %v", err)
	}
	now := s.now()
	if t.IsJWT() {
		c := t.claims
		switch {
		case c.Expiry.IsZero():
			return nil, issuerFailure(s.ic.issuer, "token", false, "issued a token without exp (WLCG Common JWT Profile: exp is required)")
		case strings.TrimSuffix(c.Issuer, "/") != s.ic.issuer:
			return nil, issuerFailure(s.ic.issuer, "token", false, "issued a token naming iss %q", c.Issuer)
		}
	}
	if ans.ExpiresIn > 0 {
		if e := now.Add(ans.ExpiresIn); t.Expiry.IsZero() || e.Before(t.Expiry) {
			t.Expiry = e
		}
	}
	if !t.Expiry.IsZero() && !now.Before(t.Expiry) {
		return nil, issuerFailure(s.ic.issuer, "token", false, "issued a token that expired at %s", t.Expiry.UTC().Format(time.RFC3339))
	}
	t.Narrowed = true
	t.Request = TokenRequest{Scopes: slices.Clone(req.Scopes), Audience: req.Audience}
	return t, nil
}
