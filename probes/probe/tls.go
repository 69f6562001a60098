package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/cred/voms"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// TLS is the 2ssl check of HTTPS endpoints (WebDAV, ARC-CE): a TLS handshake
// verified against the CA directory (with CRLs) and the host name; WARNING
// when the host certificate expires within warnBefore (0: never). The
// detail names protocol version, cipher, subject, issuer and expiry.
func TLS(ctx context.Context, u *url.URL, ca *cred.CAStore, warnBefore time.Duration) engine.Outcome {
	o := tlsOutcome(ctx, u, ca, warnBefore)
	o.Reproduce = ReproduceTLS(u)
	return o
}

func tlsOutcome(ctx context.Context, u *url.URL, ca *cred.CAStore, warnBefore time.Duration) engine.Outcome {
	host, port := HostPort(u)
	hp := net.JoinHostPort(host, port)
	var d net.Dialer
	start := time.Now()
	conn, err := d.DialContext(ctx, "tcp", hp)
	if err != nil {
		return engine.Critf("TCP connect to %s: %v", hp, err)
	}
	defer conn.Close()
	tc := tls.Client(conn, ca.TLSConfig(u.Host, nil))
	if err := tc.HandshakeContext(ctx); err != nil {
		return engine.Critf("TLS handshake with %s failed: %v", hp, err)
	}
	took := time.Since(start)
	st := tc.ConnectionState()
	leaf := st.PeerCertificates[0]
	left := time.Until(leaf.NotAfter)
	days := int(left.Hours() / 24)
	msg := fmt.Sprintf("%s %s with %s; host certificate %s by %s valid until %s (%d days)",
		tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), hp,
		voms.DNOf(leaf.RawSubject), voms.DNOf(leaf.RawIssuer), leaf.NotAfter.UTC().Format("2006-01-02"), days)
	o := engine.Okf("%s", msg)
	if warnBefore > 0 && left < warnBefore {
		o = engine.Warnf("host certificate expires in %d days (warning below %d): %s", days, int(warnBefore.Hours()/24), msg)
	}
	o.Perf = []engine.Perf{
		{Label: "handshake_time", Value: took.Seconds(), Unit: "s"},
		{Label: "cert_days_left", Value: float64(days)},
	}
	return o
}

// ReproduceTLS is the openssl line that repeats the 2ssl handshake with the
// same CA directory and host-name check.
func ReproduceTLS(u *url.URL) []string {
	host, port := HostPort(u)
	words := []string{"openssl", "s_client", "-connect", net.JoinHostPort(host, port), "-CApath", "$X509_CERT_DIR", "-verify_return_error", "-brief"}
	if net.ParseIP(host) != nil {
		words = append(words, "-verify_ip", host)
	} else {
		words = append(words, "-servername", host, "-verify_hostname", host)
	}
	return []string{Command(words...) + " </dev/null"}
}

// CertExpiryWarning is the configured 2ssl warning threshold (0 if none).
func (t Target) CertExpiryWarning() time.Duration {
	if t.Config == nil {
		return 0
	}
	return t.Config.Defaults.CertExpiryWarning
}
