package gsi

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"
)

// Credential is the client identity: a certificate chain, leaf first (a
// proxy followed by its issuers, or a plain user certificate), and the
// leaf's RSA private key.
type Credential struct {
	Chain []*x509.Certificate
	Key   *rsa.PrivateKey
}

var (
	oidProxyCertInfo      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 14}     // RFC 3820
	oidProxyCertInfoDraft = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3536, 1, 222} // GSI-3
	oidCommonName         = asn1.ObjectIdentifier{2, 5, 4, 3}
)

// LoadProxyFile reads a PEM proxy file (voms-proxy-init layout: proxy
// certificate, its private key, then the issuing certificates). The file
// must not be readable by group or others. The key is never echoed in
// errors.
func LoadProxyFile(path string) (*Credential, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCredential, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is accessible by group or others (mode %04o)", ErrCredential, path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCredential, err)
	}
	c, err := ParseProxyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseProxyPEM parses concatenated PEM certificates and one private key
// (PKCS#1 or unencrypted PKCS#8 RSA) belonging to the first certificate.
func ParseProxyPEM(data []byte) (*Credential, error) {
	c := &Credential{}
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: certificate %d: %v", ErrCredential, len(c.Chain)+1, err)
			}
			c.Chain = append(c.Chain, cert)
		case "RSA PRIVATE KEY", "PRIVATE KEY":
			if c.Key != nil {
				return nil, fmt.Errorf("%w: more than one private key", ErrCredential)
			}
			if x509.IsEncryptedPEMBlock(blk) { //nolint:staticcheck // detection only
				return nil, fmt.Errorf("%w: encrypted private keys are not supported", ErrCredential)
			}
			k, err := parseRSAKey(blk)
			if err != nil {
				return nil, err
			}
			c.Key = k
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%w: encrypted private keys are not supported", ErrCredential)
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func parseRSAKey(blk *pem.Block) (*rsa.PrivateKey, error) {
	if blk.Type == "RSA PRIVATE KEY" {
		k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: PKCS#1 key does not parse", ErrCredential)
		}
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: PKCS#8 key does not parse", ErrCredential)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: GSI needs an RSA key, got %T", ErrCredential, k)
	}
	return rk, nil
}

// CredentialFromTLS converts a tls.Certificate (e.g. from
// tls.LoadX509KeyPair(proxy, proxy)) into a Credential.
func CredentialFromTLS(tc tls.Certificate) (*Credential, error) {
	var chain []*x509.Certificate
	for i, der := range tc.Certificate {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %v", ErrCredential, i+1, err)
		}
		chain = append(chain, cert)
	}
	return NewCredential(chain, tc.PrivateKey)
}

// NewCredential is a credential from an already parsed chain (proxy
// first) and its private key, which must be RSA. The chain is shared, not
// copied: a proxy loaded once serves every session of a round.
func NewCredential(chain []*x509.Certificate, key crypto.PrivateKey) (*Credential, error) {
	k, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: GSI needs an RSA key, got %T", ErrCredential, key)
	}
	c := &Credential{Chain: chain, Key: k}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Credential) validate() error {
	if len(c.Chain) == 0 {
		return fmt.Errorf("%w: no certificate", ErrCredential)
	}
	if c.Key == nil {
		return fmt.Errorf("%w: no private key", ErrCredential)
	}
	pub, ok := c.Chain[0].PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&c.Key.PublicKey) {
		return fmt.Errorf("%w: the private key does not belong to the first certificate", ErrCredential)
	}
	return nil
}

// isProxy tells whether cert is an RFC 3820, GSI-3 or legacy GSI-2 proxy.
func isProxy(cert *x509.Certificate) bool {
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidProxyCertInfo) || e.Id.Equal(oidProxyCertInfoDraft) {
			return true
		}
	}
	// Legacy: subject = issuer + one CN "proxy" / "limited proxy".
	var subj, iss pkix.RDNSequence
	if _, err := asn1.Unmarshal(cert.RawSubject, &subj); err != nil {
		return false
	}
	if _, err := asn1.Unmarshal(cert.RawIssuer, &iss); err != nil {
		return false
	}
	if len(subj) != len(iss)+1 || len(subj[len(subj)-1]) != 1 {
		return false
	}
	last := subj[len(subj)-1][0]
	v, _ := last.Value.(string)
	return last.Type.Equal(oidCommonName) && (v == "proxy" || v == "limited proxy")
}

func isSelfSigned(cert *x509.Certificate) bool {
	return bytes.Equal(cert.RawSubject, cert.RawIssuer) && cert.CheckSignatureFrom(cert) == nil
}

// eec returns the end-entity certificate: the first certificate of the
// chain that is not a proxy.
func (c *Credential) eec() *x509.Certificate {
	for _, cert := range c.Chain {
		if !isProxy(cert) {
			return cert
		}
	}
	return nil
}

// isProxyCredential tells whether the leaf is a proxy.
func (c *Credential) isProxyCredential() bool { return isProxy(c.Chain[0]) }

// sendChain is what goes into kXRS_x509: leaf first, stopping before any CA
// certificate, never a key.
func (c *Credential) sendChain() []*x509.Certificate {
	var out []*x509.Certificate
	for _, cert := range c.Chain {
		if cert.IsCA || isSelfSigned(cert) {
			break
		}
		out = append(out, cert)
	}
	return out
}

// checkValidity fails with ErrProxyExpired or ErrProxyNotYetValid when any
// certificate that would be sent is outside its validity period.
func (c *Credential) checkValidity(now time.Time) error {
	for _, cert := range c.sendChain() {
		what := "user certificate"
		if isProxy(cert) {
			what = "proxy"
		}
		if now.After(cert.NotAfter) {
			return fmt.Errorf("%w: %s %q expired at %s", ErrProxyExpired, what, dn(cert.RawSubject), cert.NotAfter.UTC().Format(time.RFC3339))
		}
		if now.Before(cert.NotBefore) {
			return fmt.Errorf("%w: %s %q valid only from %s", ErrProxyNotYetValid, what, dn(cert.RawSubject), cert.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// chainPEM concatenates the PEM encodings of certs.
func chainPEM(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// publicKeyPEM is what OpenSSL's PEM_write_bio_PUBKEY prints: 64-column
// base64 of the SubjectPublicKeyInfo, '\n' line ends, trailing '\n'.
func publicKeyPEM(pub *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// dn renders a DER name in the grid's slash form, in encoding order.
func dn(raw []byte) string {
	var seq pkix.RDNSequence
	if _, err := asn1.Unmarshal(raw, &seq); err != nil {
		return "<unparsable name>"
	}
	var b strings.Builder
	for _, rdn := range seq {
		for i, atv := range rdn {
			if i == 0 {
				b.WriteByte('/')
			} else {
				b.WriteByte('+')
			}
			b.WriteString(attrName(atv.Type))
			b.WriteByte('=')
			fmt.Fprint(&b, atv.Value)
		}
	}
	return b.String()
}

func attrName(oid asn1.ObjectIdentifier) string {
	switch oid.String() {
	case "2.5.4.3":
		return "CN"
	case "2.5.4.6":
		return "C"
	case "2.5.4.7":
		return "L"
	case "2.5.4.8":
		return "ST"
	case "2.5.4.10":
		return "O"
	case "2.5.4.11":
		return "OU"
	case "0.9.2342.19200300.100.1.25":
		return "DC"
	case "1.2.840.113549.1.9.1":
		return "emailAddress"
	case "0.9.2342.19200300.100.1.1":
		return "UID"
	}
	return oid.String()
}
