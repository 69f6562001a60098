package gsi

import (
	"errors"
	"strings"
)

// Errors of the client side. Each failure wraps exactly one of them, with
// the details in the message; test with errors.Is, name with ErrorClass.
var (
	// ErrCredential: the proxy or certificate/key cannot be used (missing,
	// unreadable, insecure permissions, key not matching).
	ErrCredential = errors.New("gsi: unusable credential")
	// ErrProxyExpired: a certificate that would be sent has expired
	// (checked locally, before anything is sent).
	ErrProxyExpired = errors.New("gsi: proxy expired")
	// ErrProxyNotYetValid: a certificate that would be sent is not yet valid.
	ErrProxyNotYetValid = errors.New("gsi: proxy not yet valid")
	// ErrUnknownCA: the server certificate is not signed by a CA in the
	// local CA directory.
	ErrUnknownCA = errors.New("gsi: server certificate from an unknown CA")
	// ErrServerCertInvalid: the server certificate chains to a known CA
	// but is unusable (expired, a CA or proxy certificate, not RSA, ...).
	ErrServerCertInvalid = errors.New("gsi: invalid server certificate")
	// ErrServerCertRevoked: the server certificate is listed in its CA's CRL.
	ErrServerCertRevoked = errors.New("gsi: server certificate revoked")
	// ErrHostNameMismatch: the server certificate is not for the host
	// the client connected to.
	ErrHostNameMismatch = errors.New("gsi: server host name mismatch")
	// ErrServerProof: the server did not prove it holds the host key
	// (its signature over the client's challenge or DH value is wrong).
	ErrServerProof = errors.New("gsi: server failed proof of key possession")
	// ErrCipherMismatch: no session cipher in common with the server.
	ErrCipherMismatch = errors.New("gsi: no common session cipher")
	// ErrDigestMismatch: no message digest in common with the server.
	ErrDigestMismatch = errors.New("gsi: no common message digest")
	// ErrWeakDH: the server's DH group is smaller than Config.MinDHBits.
	ErrWeakDH = errors.New("gsi: DH group too small")
	// ErrUnsupportedServer: the server's GSI version or crypto modules
	// cannot be spoken (version < 10400, no "ssl" module).
	ErrUnsupportedServer = errors.New("gsi: unsupported server")
	// ErrProtocol: malformed or unexpected server message.
	ErrProtocol = errors.New("gsi: protocol error")
)

// ErrorClass returns a short stable name for a client-side error of this
// package ("proxy-expired", "unknown-ca", ...), or "" if err is none of them.
func ErrorClass(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{ErrProxyExpired, ClassProxyExpired},
		{ErrProxyNotYetValid, "proxy-not-yet-valid"},
		{ErrCredential, "credential"},
		{ErrUnknownCA, "unknown-ca"},
		{ErrServerCertRevoked, "server-cert-revoked"},
		{ErrServerCertInvalid, "server-cert-invalid"},
		{ErrHostNameMismatch, "host-name-mismatch"},
		{ErrServerProof, "server-proof"},
		{ErrCipherMismatch, ClassCipherMismatch},
		{ErrDigestMismatch, ClassDigestMismatch},
		{ErrWeakDH, "weak-dh"},
		{ErrUnsupportedServer, "unsupported-server"},
		{ErrProtocol, ClassProtocol},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return ""
}

// Classes of server-side (kXR_error 3030) GSI failures.
const (
	ClassClientCAUnknown   = "client-ca-unknown"   // the server does not know the CA of the client's certificate
	ClassProxyExpired      = "proxy-expired"       // the server says a client certificate expired
	ClassChainRevoked      = "chain-revoked"       // a client certificate is revoked
	ClassChainSignature    = "chain-signature"     // a signature in the client chain does not verify
	ClassChainInconsistent = "chain-inconsistent"  // e.g. a CA certificate was sent in the chain
	ClassChainRejected     = "chain-rejected"      // other chain verification failures
	ClassProofOfPossession = "proof-of-possession" // rtag / public key checks failed
	ClassSessionKey        = "session-key"         // DH / session cipher failures
	ClassCipherMismatch    = "cipher-mismatch"     // server refused the chosen cipher
	ClassDigestMismatch    = "digest-mismatch"     // server refused the chosen digest
	ClassTimeout           = "handshake-timeout"   // more than 300 s between rounds
	ClassNotAuthorized     = "not-authorized"      // authenticated, but mapping/authz refused
	ClassProtocol          = "protocol"            // any other "Secgsi:" failure
	ClassUnknown           = "unknown"             // not a GSI message
)

// ClassifyServerError maps the text of a kXR_error 3030 reply to a GSI
// exchange (e.g. "Secgsi: ErrParseBuffer: unknown CA: cannot verify client
// credentials: kXGC_certreq") to one of the Class* names. Keep the raw
// text next to the class in reports.
func ClassifyServerError(msg string) string {
	m := strings.ToLower(msg)
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(m, x) {
				return true
			}
		}
		return false
	}
	switch {
	case has("unknown ca: cannot verify client", "client issuer hash missing"):
		return ClassClientCAUnknown
	case has("certificate expired", "proxy files contains expired"):
		return ClassProxyExpired
	case has("has been revoked", "certificate revoked"):
		return ClassChainRevoked
	case has("signature verification failed"):
		return ClassChainSignature
	case has("chain is inconsistent"):
		return ClassChainInconsistent
	case has("certificate chain verification failed", "wrong number of certificates", "client certificate missing",
		"invalid or missing ca", "invalid or missing eec", "invalid proxy", "too many eec", "names invalid or missing",
		"issuer had no signing rights"):
		return ClassChainRejected
	case has("errbadrndmtag", "random tag", "public key does not match", "bucket with client public key missing"):
		return ClassProofOfPossession
	case has("session cipher", "dh public parameters", "decrypting main buffer"):
		return ClassSessionKey
	case has("unsupported cipher"):
		return ClassCipherMismatch
	case has("unsupported md"):
		return ClassDigestMismatch
	case has("cache entry expired"):
		return ClassTimeout
	case has("secgsi"):
		if has("mapping", "gridmap", "not authorized", "authorization") {
			return ClassNotAuthorized
		}
		return ClassProtocol
	}
	return ClassUnknown
}
