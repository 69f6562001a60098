package gsi

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The 112-byte kXGC_certreq captured in GSI.md §3.1 (rtag "jaCHtgWG").
// The 112-byte kXGC_certreq captured in GSI.md §3.1 (rtag "jaCHtgWG").
const goldenCertReq = "" +
	"67736900000003e800000bb800000003" +
	"73736c00000bc6000000040000296800" +
	"000bcf0000001566623132333536662e" +
	"307c66326261636166662e3000000bcb" +
	"000000040000008000000bb90000001c" +
	"67736900000003e800000bbe00000008" +
	"6a614348746757470000000000000000"

func TestCertReqGolden(t *testing.T) {
	want, err := hex.DecodeString(goldenCertReq)
	if err != nil {
		t.Fatal(err)
	}
	main := newBuffer(stepCertReq)
	main.add(bktRtag, []byte("jaCHtgWG"))
	b := newBuffer(stepCertReq)
	b.addString(bktCryptoMod, "ssl")
	b.addInt(bktVersion, 10600)
	b.addString(bktIssuerHash, "fb12356f.0|f2bacaff.0")
	b.addInt(bktClntOpts, 0x80)
	b.add(bktMain, main.marshal())
	got := b.marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("certreq bytes differ:\n got %x\nwant %x", got, want)
	}
	// And back.
	p, err := parseBuffer(want)
	if err != nil {
		t.Fatal(err)
	}
	if p.proto != "gsi" || p.step != stepCertReq || len(p.buckets) != 5 {
		t.Fatalf("parsed %+v", p)
	}
	if v, _ := p.getInt(bktVersion); v != 10600 {
		t.Errorf("version %d", v)
	}
	m, _ := p.get(bktMain)
	inner, err := parseBuffer(m)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := inner.get(bktRtag); string(r) != "jaCHtgWG" {
		t.Errorf("rtag %q", r)
	}
}

func TestBufferRoundTrip(t *testing.T) {
	b := newBuffer(stepSrvCert)
	b.add(bktX509, bytes.Repeat([]byte{0xab}, 3000))
	b.add(bktInactive, []byte("dropped"))
	b.add(4711, []byte{}) // unknown type, empty
	b.addString(bktMessage, "hello")
	b.add(bktMessage, []byte("second of same type"))
	p, err := parseBuffer(b.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.buckets) != 4 {
		t.Fatalf("got %d buckets, want 4 (inactive dropped)", len(p.buckets))
	}
	if m, _ := p.get(bktMessage); string(m) != "hello" {
		t.Errorf("first bucket of a type must win, got %q", m)
	}
	if d, ok := p.get(4711); !ok || len(d) != 0 {
		t.Errorf("unknown bucket not kept")
	}
	// Truncations never panic and fail cleanly.
	full := b.marshal()
	for i := 0; i < len(full)-4; i += 7 {
		if _, err := parseBuffer(full[:i]); err == nil && i < 12 {
			t.Errorf("prefix of %d bytes accepted", i)
		}
	}
}

func TestRSARawRoundTrip(t *testing.T) {
	pki := sharedPKI(t)
	key := pki.hostKey
	for _, n := range []int{1, 8, key.Size() - 11, key.Size() - 10, 304, 1000} {
		msg := make([]byte, n)
		_, _ = rand.Read(msg)
		sig, err := rsaPrivateEncrypt(rand.Reader, key, msg)
		if err != nil {
			t.Fatal(err)
		}
		chunks := (n + key.Size() - 12) / (key.Size() - 11)
		if len(sig) != chunks*key.Size() {
			t.Errorf("%d bytes: signature of %d bytes, want %d blocks", n, len(sig), chunks)
		}
		got, err := rsaPublicDecrypt(&key.PublicKey, sig)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: round trip failed: %v", n, err)
		}
		if err := checkSigned(&pki.otherKey.PublicKey, sig, msg); err == nil {
			t.Errorf("%d bytes: accepted with the wrong key", n)
		}
	}
	// Matches OpenSSL's raw signature primitive for one chunk:
	// `openssl pkeyutl -sign` without digest is the same type-1 padding.
	if _, err := exec.LookPath("openssl"); err == nil {
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "k.pem")
		writeKey(t, keyFile, key)
		msg := []byte("jaCHtgWG")
		in := filepath.Join(dir, "in")
		_ = os.WriteFile(in, msg, 0o600)
		out, err := exec.Command("openssl", "pkeyutl", "-sign", "-inkey", keyFile, "-in", in).Output()
		if err != nil {
			t.Fatalf("openssl pkeyutl: %v", err)
		}
		mine, _ := rsaPrivateEncrypt(rand.Reader, key, msg)
		if !bytes.Equal(out, mine) {
			t.Errorf("differs from openssl pkeyutl -sign")
		}
	}
}

func writeKey(t *testing.T, name string, key *rsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, pemBlock("PRIVATE KEY", der), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDHBlob(t *testing.T) {
	p, _ := testPrime(512)
	s := &fakeServer{p: p, g: big.NewInt(5)}
	der := mustMarshalDH(t, p, s.g)
	pemText := pemBlock("DH PARAMETERS", der)
	y := new(big.Int).Exp(s.g, big.NewInt(123456789), p)
	blob := buildDHBlob(pemText, y)
	if !bytes.HasSuffix(blob, []byte("---EPUB---")) || bytes.ContainsRune(blob, 0) {
		t.Fatalf("blob ends %q", blob[len(blob)-20:])
	}
	if hexPart := string(blob[bytes.Index(blob, []byte("---BPUB---"))+10 : len(blob)-10]); hexPart != strings.ToUpper(hexPart) || len(hexPart)%2 != 0 {
		t.Errorf("public value %q is not upper-case whole-byte hex", hexPart)
	}
	grp, y2, err := parseDHBlob(blob)
	if err != nil {
		t.Fatal(err)
	}
	if grp.p.Cmp(p) != 0 || grp.g.Int64() != 5 || y2.Cmp(y) != 0 || !bytes.Equal(grp.pem, pemText) {
		t.Fatal("blob round trip mismatch")
	}
	if err := grp.check(y2, 512); err != nil {
		t.Errorf("check: %v", err)
	}
	if err := grp.check(y2, 1024); err == nil {
		t.Errorf("512-bit group accepted with MinDHBits 1024")
	}
	pm1 := new(big.Int).Sub(p, big.NewInt(1))
	for _, bad := range []*big.Int{big.NewInt(0), big.NewInt(1), pm1, p} {
		if err := grp.check(bad, 512); err == nil {
			t.Errorf("Y = %v accepted", bad)
		}
	}
	for _, b := range []string{"", "---BPUB---AB---EPUB---", string(pemText) + "---BPUB---XYZ---EPUB---", string(pemText) + "---BPUB---AB"} {
		if _, _, err := parseDHBlob([]byte(b)); err == nil {
			t.Errorf("blob %q accepted", b)
		}
	}
}

// TestDHLeadingZero checks that padded and unpadded secrets differ exactly
// by the leading zero bytes, and that the session keys then differ.
func TestDHLeadingZero(t *testing.T) {
	p, _ := testPrime(512)
	g := big.NewInt(5)
	y := new(big.Int).Exp(g, big.NewInt(987654321), p)
	x, err := leadingZeroExp(t)(p, y)
	if err != nil {
		t.Fatal(err)
	}
	padded := sharedSecret(p, x, y, true)
	raw := sharedSecret(p, x, y, false)
	if len(padded) != 64 || padded[0] != 0 || len(raw) >= 64 || !bytes.Equal(padded[64-len(raw):], raw) {
		t.Fatalf("padded %x\nraw %x", padded, raw)
	}
	a, _ := newSessionCipher("aes-128-cbc", padded)
	b, _ := newSessionCipher("aes-128-cbc", raw)
	enc, _ := a.encrypt(rand.Reader, []byte("secret main buffer"))
	if got, err := b.decrypt(enc); err == nil && string(got) == "secret main buffer" {
		t.Error("unpadded key decrypts what the padded key encrypted")
	}
	if got, err := a.decrypt(enc); err != nil || string(got) != "secret main buffer" {
		t.Errorf("round trip: %q %v", got, err)
	}
}

func TestSessionCipher(t *testing.T) {
	z := bytes.Repeat([]byte{7}, 64)
	for name := range cipherKeyLen {
		c, err := newSessionCipher(name, z)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 15, 16, 17, 5154} {
			msg := bytes.Repeat([]byte{'m'}, n)
			enc, err := c.encrypt(rand.Reader, msg)
			if err != nil {
				t.Fatal(err)
			}
			if want := ivLen + (n/16+1)*16; len(enc) != want {
				t.Errorf("%s %d: %d bytes, want %d", name, n, len(enc), want)
			}
			got, err := c.decrypt(enc)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("%s %d: %v", name, n, err)
			}
		}
	}
	if _, err := newSessionCipher("bf-cbc", z); err == nil {
		t.Error("bf-cbc accepted")
	}
	if got := pickFirst("bf-cbc:aes-128-cbc#16:aes-256-cbc", func(s string) bool { _, ok := cipherKeyLen[s]; return ok }); got != "aes-128-cbc" {
		t.Errorf("pickFirst = %q", got)
	}
}

// TestSubjectHashesOpenSSL compares both hashes with openssl on
// certificates whose names exercise canonicalisation: case, runs of
// spaces, leading/trailing blanks, T61/BMP/UTF8 strings, multi-valued RDNs.
func TestSubjectHashesOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not installed")
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k.pem")
	writeKey(t, keyFile, sharedPKI(t).otherKey)
	for i, tc := range []struct {
		subj string
		args []string
	}{
		{subj: "/DC=org/DC=gridprobe/CN=gridprobe Test CA"},
		{subj: "/C=CH/O=CERN  Grid/OU=  Some   Unit  /CN=Mixed CASE\tName"},
		{subj: "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe/CN=123456/CN=John Doe"},
		{subj: "/C=DE/O=Grüne Grid/CN=Jörg  Ünïcode", args: []string{"-utf8"}},
		{subj: "/C=JP/O=日本 Grid/CN=名前 User", args: []string{"-utf8"}},
		{subj: "/O=Multi/CN=Alpha+UID=ZED  user", args: []string{"-multivalue-rdn"}},
		{subj: "/emailAddress=Someone@Example.ORG/CN=Email Holder"},
	} {
		for _, mask := range []string{"utf8only", "default", "nombstr", "pkix"} {
			cnf := filepath.Join(dir, "req.cnf")
			_ = os.WriteFile(cnf, []byte("[req]\ndistinguished_name=dn\nstring_mask="+mask+"\n[dn]\n"), 0o600)
			name := filepath.Join(dir, fmt.Sprintf("c%d-%s.pem", i, mask))
			args := append([]string{"req", "-x509", "-key", keyFile,
				"-out", name, "-days", "1", "-subj", tc.subj, "-config", cnf}, tc.args...)
			if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
				if mask == "nombstr" && strings.Contains(tc.subj, "日本") {
					continue // not representable without BMPString
				}
				t.Fatalf("openssl req %s (%s): %v\n%s", tc.subj, mask, err, out)
			}
			out, err := exec.Command("openssl", "x509", "-in", name, "-noout", "-subject_hash", "-subject_hash_old").Output()
			if err != nil {
				t.Fatal(err)
			}
			f := strings.Fields(string(out))
			data, _ := os.ReadFile(name)
			certs := parseCerts(data)
			if len(certs) != 1 || len(f) != 2 {
				t.Fatalf("%s: %d certs, openssl said %q", name, len(certs), out)
			}
			h, err := SubjectHash(certs[0].RawSubject)
			if err != nil {
				t.Fatalf("%s (%s): %v", tc.subj, mask, err)
			}
			if got := fmt.Sprintf("%08x", h); got != f[0] {
				t.Errorf("%q (%s): new hash %s, openssl %s", tc.subj, mask, got, f[0])
			}
			if got := fmt.Sprintf("%08x", SubjectHashOld(certs[0].RawSubject)); got != f[1] {
				t.Errorf("%q (%s): old hash %s, openssl %s", tc.subj, mask, got, f[1])
			}
		}
	}
}

func TestCanonString(t *testing.T) {
	for in, want := range map[string]string{
		"  Mixed   CASE\t\nName  ": "mixed case name",
		"ÄBC":                      "Äbc",
		"":                         "",
		" \t ":                     "",
	} {
		if got := string(canonString([]byte(in))); got != want {
			t.Errorf("canon(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHostPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern, host string
		want          bool
	}{
		{"localhost", "localhost", true},
		{"LocalHost", "localhost", true},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "example.com", false},
		{"f*.com", "foo.com", true},
		{"f*.com", "bar.com", false},
		{"a.*.com", "a.b.com", false},
		{"*.0.0.1", "127.0.0.1", false},
		{"127.0.0.1", "127.0.0.1", true},
	} {
		if got := matchHostPattern(tc.pattern, normalizeHost(tc.host)); got != tc.want {
			t.Errorf("match(%q, %q) = %v", tc.pattern, tc.host, got)
		}
	}
	if normalizeHost("[::1]:1094") != "::1" || normalizeHost("Host.Example.:1094") != "host.example" {
		t.Error("normalizeHost")
	}
}

func TestClassifyServerError(t *testing.T) {
	for msg, want := range map[string]string{
		"Secgsi: ErrParseBuffer: unknown CA: cannot verify client credentials: kXGC_certreq":                               ClassClientCAUnknown,
		"Secgsi: ErrParseBuffer: certificate chain verification failed: Proxy: certificate expired: kXGC_cert":             ClassProxyExpired,
		"Secgsi: ErrParseBuffer: certificate chain verification failed: Proxy: signature verification failed: kXGC_cert":   ClassChainSignature,
		"Secgsi: ErrBadRndmTag: kXGC_cert: error decrypting random tag with public key":                                    ClassProofOfPossession,
		"Secgsi: ErrParseBuffer: client public key does not match the one from the bucket!: kXGC_cert":                     ClassProofOfPossession,
		"Secgsi: ErrParseBuffer: error decrypting main buffer with session cipher: kXGC_cert":                              ClassSessionKey,
		"Secgsi: ErrParseBuffer: certificate chain verification failed: :chain is inconsistent: kXGC_cert":                 ClassChainInconsistent,
		"Secgsi: ErrParseBuffer: unsupported cipher chosen by the client: kXGC_cert":                                       ClassCipherMismatch,
		"Secgsi: ErrParseBuffer: unsupported MD chosen by the client: kXGC_cert":                                           ClassDigestMismatch,
		"Secgsi: ErrParseBuffer: cache entry expired: kXGC_cert":                                                           ClassTimeout,
		"Secgsi: ErrParseBuffer: wrong number of certificates in received bucket (received: 1, expected: >= 2): kXGC_cert": ClassChainRejected,
		"Secgsi: ErrParseBuffer: certificate chain verification failed: EEC: certificate has been revoked: kXGC_cert":      ClassChainRevoked,
		"Secgsi: ErrError: something new":                             ClassProtocol,
		"security protocol 'ztn' disallowed for non-TLS connections.": ClassUnknown,
	} {
		if got := ClassifyServerError(msg); got != want {
			t.Errorf("ClassifyServerError(%q) = %q, want %q", msg, got, want)
		}
	}
}

func TestPublicKeyPEMLayout(t *testing.T) {
	pki := sharedPKI(t)
	b, err := publicKeyPEM(&pki.proxyKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if lines[0] != "-----BEGIN PUBLIC KEY-----" || lines[len(lines)-1] != "" || bytes.ContainsRune(b, 0) {
		t.Fatalf("layout: %q", b)
	}
	for _, l := range lines[1 : len(lines)-3] {
		if len(l) != 64 {
			t.Errorf("line of %d characters", len(l))
		}
	}
	// Byte-identical to OpenSSL's PEM_write_bio_PUBKEY.
	dir := t.TempDir()
	writeKey(t, filepath.Join(dir, "k.pem"), pki.proxyKey)
	out, err := exec.Command("openssl", "pkey", "-in", filepath.Join(dir, "k.pem"), "-pubout").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, b) {
		t.Errorf("differs from openssl pkey -pubout:\n%s\n%s", out, b)
	}
}
