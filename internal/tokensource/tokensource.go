// Package tokensource picks a round's token source from the config:
// a refresh token exchanged at the issuer, client credentials (a secret or
// a key for private_key_jwt), a token file, or else WLCG bearer-token
// discovery. internal/round.TokenSource delegates here (same signature),
// so `probe run`, `probe serve` and the tests pick sources one way.
package tokensource

import (
	"fmt"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
)

// New returns the configured token source. No source is an error the
// caller may ignore: token checks then report UNKNOWN saying why.
func New(t config.Token) (cred.Source, error) {
	ic := cred.IssuerConfig{Issuer: t.Issuer, URL: t.IssuerURL, ClientID: t.ClientID,
		ClientSecretFile: t.ClientSecretFile, ClientKeyFile: t.ClientKeyFile, CAFile: t.CAFile}
	switch {
	case t.Issuer != "" && t.RefreshTokenFile != "":
		rt, err := cred.NewRefreshToken(ic, t.RefreshTokenFile)
		if err != nil {
			return nil, fmt.Errorf("token issuer %s: %w", t.Issuer, err)
		}
		return rt, nil
	case t.Issuer != "":
		cc, err := cred.NewClientCredentialsFrom(ic)
		if err != nil {
			return nil, fmt.Errorf("token issuer %s: %w", t.Issuer, err)
		}
		return cc, nil
	case t.File != "":
		return &cred.FileSource{Path: t.File, Origin: "config"}, nil
	default:
		return cred.Discover()
	}
}
