package issuerint

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
)

// TestIssuerOutage: with the issuer up, a baseline round; with it stopped,
// the issuer service is CRITICAL (its own, central fault), every site
// token check is UNKNOWN blamed on the central service and naming the
// issuer, no site result is CRITICAL because of it, the crt checks are
// unaffected; with it back, the next round is the baseline again.
func TestIssuerOutage(t *testing.T) {
	env := testbedenv.Load(t, "GRIDPROBE_WEBDAV_URL", "GRIDPROBE_XROOTD_URL", "GRIDPROBE_ISSUER")
	in := startInstance(t, env, OutagePort)
	yaml := sitesYAML(env, in.URL, fmt.Sprintf("    issuer: %s\n    issuer_url: %s\n    client_id: %s\n    client_secret_file: %s\n    ca_file: %s",
		env["GRIDPROBE_ISSUER"], in.URL, env["GRIDPROBE_CLIENT_ID"], env["GRIDPROBE_CLIENT_SECRET_FILE"], env["GRIDPROBE_ISSUER_CA"]))

	base, took := runRound(t, yaml)
	t.Logf("issuer up: round took %s", took)
	for _, r := range base {
		if r.Protocol == "issuer" && r.State != engine.OK {
			dump(t, "up", base)
			t.Fatalf("issuer service %s = %s %q with the issuer up", r.Check, r.State, r.Detail)
		}
	}
	if in.logged("grant=client_credentials") == 0 {
		t.Fatalf("the round's tokens did not come from the instance on %d", OutagePort)
	}

	in.stop()
	down, took := runRound(t, yaml)
	t.Logf("issuer down: round took %s", took)
	checkOutage(t, env, base, down)
	if t.Failed() || testing.Verbose() {
		dump(t, "down", down)
	}

	in.start()
	back, took := runRound(t, yaml)
	t.Logf("issuer back: round took %s", took)
	b := index(base)
	for _, r := range back {
		if want := b[key(r)]; r.State != want.State {
			t.Errorf("issuer back: %s %s = %s %q, the baseline was %s %q", r.Service, r.Check, r.State, r.Detail, want.State, want.Detail)
		}
	}
}

func checkOutage(t *testing.T, env map[string]string, base, down []engine.Result) {
	t.Helper()
	b := index(base)
	issuer := env["GRIDPROBE_ISSUER"]
	tokenChecks := 0
	for _, r := range down {
		was := b[key(r)]
		switch {
		case r.Protocol == "issuer":
			if (r.Check == "1connection" || r.Check == engine.SummaryID) && (r.State != engine.Critical || r.Party != engine.PartyCentral) {
				t.Errorf("issuer service %s = %s party %q %q, want CRITICAL central", r.Check, r.State, r.Party, r.Detail)
			}
		case r.Credential == engine.CredToken:
			tokenChecks++
			if r.State != engine.Unknown || r.Party != engine.PartyCentral || !strings.Contains(r.Detail, issuer) {
				t.Errorf("site token check %s %s = %s party %q %q, want UNKNOWN central naming %s", r.Service, r.Check, r.State, r.Party, r.Detail, issuer)
			}
		case r.Check == engine.SummaryID:
			if r.State == engine.Critical || r.State == engine.Warning {
				if was.State != r.State || r.Party != engine.PartySite {
					t.Errorf("site summary %s = %s party %q %q: the issuer made it worse than the baseline %s", r.Service, r.State, r.Party, r.Detail, was.State)
				}
			}
		default: // crt and credential-free checks: unaffected
			if r.State != was.State {
				t.Errorf("%s %s = %s %q with the issuer down, %s with it up: not the issuer's business", r.Service, r.Check, r.State, r.Detail, was.State)
			}
		}
	}
	if tokenChecks == 0 {
		t.Error("no site token check ran")
	}
}
