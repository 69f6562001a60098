package cred

import (
	"fmt"
	"net/url"
	"strings"
)

// ClientCredentials obtains one token per (scopes, audience) from an OAuth2
// issuer with the client-credentials grant (RFC 6749 §4.4), authenticating
// as the issuer advertises, caches it until RefreshMargin before it
// expires, and never sends two requests at once for the same key. Safe for
// concurrent use.
type ClientCredentials struct {
	issued
	Issuer           string
	ClientID         string
	ClientSecretFile string // read at every token request (it may be rotated)
}

// NewClientCredentials prepares a client for issuer (an https URL) with a
// client secret. caFile, when not empty, is a PEM file of extra CAs trusted
// for the issuer's HTTPS besides the system ones.
func NewClientCredentials(issuer, clientID, clientSecretFile, caFile string) (*ClientCredentials, error) {
	return NewClientCredentialsFrom(IssuerConfig{Issuer: issuer, ClientID: clientID, ClientSecretFile: clientSecretFile, CAFile: caFile})
}

// NewClientCredentialsFrom prepares a client-credentials source; it needs
// a client id and a secret file or a key file (private_key_jwt).
func NewClientCredentialsFrom(cfg IssuerConfig) (*ClientCredentials, error) {
	if cfg.ClientID == "" || (cfg.ClientSecretFile == "" && cfg.ClientKeyFile == "") {
		return nil, fmt.Errorf("token issuer %s: client_id and client_secret_file (or client_key_file) are required", cfg.Issuer)
	}
	ic, err := newIssuerClient(cfg.Issuer, orString(cfg.URL, cfg.Issuer), cfg.CAFile,
		clientAuth{ID: cfg.ClientID, SecretFile: cfg.ClientSecretFile, KeyFile: cfg.ClientKeyFile})
	if err != nil {
		return nil, err
	}
	c := &ClientCredentials{Issuer: ic.issuer, ClientID: cfg.ClientID, ClientSecretFile: cfg.ClientSecretFile}
	c.issued = newIssued(ic, cfg.Timeout, fmt.Sprintf("client credentials of %s at %s", cfg.ClientID, ic.issuer))
	c.grant = func(TokenRequest) (url.Values, error) {
		return url.Values{"grant_type": {"client_credentials"}}, nil
	}
	return c, nil
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// IssuerError is the issuer's OAuth2 error answer to a token request
// (RFC 6749 §5.2). It matches ErrIssuer (a central failure) unless its
// code blames the probe's own client or grant.
type IssuerError struct {
	Issuer      string
	Status      int
	Code        string // "invalid_scope", "invalid_client", …
	Description string // the issuer's error_description
	Scopes      []string
	Audience    string
}

func (e *IssuerError) Error() string {
	s := fmt.Sprintf("issuer %s refused a token for scope %q audience %q: HTTP %d %s",
		e.Issuer, strings.Join(e.Scopes, " "), e.Audience, e.Status, e.Code)
	if e.Description != "" {
		s += ": " + e.Description
	}
	return Redact(s)
}
