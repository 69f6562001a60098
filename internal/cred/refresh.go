package cred

import (
	"fmt"
	"net/url"
	"sync"
)

// RefreshToken exchanges a refresh token for narrow access tokens (RFC 6749
// §6, with scope and audience per request as the WLCG profile allows): what
// oidc-agent, htgettoken/HTVault and HTCondor's credmon hold is a refresh
// token, not a client secret. One token per (scopes, audience), cached and
// shared like ClientCredentials.
//
// The refresh token comes from a file re-read at every exchange (the tool
// that holds it may replace it). When the issuer rotates the refresh token
// in its answer, the new one is used from then on, until the file changes.
// The file is never written. Safe for concurrent use.
type RefreshToken struct {
	issued
	File string

	mu       sync.Mutex
	fromFile string // the file's content at the last read
	current  string // the refresh token in use (rotated by the issuer, or fromFile)
}

// NewRefreshToken prepares a refresh-token source: cfg names the issuer
// and the client the refresh token was issued to (a secret or key file, or
// neither for a public client); file holds the refresh token.
func NewRefreshToken(cfg IssuerConfig, file string) (*RefreshToken, error) {
	if cfg.ClientID == "" {
		return nil, fmt.Errorf("token issuer %s: client_id is required with refresh_token_file (the client the refresh token was issued to)", cfg.Issuer)
	}
	if file == "" {
		return nil, fmt.Errorf("token issuer %s: no refresh token file", cfg.Issuer)
	}
	ic, err := newIssuerClient(cfg.Issuer, orString(cfg.URL, cfg.Issuer), cfg.CAFile,
		clientAuth{ID: cfg.ClientID, SecretFile: cfg.ClientSecretFile, KeyFile: cfg.ClientKeyFile})
	if err != nil {
		return nil, err
	}
	r := &RefreshToken{File: file}
	r.issued = newIssued(ic, cfg.Timeout, fmt.Sprintf("refresh token %s of %s at %s", file, cfg.ClientID, ic.issuer))
	r.grant = r.refreshGrant
	r.answered = r.rotate
	return r, nil
}

// refreshGrant reads the file and builds the refresh_token grant.
func (r *RefreshToken) refreshGrant(TokenRequest) (url.Values, error) {
	raw, err := ReadTokenFile(r.File)
	if err != nil {
		return nil, fmt.Errorf("refresh token file %s: %w", r.File, err)
	}
	if raw == "" {
		return nil, fmt.Errorf("refresh token file %s is empty", r.File)
	}
	RegisterSecret(raw)
	r.mu.Lock()
	if raw != r.fromFile {
		r.fromFile, r.current = raw, raw
	}
	rt := r.current
	r.mu.Unlock()
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, nil
}

// rotate adopts a refresh token the issuer sent back in place of the old.
func (r *RefreshToken) rotate(ans *tokenAnswer) {
	if ans.RefreshToken == "" {
		return
	}
	RegisterSecret(ans.RefreshToken)
	r.mu.Lock()
	r.current = ans.RefreshToken
	r.mu.Unlock()
}
