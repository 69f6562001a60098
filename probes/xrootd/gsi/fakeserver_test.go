package gsi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
)

// fakeServer is a minimal server side of XrdSecgsi for in-process tests,
// mirroring the checks of the real server (GSI.md §3.5) and its failures.
type fakeServer struct {
	hostKey    *rsa.PrivateKey
	hostCert   *x509.Certificate
	ca         *x509.Certificate
	p, g       *big.Int
	x, y       *big.Int
	dhPEM      []byte
	cipherList string
	mdList     string
	version    int
	modules    string // c: in the login token
	noPad      bool   // server does not pad even if the client says "ssl"
	delegate   bool   // send kXGS_pxyreq after kXGC_cert
	badRtagSig bool   // sign a wrong tag in kXGS_cert

	// exchange state
	rtagS1, rtagS2, rtagC2 []byte
	clientMod              string
	clientPub              *rsa.PublicKey
	sc                     *sessionCipher
	gotMessage             string
	gotChain               []*x509.Certificate
	steps                  []int32
}

func newFakeServer(t testing.TB, pki *testPKI, dhBits int) *fakeServer {
	t.Helper()
	p, err := testPrime(dhBits)
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{hostKey: pki.hostKey, hostCert: pki.host, ca: pki.ca, p: p, g: big.NewInt(5),
		cipherList: "aes-128-cbc:bf-cbc:des-ede3-cbc", mdList: "sha1:md5", version: 10600, modules: "ssl"}
	der, err := asn1.Marshal(struct{ P, G *big.Int }{s.p, s.g})
	if err != nil {
		t.Fatal(err)
	}
	s.dhPEM = pem.EncodeToMemory(&pem.Block{Type: "DH PARAMETERS", Bytes: der})
	if s.x, err = genPrivate(rand.Reader, s.p); err != nil {
		t.Fatal(err)
	}
	s.y = new(big.Int).Exp(s.g, s.x, s.p)
	return s
}

var primes = map[int]*big.Int{}

// testPrime returns a random prime of the size (not a safe prime: enough
// for the client's checks, and quick).
func testPrime(bits int) (*big.Int, error) {
	if p, ok := primes[bits]; ok {
		return p, nil
	}
	p, err := rand.Prime(rand.Reader, bits)
	if err != nil {
		return nil, err
	}
	primes[bits] = p
	return p, nil
}

func (s *fakeServer) params() string {
	h, _ := nameHashes(s.hostCert.RawIssuer)
	return fmt.Sprintf("v:%d,c:%s,ca:%s", s.version, s.modules, h)
}

// auth answers one kXR_auth: status 0 (ok), 4002 (authmore) or 4003 (error).
func (s *fakeServer) auth(cred []byte) (int, []byte, error) {
	in, err := parseBuffer(cred)
	if err != nil {
		return 4003, nil, fmt.Errorf("Secgsi: ErrParseBuffer: %v", err)
	}
	s.steps = append(s.steps, in.step)
	switch in.step {
	case stepCertReq:
		return s.onCertReq(in)
	case stepCert:
		return s.onCert(in)
	case stepSigPxy:
		return s.onSigPxy(in)
	}
	return 4003, nil, fmt.Errorf("Secgsi: ErrBadProtocol: step %d", in.step)
}

func fail(format string, a ...any) (int, []byte, error) {
	return 4003, nil, fmt.Errorf("Secgsi: ErrParseBuffer: "+format, a...)
}

func (s *fakeServer) onCertReq(in *sutBuffer) (int, []byte, error) {
	mod, ok := in.get(bktCryptoMod)
	if !ok {
		return fail("crypto module specification missing: kXGC_certreq")
	}
	s.clientMod = string(mod)
	if v, _ := in.getInt(bktVersion); v != 10600 {
		return fail("bad version %d", v)
	}
	ih, _ := in.get(bktIssuerHash)
	want, _ := nameHashes(s.ca.RawSubject)
	if string(ih) != want {
		return fail("unknown CA: cannot verify client credentials: kXGC_certreq")
	}
	if o, _ := in.getInt(bktClntOpts); o != optCreatePxy {
		return fail("options %#x", o)
	}
	md, _ := in.get(bktMain)
	main, err := parseBuffer(md)
	if err != nil {
		return fail("main: %v", err)
	}
	rtag, ok := main.get(bktRtag)
	if !ok {
		return fail("random tag missing - protocol error: kXGC_certreq")
	}
	if s.badRtagSig {
		rtag = []byte("XXXXXXXX")
	}
	sig, err := rsaPrivateEncrypt(rand.Reader, s.hostKey, rtag)
	if err != nil {
		return fail("%v", err)
	}
	s.rtagS1 = []byte("srvTag01")
	om := newBuffer(stepSrvCert)
	om.add(bktSignedRtag, sig)
	om.add(bktRtag, s.rtagS1)
	sigDH, err := rsaPrivateEncrypt(rand.Reader, s.hostKey, buildDHBlob(s.dhPEM, s.y))
	if err != nil {
		return fail("%v", err)
	}
	out := newBuffer(stepSrvCert)
	out.add(bktCryptoMod, mod)
	out.add(bktMain, om.marshal())
	out.add(bktCipher, sigDH)
	out.addString(bktCipherAlg, s.cipherList)
	out.addString(bktMdAlg, s.mdList)
	out.add(bktX509, pemCert(s.hostCert))
	return 4002, out.marshal(), nil
}

func (s *fakeServer) onCert(in *sutBuffer) (int, []byte, error) {
	ca, _ := in.get(bktCipherAlg)
	name, _, _ := strings.Cut(string(ca), "#")
	if !strings.Contains(":"+s.cipherList+":", ":"+name+":") {
		return fail("unsupported cipher chosen by the client: kXGC_cert")
	}
	puk, ok := in.get(bktPuk)
	if !ok {
		return fail("bucket with client public key missing: kXGC_cert")
	}
	blk, _ := pem.Decode(puk)
	if blk == nil {
		return fail("bad puk")
	}
	pk, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return fail("puk: %v", err)
	}
	s.clientPub = pk.(*rsa.PublicKey)
	sigDH, _ := in.get(bktCipher)
	blob, err := rsaPublicDecrypt(s.clientPub, sigDH)
	if err != nil {
		return fail("decrypting client DH public parameters: kXGC_cert")
	}
	_, yc, err := parseDHBlob(blob)
	if err != nil {
		return fail("decrypting client DH public parameters: kXGC_cert")
	}
	padded := s.clientMod == "ssl" && !s.noPad
	z := sharedSecret(s.p, s.x, yc, padded)
	if s.sc, err = newSessionCipher(name, z); err != nil {
		return fail("cannot finalize session cipher: kXGC_cert")
	}
	enc, _ := in.get(bktMain)
	plain, err := s.sc.decrypt(enc)
	if err != nil {
		return fail("error decrypting main buffer with session cipher: kXGC_cert")
	}
	main, err := parseBuffer(plain)
	if err != nil {
		return fail("error decrypting main buffer with session cipher: kXGC_cert")
	}
	x5, ok := main.get(bktX509)
	if !ok {
		return fail("client certificate missing: kXGC_cert")
	}
	chain := parseCerts(x5)
	if len(chain) < 2 {
		return fail("wrong number of certificates in received bucket (received: %d, expected: >= 2): kXGC_cert", len(chain))
	}
	s.gotChain = chain
	for i, c := range chain {
		if c.IsCA {
			return fail("certificate chain verification failed: :chain is inconsistent: kXGC_cert")
		}
		parent := s.ca
		if i+1 < len(chain) {
			parent = chain[i+1]
		}
		if err := checkRawSig(c, parent); err != nil {
			return fail("certificate chain verification failed: Proxy: signature verification failed: kXGC_cert")
		}
	}
	want, _ := publicKeyPEM(chain[0].PublicKey.(*rsa.PublicKey))
	if !bytes.Equal(want, puk) {
		return fail("client public key does not match the one from the bucket!: kXGC_cert")
	}
	md, _ := in.get(bktMdAlg)
	if !strings.Contains(":"+s.mdList+":", ":"+string(md)+":") {
		return fail("unsupported MD chosen by the client: kXGC_cert")
	}
	sig, _ := main.get(bktSignedRtag)
	if err := checkSigned(s.clientPub, sig, s.rtagS1); err != nil {
		return 4003, nil, errors.New("Secgsi: ErrBadRndmTag: kXGC_cert: error decrypting random tag with public key")
	}
	s.rtagC2, _ = main.get(bktRtag)
	if !s.delegate {
		return 0, nil, nil
	}
	sig2, err := rsaPrivateEncrypt(rand.Reader, s.hostKey, s.rtagC2)
	if err != nil {
		return fail("%v", err)
	}
	s.rtagS2 = []byte("srvTag02")
	im := newBuffer(stepSrvPxyReq)
	im.add(bktSignedRtag, sig2)
	im.addString(bktX509Req, "-----BEGIN CERTIFICATE REQUEST-----\nMA==\n-----END CERTIFICATE REQUEST-----\n")
	im.add(bktRtag, s.rtagS2)
	encIm, err := s.sc.encrypt(rand.Reader, im.marshal())
	if err != nil {
		return fail("%v", err)
	}
	out := newBuffer(stepSrvPxyReq)
	out.addString(bktCryptoMod, s.clientMod)
	out.add(bktMain, encIm)
	return 4002, out.marshal(), nil
}

func checkRawSig(c, parent *x509.Certificate) error {
	return parent.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
}

func (s *fakeServer) onSigPxy(in *sutBuffer) (int, []byte, error) {
	enc, _ := in.get(bktMain)
	plain, err := s.sc.decrypt(enc)
	if err != nil {
		return fail("error decrypting main buffer with session cipher: kXGC_sigpxy")
	}
	main, err := parseBuffer(plain)
	if err != nil {
		return fail("main: %v", err)
	}
	sig, _ := main.get(bktSignedRtag)
	if err := checkSigned(s.clientPub, sig, s.rtagS2); err != nil {
		return 4003, nil, errors.New("Secgsi: ErrBadRndmTag: kXGC_sigpxy: random tag content mismatch")
	}
	msg, _ := main.get(bktMessage)
	s.gotMessage = string(msg)
	if _, ok := main.get(bktRtag); ok {
		return fail("unexpected rtag in kXGC_sigpxy")
	}
	return 0, nil, nil
}

// serverError is a kXR_error 3030 from the fake server.
type serverError struct{ msg string }

func (e *serverError) Error() string { return "server: [3030] " + e.msg }

// runExchange drives a through the kXR_auth loop against s.
func runExchange(t testing.TB, a *Authenticator, s *fakeServer, host string) error {
	t.Helper()
	ctx := context.Background()
	cred, err := a.Start(ctx, secproto.Server{Host: host, Params: s.params(), TLS: true})
	if err != nil {
		return err
	}
	for i := 0; i < 5; i++ {
		status, body, serr := s.auth(cred)
		switch status {
		case 0:
			return nil
		case 4003:
			return &serverError{serr.Error()}
		}
		if cred, err = a.Continue(ctx, body); err != nil {
			return err
		}
	}
	return errors.New("too many rounds")
}
