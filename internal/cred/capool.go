package cred

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred/voms"
)

// CAStore is a grid CA directory loaded for verifying servers: the CA
// certificates (<hash>.N) and their CRLs (<hash>.rN), each CRL checked against
// the CA that signed it.
type CAStore struct {
	Dir      string
	pool     *x509.CertPool
	cas      []*x509.Certificate
	crls     map[string]*caCRL // by the CA's raw subject
	badCRL   map[string]string // CA raw subject → why its CRL is unusable
	warnings []string
}

type caCRL struct {
	file       string
	nextUpdate time.Time
	revoked    map[string]time.Time // serial (hex) → revocation time
}

var (
	caFileRE  = regexp.MustCompile(`^[0-9a-f]{8}\.[0-9]+$`)
	crlFileRE = regexp.MustCompile(`^[0-9a-f]{8}\.r[0-9]+$`)
)

// LoadCAPool reads a hashed grid CA directory. It loads every <hash>.N
// certificate and every <hash>.rN CRL and ignores the rest (.signing_policy,
// .namespaces, .info, .crl_url, aliases). Files that cannot be used are
// reported by Warnings; a directory without any CA is an error.
func LoadCAPool(dir string) (*CAStore, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("CA directory: %w", err)
	}
	s := &CAStore{Dir: dir, pool: x509.NewCertPool(), crls: map[string]*caCRL{}, badCRL: map[string]string{}}
	var crlFiles []string
	for _, e := range ents {
		name := e.Name()
		switch {
		case caFileRE.MatchString(name):
			if err := s.addCAFile(filepath.Join(dir, name)); err != nil {
				s.warnings = append(s.warnings, err.Error())
			}
		case crlFileRE.MatchString(name):
			crlFiles = append(crlFiles, filepath.Join(dir, name))
		}
	}
	if len(s.cas) == 0 {
		return nil, fmt.Errorf("CA directory %s: no CA certificates (<hash>.0 files)", dir)
	}
	for _, f := range crlFiles {
		if err := s.addCRLFile(f); err != nil {
			s.warnings = append(s.warnings, err.Error())
		}
	}
	sort.Strings(s.warnings)
	return s, nil
}

func (s *CAStore) addCAFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("CA file: %w", err)
	}
	n := 0
	for rest := data; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("CA file %s: %w", path, err)
		}
		s.pool.AddCert(c)
		s.cas = append(s.cas, c)
		n++
	}
	if n == 0 {
		return fmt.Errorf("CA file %s: no PEM certificate", path)
	}
	return nil
}

func (s *CAStore) addCRLFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("CRL file: %w", err)
	}
	der := data
	if blk, _ := pem.Decode(data); blk != nil {
		der = blk.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return fmt.Errorf("CRL file %s: %w", path, err)
	}
	var issuer *x509.Certificate
	for _, ca := range s.cas {
		if bytes.Equal(ca.RawSubject, crl.RawIssuer) && crl.CheckSignatureFrom(ca) == nil {
			issuer = ca
			break
		}
	}
	key := string(crl.RawIssuer)
	if issuer == nil {
		why := fmt.Sprintf("CRL file %s: not signed by any CA in the directory (issuer %s)", path, voms.DNOf(crl.RawIssuer))
		s.badCRL[key] = why
		return errors.New(why)
	}
	c := &caCRL{file: path, nextUpdate: crl.NextUpdate, revoked: map[string]time.Time{}}
	for _, r := range crl.RevokedCertificateEntries {
		c.revoked[r.SerialNumber.Text(16)] = r.RevocationTime
	}
	if old, ok := s.crls[key]; ok && old.nextUpdate.After(c.nextUpdate) {
		return nil // keep the newer CRL of the same CA
	}
	s.crls[key] = c
	delete(s.badCRL, key)
	return nil
}

// Pool returns the CA certificates as a pool (for tls.Config.RootCAs).
func (s *CAStore) Pool() *x509.CertPool { return s.pool }

// CAs returns the loaded CA certificates.
func (s *CAStore) CAs() []*x509.Certificate { return append([]*x509.Certificate(nil), s.cas...) }

// Warnings lists files of the directory that could not be used.
func (s *CAStore) Warnings() []string { return append([]string(nil), s.warnings...) }

// IsRevoked reports whether a loaded CRL of cert's issuer lists cert.
func (s *CAStore) IsRevoked(cert *x509.Certificate) bool {
	c, ok := s.crls[string(cert.RawIssuer)]
	if !ok {
		return false
	}
	_, revoked := c.revoked[cert.SerialNumber.Text(16)]
	return revoked
}

// VerifyServer verifies a server's chain (leaf first, as sent) at now: it
// must chain to a CA of the store, be valid for host, and no certificate of
// it may be revoked by its CA's CRL (an expired or unusable CRL of a CA in
// the chain is an error too, as for grid clients with CRL checking). Errors
// name the certificate, the CA and what failed.
func (s *CAStore) VerifyServer(chain []*x509.Certificate, host string, now time.Time) error {
	if len(chain) == 0 {
		return errNoChain
	}
	host = bareHost(host)
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	verified, err := leaf.Verify(x509.VerifyOptions{
		Roots: s.pool, Intermediates: inter, DNSName: host, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return s.explain(chain, host, now, err)
	}
	for _, c := range verified[0] {
		if bytes.Equal(c.RawIssuer, c.RawSubject) {
			continue // the root itself
		}
		key := string(c.RawIssuer)
		if why, bad := s.badCRL[key]; bad {
			return fmt.Errorf("cannot check revocation of %s: %s", voms.DNOf(c.RawSubject), why)
		}
		crl, ok := s.crls[key]
		if !ok {
			continue // no CRL installed for this CA: nothing to check against
		}
		if !crl.nextUpdate.IsZero() && now.After(crl.nextUpdate) {
			return fmt.Errorf("CRL of CA %s (%s) expired at %s; is fetch-crl running?",
				voms.DNOf(c.RawIssuer), crl.file, crl.nextUpdate.UTC().Format(time.RFC3339))
		}
		if at, revoked := crl.revoked[c.SerialNumber.Text(16)]; revoked {
			return fmt.Errorf("certificate %s (serial %s) was revoked by CA %s at %s",
				voms.DNOf(c.RawSubject), c.SerialNumber.Text(16), voms.DNOf(c.RawIssuer), at.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

func (s *CAStore) explain(chain []*x509.Certificate, host string, now time.Time, err error) error {
	leaf := chain[0]
	subj := voms.DNOf(leaf.RawSubject)
	var (
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &ua):
		top := chain[len(chain)-1]
		return fmt.Errorf("server certificate %s: issuer %s is not a CA in %s: %w",
			subj, voms.DNOf(top.RawIssuer), s.Dir, err)
	case errors.As(err, &he):
		names := append([]string(nil), leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			names = append(names, ip.String())
		}
		if len(names) == 0 {
			return fmt.Errorf("server certificate %s has no subjectAltName for %s (CN-only host certificates are not accepted): %w", subj, host, err)
		}
		return fmt.Errorf("server certificate %s is for %s, not %s: %w", subj, strings.Join(names, ", "), host, err)
	case errors.As(err, &cie):
		c := cie.Cert
		if c == nil {
			c = leaf
		}
		if cie.Reason == x509.Expired {
			if now.After(c.NotAfter) {
				return fmt.Errorf("certificate %s expired at %s: %w", voms.DNOf(c.RawSubject), c.NotAfter.UTC().Format(time.RFC3339), err)
			}
			return fmt.Errorf("certificate %s not valid before %s: %w", voms.DNOf(c.RawSubject), c.NotBefore.UTC().Format(time.RFC3339), err)
		}
		return fmt.Errorf("certificate %s (issuer %s) invalid: %w", voms.DNOf(c.RawSubject), voms.DNOf(c.RawIssuer), err)
	}
	return fmt.Errorf("verifying server certificate %s: %w", subj, err)
}

// TLSConfig returns a client configuration for host that verifies the server
// with VerifyServer (CA store, host name, CRLs) and, when clientCert is not
// nil, always presents it (e.g. a proxy chain: Go's automatic certificate
// selection would not send one whose issuer the server did not list).
func (s *CAStore) TLSConfig(host string, clientCert *tls.Certificate) *tls.Config {
	name := bareHost(host)
	cfg := &tls.Config{
		RootCAs:    s.pool,
		ServerName: name,
		MinVersion: tls.VersionTLS12,
		// The standard verification is replaced (not skipped) by
		// VerifyConnection, which adds CRLs and says which CA failed.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return s.VerifyServer(cs.PeerCertificates, name, time.Now())
		},
	}
	if clientCert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return clientCert, nil
		}
	}
	return cfg
}

// bareHost strips a port and IPv6 brackets: "[::1]:1094" → "::1".
func bareHost(h string) string {
	if hh, _, err := net.SplitHostPort(h); err == nil {
		return hh
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}
