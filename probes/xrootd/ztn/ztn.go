// Package ztn is the client side of XRootD's "ztn" security protocol: it
// hands a WLCG/SciTokens bearer token to the server in one kXR_auth. It
// implements secproto.Authenticator for the session layer in
// probes/xrootd/xrd.
//
// The credential layout (XrdSecProtocolztn, verified against XRootD 5.5.3):
//
//	"ztn\0" | version 0 | 'T' | 2 reserved | uint16 BE len(token)+1 | token | NUL
//
// Like XrdCl, the client refuses to send a token over a link that is not
// TLS-protected and refuses a token at or above the server's maximum size
// (the second field of the server's "0:4096:" parameters).
//
// The token is obtained through a function at the moment it is needed and
// is never stored in a struct, logged, or put into an error message.
package ztn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
)

// Name is the protocol name (kXR_auth credtype).
const Name = "ztn"

// ErrNoTLS is returned when the link to the server is not TLS-protected.
var ErrNoTLS = errors.New("ztn requires a TLS-protected link; refusing to send the token in clear text")

// Authenticator sends one bearer token. It holds only the function that
// produces the token, never the token itself.
type Authenticator struct {
	token func() (string, error)
}

var _ secproto.Authenticator = (*Authenticator)(nil)

// New returns an Authenticator that calls token when the server asks for
// authentication. The token may carry a "Bearer " prefix and surrounding
// white space; both are stripped.
func New(token func() (string, error)) *Authenticator {
	return &Authenticator{token: token}
}

// Protocol returns "ztn".
func (a *Authenticator) Protocol() string { return Name }

// String never shows the token source.
func (a *Authenticator) String() string { return "ztn authenticator" }

// GoString keeps %#v from printing internals.
func (a *Authenticator) GoString() string { return "ztn.Authenticator{}" }

// Params is the server's ztn parameter string "<version>:<max token size>:".
type Params struct {
	Version int
	MaxSize int // 0 when the server gave none
}

// ParseParams decodes the parameters the server lists after "&P=ztn,".
func ParseParams(s string) (Params, error) {
	var p Params
	f := strings.Split(s, ":")
	if len(f) == 0 || f[0] == "" {
		return p, nil
	}
	v, err := strconv.Atoi(f[0])
	if err != nil {
		return p, fmt.Errorf("ztn parameters %q: bad version: %w", s, err)
	}
	p.Version = v
	if len(f) > 1 && f[1] != "" {
		m, err := strconv.Atoi(f[1])
		if err != nil || m < 0 {
			return p, fmt.Errorf("ztn parameters %q: bad maximum token size", s)
		}
		p.MaxSize = m
	}
	return p, nil
}

// Start builds the credential.
func (a *Authenticator) Start(ctx context.Context, srv secproto.Server) ([]byte, error) {
	if !srv.TLS {
		return nil, ErrNoTLS
	}
	p, err := ParseParams(srv.Params)
	if err != nil {
		return nil, err
	}
	if p.Version != 0 {
		return nil, fmt.Errorf("ztn version %d offered by the server is not supported (only 0)", p.Version)
	}
	if a.token == nil {
		return nil, errors.New("no token source configured")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tok, err := a.token()
	if err != nil {
		return nil, fmt.Errorf("get bearer token: %w", err)
	}
	tok = strings.TrimSpace(tok)
	if len(tok) >= 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	return Credential(tok, p.MaxSize)
}

// Credential lays out the ztn credential for token. maxSize > 0 enforces
// the server's limit (the token must be shorter than maxSize).
func Credential(token string, maxSize int) ([]byte, error) {
	if token == "" {
		return nil, errors.New("empty bearer token")
	}
	if strings.IndexByte(token, 0) >= 0 {
		return nil, errors.New("bearer token contains a NUL byte")
	}
	if maxSize > 0 && len(token) >= maxSize {
		return nil, fmt.Errorf("bearer token of %d bytes is too long (server maximum %d)", len(token), maxSize)
	}
	if len(token)+1 > 0xffff {
		return nil, fmt.Errorf("bearer token of %d bytes is too long for ztn", len(token))
	}
	b := make([]byte, 10+len(token)+1)
	copy(b, "ztn\x00")
	b[4] = 0   // version
	b[5] = 'T' // token follows
	binary.BigEndian.PutUint16(b[8:], uint16(len(token)+1))
	copy(b[10:], token)
	return b, nil
}

// Continue is never called for ztn (one round trip); a kXR_authmore is an
// error.
func (a *Authenticator) Continue(ctx context.Context, data []byte) ([]byte, error) {
	return nil, fmt.Errorf("server sent kXR_authmore (%d bytes) for ztn, which has a single round trip", len(data))
}
