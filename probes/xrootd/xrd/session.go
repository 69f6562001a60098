package xrd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
)

// DefaultPort is the XRootD port used when a URL has none.
const DefaultPort = 1094

// DefaultMaxRedirects is XrdCl's XRD_REDIRECTLIMIT.
const DefaultMaxRedirects = 16

// Options configure Dial.
type Options struct {
	// TLSConfig is the template for every TLS upgrade (RootCAs from the grid
	// CA directory). ServerName is always set to the host actually dialed
	// (after a redirect: the redirect target); MinVersion defaults to TLS 1.2.
	TLSConfig *tls.Config
	// RequireTLS makes a root:// URL behave like roots:// (kXR_wantTLS, and
	// fail when the server cannot do TLS).
	RequireTLS bool
	// SkipLoopbackNameCheck verifies the certificate chain but not the host
	// name when the host is localhost, 127.0.0.1 or ::1 (XrdCl parity).
	SkipLoopbackNameCheck bool
	// Auth returns fresh authenticators, one per security protocol the
	// caller can use. It is called once per connection (the first one and
	// each redirect target); the server's list decides the order in which
	// they are tried. Nil: no authentication possible.
	Auth func() []secproto.Authenticator
	// MaxRedirects bounds the redirects followed by one request
	// (default DefaultMaxRedirects; negative: follow none).
	MaxRedirects int
	// AppName goes into the login CGI (xrd.appname); default "gridprobe".
	AppName string
	// User is the login user name (at most 8 bytes); default "gridprb".
	User string
	// MaxFrame bounds the length of one response frame (default 64 MiB).
	MaxFrame int
}

func (o *Options) maxFrame() int {
	if o.MaxFrame > 0 {
		return o.MaxFrame
	}
	return defaultMaxFrame
}

func (o *Options) appName() string {
	if o.AppName != "" {
		return url.QueryEscape(o.AppName)
	}
	return "gridprobe"
}

func (o *Options) user() string {
	u := o.User
	if u == "" {
		u = "gridprb"
	}
	if len(u) > 8 {
		u = u[:8]
	}
	return u
}

func (o *Options) maxRedirects() int {
	switch {
	case o.MaxRedirects < 0:
		return 0
	case o.MaxRedirects == 0:
		return DefaultMaxRedirects
	}
	return o.MaxRedirects
}

// Info describes one brought-up connection.
type Info struct {
	// Addr is the "host:port" dialed; RemoteAddr the TCP peer "ip:port".
	Addr, RemoteAddr string
	// ProtocolVersion is the server's protocol version (0x511 = 5.1.0).
	ProtocolVersion uint32
	// Flags are the kXR_protocol response flags (isServer/isManager,
	// haveTLS, gotoTLS, tls requirements, ...).
	Flags ServerFlags
	// Signing is the server's request-signing requirement ("S" section),
	// nil when the server sent none.
	Signing *SecRequirements
	// TLS tells whether the connection was upgraded to TLS.
	TLS            bool
	TLSVersion     uint16
	TLSCipherSuite uint16
	TLSPeer        string    // subject of the server certificate
	TLSNotAfter    time.Time // expiry of the server certificate
	// SecProtocols are the security protocols the server offered at login,
	// in its order; empty when it needs no authentication.
	SecProtocols []string
	// AuthProtocol is the protocol that authenticated the session, "" when
	// none was needed.
	AuthProtocol string

	sec string // raw security list
}

// IsManager reports a manager/redirector (kXR_isManager).
func (i Info) IsManager() bool { return i.Flags.Has(FlagIsManager) }

// IsServer reports a data server (kXR_isServer).
func (i Info) IsServer() bool { return i.Flags.Has(FlagIsServer) }

// TLSCapable reports whether the server can do TLS (kXR_haveTLS).
func (i Info) TLSCapable() bool { return i.Flags.Has(FlagHaveTLS) }

// Version renders the protocol version number as XRootD prints it in
// hex, e.g. "0x511" (kXR_PROTOCOLVERSION of 5.x servers).
func (i Info) Version() string { return fmt.Sprintf("0x%x", i.ProtocolVersion) }

// TLSVersionName is e.g. "TLS 1.3", or "" without TLS.
func (i Info) TLSVersionName() string {
	if !i.TLS {
		return ""
	}
	return tls.VersionName(i.TLSVersion)
}

// TLSCipherName is e.g. "TLS_AES_128_GCM_SHA256", or "" without TLS.
func (i Info) TLSCipherName() string {
	if !i.TLS {
		return ""
	}
	return tls.CipherSuiteName(i.TLSCipherSuite)
}

// Trace receives session events; attach it with WithTrace. Callbacks run
// synchronously on the calling goroutine.
type Trace struct {
	// Connected is called for every connection brought up (the first and
	// each redirect target).
	Connected func(Info)
	// Redirect is called for every kXR_redirect followed: from and to are
	// "host:port".
	Redirect func(from, to string)
	// Wait is called for every kXR_wait before sleeping.
	Wait func(addr string, d time.Duration, msg string)
	// WaitResp is called for every kXR_waitresp.
	WaitResp func(addr string, d time.Duration, msg string)
	// Read is called for every kXR_read sent (also a resend after
	// kXR_wait) with its offset and length.
	Read func(addr string, off int64, rlen int)
}

type traceKey struct{}

// WithTrace returns a context that makes the session report events to t.
func WithTrace(ctx context.Context, t *Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

func traceFrom(ctx context.Context) *Trace {
	t, _ := ctx.Value(traceKey{}).(*Trace)
	return t
}

// Session is a logged-in, authenticated XRootD session with one endpoint,
// plus the connections to the servers it was redirected to. Its methods
// are safe for concurrent use but run one request per connection at a time.
type Session struct {
	opts       Options
	requireTLS bool
	first      *conn

	mu     sync.Mutex
	peers  map[string]*conn // redirect targets by host:port
	closed bool
}

// ParseURL splits an XRootD URL ("root://host[:port]//path?cgi") into host,
// port, path+cgi and whether TLS is required (roots://, xroots://).
func ParseURL(raw string) (host string, port int, path string, tlsRequired bool, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", 0, "", false, fmt.Errorf("parse XRootD URL: %w", err)
	}
	switch u.Scheme {
	case "root", "xroot":
	case "roots", "xroots":
		tlsRequired = true
	default:
		return "", 0, "", false, fmt.Errorf("parse XRootD URL %q: scheme %q is not root:// or roots://", u.Redacted(), u.Scheme)
	}
	host = u.Hostname()
	if host == "" {
		return "", 0, "", false, fmt.Errorf("parse XRootD URL %q: no host", u.Redacted())
	}
	port = DefaultPort
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return "", 0, "", false, fmt.Errorf("parse XRootD URL %q: bad port %q", u.Redacted(), p)
		}
	}
	path = u.Path
	if strings.HasPrefix(path, "//") {
		path = path[1:]
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return host, port, path, tlsRequired, nil
}

// Dial connects to the endpoint of rawURL (root://, roots://; any path is
// ignored), brings the session up and authenticates it. The context bounds
// the whole bring-up.
func Dial(ctx context.Context, rawURL string, opts Options) (*Session, error) {
	host, port, _, tlsReq, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	s := &Session{opts: opts, requireTLS: tlsReq || opts.RequireTLS, peers: map[string]*conn{}}
	c, err := dialConn(ctx, host, port, connConfig{opts: &s.opts, requireTLS: s.requireTLS})
	if err != nil {
		return nil, err
	}
	s.first = c
	if t := traceFrom(ctx); t != nil && t.Connected != nil {
		t.Connected(c.info)
	}
	return s, nil
}

// Info describes the first connection (the endpoint dialed).
func (s *Session) Info() Info {
	i := s.first.info
	i.SecProtocols = append([]string(nil), i.SecProtocols...)
	return i
}

// Addr is the "host:port" the session was dialed to.
func (s *Session) Addr() string { return s.first.addr }

// Close closes every connection of the session. Requests in progress fail.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	peers := s.peers
	s.peers = nil
	s.mu.Unlock()
	s.first.closeNow()
	err := s.first.close()
	for _, c := range peers {
		c.closeNow()
		_ = c.close()
	}
	return err
}

// connFor returns the connection to a redirect target, dialing it (with
// full bring-up and authentication) unless one is cached.
func (s *Session) connFor(ctx context.Context, t redirectTarget) (*conn, error) {
	addr := t.addr()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("session closed")
	}
	if c, ok := s.peers[addr]; ok && !c.isBroken() && t.token == "" {
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	c, err := dialConn(ctx, t.host, t.port, connConfig{opts: &s.opts, requireTLS: s.requireTLS, loginToken: t.token})
	if err != nil {
		return nil, fmt.Errorf("follow redirect: %w", err)
	}
	if tr := traceFrom(ctx); tr != nil && tr.Connected != nil {
		tr.Connected(c.info)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.close()
		return nil, errors.New("session closed")
	}
	if old, ok := s.peers[addr]; ok {
		_ = old.close()
	}
	s.peers[addr] = c
	return c, nil
}

// request describes one path-based request, rebuilt for each redirect hop.
type request struct {
	op      string // for errors: "stat /testvo/x"
	reqID   uint16
	body    [16]byte
	path    string // path[?cgi]; the payload unless payload is set
	payload func(path string) []byte
	maxBody int
}

// do runs a path-based request, following kXR_redirect up to the limit on
// new connections and re-sending with the original path plus the opaque
// CGI of the redirect. It returns the final answer and the connection that
// gave it.
func (s *Session) do(ctx context.Context, r request) (frame, *conn, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return frame{}, nil, fmt.Errorf("%s: session closed", r.op)
	}
	c := s.first
	path := r.path
	hops := []string{c.addr}
	seen := map[string]bool{c.addr + " " + path: true}
	maxBody := r.maxBody
	if maxBody == 0 {
		maxBody = defaultMaxBody
	}
	for n := 0; ; n++ {
		payload := []byte(path)
		if r.payload != nil {
			payload = r.payload(path)
		}
		f, err := c.roundTrip(ctx, r.reqID, r.body, payload, maxBody)
		if err != nil {
			return frame{}, c, fmt.Errorf("%s at %s: %w", r.op, c.addr, err)
		}
		if f.status != statusRedirect {
			if f.status != statusOK {
				c.markBrokenLocked(protoErrf("%s answered with %s", r.op, statusName(f.status)))
				return frame{}, c, fmt.Errorf("%s at %s: unexpected %s", r.op, c.addr, statusName(f.status))
			}
			return f, c, nil
		}
		t, err := parseRedirect(f.body)
		if err != nil {
			c.markBrokenLocked(err)
			return frame{}, c, fmt.Errorf("%s at %s: %w", r.op, c.addr, err)
		}
		if t.url != "" {
			return frame{}, c, fmt.Errorf("%s: %w", r.op, &RedirectError{Reason: "to a URL this client does not follow", Target: t.url, Hops: hops})
		}
		if n >= s.opts.maxRedirects() {
			return frame{}, c, fmt.Errorf("%s: %w", r.op, &RedirectError{Reason: fmt.Sprintf("limit (%d) reached", s.opts.maxRedirects()), Target: t.addr(), Hops: hops})
		}
		path = appendCGI(r.path, t.opaque)
		key := t.addr() + " " + path
		if seen[key] {
			return frame{}, c, fmt.Errorf("%s: %w", r.op, &RedirectError{Reason: "loop", Target: t.addr(), Hops: hops})
		}
		seen[key] = true
		if tr := traceFrom(ctx); tr != nil && tr.Redirect != nil {
			tr.Redirect(c.addr, t.addr())
		}
		hops = append(hops, t.addr())
		nc, err := s.connFor(ctx, t)
		if err != nil {
			return frame{}, c, fmt.Errorf("%s (redirected by %s): %w", r.op, c.addr, err)
		}
		c = nc
	}
}

// markBrokenLocked marks c broken from outside roundTrip.
func (c *conn) markBrokenLocked(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.markBroken(err)
}

// appendCGI adds opaque CGI to path: with '&' when path has CGI already.
func appendCGI(path, opaque string) string {
	opaque = strings.TrimLeft(opaque, "?&")
	if opaque == "" {
		return path
	}
	if strings.Contains(path, "?") {
		return path + "&" + opaque
	}
	return path + "?" + opaque
}
