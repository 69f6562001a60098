// Package secproto is the contract between the XRootD session layer
// (probes/xrootd/xrd) and the client side of each XRootD security protocol
// (ztn, gsi, ...). It holds no protocol code, so that protocol packages and the
// session layer do not import each other.
package secproto

import "context"

// Server describes the server side of one authentication attempt.
type Server struct {
	// Host is the host name the client connected to (after redirects), for
	// host-certificate name checks.
	Host string
	// Params is the text the server offered for this protocol in the login
	// reply, after "&P=<proto>," (e.g. "v:10600,c:ssl,ca:fb12356f.0|f2bacaff.0"
	// for gsi, "0:4096:" for ztn).
	Params string
	// TLS tells whether the link is TLS-protected.
	TLS bool
}

// Authenticator drives the client side of one security protocol over
// kXR_auth / kXR_authmore round trips. A value is used for one attempt only.
type Authenticator interface {
	// Protocol is the sec.protocol name sent as credtype ("ztn", "gsi").
	Protocol() string
	// Start returns the credential bytes of the first kXR_auth.
	Start(ctx context.Context, srv Server) ([]byte, error)
	// Continue receives the body of a kXR_authmore reply and returns the
	// credential bytes of the next kXR_auth.
	Continue(ctx context.Context, data []byte) ([]byte, error)
}
