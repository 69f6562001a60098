package cred

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred/voms"
)

// VOMSAttr is one VOMS attribute certificate of a proxy (VO, FQANs, issuer,
// validity); see package voms.
type VOMSAttr = voms.Attr

// Proxy is a loaded grid proxy: the certificate chain and key as one TLS
// client certificate, who it identifies, and its VOMS attributes.
type Proxy struct {
	Path string
	// Cert is the chain (proxy first) with the private key, ready for
	// tls.Config.GetClientCertificate. It never prints its key.
	Cert tls.Certificate
	// Chain is the parsed chain in file order: the proxy (leaf) first, then
	// any further proxies, then the end-entity certificate.
	Chain []*x509.Certificate
	// Identity is the end-entity (first non-proxy) certificate of Chain.
	Identity *x509.Certificate
	// Subject and Issuer are the identity's DN and its CA's DN, grid slash
	// form ("/DC=org/DC=example/CN=user A").
	Subject, Issuer string
	// NotAfter is the earliest expiry of the chain.
	NotAfter time.Time
	// VOMS lists the attribute certificates found in the chain.
	VOMS []VOMSAttr
}

var (
	oidProxyCertInfo      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 14}     // RFC 3820
	oidProxyCertInfoDraft = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3536, 1, 222} // GT3 draft
)

// LoadProxy reads a grid proxy file (PEM: proxy certificate, its private key,
// then the rest of the chain — the layout voms-proxy-init writes). It refuses
// a file that group or others can access, a file without key or
// certificates, a key that does not match, and an expired proxy.
func LoadProxy(path string) (*Proxy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("proxy %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("proxy %s holds a private key but is accessible by group/others (mode %04o); chmod 600 it", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", path, err)
	}
	return parseProxy(path, data, time.Now())
}

func parseProxy(path string, data []byte, now time.Time) (*Proxy, error) {
	var chain []*x509.Certificate
	keys := 0
	for rest := data; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		switch {
		case blk.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("proxy %s: certificate %d: %w", path, len(chain)+1, err)
			}
			chain = append(chain, c)
		case strings.HasSuffix(blk.Type, "PRIVATE KEY"):
			keys++
		}
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("proxy %s: no PEM certificate in the file", path)
	}
	if keys == 0 {
		return nil, fmt.Errorf("proxy %s: no private key in the file", path)
	}
	cert, err := tls.X509KeyPair(data, data)
	if err != nil {
		// The tls errors name the problem, never the key material.
		return nil, fmt.Errorf("proxy %s: %w", path, err)
	}
	p := &Proxy{Path: path, Cert: cert, Chain: chain}
	p.Identity = chain[len(chain)-1]
	for _, c := range chain {
		if !isProxyCert(c) {
			p.Identity = c
			break
		}
	}
	p.Subject = voms.DNOf(p.Identity.RawSubject)
	p.Issuer = voms.DNOf(p.Identity.RawIssuer)
	p.NotAfter = chain[0].NotAfter
	for _, c := range chain {
		if c.NotAfter.Before(p.NotAfter) {
			p.NotAfter = c.NotAfter
		}
	}
	if !now.Before(p.NotAfter) {
		return nil, fmt.Errorf("proxy %s of %s expired at %s (%s ago)", path, p.Subject,
			p.NotAfter.UTC().Format(time.RFC3339), shortDuration(now.Sub(p.NotAfter)))
	}
	if now.Before(chain[0].NotBefore) {
		return nil, fmt.Errorf("proxy %s of %s is not valid before %s", path, p.Subject, chain[0].NotBefore.UTC().Format(time.RFC3339))
	}
	if p.VOMS, err = voms.FromChain(chain); err != nil {
		return nil, fmt.Errorf("proxy %s: %w", path, err)
	}
	return p, nil
}

// isProxyCert tells RFC 3820 / draft proxies and legacy Globus proxies
// (subject = issuer + CN=proxy|limited proxy) from end-entity certificates.
func isProxyCert(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidProxyCertInfo) || e.Id.Equal(oidProxyCertInfoDraft) {
			return true
		}
	}
	subj, iss := voms.DNOf(c.RawSubject), voms.DNOf(c.RawIssuer)
	return subj == iss+"/CN=proxy" || subj == iss+"/CN=limited proxy"
}

// VO returns the VO of the first VOMS attribute certificate, "" without one.
func (p *Proxy) VO() string {
	if len(p.VOMS) == 0 {
		return ""
	}
	return p.VOMS[0].VO
}

// FQANs returns the FQANs of the first VOMS attribute certificate (the first
// one is the primary FQAN).
func (p *Proxy) FQANs() []string {
	if len(p.VOMS) == 0 {
		return nil
	}
	return p.VOMS[0].FQANs
}

// VerifyVOMS checks every AC of the proxy against vomsDir (.lsc files) and
// the CA store, at now.
func (p *Proxy) VerifyVOMS(vomsDir string, cas *CAStore, now time.Time) error {
	if len(p.VOMS) == 0 {
		return fmt.Errorf("proxy %s of %s has no VOMS attributes", p.Path, p.Subject)
	}
	for i := range p.VOMS {
		if err := p.VOMS[i].Verify(vomsDir, cas.Pool(), now); err != nil {
			return fmt.Errorf("proxy %s: %w", p.Path, err)
		}
	}
	return nil
}

// Summary is one line for check details and logs, e.g.
// "proxy /DC=org/DC=example/CN=user A, VO testvo (/testvo/Role=NULL/Capability=NULL), expires in 11h59m".
func (p Proxy) Summary() string { return p.summary(time.Now()) }

func (p Proxy) summary(now time.Time) string {
	var b strings.Builder
	b.WriteString("proxy ")
	b.WriteString(p.Subject)
	if len(p.VOMS) == 0 {
		b.WriteString(", no VOMS attributes")
	}
	for _, a := range p.VOMS {
		fmt.Fprintf(&b, ", VO %s", a.VO)
		if len(a.FQANs) > 0 {
			fmt.Fprintf(&b, " (%s)", a.FQANs[0])
		}
		// The AC's end is named when it comes a minute or more before the
		// proxy's (an AC issued with the proxy ends seconds before it).
		if !now.Before(a.NotAfter) {
			b.WriteString(", VOMS AC expired")
		} else if p.NotAfter.Sub(a.NotAfter) >= time.Minute {
			fmt.Fprintf(&b, ", VOMS AC expires in %s", shortDuration(a.NotAfter.Sub(now)))
		}
	}
	if now.Before(p.NotAfter) {
		fmt.Fprintf(&b, ", expires in %s", shortDuration(p.NotAfter.Sub(now)))
	} else {
		fmt.Fprintf(&b, ", expired %s ago", shortDuration(now.Sub(p.NotAfter)))
	}
	return b.String()
}

// String is Summary: a Proxy never prints its key.
func (p Proxy) String() string { return p.Summary() }

// GoString is Summary too, so %#v cannot reach the key.
func (p Proxy) GoString() string { return "cred.Proxy{" + p.Summary() + "}" }

// Format makes every fmt verb print Summary (a bad verb such as %d would
// otherwise make fmt dump the struct, key included).
func (p Proxy) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, p.Summary()) }

// shortDuration renders 11h59m, 19m, 42s.
func shortDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return d.Truncate(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	default:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
}

var errNoChain = errors.New("server sent no certificate")
