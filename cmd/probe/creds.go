package main

import (
	"fmt"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
)

// newTokenSource picks the configured token source: an issuer (client
// credentials), a file, or else WLCG bearer-token discovery. No source is
// not an error here: token checks then report UNKNOWN saying why.
func newTokenSource(t config.Token) (cred.Source, error) {
	switch {
	case t.Issuer != "":
		cc, err := cred.NewClientCredentials(t.Issuer, t.ClientID, t.ClientSecretFile, t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("token issuer %s: %w", t.Issuer, err)
		}
		return cc, nil
	case t.File != "":
		return &cred.FileSource{Path: t.File}, nil
	default:
		return cred.Discover()
	}
}
