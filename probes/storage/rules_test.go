package storage

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/storage/wlcgtest"
)

// TestConformingServer: on a server that follows the profile, every rule
// is OK and nothing is left behind.
func TestConformingServer(t *testing.T) {
	fs := newMemFS()
	b := testBook(t, fs, narrowTokens())
	fs.deny = wlcg(b.Audience())
	res := run(t, b, IDs()...)
	for _, id := range IDs() {
		want(t, res[id], engine.OK)
	}
	want(t, res[IDTknAccess], engine.OK, "satisfies WLCG profile 1.2 (expected 1.0)", "all 33 rules tested hold on existing objects", "untested: stage, poll")
	for _, r := range res[IDTknAccess].Rules {
		if r.Verdict != engine.VerdictPass && r.ID != "stage" && r.ID != "poll" {
			t.Errorf("rule %s: %s (%s)", r.ID, r.Verdict, r.Detail)
		}
	}
	if got := len(res[IDTknAccess].Rules); got != len(ProfileRules) {
		t.Errorf("%d rule results, %d rules in the catalogue", got, len(ProfileRules))
	}
	want(t, res[IDCrtRead], engine.OK, "matches sites.yaml and the server's", "ranged read")
	want(t, res[engine.SummaryID], engine.OK)
	assertClean(t, b, fs)
}

// TestEachRuleBroken: a server that breaks one rule (and follows the
// others) fails exactly that rule, with a state that follows the rule's
// version: CRITICAL at or below the expected version, informational above.
func TestEachRuleBroken(t *testing.T) {
	for _, r := range ProfileRules {
		if r.ID == "stage" || r.ID == "poll" {
			continue // no tape endpoint: always untested
		}
		for _, expected := range []string{"1.0", "1.2"} {
			t.Run(r.ID+"@"+expected, func(t *testing.T) {
				fs := newMemFS()
				b := testBook(t, fs, narrowTokens())
				b.t.Service.ProfileVersion = expected
				fs.deny = wlcg(b.Audience(), r.ID)
				res := run(t, b, IDTknAccess)[IDTknAccess]
				wantVerdict, state := engine.VerdictFail, engine.Critical
				switch {
				case r.ID == "invalid-token-401":
					wantVerdict, state = engine.VerdictWarn, engine.Warning
				case !versionAtMost(r.Version, expected):
					state = engine.OK
				}
				if r.ID == "read" {
					// Refusals of a token that cannot read prove nothing.
					want(t, res, engine.Critical, "cannot read", ruleRead)
					return
				}
				if r.ID == "create-new" || r.ID == "create-mkdir" {
					want(t, res, engine.Critical, "set-up: ")
					return
				}
				want(t, res, state, r.ID+" "+r.Version)
				for _, x := range res.Rules {
					switch {
					case x.ID == r.ID && x.Verdict != wantVerdict:
						t.Errorf("broken rule %s: verdict %s, want %s (%s)", x.ID, x.Verdict, wantVerdict, x.Detail)
					case x.ID != r.ID && x.Verdict != engine.VerdictPass && x.Verdict != engine.VerdictUntested:
						t.Errorf("rule %s (not broken): verdict %s (%s)", x.ID, x.Verdict, x.Detail)
					case x.ID == r.ID && x.Informational != !versionAtMost(r.Version, expected):
						t.Errorf("rule %s %s: informational %v with expected version %s", x.ID, x.Version, x.Informational, expected)
					}
				}
				if len(res.Detail) > engine.MaxDetail {
					t.Errorf("detail of %d characters", len(res.Detail))
				}
				assertClean(t, b, fs)
			})
		}
	}
}

// TestPermissiveServer: a server that allows every token everything
// breaks every refusal, and the detail says so first.
func TestPermissiveServer(t *testing.T) {
	fs := newMemFS()
	b := testBook(t, fs, narrowTokens())
	res := run(t, b, IDTknAccess)[IDTknAccess]
	want(t, res, engine.Critical, "satisfies WLCG profile none (expected 1.0): 15 of 32 rules broken: create-no-overwrite 1.0 (storage.create:.../16tkn-access overwriting .../a: wrote it), create-no-delete 1.0")
	fails := 0
	for _, r := range res.Rules {
		if r.Verdict == engine.VerdictFail {
			fails++
		}
	}
	if fails != 19 {
		t.Errorf("%d rules failed, want the 19 refusals", fails)
	}
	assertClean(t, b, fs)
}

// TestIssuerIgnoresRequests: version and group requests an issuer ignores
// leave their rules untested, saying why; nothing else changes.
func TestIssuerIgnoresRequests(t *testing.T) {
	fs := newMemFS()
	b := testBook(t, fs, &wlcgtest.Issuer{Ignore: true})
	fs.deny = wlcg(b.Audience())
	res := run(t, b, IDTknAccess)[IDTknAccess]
	want(t, res, engine.OK, "satisfies WLCG profile 1.2 (expected 1.0)", "untested: wlcg-ver-major, wlcg-ver-minor, capabilities-over-groups, stage, poll")
	for _, r := range res.Rules {
		if r.ID == "wlcg-ver-major" && !strings.Contains(r.Detail, `the issuer ignored the request (storage.read:<scratch>/16tkn-access/a wlcg:2.0): it issued wlcg.ver "1.0"`) {
			t.Errorf("wlcg-ver-major: %s", r.Detail)
		}
	}
}

// TestNotFoundIsNoDenial: a 404 for an object shown to exist proves
// nothing: UNKNOWN, not OK.
func TestNotFoundIsNoDenial(t *testing.T) {
	fs := newMemFS()
	b := testBook(t, fs, narrowTokens())
	conform := wlcg(b.Audience())
	fs.deny = func(op OpKind, p string, w who, exists bool) error {
		if op == OpGet && strings.HasSuffix(p, "/ab") {
			return notFound(p)
		}
		return conform(op, p, w, exists)
	}
	res := run(t, b, IDTknAccess)[IDTknAccess]
	want(t, res, engine.Unknown, "path-elements-read 1.0 (storage.read:.../a reading .../ab: 404 Not Found", "a missing-object answer")
}

// TestTokenListingRefusedIsWarning: the profile does not define listing.
func TestTokenListingRefusedIsWarning(t *testing.T) {
	fs := newMemFS()
	b := testBook(t, fs, narrowTokens())
	conform := wlcg(b.Audience())
	fs.deny = func(op OpKind, p string, w who, exists bool) error {
		if op == OpList && w.token {
			return denied(p)
		}
		return conform(op, p, w, exists)
	}
	res := run(t, b, IDTknDirectory, IDCrtDirectory)
	want(t, res[IDTknDirectory], engine.Warning, "listing refused", "does not define listing")
	want(t, res[IDCrtDirectory], engine.OK)
	assertClean(t, b, fs)
}

// TestServerChecksums: a wrong server checksum is CRITICAL on read and
// write; none is a note; a failing query a WARNING.
func TestServerChecksums(t *testing.T) {
	for _, c := range []struct {
		name  string
		cs    func(string, []byte) (string, error)
		state engine.State
		words string
	}{
		{"wrong", func(string, []byte) (string, error) { return "00000001", nil }, engine.Critical, "server adler32 of"},
		{"none", func(p string, _ []byte) (string, error) { return "", &Error{Kind: Unsupported, Text: "no checksum"} }, engine.OK, "the server gives no adler32"},
		{"failing", func(p string, _ []byte) (string, error) { return "", &Error{Kind: Other, Text: "500 oops"} }, engine.Warning, "server checksum query failed: 500 oops"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := newMemFS()
			fs.checksum = c.cs
			b := testBook(t, fs, narrowTokens())
			res := run(t, b, IDCrtRead, IDCrtWrite)
			want(t, res[IDCrtRead], c.state, c.words)
			want(t, res[IDCrtWrite], c.state, c.words)
			assertClean(t, b, fs)
		})
	}
}

// TestNoCredentialsIsUnknown: the probe's own missing credentials are
// never the site's CRITICAL.
func TestNoCredentialsIsUnknown(t *testing.T) {
	fs := newMemFS()
	b := testBook(t, fs, nil)
	b.t.Creds.ProxyPath = ""
	res := run(t, b, IDs()...)
	for _, id := range IDs() {
		if res[id].State != engine.Unknown {
			t.Errorf("%s: %s %q, want UNKNOWN", id, res[id].State, res[id].Detail)
		}
	}
}

// TestOneTokenForEverything: a source that does not narrow cannot test the
// refusals, and details name the token's own scopes.
func TestOneTokenForEverything(t *testing.T) {
	fs := newMemFS()
	b := testBook(t, fs, broadTokens())
	res := run(t, b, IDTknAccess, IDTknRead)
	want(t, res[IDTknAccess], engine.Unknown, "gives one token for every request", "cannot be tested")
	want(t, res[IDTknRead], engine.OK, "token (one for every check)")
}

// TestCatalogueOrder: the rulebook's rules and a protocol's own checks
// merge in ETF order; without drops rules.
func TestCatalogueOrder(t *testing.T) {
	b := testBook(t, newMemFS(), narrowTokens())
	own := []engine.Check{{ID: "1connection"}, {ID: "2ssl"}, {ID: "3crt_extension"}, {ID: "9federation"}, {ID: "10macaroon"}}
	var ids []string
	for _, c := range Catalogue(own, b.Checks("2ssl", IDCrtContain, IDTknContain)) {
		ids = append(ids, c.ID)
	}
	got := strings.Join(ids, " ")
	if got != "1connection 2ssl 3crt_extension 4crt-read 6crt-access 7crt-write 8crt-directory 9federation 10macaroon 14tkn-read 16tkn-access 17tkn-write 18tkn-directory" {
		t.Errorf("catalogue %s", got)
	}
}

// TestGroupsOnlyBesideScopes: a server that honours a token's groups only
// beside a storage scope (as XrdAccSciTokens does) and then adds their
// rights breaks capabilities-over-groups, though the group alone may not
// write; one that ignores them beside scopes keeps it.
func TestGroupsOnlyBesideScopes(t *testing.T) {
	for _, broken := range []bool{true, false} {
		fs := newMemFS()
		b := testBook(t, fs, narrowTokens())
		pol := policy(b.Audience())
		pol.GroupsWithScopesOnly = true
		pol.Break["capabilities-over-groups"] = broken
		fs.deny = wlcgPolicy(pol)
		res := run(t, b, IDTknAccess)[IDTknAccess]
		for _, r := range res.Rules {
			if r.ID != "capabilities-over-groups" {
				continue
			}
			wantV, words := engine.VerdictPass, "refused; the group alone may not write here either (403 Forbidden)"
			if broken {
				wantV, words = engine.VerdictFail, "wrote it: the group's right was used though the token has storage scopes; the group alone may not write here either"
			}
			if r.Verdict != wantV || !strings.Contains(r.Detail, words) || !r.Informational {
				t.Errorf("broken=%v: %+v", broken, r)
			}
		}
		assertClean(t, b, fs)
	}
}

// TestREADMEListsEveryRule: README's table of the profile's rules names
// every rule 16tkn-access reports, with its version.
func TestREADMEListsEveryRule(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ProfileRules {
		if !strings.Contains(string(b), "| `"+r.ID+"` | "+r.Version+" | "+r.Section+" |") {
			t.Errorf("README's rule table lacks %s %s %s", r.ID, r.Version, r.Section)
		}
	}
}

// TestReadGroupOnlyReads: the sub-rules 16tkn-access tries side by side
// (tryReads) only read, so none can change another's answer.
func TestReadGroupOnlyReads(t *testing.T) {
	first := -1
	for i, r := range refusals {
		if r.op == OpGet {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatal("no read among the refusals")
	}
	for _, r := range append(slices.Clip(refusals[first:]), grants.reads...) {
		if r.op != OpGet && r.op != OpStat {
			t.Errorf("sub-rule %s (%s) is in a read group but does %v", r.id, r.name, r.op)
		}
	}
}

// TestRemovalRemembersTheCredential: on a server that refuses deletes with
// storage.modify alone (it stats first, as XRootD 5.5 over https), the
// cleanups of a service try that token once, then start with the
// credential that removed the object (each refusal costs a connection over
// HTTP); every object is removed.
func TestRemovalRemembersTheCredential(t *testing.T) {
	fs := newMemFS()
	allow := wlcg(OtherAudience)
	refused := 0
	fs.deny = func(op OpKind, p string, w who, exists bool) error {
		if (op == OpDelete || op == OpRmdir) && w.token && !slices.ContainsFunc(w.claims.Scopes, func(s string) bool { return strings.HasPrefix(s, "storage.read:") }) {
			refused++
			return denied(p)
		}
		return allow(op, p, w, exists)
	}
	b := testBook(t, fs, narrowTokens())
	fs.dirs[b.scratch.Dir()] = true
	var objects []string
	for _, name := range []string{"a", "b", "c", "d"} {
		p := b.scratch.Path("unit", name)
		fs.files[p] = []byte(name)
		objects = append(objects, p)
	}
	fs.dirs[b.scratch.Path("unit")] = true
	for _, p := range objects {
		if err := b.remove(context.Background(), p, false, true); err != nil {
			t.Fatalf("remove %s: %v", p, err)
		}
	}
	if err := b.remove(context.Background(), b.scratch.Path("unit"), true, true); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(objects, b.scratch.Path("unit")) {
		if _, ok := fs.files[p]; ok || fs.dirs[p] {
			t.Errorf("%s is left", p)
		}
	}
	if refused != 1 {
		t.Errorf("%d deletes refused to a storage.modify token alone, want 1 (the first; later removals start with what worked)", refused)
	}
}
