package webdav

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// client is one credential's HTTP client for the service: one transport
// (connection reuse, TLS session cache) per TLS identity. Bearer tokens
// and macaroons are per request, on the client without a certificate.
type client struct {
	base string // scheme://host[:port]
	host string // host[:port]
	hc   *http.Client
	// who names the credential for details: "proxy", "foreign proxy", "token".
	who string
	// uncertain, when set, is raised when a creating request (PUT, MKCOL)
	// got no answer: the server may still carry it out after the check.
	uncertain *atomic.Bool
}

func newClient(base *url.URL, cfg *tls.Config, who string) *client {
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(16)
	tr := &http.Transport{
		Proxy:               nil, // never an HTTP proxy from the environment
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     cfg,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // bytes as stored: checksums and ranges
		// Only requests that carry Expect: 100-continue wait (see do),
		// and as long as the server takes to decide (a loaded XrdHttp
		// took over 5 s): a body sent before its answer is cut again.
		ExpectContinueTimeout: time.Minute,
		ForceAttemptHTTP2:     false,
	}
	return &client{
		base: base.Scheme + "://" + base.Host,
		host: base.Host,
		hc:   &http.Client{Transport: tr},
		who:  who,
	}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// urlOf returns the URL of a storage path on the endpoint.
func (c *client) urlOf(p string) string {
	u, _ := url.Parse(c.base)
	u.Path = p
	return u.String()
}

// do sends one request with ctx. tok, when not nil, is sent as bearer
// token. The caller closes the body of the returned response.
func (c *client) do(ctx context.Context, method, p string, tok *cred.Token, hdr map[string]string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.urlOf(p), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, p, err)
	}
	if body != nil {
		req.ContentLength = int64(len(body))
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if tok != nil {
		req.Header.Set("Authorization", "Bearer "+tok.Bearer())
	}
	// XrdHttp closes a kept-alive connection after some refusals without
	// saying so; the next request on it then reads EOF. A nil idempotency
	// key (not sent on the wire) lets the transport resend such a request
	// on a fresh connection, which it does only when the server cannot
	// have processed it.
	req.Header["X-Idempotency-Key"] = nil
	resp, err := c.hc.Do(req)
	if err != nil && body != nil && hdr["Expect"] == "" && answeredBeforeBody(err) {
		// XrdHttp answers a refused upload at once and closes the
		// connection without reading the body: the client fails writing
		// it and never sees the answer. Asked again with
		// Expect: 100-continue, the server answers before the body goes.
		return c.do(ctx, method, p, tok, withHeader(hdr, "Expect", "100-continue"), body)
	}
	if err != nil {
		if c.uncertain != nil && (method == http.MethodPut || method == "MKCOL") {
			c.uncertain.Store(true)
		}
		return nil, &NetError{Method: method, Path: p, Err: unwrapURLError(err)}
	}
	return resp, nil
}

// answeredBeforeBody reports a request that failed while its body was being
// sent because the server closed the connection: it may have answered.
func answeredBeforeBody(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

func withHeader(hdr map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(hdr)+1)
	for hk, hv := range hdr {
		out[hk] = hv
	}
	out[k] = v
	return out
}

// call sends a request and reads the whole answer (bounded). It returns an
// *HTTPError when the status is not one of ok.
func (c *client) call(ctx context.Context, method, p string, tok *cred.Token, hdr map[string]string, body []byte, ok ...int) (*http.Response, []byte, error) {
	resp, err := c.do(ctx, method, p, tok, hdr, body)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if !statusIn(resp.StatusCode, ok) {
		return resp, nil, newHTTPError(method, p, resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp, nil, &NetError{Method: method, Path: p, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	return resp, b, nil
}

const maxBody = 4 << 20 // PROPFIND answers, macaroons, small files

func statusIn(code int, ok []int) bool {
	for _, c := range ok {
		if c == code {
			return true
		}
	}
	return false
}

// HTTPError is an unexpected HTTP status with the server's message (XrdHttp
// gives the reason of a refusal only in the body).
type HTTPError struct {
	Method, Path string
	Code         int
	Status       string // "403 Forbidden"
	Message      string // server text, one line, redacted, shortened
}

func (e *HTTPError) Error() string {
	if e.Message == "" {
		return e.Status
	}
	return e.Status + ": " + e.Message
}

// Denied reports whether the status is an explicit authorization refusal.
func (e *HTTPError) Denied() bool {
	return e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden
}

// newHTTPError reads (a bounded part of) the body and closes nothing; the
// caller owns resp.Body.
func newHTTPError(method, p string, resp *http.Response) *HTTPError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	status := resp.Status
	if status == "" {
		status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return &HTTPError{Method: method, Path: p, Code: resp.StatusCode, Status: status, Message: serverText(b)}
}

// serverText makes an error body fit a detail line: markup dropped, one
// line, redacted, at most 140 characters.
func serverText(b []byte) string {
	s := string(b)
	if strings.Contains(s, "<") && strings.Contains(s, ">") {
		var out strings.Builder
		in := false
		for _, r := range s {
			switch {
			case r == '<':
				in = true
				out.WriteRune(' ')
			case r == '>':
				in = false
			case !in:
				out.WriteRune(r)
			}
		}
		s = out.String()
	}
	s = strings.Join(strings.Fields(cred.Redact(s)), " ")
	if len(s) > 140 {
		cut := 137
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// NetError is a request that got no HTTP answer (connection, TLS, timeout).
type NetError struct {
	Method, Path string
	Err          error
}

func (e *NetError) Error() string { return e.Err.Error() }
func (e *NetError) Unwrap() error { return e.Err }

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// asHTTP returns err as *HTTPError when it is one.
func asHTTP(err error) (*HTTPError, bool) {
	var he *HTTPError
	ok := errors.As(err, &he)
	return he, ok
}
