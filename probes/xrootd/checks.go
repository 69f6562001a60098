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
	opts, err := s.tlsOptions()
	if err != nil {
		return engine.Unknownf("cannot load the CA directory: %v", err)
	}
	var auths []func() secproto.Authenticator
	var missing []string
	// keys: the pool key of this session for each protocol it may log in
	// with, so the later check that needs exactly that session reuses it.
	keys := map[string]string{}
	if p, err := s.loadProxy(kindProxy); err == nil {
		if f, err := s.gsiAuth(p, nil); err == nil {
			auths = append(auths, func() secproto.Authenticator { return f()[0] })
			keys[gsiName] = "gsi " + kindProxy
		} else {
			missing = append(missing, err.Error())
		}
	} else {
		missing = append(missing, err.Error())
	}
	sc := read(s.voArea)
	if ref := s.t.Service.ReadFile.Path; ref != "" {
		sc = read(ref)
	}
	tok, err := s.token(ctx, s.aud, sc)
	if err == nil {
		keys[ztn.Name] = s.tokenKey(s.aud, tok, sc)
		auths = append(auths, func() secproto.Authenticator {
			return ztn.New(func() (string, error) { return tok.Bearer(), nil })
		})
	} else {
		missing = append(missing, err.Error())
	}
	opts.Auth = func() []secproto.Authenticator {
		out := make([]secproto.Authenticator, len(auths))
		for i, f := range auths {
			out[i] = f()
		}
		return out
	}
	start := time.Now()
	sess, err := xrd.Dial(ctx, s.url, opts)
	took := time.Since(start)
	if err != nil {
		var ae *xrd.AuthError
		if errors.As(err, &ae) && len(auths) == 0 {
			return engine.Unknownf("cannot log in to %s: no usable credential (%s)", s.url, strings.Join(missing, "; "))
		}
		return failure("session bring-up with %s failed: %s", err, s.url)
	}
	info := sess.Info()
	cfg, err := sess.QueryConfig(ctx, "version", "role", "sitename", "chksum")
	if err != nil {
		_ = sess.Close()
		return failure("query config version at %s failed: %s", err, s.url)
	}
	if key, ok := keys[info.AuthProtocol]; ok {
		s.adopt(key, sess) // 4crt-read or 14tkn-read logs in the same way
	} else {
		_ = sess.Close()
	}
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
	var o engine.Outcome
	switch {
	case !info.TLSCapable():
		o = engine.Warnf("%s; the server cannot do TLS, so tokens (ztn) cannot be used", detail)
	case !contains(info.SecProtocols, ztn.Name):
		o = engine.Warnf("%s; the server does not offer ztn (WLCG tokens over root://)", detail)
	default:
		o = engine.Okf("%s", detail)
	}
	o.Perf = []engine.Perf{{Label: "bringup_time", Value: took.Seconds(), Unit: "s"}}
	return o
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
	p, err := s.loadProxy(kindProxy)
	if err != nil {
		return engine.Unknownf("%v", err)
	}
	opts, err := s.tlsOptions()
	if err != nil {
		return engine.Unknownf("cannot load the CA directory: %v", err)
	}
	if opts.Auth, err = s.gsiAuth(p, []string{s.u.Hostname()}); err != nil {
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
