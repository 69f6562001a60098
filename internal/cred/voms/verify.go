package voms

import (
	"bufio"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

var sigAlgs = map[string]x509.SignatureAlgorithm{
	"1.2.840.113549.1.1.5":  x509.SHA1WithRSA,
	"1.2.840.113549.1.1.11": x509.SHA256WithRSA,
	"1.2.840.113549.1.1.12": x509.SHA384WithRSA,
	"1.2.840.113549.1.1.13": x509.SHA512WithRSA,
	"1.2.840.10045.4.3.2":   x509.ECDSAWithSHA256,
	"1.2.840.10045.4.3.3":   x509.ECDSAWithSHA384,
	"1.2.840.10045.4.3.4":   x509.ECDSAWithSHA512,
}

func sigAlgorithm(oid asn1.ObjectIdentifier) x509.SignatureAlgorithm {
	return sigAlgs[oid.String()] // UnknownSignatureAlgorithm when absent
}

// Verify checks that the AC is valid at now, is signed by the VOMS server
// certificate it carries, that this certificate chains to roots, and that the
// signer's DN chain matches <vomsDir>/<vo>/<host>.lsc (the .lsc way of
// trusting a VOMS server; a vomsdir holding the server certificate itself is
// not supported).
func (a *Attr) Verify(vomsDir string, roots *x509.CertPool, now time.Time) error {
	if err := a.Valid(now); err != nil {
		return err
	}
	var signer *x509.Certificate
	inter := x509.NewCertPool()
	for _, c := range a.signers {
		if signer == nil && DNOf(c.RawSubject) == a.Issuer {
			signer = c
			continue
		}
		inter.AddCert(c)
	}
	if signer == nil {
		return fmt.Errorf("VOMS AC of %s: no certificate of its issuer %s in the AC", a.VO, a.Issuer)
	}
	if a.sigAlg == x509.UnknownSignatureAlgorithm {
		return fmt.Errorf("VOMS AC of %s: unsupported signature algorithm", a.VO)
	}
	if err := signer.CheckSignature(a.sigAlg, a.tbs, a.signature); err != nil {
		return fmt.Errorf("VOMS AC of %s: signature by %s does not verify: %w", a.VO, a.Issuer, err)
	}
	chains, err := signer.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("VOMS AC of %s: signer %s not trusted: %w", a.VO, a.Issuer, err)
	}
	host := a.Server
	if h, _, err := net.SplitHostPort(a.Server); err == nil {
		host = h
	}
	if host == "" || strings.ContainsAny(host, `/\`) || strings.Contains(a.VO, "/") || a.VO == ".." || host == ".." {
		return fmt.Errorf("VOMS AC: unusable server %q or VO %q for an .lsc lookup", a.Server, a.VO)
	}
	lscPath := filepath.Join(vomsDir, a.VO, host+".lsc")
	want, err := readLSC(lscPath)
	if err != nil {
		return fmt.Errorf("VOMS AC of %s: %w", a.VO, err)
	}
	for _, chain := range chains {
		if lscMatches(want, chain) {
			return nil
		}
	}
	return fmt.Errorf("VOMS AC of %s: signer %s (CA %s) does not match %s", a.VO, a.Issuer, DNOf(signer.RawIssuer), lscPath)
}

func readLSC(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("VOMS server not trusted: %w", err)
	}
	defer f.Close()
	var dns []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "---") { // alternative chains: use the first
			break
		}
		dns = append(dns, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(dns) < 2 {
		return nil, errors.New(path + ": want the signer DN and its CA DN")
	}
	return dns, nil
}

// lscMatches compares the .lsc lines with the verified chain: line i is the
// subject of chain[i].
func lscMatches(want []string, chain []*x509.Certificate) bool {
	if len(want) > len(chain) {
		return false
	}
	for i, dn := range want {
		if DNOf(chain[i].RawSubject) != dn {
			return false
		}
	}
	return true
}
