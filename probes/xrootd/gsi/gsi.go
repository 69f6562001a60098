// Package gsi is the client side of the XRootD GSI security protocol
// (XrdSecgsi, version 10600) in pure Go: the two kXR_auth round trips that
// prove possession of an X.509 (VOMS) proxy to an XRootD server and check
// the server's host certificate, as described in shared/xrootd/GSI.md.
//
// It implements secproto.Authenticator for the session layer. Everything a
// library would normally do is written by hand here because no Go library
// speaks GSI: the XrdSutBuffer codec, OpenSSL's raw RSA "private encrypt",
// the DH blob format and OpenSSL subject-name hashes (hashed CA
// directories). Only the standard library is used.
package gsi

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
)

const (
	protocolName = "gsi"
	// clientVersion is XrdSecgsiVERSION, sent in kXRS_version.
	clientVersion = 10600
	// minServerVersion: below it DH values travel unsigned and without IV.
	minServerVersion = 10400
	// optCreatePxy (kOptsCreatePxy): "I authenticate with a proxy".
	// Delegation bits 0x01, 0x02, 0x04 are never set.
	optCreatePxy = 0x80
	// DefaultMinDHBits accepts XRootD 5.5's 512-bit per-process group.
	DefaultMinDHBits = 512
	// StrongDHBits is the size below which Result.WeakDH is set.
	StrongDHBits = 2048
	// refuseMessage is what the C++ client says when refusing delegation.
	refuseMessage = "Not allowed to sign proxy requests"
)

// Config configures one authentication attempt.
type Config struct {
	// Credential is the client identity. If nil, ProxyFile is loaded.
	Credential *Credential
	// ProxyFile is a PEM proxy file; default $X509_USER_PROXY, then
	// /tmp/x509up_u<uid>.
	ProxyFile string
	// CADir is the hashed grid CA directory used to verify the server;
	// default $X509_CERT_DIR, then /etc/grid-security/certificates.
	CADir string
	// MinDHBits is the smallest DH prime accepted; default 512 so that
	// XRootD 5.5 servers work (Result.WeakDH reports it).
	MinDHBits int
	// SkipHostNameCheck disables the server host-name check (on by default).
	SkipHostNameCheck bool
	// ExtraServerNames are further name patterns accepted for the server
	// certificate, like XrdSecGSISRVNAMES (e.g. "*.example.org"): when the
	// certificate is not for the host dialed, one of its names (SAN DNS
	// names, else the CN) must match one of these.
	ExtraServerNames []string
	// Clock returns the current time; default time.Now.
	Clock func() time.Time
	// Rand is the randomness source; default crypto/rand.Reader.
	Rand io.Reader
	// Logf, if set, receives notes such as a weak DH group.
	Logf func(format string, args ...any)
}

// Result describes a completed (or partly completed) exchange.
type Result struct {
	ServerVersion  int       // GSI version from the login token (v:)
	CryptoModule   string    // "ssl" or "sslnopad", as announced
	Padded         bool      // DH secret left-padded to |p|
	DHBits         int       // size of the server's DH prime
	WeakDH         bool      // DHBits < StrongDHBits (XRootD < 5.6)
	Cipher         string    // chosen session cipher
	Digest         string    // chosen message digest
	ServerSubject  string    // server certificate subject, /-form
	ServerIssuer   string    // its issuer
	ServerNotAfter time.Time // its expiry
	ClientSubject  string    // subject of the credential's leaf
	Delegation     string    // "" (not asked) or "refused"
	Warnings       []string  // e.g. unusable CRL files
}

// Authenticator is the GSI client for one attempt; it implements
// secproto.Authenticator.
type Authenticator struct {
	cfg   Config
	state int
	res   Result

	cred      *Credential
	srvHost   string
	caHashes  []string
	rtagC1    []byte
	rtagC2    []byte
	serverKey *rsa.PublicKey
	cipher    *sessionCipher

	// Test hooks.
	dhPrivate func(p, peer *big.Int) (*big.Int, error)
	forcePad  *bool
	noExpiry  bool // skip the local validity check (to see the server's verdict)
}

const (
	stateNew = iota
	stateSentCertReq
	stateSentCert
	stateDone
	stateFailed
)

var _ secproto.Authenticator = (*Authenticator)(nil)

// New returns an Authenticator for one attempt. Configuration problems
// (missing proxy, ...) are reported by Start.
func New(cfg Config) *Authenticator {
	if cfg.MinDHBits == 0 {
		cfg.MinDHBits = DefaultMinDHBits
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.CADir == "" {
		cfg.CADir = os.Getenv("X509_CERT_DIR")
		if cfg.CADir == "" {
			cfg.CADir = "/etc/grid-security/certificates"
		}
	}
	if cfg.Credential == nil && cfg.ProxyFile == "" {
		cfg.ProxyFile = os.Getenv("X509_USER_PROXY")
		if cfg.ProxyFile == "" {
			cfg.ProxyFile = fmt.Sprintf("/tmp/x509up_u%d", os.Getuid())
		}
	}
	return &Authenticator{cfg: cfg}
}

// Protocol returns "gsi".
func (a *Authenticator) Protocol() string { return protocolName }

// Result returns what is known about the exchange so far.
func (a *Authenticator) Result() Result { return a.res }

func (a *Authenticator) logf(format string, args ...any) {
	if a.cfg.Logf != nil {
		a.cfg.Logf(format, args...)
	}
}

// serverParams is the parsed "v:10600,c:ssl,ca:h1.0|h2.0" login text.
type serverParams struct {
	version  int
	modules  []string
	caHashes []string
}

func parseServerParams(s string) (serverParams, error) {
	var sp serverParams
	for _, item := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok {
			continue
		}
		switch k {
		case "v":
			n, err := strconv.Atoi(v)
			if err != nil {
				return sp, fmt.Errorf("%w: bad version %q in %q", ErrProtocol, v, s)
			}
			sp.version = n
		case "c":
			sp.modules = splitNonEmpty(v, "|")
		case "ca":
			sp.caHashes = splitNonEmpty(v, "|")
		}
	}
	return sp, nil
}

func splitNonEmpty(s, sep string) []string {
	var out []string
	for _, x := range strings.Split(s, sep) {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// Start checks the local credential and returns the kXGC_certreq buffer.
func (a *Authenticator) Start(ctx context.Context, srv secproto.Server) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if a.state != stateNew {
		return nil, errors.New("gsi: Authenticator already used")
	}
	a.state = stateFailed
	sp, err := parseServerParams(srv.Params)
	if err != nil {
		return nil, err
	}
	a.res.ServerVersion = sp.version
	if sp.version != 0 && sp.version < minServerVersion {
		return nil, fmt.Errorf("%w: server GSI version %d is older than %d", ErrUnsupportedServer, sp.version, minServerVersion)
	}
	switch {
	case len(sp.modules) == 0 || contains(sp.modules, "ssl"):
		a.res.CryptoModule, a.res.Padded = "ssl", true
	case contains(sp.modules, "sslnopad"):
		a.res.CryptoModule, a.res.Padded = "sslnopad", false
	default:
		return nil, fmt.Errorf("%w: no supported crypto module in %v", ErrUnsupportedServer, sp.modules)
	}
	if a.forcePad != nil {
		a.res.Padded = *a.forcePad
		if !a.res.Padded {
			a.res.CryptoModule = "sslnopad"
		}
	}
	a.caHashes = sp.caHashes
	a.srvHost = srv.Host

	cred := a.cfg.Credential
	if cred == nil {
		if cred, err = LoadProxyFile(a.cfg.ProxyFile); err != nil {
			return nil, err
		}
	} else if err := cred.validate(); err != nil {
		return nil, err
	}
	a.cred = cred
	a.res.ClientSubject = dn(cred.Chain[0].RawSubject)
	if err := cred.checkValidity(a.cfg.Clock()); err != nil && !a.noExpiry {
		return nil, err
	}
	eec := cred.eec()
	if eec == nil {
		return nil, fmt.Errorf("%w: no end-entity certificate in the chain", ErrCredential)
	}
	issuerHash, err := nameHashes(eec.RawIssuer)
	if err != nil {
		return nil, fmt.Errorf("%w: issuer hash: %v", ErrCredential, err)
	}
	opts := int32(0)
	if cred.isProxyCredential() {
		opts = optCreatePxy
	}
	if a.rtagC1, err = randomTag(a.cfg.Rand); err != nil {
		return nil, err
	}
	main := newBuffer(stepCertReq)
	main.add(bktRtag, a.rtagC1)
	out := newBuffer(stepCertReq)
	out.addString(bktCryptoMod, a.res.CryptoModule)
	out.addInt(bktVersion, clientVersion)
	out.addString(bktIssuerHash, issuerHash)
	out.addInt(bktClntOpts, opts)
	out.add(bktMain, main.marshal())
	a.state = stateSentCertReq
	return out.marshal(), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

const tagChars = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomTag returns 8 characters from [./0-9A-Za-z], like the C++ code.
func randomTag(rnd io.Reader) ([]byte, error) {
	var b [8]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return nil, fmt.Errorf("random tag: %w", err)
	}
	for i := range b {
		b[i] = tagChars[int(b[i])%len(tagChars)]
	}
	return b[:], nil
}

// Continue processes a kXR_authmore body and returns the next credential.
func (a *Authenticator) Continue(ctx context.Context, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	state := a.state
	a.state = stateFailed
	var out []byte
	var err error
	switch state {
	case stateSentCertReq:
		out, err = a.onServerCert(data)
		if err == nil {
			a.state = stateSentCert
		}
	case stateSentCert:
		out, err = a.onProxyRequest(data)
		if err == nil {
			a.state = stateDone
		}
	default:
		err = fmt.Errorf("%w: unexpected kXR_authmore (state %d)", ErrProtocol, state)
	}
	return out, err
}

// onServerCert handles kXGS_cert and builds kXGC_cert (GSI.md §3.3-3.5).
func (a *Authenticator) onServerCert(data []byte) ([]byte, error) {
	in, err := parseBuffer(data)
	if err != nil {
		return nil, fmt.Errorf("%w: kXGS_cert: %v", ErrProtocol, err)
	}
	if in.proto != protocolName || in.step != stepSrvCert {
		return nil, fmt.Errorf("%w: expected gsi kXGS_cert, got %q %s", ErrProtocol, in.proto, stepName(in.step))
	}
	// 1-3. The server certificate, verified, and its RSA key.
	pub, err := a.checkServerCert(in)
	if err != nil {
		return nil, err
	}
	a.serverKey = pub
	// 4. The server's signature over our challenge.
	rtagS1, err := a.checkServerTag(in, pub)
	if err != nil {
		return nil, err
	}
	// 5. The server's DH values, signed with the host key.
	grp, ys, err := a.serverDH(in, pub)
	if err != nil {
		return nil, err
	}
	// 6-7. Cipher and digest.
	if err := a.pickAlgorithms(in); err != nil {
		return nil, err
	}
	// 8. Key agreement on the server's group.
	yc, err := a.agreeKey(grp, ys)
	if err != nil {
		return nil, err
	}
	return a.certReply(grp, yc, rtagS1)
}

// checkServerCert takes the one server certificate of kXGS_cert in,
// records it in the Result, verifies it against the CA directory and the
// host name, and returns its RSA key.
func (a *Authenticator) checkServerCert(in *sutBuffer) (*rsa.PublicKey, error) {
	// 1. The server certificate: exactly one.
	certPEM, ok := in.get(bktX509)
	if !ok {
		return nil, fmt.Errorf("%w: kXGS_cert without server certificate", ErrProtocol)
	}
	certs := parseCerts(certPEM)
	if len(certs) != 1 {
		return nil, fmt.Errorf("%w: kXGS_cert carries %d server certificates, want 1", ErrProtocol, len(certs))
	}
	leaf := certs[0]
	a.res.ServerSubject = dn(leaf.RawSubject)
	a.res.ServerIssuer = dn(leaf.RawIssuer)
	a.res.ServerNotAfter = leaf.NotAfter
	// 2. Verify it against the CA directory and the host name.
	warnings, err := verifyServerCert(a.cfg.CADir, leaf, a.caHashes, a.cfg.Clock())
	a.res.Warnings = append(a.res.Warnings, warnings...)
	for _, w := range warnings {
		a.logf("gsi: %s", w)
	}
	if err != nil {
		return nil, err
	}
	if !a.cfg.SkipHostNameCheck {
		if err := checkHostName(leaf, a.srvHost, a.cfg.ExtraServerNames); err != nil {
			return nil, err
		}
	}
	// 3. The server's RSA key.
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: server key is %T, GSI needs RSA", ErrServerCertInvalid, leaf.PublicKey)
	}
	return pub, nil
}

// checkServerTag checks the server's signature (with pub) over our random
// tag in the main buffer of kXGS_cert in, and returns the server's own
// random tag, for us to sign.
func (a *Authenticator) checkServerTag(in *sutBuffer, pub *rsa.PublicKey) ([]byte, error) {
	mainData, ok := in.get(bktMain)
	if !ok {
		return nil, fmt.Errorf("%w: kXGS_cert without main buffer", ErrProtocol)
	}
	main, err := parseBuffer(mainData)
	if err != nil {
		return nil, fmt.Errorf("%w: kXGS_cert main buffer: %v", ErrProtocol, err)
	}
	sig, ok := main.get(bktSignedRtag)
	if !ok {
		return nil, fmt.Errorf("%w: server did not sign the random tag", ErrServerProof)
	}
	if err := checkSigned(pub, sig, a.rtagC1); err != nil {
		return nil, fmt.Errorf("%w: random tag: %v", ErrServerProof, err)
	}
	rtagS1, ok := main.get(bktRtag)
	if !ok || len(rtagS1) == 0 || len(rtagS1) > 1024 {
		return nil, fmt.Errorf("%w: kXGS_cert without a usable server random tag", ErrProtocol)
	}
	return rtagS1, nil
}

// serverDH recovers the server's DH group and value from kXGS_cert in
// (signed with the host key pub), records the group's size in the Result
// and checks both.
func (a *Authenticator) serverDH(in *sutBuffer, pub *rsa.PublicKey) (dhGroup, *big.Int, error) {
	signedDH, ok := in.get(bktCipher)
	if !ok {
		return dhGroup{}, nil, fmt.Errorf("%w: kXGS_cert without DH parameters", ErrProtocol)
	}
	blob, err := rsaPublicDecrypt(pub, signedDH)
	if err != nil {
		return dhGroup{}, nil, fmt.Errorf("%w: DH parameters: %v", ErrServerProof, err)
	}
	grp, ys, err := parseDHBlob(blob)
	if err != nil {
		return dhGroup{}, nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	a.res.DHBits = grp.p.BitLen()
	a.res.WeakDH = a.res.DHBits < StrongDHBits
	if err := grp.check(ys, a.cfg.MinDHBits); err != nil {
		if errors.Is(err, ErrWeakDH) {
			return dhGroup{}, nil, err
		}
		return dhGroup{}, nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if a.res.WeakDH {
		a.logf("gsi: server %s uses a weak %d-bit DH group (XRootD < 5.6)", a.srvHost, a.res.DHBits)
	}
	return grp, ys, nil
}

// pickAlgorithms chooses the session cipher and the message digest: the
// first supported entries of the server's lists in kXGS_cert in.
func (a *Authenticator) pickAlgorithms(in *sutBuffer) error {
	cipherList, _ := in.get(bktCipherAlg)
	a.res.Cipher = pickFirst(string(cipherList), func(s string) bool { _, ok := cipherKeyLen[s]; return ok })
	if a.res.Cipher == "" {
		return fmt.Errorf("%w: server offers %q, client supports aes-128-cbc, aes-192-cbc, aes-256-cbc", ErrCipherMismatch, cipherList)
	}
	mdList, _ := in.get(bktMdAlg)
	a.res.Digest = pickFirst(string(mdList), func(s string) bool { return knownDigests[s] })
	if a.res.Digest == "" {
		return fmt.Errorf("%w: server offers %q", ErrDigestMismatch, mdList)
	}
	return nil
}

// agreeKey picks our DH private value on the server's group, sets up the
// session cipher from the shared secret with the server's value ys, and
// returns our public value.
func (a *Authenticator) agreeKey(grp dhGroup, ys *big.Int) (*big.Int, error) {
	gen := a.dhPrivate
	if gen == nil {
		gen = func(p, _ *big.Int) (*big.Int, error) { return genPrivate(a.cfg.Rand, p) }
	}
	x, err := gen(grp.p, ys)
	if err != nil {
		return nil, err
	}
	yc := new(big.Int).Exp(grp.g, x, grp.p)
	z := sharedSecret(grp.p, x, ys, a.res.Padded)
	if a.cipher, err = newSessionCipher(a.res.Cipher, z); err != nil {
		return nil, err
	}
	return yc, nil
}

// certReply builds kXGC_cert: the server's tag rtagS1 signed, our chain
// and a new tag (encrypted), and our DH value yc on grp, signed.
func (a *Authenticator) certReply(grp dhGroup, yc *big.Int, rtagS1 []byte) ([]byte, error) {
	key := a.cred.Key
	sigS1, err := rsaPrivateEncrypt(a.cfg.Rand, key, rtagS1)
	if err != nil {
		return nil, fmt.Errorf("%w: signing the server tag: %v", ErrCredential, err)
	}
	if a.rtagC2, err = randomTag(a.cfg.Rand); err != nil {
		return nil, err
	}
	inner := newBuffer(stepCert)
	inner.add(bktSignedRtag, sigS1)
	inner.add(bktX509, chainPEM(a.cred.sendChain()))
	inner.add(bktRtag, a.rtagC2)
	encMain, err := a.cipher.encrypt(a.cfg.Rand, inner.marshal())
	if err != nil {
		return nil, err
	}
	sigDH, err := rsaPrivateEncrypt(a.cfg.Rand, key, buildDHBlob(grp.pem, yc))
	if err != nil {
		return nil, fmt.Errorf("%w: signing the DH value: %v", ErrCredential, err)
	}
	puk, err := publicKeyPEM(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCredential, err)
	}
	out := newBuffer(stepCert)
	out.addString(bktCryptoMod, a.res.CryptoModule)
	out.add(bktMain, encMain)
	out.addString(bktCipherAlg, fmt.Sprintf("%s#%d", a.res.Cipher, ivLen))
	out.addString(bktMdAlg, a.res.Digest)
	out.add(bktCipher, sigDH)
	out.add(bktPuk, puk)
	return out.marshal(), nil
}

// onProxyRequest handles an unexpected kXGS_pxyreq (delegation request):
// it checks the server's signature and refuses with kXGC_sigpxy.
func (a *Authenticator) onProxyRequest(data []byte) ([]byte, error) {
	in, err := parseBuffer(data)
	if err != nil {
		return nil, fmt.Errorf("%w: third round: %v", ErrProtocol, err)
	}
	if in.proto != protocolName || in.step != stepSrvPxyReq {
		return nil, fmt.Errorf("%w: expected gsi kXGS_pxyreq, got %q %s", ErrProtocol, in.proto, stepName(in.step))
	}
	enc, ok := in.get(bktMain)
	if !ok {
		return nil, fmt.Errorf("%w: kXGS_pxyreq without main buffer", ErrProtocol)
	}
	plain, err := a.cipher.decrypt(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: kXGS_pxyreq main buffer: %v", ErrProtocol, err)
	}
	main, err := parseBuffer(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: kXGS_pxyreq main buffer: %v", ErrProtocol, err)
	}
	sig, ok := main.get(bktSignedRtag)
	if !ok {
		return nil, fmt.Errorf("%w: kXGS_pxyreq without signed random tag", ErrServerProof)
	}
	if err := checkSigned(a.serverKey, sig, a.rtagC2); err != nil {
		return nil, fmt.Errorf("%w: kXGS_pxyreq random tag: %v", ErrServerProof, err)
	}
	rtagS2, ok := main.get(bktRtag)
	if !ok || len(rtagS2) == 0 || len(rtagS2) > 1024 {
		return nil, fmt.Errorf("%w: kXGS_pxyreq without a usable random tag", ErrProtocol)
	}
	sigS2, err := rsaPrivateEncrypt(a.cfg.Rand, a.cred.Key, rtagS2)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCredential, err)
	}
	inner := newBuffer(stepSigPxy)
	inner.add(bktSignedRtag, sigS2)
	inner.addString(bktMessage, refuseMessage)
	encMain, err := a.cipher.encrypt(a.cfg.Rand, inner.marshal())
	if err != nil {
		return nil, err
	}
	out := newBuffer(stepSigPxy)
	out.addString(bktCryptoMod, a.res.CryptoModule)
	out.add(bktMain, encMain)
	a.res.Delegation = "refused"
	a.logf("gsi: server %s asked for a delegated proxy; refused", a.srvHost)
	return out.marshal(), nil
}
