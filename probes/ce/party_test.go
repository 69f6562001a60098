package ce

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

func TestCredUnknownParty(t *testing.T) {
	central := fmt.Errorf("token for scope %q: %w", "compute.read", &cred.IssuerFailure{Issuer: "https://iam", Stage: "discovery", Outage: true, Err: errors.New("connection refused")})
	if o := credUnknown(central, "no token: %v", central); o.State != engine.Unknown || o.Party != engine.PartyCentral {
		t.Errorf("issuer down: %+v", o)
	}
	own := errors.New("no token source: configure credentials.token")
	if o := credUnknown(own, "no token: %v", own); o.State != engine.Unknown || o.Party != "" {
		t.Errorf("no source: %+v (the engine makes an unnamed UNKNOWN the probe's)", o)
	}
}
