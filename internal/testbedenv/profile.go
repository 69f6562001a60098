package testbedenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// What 16tkn-access finds on the testbed's storage element, rule by rule
// (the WLCG token profile's storage rules, probes/storage/profile.go): the
// verdicts established by hand for XRootD 5.5.3 (testbed/matrix/RESULTS.md),
// for the integration tests of both protocols.

// broken553 are the rules XRootD 5.5.3 breaks (fail), per protocol ("" for
// both), and its warnings.
var broken553 = map[string]string{
	"create-parents": "", "path-elements-read": "", "path-elements-create": "", "path-elements-modify": "",
	"stat-create": "", "stat-modify": "", "stat-stage": "", "create-trailing-slash": "",
	"modify-delete": "webdav", "scope-without-path": "",
}

// issuerRules are the rules whose tokens only an issuer that honours the
// profile's version and group requests (and issues a path-less storage
// scope) can give.
var issuerRules = []string{"scope-without-path", "wlcg-ver-major", "wlcg-ver-minor", "capabilities-over-groups"}

// ProfileVerdicts are the verdicts 16tkn-access must report against the
// testbed's SE (XRootD version; only 5.5.3 is known) over protocol, with the
// tokens of the issuer the testbed runs: the rules needing version and group
// requests are untested when it does not honour them.
func ProfileVerdicts(t testing.TB, env map[string]string, protocol, version string) map[string]string {
	t.Helper()
	if version != "5.5.3" {
		t.Fatalf("no known verdicts for XRootD %s", version)
	}
	want := map[string]string{"stage": engine.VerdictUntested, "poll": engine.VerdictUntested}
	for _, id := range []string{"read", "create-new", "create-mkdir", "create-no-overwrite", "create-no-delete", "create-no-read",
		"modify-create", "modify-overwrite", "modify-delete", "modify-mkdir", "modify-no-read", "read-no-create", "read-no-delete",
		"other-path", "no-storage-scope", "audience", "audience-list-other", "audience-list", "create-parent-not-file", "stage-no-read",
		"create-parents", "path-elements-read", "path-elements-create", "path-elements-modify", "stat-create", "stat-modify", "stat-stage",
		"create-trailing-slash"} {
		want[id] = engine.VerdictPass
	}
	for id, proto := range broken553 {
		if proto == "" || proto == protocol {
			want[id] = engine.VerdictFail
		}
	}
	if protocol == "webdav" {
		want["invalid-token-401"] = engine.VerdictWarn // 403 for an invalid token
	}
	if issuerShapes(t, env) {
		for id, v := range MintedVerdicts(env, protocol, version) {
			want[id] = v
		}
	} else {
		for _, id := range issuerRules {
			want[id] = engine.VerdictUntested
		}
	}
	return want
}

// MintedVerdicts are the verdicts of the rules needing version and group
// requests, with tokens that carry what was asked for.
func MintedVerdicts(env map[string]string, protocol, version string) map[string]string {
	want := map[string]string{"scope-without-path": engine.VerdictFail, "wlcg-ver-major": engine.VerdictPass,
		"wlcg-ver-minor": engine.VerdictFail, "capabilities-over-groups": engine.VerdictPass}
	// With a group right to use (the testbed's authdb lets /testvo write in
	// /testvo/gridprobe), XRootD uses it beside storage scopes.
	if b, err := os.ReadFile(filepath.Join(env["GRIDPROBE_TESTBED"], "etc", "authdb")); err == nil && strings.Contains(string(b), "\ng /testvo /testvo/gridprobe a") {
		want["capabilities-over-groups"] = engine.VerdictFail
	}
	return want
}

// issuerShapes: the running issuer honours a version request (a testbed
// started from this tree's issuer, which also issues the path-less scope
// and the VO group).
func issuerShapes(t testing.TB, env map[string]string) bool {
	t.Helper()
	cc, err := cred.NewClientCredentials(env["GRIDPROBE_ISSUER"], env["GRIDPROBE_CLIENT_ID"], env["GRIDPROBE_CLIENT_SECRET_FILE"], env["GRIDPROBE_ISSUER_CA"])
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := cc.Token(ctx, cred.TokenRequest{Scopes: []string{"wlcg:1.9", "storage.read:/reference.dat"}, Audience: cred.AnyAudience})
	return err == nil && tok.Claims().WLCGVersion == "1.9"
}

// AssertProfileVerdicts checks every rule of a 16tkn-access result against
// want (rule id → verdict) and that it lists every rule of want.
func AssertProfileVerdicts(t testing.TB, res engine.Result, want map[string]string) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range res.Rules {
		seen[r.ID] = true
		if w, ok := want[r.ID]; !ok {
			t.Errorf("%s: unexpected rule %s (%s: %s)", res.Check, r.ID, r.Verdict, r.Detail)
		} else if r.Verdict != w {
			t.Errorf("%s: rule %s %s: verdict %s, want %s (%s)", res.Check, r.ID, r.Version, r.Verdict, w, r.Detail)
		}
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("%s: rule %s not reported", res.Check, id)
		}
	}
}
