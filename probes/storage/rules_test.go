package storage

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// TestConformingServer: on a server that follows the profile, every rule
// is OK and nothing is left behind.
func TestConformingServer(t *testing.T) {
	fs := newMemFS()
	b := testBook(t, fs, fakeTokens{})
	fs.deny = wlcg(b.Audience())
	res := run(t, b, IDs()...)
	for _, id := range IDs() {
		want(t, res[id], engine.OK)
	}
	want(t, res[IDTknAccess], engine.OK, fmt.Sprintf("all %d refusals enforced on existing objects", len(refusals)))
	want(t, res[IDCrtRead], engine.OK, "matches sites.yaml and the server's", "ranged read")
	want(t, res[engine.SummaryID], engine.OK)
	assertClean(t, b, fs)
}

// TestPermissiveServer: a server that allows every token everything
// breaks every refusal, and the detail names each with its rule.
func TestPermissiveServer(t *testing.T) {
	fs := newMemFS()
	b := testBook(t, fs, fakeTokens{})
	res := run(t, b, IDTknAccess)[IDTknAccess]
	n := len(refusals)
	want(t, res, engine.Critical, fmt.Sprintf("%d of %d refusals not enforced", n, n),
		"create-only overwrite: wrote it with the token storage.create:<scratch>/16tkn-access ("+ruleCreateOnly+")")
	assertClean(t, b, fs)
}

// TestNotFoundIsNoDenial: a 404 for an object shown to exist proves
// nothing: UNKNOWN, not OK.
func TestNotFoundIsNoDenial(t *testing.T) {
	fs := newMemFS()
	b := testBook(t, fs, fakeTokens{})
	conform := wlcg(b.Audience())
	fs.deny = func(op OpKind, p string, w who, exists bool) error {
		if op == OpGet && strings.HasSuffix(p, "/ab") {
			return notFound(p)
		}
		return conform(op, p, w, exists)
	}
	res := run(t, b, IDTknAccess)[IDTknAccess]
	want(t, res, engine.Unknown, "reading sibling .../ab: 404 Not Found", "not an explicit denial")
}

// TestTokenListingRefusedIsWarning: the profile does not define listing.
func TestTokenListingRefusedIsWarning(t *testing.T) {
	fs := newMemFS()
	b := testBook(t, fs, fakeTokens{})
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
			b := testBook(t, fs, fakeTokens{})
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
	b := testBook(t, fs, fakeTokens{broad: true})
	res := run(t, b, IDTknAccess, IDTknRead)
	want(t, res[IDTknAccess], engine.Unknown, "gives one token for every request")
	want(t, res[IDTknRead], engine.OK, "token (one for every check)")
}

// TestCatalogueOrder: the rulebook's rules and a protocol's own checks
// merge in ETF order; without drops rules.
func TestCatalogueOrder(t *testing.T) {
	b := testBook(t, newMemFS(), fakeTokens{})
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
