package testbed_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/config"
	_ "github.com/gridprobe/gridprobe/probes/all" // the service types sites.yaml names
)

const refPath = "/testvo/reference.dat"

// scopePath turns a storage path into a token scope path (relative to the
// issuer's base path /testvo).
func scopePath(t *testing.T, p string) string {
	t.Helper()
	rel, ok := strings.CutPrefix(p, "/testvo")
	if !ok {
		t.Fatalf("%s is outside /testvo", p)
	}
	if rel == "" {
		rel = "/"
	}
	return rel
}

// ---------------------------------------------------------------- X.509 over root://

func TestCertRootReadWriteMkdirDelete(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	g := e.gsi(e["X509_USER_PROXY"])
	url := e["GRIDPROBE_XROOTD_URL"]

	out := filepath.Join(t.TempDir(), "ref")
	if r := xrd(t, g, "xrdcp", "-f", e.root(refPath), out); r.code != 0 {
		t.Fatalf("xrdcp read reference: %s", r)
	}
	e.checkReference(t, readFile(t, out), "xrdcp (gsi)")
	if r := xrd(t, g, "xrdfs", url, "query", "checksum", refPath); r.code != 0 || !strings.Contains(r.stdout, "adler32 "+e["GRIDPROBE_REF_ADLER32"]) {
		t.Errorf("query checksum: %q %s", r.stdout, r)
	}

	dir := e.scratch(t)
	sub := dir + "/sub"
	if r := xrd(t, g, "xrdfs", url, "mkdir", sub); r.code != 0 {
		t.Fatalf("mkdir %s: %s", sub, r)
	}
	data := randomBytes(t, 100_000)
	file := sub + "/file.dat"
	if r := xrd(t, g, "xrdcp", localFile(t, data), e.root(file)); r.code != 0 {
		t.Fatalf("xrdcp write: %s", r)
	}
	back := filepath.Join(t.TempDir(), "back")
	if r := xrd(t, g, "xrdcp", e.root(file), back); r.code != 0 {
		t.Fatalf("xrdcp read back: %s", r)
	}
	if !bytes.Equal(readFile(t, back), data) {
		t.Errorf("read back differs from what was written")
	}
	if r := xrd(t, g, "xrdfs", url, "ls", sub); r.code != 0 || strings.TrimSpace(r.stdout) != file {
		t.Errorf("ls %s: %q %s", sub, r.stdout, r)
	}
	if r := xrd(t, g, "xrdfs", url, "rm", file); r.code != 0 {
		t.Errorf("rm: %s", r)
	}
	if r := xrd(t, g, "xrdfs", url, "stat", file); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "[3011]") {
		t.Errorf("stat after rm: want 3011 not found, got %s", r)
	}
	if r := xrd(t, g, "xrdfs", url, "rmdir", sub); r.code != 0 {
		t.Errorf("rmdir: %s", r)
	}
}

// ---------------------------------------------------------------- X.509 over https

func TestCertHTTPSReadWriteMkdirDelete(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	p := e["X509_USER_PROXY"]
	out := filepath.Join(t.TempDir(), "ref")
	if code, r := e.curlCert(t, p, "-o", out, e.webdav(refPath)); code != 200 {
		t.Fatalf("GET reference: HTTP %d %s", code, r)
	}
	e.checkReference(t, readFile(t, out), "curl GET (proxy)")

	// davix, the other reference client, reads it too.
	dv := filepath.Join(t.TempDir(), "davix")
	if r := run(t, e.clientEnv(), "davix-get", "--capath", e["X509_CERT_DIR"], "--cert", p, "--key", p, e.webdav(refPath), dv); r.code != 0 {
		t.Fatalf("davix-get: %s", r)
	}
	e.checkReference(t, readFile(t, dv), "davix-get (proxy)")

	dir := e.scratch(t)
	sub := dir + "/sub"
	if code, r := e.curlCert(t, p, "-X", "MKCOL", e.webdav(sub)); code != 201 {
		t.Fatalf("MKCOL: HTTP %d %s", code, r)
	}
	data := randomBytes(t, 100_000)
	file := sub + "/file.dat"
	if code, r := e.curlCert(t, p, "-T", localFile(t, data), e.webdav(file)); code != 200 && code != 201 {
		t.Fatalf("PUT: HTTP %d %s", code, r)
	}
	back := filepath.Join(t.TempDir(), "back")
	if code, r := e.curlCert(t, p, "-o", back, e.webdav(file)); code != 200 || !bytes.Equal(readFile(t, back), data) {
		t.Errorf("GET back: HTTP %d, equal=%v %s", code, bytes.Equal(readFile(t, back), data), r)
	}
	if code, r := e.curlCert(t, p, "-X", "PROPFIND", "-H", "Depth: 1", e.webdav(sub)); code != 207 || !strings.Contains(r.stdout, "file.dat") {
		t.Errorf("PROPFIND: HTTP %d %s", code, r)
	}
	if code, r := e.curlCert(t, p, "-X", "DELETE", e.webdav(file)); code != 200 && code != 204 {
		t.Errorf("DELETE file: HTTP %d %s", code, r)
	}
	if code, _ := e.curlCert(t, p, "-o", "/dev/null", e.webdav(file)); code != 404 {
		t.Errorf("GET after DELETE: HTTP %d, want 404", code)
	}
	if code, r := e.curlCert(t, p, "-X", "DELETE", e.webdav(sub)); code != 200 && code != 204 {
		t.Errorf("DELETE dir: HTTP %d %s", code, r)
	}
}

// ---------------------------------------------------------------- X.509 refusals

func TestCertForeignVOFileRefused(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	foreign := "/othervo/reference.dat"
	// The object exists: othervo's own proxy reads it (a 404 would prove nothing).
	if r := xrd(t, e.gsi(e["GRIDPROBE_FOREIGN_PROXY"]), "xrdfs", e["GRIDPROBE_XROOTD_URL"], "stat", foreign); r.code != 0 {
		t.Fatalf("othervo proxy cannot stat its own file: %s", r)
	}
	if r := xrd(t, e.gsi(e["X509_USER_PROXY"]), "xrdcp", "-f", e.root(foreign), filepath.Join(t.TempDir(), "x")); !deniedXrd(r) {
		t.Errorf("testvo reading othervo's file over root://: want 3010 permission denied, got %s", r)
	}
	if code, r := e.curlCert(t, e["X509_USER_PROXY"], "-o", "/dev/null", e.webdav(foreign)); code != 403 {
		t.Errorf("testvo reading othervo's file over https: HTTP %d, want 403 %s", code, r)
	}
	// And the other way round: othervo cannot read testvo's reference file.
	if code, _ := e.curlCert(t, e["GRIDPROBE_FOREIGN_PROXY"], "-o", "/dev/null", e.webdav(refPath)); code != 403 {
		t.Errorf("othervo reading testvo's file over https: HTTP %d, want 403", code)
	}
}

func TestCertNoVOMSRefused(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	p := e["GRIDPROBE_NOVOMS_PROXY"]
	if r := xrd(t, e.gsi(p), "xrdcp", "-f", e.root(refPath), filepath.Join(t.TempDir(), "x")); !deniedXrd(r) {
		t.Errorf("proxy without VOMS over root://: want 3010, got %s", r)
	}
	if code, _ := e.curlCert(t, p, "-o", "/dev/null", e.webdav(refPath)); code != 403 {
		t.Errorf("proxy without VOMS over https: HTTP %d, want 403", code)
	}
}

func TestCertReadOnlyArea(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	g := e.gsi(e["X509_USER_PROXY"])
	if r := xrd(t, g, "xrdfs", e["GRIDPROBE_XROOTD_URL"], "stat", "/testvo/readonly/reference.dat"); r.code != 0 {
		t.Errorf("stat in /testvo/readonly: %s", r)
	}
	name := "/testvo/readonly/tb-must-not-exist-" + strings.ToLower(filepath.Base(t.TempDir()))
	if r := xrd(t, g, "xrdcp", localFile(t, []byte("x")), e.root(name)); !deniedXrd(r) {
		t.Errorf("write into /testvo/readonly over root://: want 3010, got %s", r)
		xrd(t, g, "xrdfs", e["GRIDPROBE_XROOTD_URL"], "rm", name)
	}
	if code, _ := e.curlCert(t, e["X509_USER_PROXY"], "-T", localFile(t, []byte("x")), e.webdav(name)); code != 403 {
		t.Errorf("PUT into /testvo/readonly: HTTP %d, want 403", code)
		e.curlCert(t, e["X509_USER_PROXY"], "-X", "DELETE", e.webdav(name))
	}
}

func TestCertExpiredAndUntrustedProxyRefused(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	for _, k := range []string{"GRIDPROBE_EXPIRED_PROXY", "GRIDPROBE_UNTRUSTED_PROXY"} {
		p := e[k]
		if r := xrd(t, e.gsi(p), "xrdfs", e["GRIDPROBE_XROOTD_URL"], "stat", refPath); !authFailedXrd(r) {
			t.Errorf("%s over root://: want authentication failure, got %s", k, r)
		}
		// XrdHttp refuses the client certificate in the TLS handshake: no HTTP answer.
		if code, r := e.curlCert(t, p, "-o", "/dev/null", e.webdav(refPath)); !(code == 403 || code == 0 && r.code != 0) {
			t.Errorf("%s over https: HTTP %d, want a TLS failure or 403 %s", k, code, r)
		}
	}
}

// ---------------------------------------------------------------- tokens

func TestTokenRead(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	https := e.issue(t, "storage.read:"+scopePath(t, refPath), e["GRIDPROBE_WEBDAV_URL"])
	out := filepath.Join(t.TempDir(), "ref")
	if code, r := e.curlToken(t, https, "-o", out, e.webdav(refPath)); code != 200 {
		t.Fatalf("GET with storage.read token: HTTP %d %s", code, r)
	}
	e.checkReference(t, readFile(t, out), "curl GET (token)")

	root := e.issue(t, "storage.read:"+scopePath(t, refPath), e["GRIDPROBE_XROOTD_URL"])
	out2 := filepath.Join(t.TempDir(), "ref2")
	if r := xrd(t, e.ztn(root), "xrdcp", "-f", e.root(refPath), out2); r.code != 0 {
		t.Fatalf("xrdcp with storage.read token (ztn): %s", r)
	}
	e.checkReference(t, readFile(t, out2), "xrdcp (ztn)")

	// A read token does not write.
	dir := e.scratch(t)
	rw := e.issue(t, "storage.read:"+scopePath(t, dir), e["GRIDPROBE_WEBDAV_URL"])
	if code, _ := e.curlToken(t, rw, "-T", localFile(t, []byte("x")), e.webdav(dir+"/x")); code != 403 {
		t.Errorf("PUT with storage.read token: HTTP %d, want 403", code)
	}
}

func TestTokenCreateHTTPS(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	dir := e.scratch(t)
	tok := e.issue(t, "storage.create:"+scopePath(t, dir), e["GRIDPROBE_WEBDAV_URL"])
	file := dir + "/new.dat"
	data := randomBytes(t, 50_000)
	if code, r := e.curlToken(t, tok, "-T", localFile(t, data), e.webdav(file)); code != 200 && code != 201 {
		t.Fatalf("PUT new file with storage.create: HTTP %d %s", code, r)
	}
	back := filepath.Join(t.TempDir(), "back")
	if code, _ := e.curlCert(t, e["X509_USER_PROXY"], "-o", back, e.webdav(file)); code != 200 || !bytes.Equal(readFile(t, back), data) {
		t.Errorf("created file not as written (HTTP %d)", code)
	}
	// WLCG: storage.create does not allow overwriting or deleting.
	if code, _ := e.curlToken(t, tok, "-T", localFile(t, []byte("overwritten")), e.webdav(file)); code != 403 {
		t.Errorf("overwrite with only storage.create: HTTP %d, want 403", code)
	}
	if code, _ := e.curlToken(t, tok, "-X", "DELETE", e.webdav(file)); code != 403 {
		t.Errorf("DELETE with only storage.create: HTTP %d, want 403", code)
	}
	if code, _ := e.curlCert(t, e["X509_USER_PROXY"], "-o", back, e.webdav(file)); code != 200 || !bytes.Equal(readFile(t, back), data) {
		t.Errorf("file changed by refused requests (HTTP %d)", code)
	}
	// mkdir with storage.create.
	if code, r := e.curlToken(t, tok, "-X", "MKCOL", e.webdav(dir+"/newdir")); code != 201 {
		t.Errorf("MKCOL with storage.create: HTTP %d %s", code, r)
	}
}

func TestTokenCreateRoot(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	dir := e.scratch(t)
	aud := e["GRIDPROBE_XROOTD_URL"]
	// xrdcp stats the destination first, and stat needs storage.read (see
	// KNOWN_ISSUES.md, "xrdcp cannot upload with only storage.create"): so the
	// reference client needs read+create; the server still must refuse overwrite.
	tok := e.issue(t, "storage.create:"+scopePath(t, dir)+" storage.read:"+scopePath(t, dir), aud)
	file := dir + "/new.dat"
	data := randomBytes(t, 50_000)
	if r := xrd(t, e.ztn(tok), "xrdcp", localFile(t, data), e.root(file)); r.code != 0 {
		t.Fatalf("xrdcp new file with storage.create+read: %s", r)
	}
	if r := xrd(t, e.ztn(tok), "xrdcp", "-f", localFile(t, []byte("overwritten")), e.root(file)); !deniedXrd(r) {
		t.Errorf("overwrite (xrdcp -f) with storage.create: want 3010, got %s", r)
	}
	if r := xrd(t, e.ztn(tok), "xrdfs", aud, "rm", file); !deniedXrd(r) {
		t.Errorf("rm with storage.create: want 3010, got %s", r)
	}
	back := filepath.Join(t.TempDir(), "back")
	if r := xrd(t, e.gsi(e["X509_USER_PROXY"]), "xrdcp", e.root(file), back); r.code != 0 || !bytes.Equal(readFile(t, back), data) {
		t.Errorf("file not intact after refused overwrite/delete: %s", r)
	}
	if r := xrd(t, e.ztn(tok), "xrdfs", aud, "mkdir", dir+"/newdir"); r.code != 0 {
		t.Errorf("mkdir with storage.create: %s", r)
	}
}

func TestKnownServerIssue_XrdcpCannotUploadWithCreateOnly(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	dir := e.scratch(t)
	tok := e.issue(t, "storage.create:"+scopePath(t, dir), e["GRIDPROBE_XROOTD_URL"])
	r := xrd(t, e.ztn(tok), "xrdcp", localFile(t, []byte("x")), e.root(dir+"/new.dat"))
	// Observed: xrdcp's stat of the destination is refused (3010, "Unable to locate"),
	// so the upload never starts. Confirmed by hand (KNOWN_ISSUES.md).
	if !deniedXrd(r) || !strings.Contains(r.stdout+r.stderr, "Unable to locate") {
		t.Errorf("observed behaviour changed: %s (update KNOWN_ISSUES.md)", r)
	}
}

func TestTokenDeleteNeedsModify(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	dir := e.scratch(t)
	g := e.gsi(e["X509_USER_PROXY"])
	put := func(name string) string {
		f := dir + "/" + name
		if r := xrd(t, g, "xrdcp", localFile(t, []byte(name)), e.root(f)); r.code != 0 {
			t.Fatalf("create %s with proxy: %s", f, r)
		}
		return f
	}
	sp := scopePath(t, dir)
	// root://: create-only refused, modify allowed.
	f1 := put("root.dat")
	create := e.issue(t, "storage.create:"+sp, e["GRIDPROBE_XROOTD_URL"])
	if r := xrd(t, e.ztn(create), "xrdfs", e["GRIDPROBE_XROOTD_URL"], "rm", f1); !deniedXrd(r) {
		t.Errorf("rm with storage.create over root://: want 3010, got %s", r)
	}
	modify := e.issue(t, "storage.modify:"+sp, e["GRIDPROBE_XROOTD_URL"])
	if r := xrd(t, e.ztn(modify), "xrdfs", e["GRIDPROBE_XROOTD_URL"], "rm", f1); r.code != 0 {
		t.Errorf("rm with storage.modify over root://: %s", r)
	}
	// https: create-only refused; read+modify allowed.
	f2 := put("https.dat")
	hc := e.issue(t, "storage.create:"+sp, e["GRIDPROBE_WEBDAV_URL"])
	if code, _ := e.curlToken(t, hc, "-X", "DELETE", e.webdav(f2)); code != 403 {
		t.Errorf("DELETE with storage.create: HTTP %d, want 403", code)
	}
	hrm := e.issue(t, "storage.read:"+sp+" storage.modify:"+sp, e["GRIDPROBE_WEBDAV_URL"])
	if code, r := e.curlToken(t, hrm, "-X", "DELETE", e.webdav(f2)); code != 200 && code != 204 {
		t.Errorf("DELETE with storage.read+modify: HTTP %d %s", code, r)
	}
}

func TestKnownServerIssue_HTTPSDeleteWithModifyOnlyRefused(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	dir := e.scratch(t)
	f := dir + "/victim.dat"
	if r := xrd(t, e.gsi(e["X509_USER_PROXY"]), "xrdcp", localFile(t, []byte("x")), e.root(f)); r.code != 0 {
		t.Fatalf("create with proxy: %s", r)
	}
	tok := e.issue(t, "storage.modify:"+scopePath(t, dir), e["GRIDPROBE_WEBDAV_URL"])
	// WLCG: storage.modify allows deletion. Observed (confirmed by hand): XrdHttp
	// stats the path before DELETE, the stat needs storage.read, so it answers 403.
	if code, _ := e.curlToken(t, tok, "-X", "DELETE", e.webdav(f)); code != 403 {
		t.Errorf("observed behaviour changed: DELETE with only storage.modify gave HTTP %d (update KNOWN_ISSUES.md)", code)
	}
}

func TestTokenRefused(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	scope := "storage.read:/"
	both := e["GRIDPROBE_WEBDAV_URL"] + "," + e["GRIDPROBE_XROOTD_URL"]
	cases := []struct {
		name string
		args []string
		// rootLogin: root:// refuses at login (kXR_AuthFailed); else auth
		// succeeds and every request gets 3010 (audience is checked at authorization).
		rootLogin bool
	}{
		{"wrong-audience", []string{"--aud", "https://other.example.org:1094"}, false},
		{"expired", []string{"--aud", both, "--exp", "-5m"}, true},
		{"not-yet-valid", []string{"--aud", both, "--nbf", "10m"}, true},
		{"rogue-key", []string{"--aud", both, "--key", "rogue"}, true},
		{"rogue-key-trusted-kid", []string{"--aud", both, "--key", "rogue", "--kid", "testbed-rs256-1"}, true},
		{"untrusted-issuer", []string{"--aud", both, "--iss", "https://localhost:18999"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := e.mint(t, append([]string{"--scope", scope}, c.args...)...)
			if code, _ := e.curlToken(t, tok, "-o", "/dev/null", e.webdav(refPath)); code != 403 {
				t.Errorf("https: HTTP %d, want 403", code)
			}
			r := xrd(t, e.ztn(tok), "xrdfs", e["GRIDPROBE_XROOTD_URL"], "stat", refPath)
			if c.rootLogin && !authFailedXrd(r) {
				t.Errorf("root://: want authentication failure, got %s", r)
			}
			if !c.rootLogin && !deniedXrd(r) {
				t.Errorf("root://: want 3010 permission denied, got %s", r)
			}
		})
	}
	// Control: the same minted token with the right claims works (the refusals are not an accident).
	ok := e.mint(t, "--scope", scope, "--aud", both)
	if code, _ := e.curlToken(t, ok, "-o", "/dev/null", e.webdav(refPath)); code != 200 {
		t.Errorf("control token over https: HTTP %d, want 200", code)
	}
	if r := xrd(t, e.ztn(ok), "xrdfs", e["GRIDPROBE_XROOTD_URL"], "stat", refPath); r.code != 0 {
		t.Errorf("control token over root://: %s", r)
	}
}

func TestTokenAudiences(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	// The audiences XRootD accepts: exactly the strings in scitokens.cfg (any of
	// them on any protocol) plus the WLCG "any" audience. Nothing is derived
	// from the host name; no normalisation (a trailing slash is another string).
	cases := []struct {
		aud string
		ok  bool
	}{
		{"https://localhost:18443", true},
		{"roots://localhost:11094", true},
		{"root://localhost:11094", true},
		{"localhost:11094", true},
		{"https://wlcg.cern.ch/jwt/v1/any", true},
		{"https://other.example.org,https://localhost:18443", true},
		{"https://localhost:18443/", false},
		{"https://127.0.0.1:18443", false},
		{"localhost:18443", false},
		{"ANY", false},
	}
	for _, c := range cases {
		tok := e.mint(t, "--scope", "storage.read:/", "--aud", c.aud)
		code, _ := e.curlToken(t, tok, "-o", "/dev/null", e.webdav(refPath))
		r := xrd(t, e.ztn(tok), "xrdfs", e["GRIDPROBE_XROOTD_URL"], "stat", refPath)
		if c.ok && (code != 200 || r.code != 0) {
			t.Errorf("aud %q: want accepted, got https %d, root:// %s", c.aud, code, r)
		}
		if !c.ok && (code != 403 || !deniedXrd(r)) {
			t.Errorf("aud %q: want refused, got https %d, root:// %s", c.aud, code, r)
		}
	}
}

func TestTokenContain(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	foreign := "/othervo/reference.dat"
	tok := e.issue(t, "storage.read:/", e["GRIDPROBE_WEBDAV_URL"]+" "+e["GRIDPROBE_XROOTD_URL"])
	if code, _ := e.curlToken(t, tok, "-o", "/dev/null", e.webdav(foreign)); code != 403 {
		t.Errorf("token reading %s over https: HTTP %d, want 403", foreign, code)
	}
	if r := xrd(t, e.ztn(tok), "xrdcp", "-f", e.root(foreign), filepath.Join(t.TempDir(), "x")); !deniedXrd(r) {
		t.Errorf("token reading %s over root://: want 3010, got %s", foreign, r)
	}
	for _, p := range []string{"/testvo/../othervo/reference.dat", "//othervo/reference.dat"} {
		if code, _ := e.curlToken(t, tok, "-o", "/dev/null", "--path-as-is", e.webdav(p)); code == 200 {
			t.Errorf("token reading %s over https: HTTP 200", p)
		}
	}
}

func TestKnownServerIssue_ScopePathPrefixNotByElement(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	// WLCG: storage.read:/read covers /read and /read/..., not /readonly.
	// Observed (confirmed by hand): XRootD 5.5.3 grants /testvo/readonly/... .
	tok := e.mint(t, "--scope", "storage.read:/read", "--aud", e["GRIDPROBE_WEBDAV_URL"])
	if code, _ := e.curlToken(t, tok, "-o", "/dev/null", e.webdav("/testvo/readonly/reference.dat")); code != 200 {
		t.Errorf("observed behaviour changed: HTTP %d (update KNOWN_ISSUES.md)", code)
	}
	// Control: a path that is not a string prefix is refused.
	if code, _ := e.curlToken(t, tok, "-o", "/dev/null", e.webdav(refPath)); code != 403 {
		t.Errorf("control: storage.read:/read reading %s: HTTP %d, want 403", refPath, code)
	}
}

func TestKnownServerIssue_DotDotScopeCrashesServer(t *testing.T) {
	if os.Getenv("GRIDPROBE_TESTBED_DESTRUCTIVE") != "1" {
		t.Skip("kills the shared testbed SE (KNOWN_ISSUES.md #1); set GRIDPROBE_TESTBED_DESTRUCTIVE=1 to run it (it restarts the testbed)")
	}
	e := testbed(t)
	tok := e.mint(t, "--scope", "storage.read:/../othervo", "--aud", e["GRIDPROBE_WEBDAV_URL"])
	code, r := e.curlToken(t, tok, "-o", "/dev/null", e.webdav(refPath))
	if code != 0 {
		t.Errorf("observed behaviour changed: HTTP %d (the server used to crash) %s", code, r)
	}
	up := exec.Command("./up.sh")
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("restart testbed: %v\n%s", err, out)
	}
}

// ---------------------------------------------------------------- macaroons

func TestMacaroon(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	body := `{"caveats":["activity:DOWNLOAD,READ_METADATA"],"validity":"PT10M"}`
	code, r := e.curlCert(t, e["X509_USER_PROXY"], "-X", "POST", "-H", "Content-Type: application/macaroon-request",
		"--data-binary", body, e.webdav(refPath))
	if code != 200 {
		t.Fatalf("macaroon request: HTTP %d %s", code, r)
	}
	var resp struct {
		Macaroon string `json:"macaroon"`
		Expires  string `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil || resp.Macaroon == "" {
		t.Fatalf("macaroon response is not {\"macaroon\":...}: %v", err)
	}
	mac := secretFile(t, "macaroon", resp.Macaroon)
	out := filepath.Join(t.TempDir(), "ref")
	if code, r := e.curlToken(t, mac, "-o", out, e.webdav(refPath)); code != 200 {
		t.Fatalf("GET with macaroon: HTTP %d %s", code, r)
	}
	e.checkReference(t, readFile(t, out), "curl GET (macaroon)")
	// The macaroon is bound to its path and activities.
	if code, _ := e.curlToken(t, mac, "-o", "/dev/null", e.webdav("/testvo/readonly/reference.dat")); code != 403 {
		t.Errorf("macaroon for %s used on another path: HTTP %d, want 403", refPath, code)
	}
	if code, _ := e.curlToken(t, mac, "-T", localFile(t, []byte("x")), e.webdav(refPath)); code != 403 {
		t.Errorf("DOWNLOAD macaroon used to upload: HTTP %d, want 403", code)
	}
	// Without the content type the request is refused.
	if code, _ := e.curlCert(t, e["X509_USER_PROXY"], "-o", "/dev/null", "-X", "POST", "--data-binary", body, e.webdav(refPath)); code == 200 {
		t.Errorf("macaroon request without Content-Type: HTTP 200")
	}
}

// ---------------------------------------------------------------- federation

func TestFederation(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	rdr := e["GRIDPROBE_REDIRECTOR_URL"]
	r := xrd(t, e.gsi(e["X509_USER_PROXY"]), "xrdfs", rdr, "locate", refPath)
	if r.code != 0 || !strings.Contains(r.stdout, ":11094") {
		t.Fatalf("locate through the redirector: %q %s", r.stdout, r)
	}
	// Token (ztn): the redirect goes to 127.0.0.1:11094; the SE forces TLS.
	tok := e.issue(t, "storage.read:"+scopePath(t, refPath), e["GRIDPROBE_XROOTD_URL"])
	out := filepath.Join(t.TempDir(), "via-rdr")
	if r := xrd(t, e.ztn(tok), "xrdcp", "-f", rdr+"/"+refPath, out); r.code != 0 {
		t.Fatalf("xrdcp through the redirector (ztn): %s", r)
	}
	e.checkReference(t, readFile(t, out), "xrdcp via redirector (ztn)")
	// GSI: XrdSecgsi checks the SE certificate CN (localhost) against the redirect
	// target (127.0.0.1): it needs XrdSecGSISRVNAMES=localhost (KNOWN_ISSUES.md).
	out2 := filepath.Join(t.TempDir(), "via-rdr-gsi")
	if r := xrd(t, e.gsi(e["X509_USER_PROXY"], "XrdSecGSISRVNAMES=localhost"), "xrdcp", "-f", rdr+"/"+refPath, out2); r.code != 0 {
		t.Fatalf("xrdcp through the redirector (gsi): %s", r)
	}
	e.checkReference(t, readFile(t, out2), "xrdcp via redirector (gsi)")
	// A missing file is not found through the federation.
	if r := xrd(t, e.gsi(e["X509_USER_PROXY"]), "xrdfs", rdr, "locate", "/testvo/no-such-file-"+filepath.Base(t.TempDir())); r.code == 0 {
		t.Errorf("locate of a missing file succeeded: %q", r.stdout)
	}
}

func TestKnownIssue_FederationGSINeedsSrvNames(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	r := xrd(t, e.gsi(e["X509_USER_PROXY"]), "xrdcp", "-f", e["GRIDPROBE_REDIRECTOR_URL"]+"/"+refPath, filepath.Join(t.TempDir(), "x"))
	// Observed (confirmed by hand): GSI to the SE after the redirect fails the CN check,
	// XrdCl falls back to the redirector, which answers 3011.
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "[3011]") {
		t.Errorf("observed behaviour changed: %s (update KNOWN_ISSUES.md)", r)
	}
}

// ---------------------------------------------------------------- issuer

func TestIssuerEndpoint(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	code, r := curlStatus(t, e, []string{"-sS", "--cacert", e["GRIDPROBE_ISSUER_CA"], e["GRIDPROBE_ISSUER"] + "/.well-known/openid-configuration"})
	if code != 200 {
		t.Fatalf("discovery: HTTP %d %s", code, r)
	}
	var disc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &disc); err != nil {
		t.Fatalf("discovery is not JSON: %v", err)
	}
	if disc["issuer"] != e["GRIDPROBE_ISSUER"] || disc["token_endpoint"] != e["GRIDPROBE_ISSUER"]+"/token" {
		t.Errorf("discovery: issuer=%v token_endpoint=%v", disc["issuer"], disc["token_endpoint"])
	}
	for _, bad := range []string{"storage.read:/../othervo", "storage.write:/", "compute.admin"} {
		if tok, code, msg := e.tokenRequest(t, bad, e["GRIDPROBE_WEBDAV_URL"]); tok != "" || code != 400 || !strings.HasPrefix(msg, "invalid_scope") {
			t.Errorf("scope %q: HTTP %d %q, want 400 invalid_scope", bad, code, msg)
		}
	}
	// The issuer's log never holds a token.
	tok := e.issue(t, "storage.read:/", e["GRIDPROBE_WEBDAV_URL"])
	log := readFile(t, filepath.Join(e["GRIDPROBE_TESTBED"], "log", "issuer.log"))
	if raw := bytes.TrimSpace(readFile(t, tok)); bytes.Contains(log, raw) || bytes.Contains(log, raw[:40]) {
		t.Errorf("issuer.log contains the token")
	}
}

// ---------------------------------------------------------------- loopback only

func TestServersListenOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	e := testbed(t)
	r := run(t, e.clientEnv(), "ss", "-Hltn")
	if r.code != 0 {
		t.Fatalf("ss: %s", r)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		for _, port := range []string{":11094", ":11095", ":11213", ":18443", ":18444", ":61613", ":61614", ":25672", ":4369", ":11194", ":18543", ":11294", ":18643"} {
			if strings.HasSuffix(f[3], port) && !strings.HasPrefix(f[3], "127.0.0.1:") && !strings.HasPrefix(f[3], "[::1]:") &&
				!strings.HasPrefix(f[3], "[::ffff:127.0.0.1]:") {
				t.Errorf("port %s listens on %s", port, f[3])
			}
		}
	}
}

// ---------------------------------------------------------------- sites.testbed.yaml

func TestSitesTestbedYAML(t *testing.T) {
	e := testbed(t)
	for k, v := range e {
		t.Setenv(k, v)
	}
	cfg, err := config.Load("sites.testbed.yaml")
	if err != nil {
		t.Fatalf("sites.testbed.yaml does not validate: %v", err)
	}
	if len(cfg.Sites) != 1 || cfg.Sites[0].Name != "T2_LOCAL_Testbed" || len(cfg.Sites[0].Services) != 2 {
		t.Fatalf("want one site T2_LOCAL_Testbed with two services, got %+v", cfg.Sites)
	}
	for _, s := range cfg.Sites[0].Services {
		if s.ReadFile.Adler32 != e["GRIDPROBE_REF_ADLER32"] || s.ReadFile.Size != 1<<20 || s.WriteDir != "/testvo/gridprobe" {
			t.Errorf("%s: read_file %+v write_dir %q", s.Type, s.ReadFile, s.WriteDir)
		}
	}
	if cfg.Sites[0].Services[1].Federation != e["GRIDPROBE_REDIRECTOR_URL"] {
		t.Errorf("federation %q", cfg.Sites[0].Services[1].Federation)
	}
}
