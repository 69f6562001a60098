package xrootd

import (
	"context"
	"errors"
	"fmt"
	"hash/adler32"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage"
	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
	"github.com/gridprobe/gridprobe/probes/xrootd/ztn"
)

// runConnection is the shared 1connection check (every address).
func (s *svc) runConnection(ctx context.Context, _ *engine.Env) engine.Outcome {
	return probe.Connection(ctx, s.u, nil)
}

// runVersion brings a session up (handshake, kXR_protocol, TLS verified
// against the CA directory and the host name, login) and asks the server's
// software version. Logging in needs a credential: the proxy (GSI) and a
// read token (ztn) are both offered, whichever the server accepts.
func (s *svc) runVersion(ctx context.Context, _ *engine.Env) engine.Outcome {
	o := s.version(ctx)
	o.Reproduce = s.reproVersion()
	return o
}

func (s *svc) version(ctx context.Context) engine.Outcome {
	opts, err := s.tr.tlsOptions()
	if err != nil {
		return engine.Unknownf("cannot load the CA directory: %v", err)
	}
	lo := s.loginOffer(ctx)
	opts.Auth = lo.authenticators
	start := time.Now()
	sess, err := xrd.Dial(ctx, s.url, opts)
	took := time.Since(start)
	if err != nil {
		var ae *xrd.AuthError
		if errors.As(err, &ae) && len(lo.auths) == 0 {
			return engine.Unknownf("cannot log in to %s: no usable credential (%s)", s.url, strings.Join(lo.missing, "; "))
		}
		return failure("session bring-up with %s failed: %s", err, s.url)
	}
	info := sess.Info()
	cfg, err := sess.QueryConfig(ctx, "version", "role", "sitename", "chksum")
	if err != nil {
		_ = sess.Close()
		return failure("query config version at %s failed: %s", err, s.url)
	}
	if key, ok := lo.keys[info.AuthProtocol]; ok {
		s.tr.adopt(key, sess) // 4crt-read or 14tkn-read logs in the same way
	} else {
		_ = sess.Close()
	}
	o := versionOutcome(info, cfg)
	o.Perf = []engine.Perf{{Label: "bringup_time", Value: took.Seconds(), Unit: "s"}}
	return o
}

// loginOffer is what 3version logs in with: the proxy (GSI) and a read
// token (ztn), whichever the server accepts, with the pool key of the
// session for each protocol, so the later check that needs exactly that
// session reuses it; missing says why a credential is not offered.
type loginOffer struct {
	auths   []func() secproto.Authenticator
	keys    map[string]string
	missing []string
}

func (s *svc) loginOffer(ctx context.Context) *loginOffer {
	lo := &loginOffer{keys: map[string]string{}}
	if p, err := s.t.Creds.Proxy(); err == nil {
		if f, err := s.tr.gsiAuth(p, nil); err == nil {
			lo.auths = append(lo.auths, func() secproto.Authenticator { return f()[0] })
			lo.keys[gsiName] = gsiKey(storage.Own)
		} else {
			lo.missing = append(lo.missing, err.Error())
		}
	} else {
		lo.missing = append(lo.missing, err.Error())
	}
	sc := storage.Read(s.book.VOArea())
	if ref := s.t.Service.ReadFile.Path; ref != "" {
		sc = storage.Read(ref)
	}
	tok, err := s.book.Token(ctx, s.aud, sc)
	if err != nil {
		lo.missing = append(lo.missing, err.Error())
		return lo
	}
	lo.keys[ztn.Name] = tokenKey(tok)
	lo.auths = append(lo.auths, func() secproto.Authenticator {
		return ztn.New(func() (string, error) { return tok.Bearer(), nil })
	})
	return lo
}

// authenticators are fresh authenticators of every offered credential.
func (lo *loginOffer) authenticators() []secproto.Authenticator {
	out := make([]secproto.Authenticator, len(lo.auths))
	for i, f := range lo.auths {
		out[i] = f()
	}
	return out
}

// versionOutcome words what the session bring-up and the config query
// showed: OK, or WARNING when tokens cannot be used over root://.
func versionOutcome(info xrd.Info, cfg map[string]string) engine.Outcome {
	ver := cfg["version"]
	if ver == "" {
		ver = "unknown (not in the config query)"
	}
	role := cfg["role"]
	if role == "" {
		role = map[bool]string{true: "manager", false: "server"}[info.IsManager()]
	}
	tlsPart := "no TLS"
	if info.TLS {
		tlsPart = fmt.Sprintf("%s %s", info.TLSVersionName(), info.TLSCipherName())
	}
	detail := fmt.Sprintf("XRootD %s, protocol %s, %s; %s (flags %s); security %s, logged in with %s",
		ver, info.Version(), role, tlsPart, tlsFlags(info), secList(info.SecProtocols), orNone(info.AuthProtocol))
	if v := cfg["sitename"]; v != "" {
		detail += "; site " + v
	}
	if v := cfg["chksum"]; v != "" {
		detail += "; checksums " + v
	}
	switch {
	case !info.TLSCapable():
		return engine.Warnf("%s; the server cannot do TLS, so tokens (ztn) cannot be used", detail)
	case !contains(info.SecProtocols, ztn.Name):
		return engine.Warnf("%s; the server does not offer ztn (WLCG tokens over root://)", detail)
	}
	return engine.Okf("%s", detail)
}

func tlsFlags(i xrd.Info) string {
	var f []string
	for _, x := range []struct {
		flag xrd.ServerFlags
		name string
	}{{xrd.FlagHaveTLS, "haveTLS"}, {xrd.FlagGotoTLS, "gotoTLS"}, {xrd.FlagTLSLogin, "tlsLogin"}, {xrd.FlagTLSData, "tlsData"}} {
		if i.Flags.Has(x.flag) {
			f = append(f, x.name)
		}
	}
	if len(f) == 0 {
		return "none"
	}
	return strings.Join(f, "|")
}

func secList(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ",")
}

func orNone(s string) string {
	if s == "" {
		return "none (no authentication required)"
	}
	return s
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// runFederation: through the configured redirector, locate the reference
// file and read it via the redirect (GSI, with the proxy). The data server
// is verified by TLS against its address and by GSI against this site's
// configured host name (a redirector usually sends clients to an IP).
func (s *svc) runFederation(ctx context.Context, _ *engine.Env) engine.Outcome {
	o := s.federation(ctx)
	o.Reproduce = s.reproFederation()
	return o
}

func (s *svc) federation(ctx context.Context) engine.Outcome {
	fed := s.t.Service.Federation
	ref := s.t.Service.ReadFile
	if ref.Path == "" {
		return engine.Unknownf("no read_file configured")
	}
	p, err := s.t.Creds.Proxy()
	if err != nil {
		return engine.Unknownf("%v", err)
	}
	opts, err := s.tr.tlsOptions()
	if err != nil {
		return engine.Unknownf("cannot load the CA directory: %v", err)
	}
	if opts.Auth, err = s.tr.gsiAuth(p, []string{s.u.Hostname()}); err != nil {
		return engine.Unknownf("%v", err)
	}
	var mu sync.Mutex
	var hops []string
	ctx = xrd.WithTrace(ctx, &xrd.Trace{Redirect: func(from, to string) {
		mu.Lock()
		defer mu.Unlock()
		hops = append(hops, to)
	}})
	sess, err := xrd.Dial(ctx, fed, opts)
	if err != nil {
		return failure("cannot bring up a session with the redirector %s: %s", err, fed)
	}
	defer sess.Close()
	role := "data server"
	if sess.Info().IsManager() {
		role = "manager"
	}
	locs, err := sess.Locate(ctx, ref.Path, xrd.LocateOptions{})
	if err != nil {
		return failure("redirector %s cannot locate %s: %s", err, fed, ref.Path)
	}
	var located []string
	for _, l := range locs {
		if l.Online() && !l.IsManager() {
			located = append(located, l.Addr)
		}
	}
	if len(located) == 0 {
		return engine.Critf("redirector %s located %s on no online data server (answer: %v)", fed, ref.Path, locs)
	}
	start := time.Now()
	h := adler32.New()
	n, servedBy, err := sess.StreamFile(ctx, ref.Path, maxRead, h)
	took := time.Since(start)
	if err != nil {
		return failure("reading %s through the redirector %s (located at %s) failed: %s", err, ref.Path, fed, strings.Join(located, ","))
	}
	sum := fmt.Sprintf("%08x", h.Sum32())
	switch {
	case ref.Size >= 0 && n != ref.Size:
		return engine.Critf("read %d bytes of %s via %s from %s, configured size %d", n, ref.Path, fed, servedBy, ref.Size)
	case ref.Adler32 != "" && !strings.EqualFold(sum, ref.Adler32):
		return engine.Critf("read %s via %s from %s with adler32 %s, configured %s", ref.Path, fed, servedBy, sum, ref.Adler32)
	}
	mu.Lock()
	redirected := len(hops) > 0
	mu.Unlock()
	detail := fmt.Sprintf("%s %s located %s at %s and sent the read to %s: %d B, adler32 %s, %.3fs", role, fed, ref.Path,
		strings.Join(located, ","), servedBy, n, sum, took.Seconds())
	var o engine.Outcome
	switch {
	case !redirected:
		o = engine.Warnf("%s; but it served the file itself instead of redirecting", detail)
	case !s.isThisEndpoint(ctx, servedBy):
		o = engine.Warnf("%s; but that is not this site's endpoint %s", detail, s.u.Host)
	default:
		o = engine.Okf("%s (this site's endpoint)", detail)
	}
	o.Perf = []engine.Perf{{Label: "read_time", Value: took.Seconds(), Unit: "s"}}
	return o
}

// isThisEndpoint reports whether addr ("host:port") is the service's own
// endpoint (same port, and the host or one of its addresses).
func (s *svc) isThisEndpoint(ctx context.Context, addr string) bool {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	host, port := probe.HostPort(s.u)
	if p != port {
		return false
	}
	if strings.EqualFold(h, host) {
		return true
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return false
	}
	target := net.ParseIP(h)
	for _, ip := range ips {
		if target != nil && ip.IP.Equal(target) {
			return true
		}
	}
	return false
}
