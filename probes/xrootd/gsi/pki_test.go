package gsi

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testPKI is a throwaway grid PKI made in Go for the in-process tests.
type testPKI struct {
	caKey, hostKey, userKey, proxyKey, otherKey *rsa.PrivateKey
	ca, host, user, proxy                       *x509.Certificate
}

var (
	pkiOnce sync.Once
	pkiVal  *testPKI
	pkiErr  error
)

func sharedPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = makePKI() })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiVal
}

var serial int64 = 1000

func nextSerial() *big.Int { serial++; return big.NewInt(serial) }

func makePKI() (*testPKI, error) {
	p := &testPKI{}
	var err error
	for _, k := range []**rsa.PrivateKey{&p.caKey, &p.hostKey, &p.userKey, &p.proxyKey, &p.otherKey} {
		if *k, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	caT := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{Organization: []string{"GSI Test"}, CommonName: "GSI  Test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	if p.ca, err = mkCert(caT, caT, &p.caKey.PublicKey, p.caKey); err != nil {
		return nil, err
	}
	if p.host, err = p.hostCert("localhost", []string{"localhost"}, p.hostKey, now.Add(24*time.Hour)); err != nil {
		return nil, err
	}
	userT := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{Organization: []string{"GSI Test"}, CommonName: "Test User"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, BasicConstraintsValid: true,
	}
	if p.user, err = mkCert(userT, p.ca, &p.userKey.PublicKey, p.caKey); err != nil {
		return nil, err
	}
	if p.proxy, err = mkProxy(p.user, p.userKey, &p.proxyKey.PublicKey, now.Add(-time.Minute), now.Add(12*time.Hour)); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *testPKI) hostCert(cn string, sans []string, key *rsa.PrivateKey, notAfter time.Time) (*x509.Certificate, error) {
	t := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{Organization: []string{"GSI Test"}, CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, DNSNames: sans,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return mkCert(t, p.ca, &key.PublicKey, p.caKey)
}

func mkCert(tmpl, parent *x509.Certificate, pub *rsa.PublicKey, signer *rsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// mkProxy issues an RFC 3820 proxy (subject = issuer + CN=<serial>,
// critical ProxyCertInfo with id-ppl-inheritAll).
func mkProxy(issuer *x509.Certificate, issuerKey *rsa.PrivateKey, pub *rsa.PublicKey, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(issuer.RawSubject, &rdns); err != nil {
		return nil, err
	}
	sn := nextSerial()
	rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{Type: oidCommonName, Value: sn.String()}})
	raw, err := asn1.Marshal(rdns)
	if err != nil {
		return nil, err
	}
	type proxyPolicy struct{ Lang asn1.ObjectIdentifier }
	pci, err := asn1.Marshal(struct{ Policy proxyPolicy }{proxyPolicy{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 21, 1}}})
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{
		SerialNumber: sn, RawSubject: raw, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtraExtensions: []pkix.Extension{{Id: oidProxyCertInfo, Critical: true, Value: pci}},
	}
	return mkCert(t, issuer, pub, issuerKey)
}

func (p *testPKI) cred() *Credential {
	return &Credential{Chain: []*x509.Certificate{p.proxy, p.user}, Key: p.proxyKey}
}

// caDir writes a hashed CA directory holding the given CAs (and CRLs).
func writeCADir(t testing.TB, cas []*x509.Certificate, crls map[*x509.Certificate][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for _, ca := range cas {
		h, err := SubjectHash(ca.RawSubject)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, fmt.Sprintf("%08x.0", h))
		if err := os.WriteFile(name, pemCert(ca), 0o644); err != nil {
			t.Fatal(err)
		}
		if crl, ok := crls[ca]; ok {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%08x.r0", h)), crl, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func writeProxyFile(t testing.TB, dir string, chain []*x509.Certificate, key *rsa.PrivateKey, mode os.FileMode) string {
	t.Helper()
	var b bytes.Buffer
	b.Write(pemCert(chain[0]))
	_ = pem.Encode(&b, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	for _, c := range chain[1:] {
		b.Write(pemCert(c))
	}
	name := filepath.Join(dir, "proxy.pem")
	if err := os.WriteFile(name, b.Bytes(), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
	return name
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func mustMarshalDH(t testing.TB, p, g *big.Int) []byte {
	t.Helper()
	der, err := asn1.Marshal(struct{ P, G *big.Int }{p, g})
	if err != nil {
		t.Fatal(err)
	}
	return der
}
