// Package round holds the wiring a round of checks needs that both
// `probe run` and `probe serve` (and their tests) share: picking the token
// source from the config, and the garbage collector's setting for the
// process (gc.go).
package round

import (
	"fmt"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
)

// TokenSource picks the configured token source: an issuer (client
// credentials), a file, or else WLCG bearer-token discovery. No source is
// an error the caller may ignore: token checks then report UNKNOWN saying
// why.
func TokenSource(t config.Token) (cred.Source, error) {
	switch {
	case t.Issuer != "":
		cc, err := cred.NewClientCredentials(t.Issuer, t.ClientID, t.ClientSecretFile, t.CAFile)
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
