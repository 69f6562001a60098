package gsi

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func newTestAuth(t testing.TB, pki *testPKI, mut func(*Config)) *Authenticator {
	t.Helper()
	cfg := Config{Credential: pki.cred(), CADir: writeCADir(t, []*x509.Certificate{pki.ca}, nil)}
	if mut != nil {
		mut(&cfg)
	}
	return New(cfg)
}

// leadingZeroExp returns a hook choosing x so that y^x mod p has a
// leading zero byte when padded to |p|.
func leadingZeroExp(t testing.TB) func(p, y *big.Int) (*big.Int, error) {
	return func(p, y *big.Int) (*big.Int, error) {
		for i := 0; i < 100000; i++ {
			x, err := genPrivate(rand.Reader, p)
			if err != nil {
				return nil, err
			}
			if z := sharedSecret(p, x, y, true); z[0] == 0 {
				return x, nil
			}
		}
		t.Fatal("no leading-zero secret found")
		return nil, nil
	}
}

func TestExchangeOK(t *testing.T) {
	pki := sharedPKI(t)
	s := newFakeServer(t, pki, 512)
	var logs []string
	a := newTestAuth(t, pki, func(c *Config) {
		c.Logf = func(f string, args ...any) { logs = append(logs, f) }
	})
	if err := runExchange(t, a, s, "localhost:1094"); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	r := a.Result()
	if r.Cipher != "aes-128-cbc" || r.Digest != "sha1" || r.DHBits != 512 || !r.WeakDH || !r.Padded || r.CryptoModule != "ssl" {
		t.Errorf("result = %+v", r)
	}
	if !strings.Contains(r.ServerSubject, "CN=localhost") || r.Delegation != "" {
		t.Errorf("result = %+v", r)
	}
	if len(logs) == 0 || !strings.Contains(logs[0], "weak") {
		t.Errorf("weak DH group not logged: %q", logs)
	}
	// The chain sent: proxy then user certificate, no CA, no key.
	if len(s.gotChain) != 2 || !s.gotChain[0].Equal(pki.proxy) || !s.gotChain[1].Equal(pki.user) {
		t.Errorf("server received chain of %d certificates", len(s.gotChain))
	}
	if got := []int32{stepCertReq, stepCert}; len(s.steps) != 2 || s.steps[0] != got[0] || s.steps[1] != got[1] {
		t.Errorf("steps = %v", s.steps)
	}
}

func TestExchangeNewerServer(t *testing.T) {
	pki := sharedPKI(t)
	s := newFakeServer(t, pki, 1024)
	s.mdList = "sha256"
	s.cipherList = "bf-cbc:aes-256-cbc:aes-128-cbc"
	a := newTestAuth(t, pki, nil)
	if err := runExchange(t, a, s, "localhost"); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if r := a.Result(); r.Digest != "sha256" || r.Cipher != "aes-256-cbc" || r.DHBits != 1024 {
		t.Errorf("result = %+v", r)
	}
}

func TestExchangeDHPadding(t *testing.T) {
	pki := sharedPKI(t)
	f := false
	for _, tc := range []struct {
		name    string
		modules string
		force   *bool
		noPad   bool // server does not pad
		wantErr string
	}{
		{name: "ssl padded", modules: "ssl"},
		{name: "sslnopad offered", modules: "sslnopad"},
		{name: "client nopad", modules: "ssl", force: &f},
		{name: "mismatch", modules: "ssl", noPad: true, wantErr: "error decrypting main buffer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t, pki, 512)
			s.modules, s.noPad = tc.modules, tc.noPad
			a := newTestAuth(t, pki, nil)
			a.dhPrivate = leadingZeroExp(t)
			a.forcePad = tc.force
			err := runExchange(t, a, s, "localhost")
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("exchange: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if c := ClassifyServerError(err.Error()); c != ClassSessionKey {
				t.Errorf("class = %q", c)
			}
		})
	}
}

func TestExchangeDelegationRefused(t *testing.T) {
	pki := sharedPKI(t)
	s := newFakeServer(t, pki, 512)
	s.delegate = true
	a := newTestAuth(t, pki, nil)
	if err := runExchange(t, a, s, "localhost"); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if a.Result().Delegation != "refused" || s.gotMessage != refuseMessage {
		t.Errorf("delegation = %q, message %q", a.Result().Delegation, s.gotMessage)
	}
	if len(s.steps) != 3 || s.steps[2] != stepSigPxy {
		t.Errorf("steps = %v", s.steps)
	}
}

func TestExchangeFailures(t *testing.T) {
	pki := sharedPKI(t)
	// A CA with the same name as the real one but another key.
	fakeCA, err := mkCert(&x509.Certificate{SerialNumber: big.NewInt(7), Subject: pki.ca.Subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, &x509.Certificate{Subject: pki.ca.Subject}, &pki.otherKey.PublicKey, pki.otherKey)
	if err != nil {
		t.Fatal(err)
	}
	otherHost, err := pki.hostCert("otherhost.example.org", []string{"otherhost.example.org"}, pki.hostKey, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expiredHost, err := pki.hostCert("localhost", []string{"localhost"}, pki.hostKey, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: pki.host.SerialNumber, RevocationTime: time.Now()}}}, pki.ca, pki.caKey)
	if err != nil {
		t.Fatal(err)
	}
	crlPEM := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crlDER})

	for _, tc := range []struct {
		name   string
		server func(*fakeServer)
		cfg    func(*Config)
		host   string
		want   error
		class  string
	}{
		{name: "unknown CA (empty dir)", cfg: func(c *Config) { c.CADir = t.TempDir() }, want: ErrUnknownCA, class: "unknown-ca"},
		{name: "unknown CA (same name, other key)", cfg: func(c *Config) { c.CADir = writeCADir(t, []*x509.Certificate{fakeCA}, nil) }, want: ErrUnknownCA},
		{name: "host mismatch IP", host: "127.0.0.1", want: ErrHostNameMismatch, class: "host-name-mismatch"},
		{name: "host mismatch cert", server: func(s *fakeServer) { s.hostCert = otherHost }, want: ErrHostNameMismatch},
		{name: "expired server cert", server: func(s *fakeServer) { s.hostCert = expiredHost }, want: ErrServerCertInvalid},
		{name: "revoked server cert", cfg: func(c *Config) {
			c.CADir = writeCADir(t, []*x509.Certificate{pki.ca}, map[*x509.Certificate][]byte{pki.ca: crlPEM})
		}, want: ErrServerCertRevoked},
		{name: "expired proxy", cfg: func(c *Config) { c.Clock = func() time.Time { return time.Now().Add(13 * time.Hour) } }, want: ErrProxyExpired, class: "proxy-expired"},
		{name: "cipher mismatch", server: func(s *fakeServer) { s.cipherList = "bf-cbc:des-ede3-cbc" }, want: ErrCipherMismatch, class: "cipher-mismatch"},
		{name: "digest mismatch", server: func(s *fakeServer) { s.mdList = "whirlpool" }, want: ErrDigestMismatch},
		{name: "weak DH refused", cfg: func(c *Config) { c.MinDHBits = 1024 }, want: ErrWeakDH},
		{name: "bad server rtag signature", server: func(s *fakeServer) { s.badRtagSig = true }, want: ErrServerProof},
		{name: "old server", server: func(s *fakeServer) { s.version = 10300 }, want: ErrUnsupportedServer},
		{name: "no crypto module", server: func(s *fakeServer) { s.modules = "gcrypt" }, want: ErrUnsupportedServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t, pki, 512)
			if tc.server != nil {
				tc.server(s)
			}
			a := newTestAuth(t, pki, tc.cfg)
			host := tc.host
			if host == "" {
				host = "localhost"
			}
			err := runExchange(t, a, s, host)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.class != "" && ErrorClass(err) != tc.class {
				t.Errorf("class = %q, want %q", ErrorClass(err), tc.class)
			}
		})
	}
}

func TestSkipHostNameCheck(t *testing.T) {
	pki := sharedPKI(t)
	s := newFakeServer(t, pki, 512)
	a := newTestAuth(t, pki, func(c *Config) { c.SkipHostNameCheck = true })
	if err := runExchange(t, a, s, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	s = newFakeServer(t, pki, 512)
	// ExtraServerNames name the certificate (XrdSecGSISRVNAMES): a server
	// reached by IP with a certificate for localhost is accepted when
	// "localhost" is allowed ...
	a = newTestAuth(t, pki, func(c *Config) { c.ExtraServerNames = []string{"localhost"} })
	if err := runExchange(t, a, s, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	// ... but allowing the dialed host itself does not waive the check of
	// the certificate's names.
	s = newFakeServer(t, pki, 512)
	a = newTestAuth(t, pki, func(c *Config) { c.ExtraServerNames = []string{"127.0.0.1", "*.example.org"} })
	if err := runExchange(t, a, s, "127.0.0.1"); !errors.Is(err, ErrHostNameMismatch) {
		t.Fatalf("extra names not naming the certificate: %v, want ErrHostNameMismatch", err)
	}
}

func TestProxyFile(t *testing.T) {
	pki := sharedPKI(t)
	dir := t.TempDir()
	name := writeProxyFile(t, dir, []*x509.Certificate{pki.proxy, pki.user}, pki.proxyKey, 0o600)
	s := newFakeServer(t, pki, 512)
	a := newTestAuth(t, pki, func(c *Config) { c.Credential = nil; c.ProxyFile = name })
	if err := runExchange(t, a, s, "localhost"); err != nil {
		t.Fatal(err)
	}
	name = writeProxyFile(t, dir, []*x509.Certificate{pki.proxy, pki.user}, pki.proxyKey, 0o644)
	a = newTestAuth(t, pki, func(c *Config) { c.Credential = nil; c.ProxyFile = name })
	if err := runExchange(t, a, s, "localhost"); !errors.Is(err, ErrCredential) || !strings.Contains(err.Error(), "group or others") {
		t.Fatalf("world-readable proxy: err = %v", err)
	}
	// Wrong key for the leaf.
	name = writeProxyFile(t, dir, []*x509.Certificate{pki.proxy, pki.user}, pki.otherKey, 0o600)
	if _, err := LoadProxyFile(name); !errors.Is(err, ErrCredential) {
		t.Fatalf("mismatched key: err = %v", err)
	}
	// A CA certificate in the file is not sent.
	name = writeProxyFile(t, dir, []*x509.Certificate{pki.proxy, pki.user, pki.ca}, pki.proxyKey, 0o600)
	c, err := LoadProxyFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.sendChain(); len(got) != 2 {
		t.Errorf("sendChain has %d certificates, want 2", len(got))
	}
}

func TestUnexpectedMessages(t *testing.T) {
	pki := sharedPKI(t)
	a := newTestAuth(t, pki, nil)
	if _, err := a.Continue(t.Context(), nil); !errors.Is(err, ErrProtocol) {
		t.Errorf("Continue before Start: %v", err)
	}
}
