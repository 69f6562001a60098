package gsi

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maxCADepth bounds the walk from the server's issuer to a self-signed root.
const maxCADepth = 8

// caDir is a hashed grid CA directory: <hash>.N certificates, <hash>.rN CRLs.
type caDir string

// lookup returns the CA certificates stored under hash whose subject is
// rawSubject, with the file name stem each came from.
func (d caDir) lookup(hash string, rawSubject []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for i := 0; i < 10; i++ {
		data, err := os.ReadFile(filepath.Join(string(d), fmt.Sprintf("%s.%d", hash, i)))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("CA directory: %w", err)
		}
		for _, c := range parseCerts(data) {
			if bytes.Equal(c.RawSubject, rawSubject) && c.IsCA {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// crls returns the CRLs stored under hash that verify against ca.
func (d caDir) crls(hash string, ca *x509.Certificate) (good []*x509.RevocationList, warnings []string) {
	for i := 0; i < 10; i++ {
		name := filepath.Join(string(d), fmt.Sprintf("%s.r%d", hash, i))
		data, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("CRL %s: %v", name, err))
			continue
		}
		der := data
		if blk, _ := pem.Decode(data); blk != nil {
			der = blk.Bytes
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("CRL %s: %v", name, err))
			continue
		}
		if err := crl.CheckSignatureFrom(ca); err != nil {
			warnings = append(warnings, fmt.Sprintf("CRL %s: not signed by its CA: %v", name, err))
			continue
		}
		good = append(good, crl)
	}
	return good, warnings
}

func parseCerts(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// hashesOf returns the new and old subject hashes of a DER name.
func hashesOf(rawName []byte) []string {
	var out []string
	if h, err := SubjectHash(rawName); err == nil {
		out = append(out, fmt.Sprintf("%08x", h))
	}
	return append(out, fmt.Sprintf("%08x", SubjectHashOld(rawName)))
}

// verifyServerCert checks the server's certificate against the CA
// directory (IGTF model: every CA found there is a trust anchor; its own
// issuers are walked up and must be valid too), honours <hash>.rN CRLs,
// and returns warnings for unusable CRLs.
func verifyServerCert(dir string, leaf *x509.Certificate, offered []string, now time.Time) ([]string, error) {
	if leaf.IsCA {
		return nil, fmt.Errorf("%w: %q is a CA certificate", ErrServerCertInvalid, dn(leaf.RawSubject))
	}
	if isProxy(leaf) {
		return nil, fmt.Errorf("%w: %q is a proxy certificate", ErrServerCertInvalid, dn(leaf.RawSubject))
	}
	d := caDir(dir)
	ca, caHash, err := d.leafIssuer(leaf, issuerHashes(leaf, offered))
	if err != nil {
		return nil, err
	}
	if err := checkTimes("server certificate", leaf, now); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrServerCertInvalid, err)
	}
	if err := d.checkCAChain(ca, now); err != nil {
		return nil, err
	}
	crls, warnings := d.crls(caHash, ca)
	for _, crl := range crls {
		for _, r := range crl.RevokedCertificateEntries {
			if r.SerialNumber != nil && r.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
				return warnings, fmt.Errorf("%w: serial %s of %q listed in the CRL of %q", ErrServerCertRevoked, leaf.SerialNumber, dn(leaf.RawSubject), dn(ca.RawSubject))
			}
		}
	}
	return warnings, nil
}

// issuerHashes returns the file hashes under which to look for the
// leaf's issuer: the server's ca: list (offered) first, then our own
// hashes of the issuer name, without ".0" suffixes and duplicates.
func issuerHashes(leaf *x509.Certificate, offered []string) []string {
	var hashes []string
	seen := map[string]bool{}
	for _, h := range append(append([]string{}, offered...), hashesOf(leaf.RawIssuer)...) {
		h = strings.TrimSuffix(strings.TrimSpace(h), ".0")
		if h != "" && !seen[h] {
			seen[h] = true
			hashes = append(hashes, h)
		}
	}
	return hashes
}

// leafIssuer finds the CA that signed leaf: the CA certificates named
// like its issuer under the first of hashes that has any, the first of
// them whose signature checks. It returns that CA and its hash.
func (d caDir) leafIssuer(leaf *x509.Certificate, hashes []string) (*x509.Certificate, string, error) {
	type found struct {
		cert *x509.Certificate
		hash string
	}
	var issuers []found
	for _, h := range hashes {
		cs, err := d.lookup(h, leaf.RawIssuer)
		if err != nil {
			return nil, "", err
		}
		for _, c := range cs {
			issuers = append(issuers, found{c, h})
		}
		if len(issuers) > 0 {
			break
		}
	}
	if len(issuers) == 0 {
		return nil, "", fmt.Errorf("%w: no CA %q (hash %s) in %s", ErrUnknownCA, dn(leaf.RawIssuer), strings.Join(hashes, "|"), string(d))
	}
	var sigErr error
	for _, f := range issuers {
		if err := leaf.CheckSignatureFrom(f.cert); err != nil {
			sigErr = err
			continue
		}
		return f.cert, f.hash, nil
	}
	return nil, "", fmt.Errorf("%w: server certificate %q not signed by the CA %q in %s: %v", ErrUnknownCA, dn(leaf.RawSubject), dn(leaf.RawIssuer), string(d), sigErr)
}

// checkCAChain walks the CA's own issuers up to a self-signed root (at
// most maxCADepth steps), each found in the directory and valid at now.
func (d caDir) checkCAChain(ca *x509.Certificate, now time.Time) error {
	cur := ca
	for depth := 0; ; depth++ {
		if err := checkTimes("CA certificate", cur, now); err != nil {
			return fmt.Errorf("%w: %v", ErrServerCertInvalid, err)
		}
		if isSelfSigned(cur) {
			return nil
		}
		if depth >= maxCADepth {
			return fmt.Errorf("%w: CA chain of %q longer than %d", ErrUnknownCA, dn(ca.RawSubject), maxCADepth)
		}
		parent, err := d.parentOf(cur)
		if err != nil {
			return err
		}
		cur = parent
	}
}

// parentOf returns the CA certificate in the directory that signed cur.
func (d caDir) parentOf(cur *x509.Certificate) (*x509.Certificate, error) {
	for _, h := range hashesOf(cur.RawIssuer) {
		cs, err := d.lookup(h, cur.RawIssuer)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if cur.CheckSignatureFrom(c) == nil {
				return c, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: issuer %q of CA %q not in %s", ErrUnknownCA, dn(cur.RawIssuer), dn(cur.RawSubject), string(d))
}

func checkTimes(what string, c *x509.Certificate, now time.Time) error {
	if now.After(c.NotAfter) {
		return fmt.Errorf("%s %q expired at %s", what, dn(c.RawSubject), c.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(c.NotBefore) {
		return fmt.Errorf("%s %q not valid before %s", what, dn(c.RawSubject), c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// normalizeHost strips a port and IPv6 brackets and lower-cases.
func normalizeHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// checkHostName applies XrdSecgsi's rules without DNS: SAN dNSName entries
// only (IP SANs are ignored); if there are none, the CN (the part after
// '/' in "service/host" form). Wildcards only in the first label.
func checkHostName(cert *x509.Certificate, host string, extra []string) error {
	host = normalizeHost(host)
	if host == "" {
		return fmt.Errorf("%w: no host name to check", ErrHostNameMismatch)
	}
	// ExtraServerNames (XrdSecGSISRVNAMES) name further server identities
	// accepted when the certificate is not for the host dialed (e.g. a
	// redirector sending the client to an IP address): the certificate's
	// own names must match one of them.
	certNames := cert.DNSNames
	if len(certNames) == 0 && cert.Subject.CommonName != "" {
		cn := cert.Subject.CommonName
		if i := strings.IndexByte(cn, '/'); i >= 0 {
			cn = cn[i+1:]
		}
		certNames = []string{cn}
	}
	for _, p := range extra {
		for _, n := range certNames {
			if matchHostPattern(p, normalizeHost(n)) {
				return nil
			}
		}
	}
	if len(cert.DNSNames) > 0 {
		for _, p := range cert.DNSNames {
			if matchHostPattern(p, host) {
				return nil
			}
		}
		return fmt.Errorf("%w: %q is not in the server certificate's SAN DNS names %v (IP SANs and CN are not used when DNS SANs exist)", ErrHostNameMismatch, host, cert.DNSNames)
	}
	cn := cert.Subject.CommonName
	if i := strings.IndexByte(cn, '/'); i >= 0 {
		cn = cn[i+1:]
	}
	if cn != "" && matchHostPattern(cn, host) {
		return nil
	}
	return fmt.Errorf("%w: %q does not match the server certificate's CN %q (no SAN DNS names)", ErrHostNameMismatch, host, cert.Subject.CommonName)
}

// matchHostPattern matches host against a name that may hold '*' in its
// first label only; the other labels must be equal (case-insensitive).
func matchHostPattern(pattern, host string) bool {
	pattern = strings.ToLower(strings.TrimSuffix(pattern, "."))
	if pattern == host {
		return true
	}
	if net.ParseIP(host) != nil {
		return false // no wildcards for address literals
	}
	pl := strings.Split(pattern, ".")
	hl := strings.Split(host, ".")
	if len(pl) != len(hl) || !strings.Contains(pl[0], "*") {
		return false
	}
	for i := 1; i < len(pl); i++ {
		if pl[i] != hl[i] || strings.Contains(pl[i], "*") {
			return false
		}
	}
	return globLabel(pl[0], hl[0])
}

// globLabel matches one label against a pattern with '*' (any run).
func globLabel(p, s string) bool {
	parts := strings.Split(p, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i := 1; i < len(parts)-1; i++ {
		j := strings.Index(s, parts[i])
		if j < 0 {
			return false
		}
		s = s[j+len(parts[i]):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
