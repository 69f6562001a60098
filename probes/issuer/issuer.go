// Package issuer probes a VO's token issuer as a monitored central service
// (sites.yaml `type: issuer`), ETF style:
//
//		<prefix>.Token-Issuer: 1connection 2ssl 3discovery 4jwks 5token 99summary
//
//	  - 3discovery reads /.well-known/openid-configuration and
//	    /.well-known/oauth-authorization-server: the issuer string must be the
//	    issuer's identifier, the token endpoint and jwks_uri https URLs.
//	  - 4jwks reads the keys: they parse, are of the types and algorithms WLCG
//	    relying parties verify (RS256 with RSA ≥ 2048 bits, ES256 with P-256),
//	    have unique kids, and their certificates (x5c) do not expire soon.
//	  - 5token asks for a token with the probe's own credentials (the
//	    configured credentials.token of the same issuer) and checks it against
//	    the WLCG Common JWT Profile: signed by a key of the JWKS, iss, sub, aud
//	    and scope exactly as requested, exp−iat within the profile's lifetimes,
//	    nbf back-dated, jti, wlcg.ver; v1.1 limits are WARNINGs. It reports the
//	    issuer's latency and a token signed with a key published only moments
//	    before (no rotation overlap).
//
// Every failure of these checks is the issuer's (party central), so the
// issuer's row turns CRITICAL while the sites' token checks say UNKNOWN.
//
// The JWKS is parsed here with encoding/json rather than a JWK library:
// jwkset/keyfunc reject or merge exactly the defects this check must report
// (duplicate kids, symmetric keys, short RSA keys, keys of other curves).
package issuer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/cred/voms"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// Check ids (ETF numbering).
const (
	IDConnection = "1connection"
	IDSSL        = "2ssl"
	IDDiscovery  = "3discovery"
	IDJWKS       = "4jwks"
	IDToken      = "5token"
)

// svc is one issuer service during one round; the checks run in order and
// hand their findings on (metadata to 4jwks, keys to 5token).
type svc struct {
	t        probe.Target
	u        *url.URL // where the issuer is reached
	identity string   // what it must call itself (iss)
	caFile   string   // credentials.token.ca_file, trusted besides the system roots
	hc       *http.Client
	tlsConf  *tls.Config

	meta *cred.Metadata
	keys *keySet
}

// New builds an issuer service's checks.
func New(t probe.Target) (*engine.Service, error) {
	s := &svc{t: t, u: t.Service.URL, identity: t.Service.Issuer, caFile: t.Config.Credentials.Token.CAFile}
	if s.identity == "" {
		s.identity = strings.TrimSuffix(s.u.String(), "/")
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if s.caFile != "" {
		b, err := os.ReadFile(s.caFile)
		if err != nil {
			return nil, fmt.Errorf("issuer CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("issuer CA file %s: no PEM certificate", s.caFile)
		}
	}
	s.tlsConf = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr := &http.Transport{TLSClientConfig: s.tlsConf, Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true,
		ResponseHeaderTimeout: t.Service.Timeout}
	s.hc = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	sv := t.NewService(Type)
	sv.Party = engine.PartyCentral
	sv.Checks = []engine.Check{
		{ID: IDConnection, Credential: engine.CredNone, Run: func(ctx context.Context, _ *engine.Env) engine.Outcome {
			return probe.Connection(ctx, s.u, nil)
		}},
		{ID: IDSSL, Credential: engine.CredNone, Requires: []string{IDConnection}, Run: s.runSSL, Reproduce: s.reproSSL},
		{ID: IDDiscovery, Credential: engine.CredNone, Requires: []string{IDSSL}, Run: s.runDiscovery, Reproduce: s.reproDiscovery},
		{ID: IDJWKS, Credential: engine.CredNone, Requires: []string{IDDiscovery}, Run: s.runJWKS, Reproduce: s.reproJWKS},
		{ID: IDToken, Credential: engine.CredToken, Requires: []string{IDDiscovery, IDJWKS}, Run: s.runToken, Reproduce: s.reproToken},
	}
	return sv, nil
}

// runSSL: a TLS handshake verified against the issuer's trust (system
// roots plus credentials.token.ca_file) and host name; WARNING when the
// certificate expires within cert_expiry_warning.
func (s *svc) runSSL(ctx context.Context, _ *engine.Env) engine.Outcome {
	host, port := probe.HostPort(s.u)
	hp := net.JoinHostPort(host, port)
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hp)
	if err != nil {
		return engine.Critf("TCP connect to %s: %v", hp, err)
	}
	defer conn.Close()
	conf := s.tlsConf.Clone()
	conf.ServerName = host
	tc := tls.Client(conn, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		return engine.Critf("TLS handshake with %s failed: %v", hp, err)
	}
	st := tc.ConnectionState()
	leaf := st.PeerCertificates[0]
	left := time.Until(leaf.NotAfter)
	days := int(left.Hours() / 24)
	msg := fmt.Sprintf("%s %s with %s; certificate %s by %s valid until %s (%d days)", tls.VersionName(st.Version),
		tls.CipherSuiteName(st.CipherSuite), hp, voms.DNOf(leaf.RawSubject), voms.DNOf(leaf.RawIssuer),
		leaf.NotAfter.UTC().Format("2006-01-02"), days)
	o := engine.Okf("%s", msg)
	if warn := s.t.CertExpiryWarning(); warn > 0 && left < warn {
		o = engine.Warnf("certificate expires in %d days (warning below %d): %s", days, int(warn.Hours()/24), msg)
	}
	o.Perf = []engine.Perf{{Label: "handshake_time", Value: time.Since(start).Seconds(), Unit: "s"},
		{Label: "cert_days_left", Value: float64(days)}}
	return o
}

// caArgs are curl's trust arguments for the issuer.
func (s *svc) caArgs() []string {
	if s.caFile == "" {
		return nil
	}
	return []string{"--cacert", s.caFile}
}

func (s *svc) reproSSL() []string {
	host, port := probe.HostPort(s.u)
	words := []string{"openssl", "s_client", "-connect", net.JoinHostPort(host, port), "-servername", host,
		"-verify_hostname", host, "-verify_return_error", "-brief"}
	if s.caFile != "" {
		words = append(words, "-CAfile", s.caFile)
	}
	return []string{probe.Command(words...) + " </dev/null"}
}

func (s *svc) curl(args ...string) string {
	return probe.Command(append(append([]string{"curl", "-sS", "--max-time", "30"}, s.caArgs()...), args...)...)
}
