package cred

import (
	"context"
	"fmt"

	"github.com/gridprobe/gridprobe/internal/checkctx"
	"net/http"
	"sync"
	"time"
)

// DefaultRetryAfter is how long after the issuer failed a round tries it
// once more.
const DefaultRetryAfter = 5 * time.Second

// Round is one round's view of a token source with a breaker: once the
// issuer has failed in this round (no answer, timeout, 5xx, a broken
// answer or discovery), further token requests of the round fail at once
// with the same reason instead of each waiting for the issuer again; tokens
// still valid in the source's cache keep being served. Once, RetryAfter
// after the failure, one request is sent to the issuer in the background
// (no check waits for it); if it succeeds the breaker closes. So a hung
// issuer costs a round at most one issuer timeout.
//
// Make one Round per round, over the long-lived source that holds the
// cache: `creds := probe.NewCredentials(cfg.Credentials, cred.NewRound(src))`.
// A refusal of one request (invalid_scope) and the probe's own problems
// (a missing secret or token file) do not open the breaker.
type Round struct {
	src Source
	// RetryAfter is the back-off before the one retry (default
	// DefaultRetryAfter).
	RetryAfter time.Duration

	mu      sync.Mutex
	tripErr error
	tripped time.Time
	retried bool
}

// NewRound returns a round view of src (nil for a nil src).
func NewRound(src Source) Source {
	if src == nil {
		return nil
	}
	if r, ok := src.(*Round); ok {
		src = r.src
	}
	return &Round{src: src, RetryAfter: DefaultRetryAfter}
}

// Underlying returns the source a Round view wraps, or src itself.
func Underlying(src Source) Source {
	if r, ok := src.(*Round); ok {
		return r.src
	}
	return src
}

// Describe implements Source.
func (r *Round) Describe() string { return r.src.Describe() }

// Tripped returns why the breaker is open, or nil.
func (r *Round) Tripped() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tripErr
}

// cacher is a source with a token cache (the issuer sources).
type cacher interface {
	Cached(req TokenRequest) (*Token, bool)
	count(stat string)
}

// Token implements Source.
func (r *Round) Token(ctx context.Context, req TokenRequest) (*Token, error) {
	r.mu.Lock()
	if trip := r.tripErr; trip != nil {
		since := r.tripped
		c, hasCache := r.src.(cacher)
		if hasCache {
			if t, ok := c.Cached(req); ok {
				r.mu.Unlock()
				return t, nil
			}
		}
		retry := !r.retried && time.Since(since) >= r.RetryAfter
		r.retried = r.retried || retry
		r.mu.Unlock()
		if retry {
			go r.retry(req)
		}
		if hasCache {
			c.count(StatFailedFast)
		}
		checkctx.NoteCentral(ctx, trip)
		return nil, &FailedFast{Err: trip, At: since}
	}
	r.mu.Unlock()
	t, err := r.src.Token(ctx, req)
	if err != nil && isOutage(err) {
		r.mu.Lock()
		if r.tripErr == nil {
			r.tripErr, r.tripped = err, time.Now()
		}
		r.mu.Unlock()
	}
	return t, err
}

// retry asks the issuer once more; success closes the breaker. The source
// bounds the request with its own timeout.
func (r *Round) retry(req TokenRequest) {
	if _, err := r.src.Token(context.Background(), req); err == nil {
		r.mu.Lock()
		r.tripErr = nil
		r.mu.Unlock()
	}
}

// FailedFast is the error of a token request not sent because the issuer
// already failed in this round. It unwraps to that failure (so IsCentral
// holds) and says the same reason.
type FailedFast struct {
	Err error
	At  time.Time
}

func (e *FailedFast) Error() string {
	return fmt.Sprintf("%v (not asked again: failed at %s in this round)", e.Err, e.At.UTC().Format("15:04:05"))
}

func (e *FailedFast) Unwrap() error { return e.Err }

// TokenIssuer is a source that asks an OAuth2 issuer (ClientCredentials,
// RefreshToken). The issuer probe checks the issuer through it directly,
// past any cache or breaker.
type TokenIssuer interface {
	Source
	IssuerURL() string
	Metadata(ctx context.Context) (*Metadata, error)
	// Issue asks for a new token (never cached) and says how long the
	// token endpoint took.
	Issue(ctx context.Context, req TokenRequest) (*Token, time.Duration, error)
	AuthMethod() string
	HTTPClient() *http.Client
}

var (
	_ TokenIssuer = (*ClientCredentials)(nil)
	_ TokenIssuer = (*RefreshToken)(nil)
	_ Source      = (*Round)(nil)
)

// AsIssuer returns the issuer behind src (through a Round view), if src
// asks one.
func AsIssuer(src Source) (TokenIssuer, bool) {
	ti, ok := Underlying(src).(TokenIssuer)
	return ti, ok
}
