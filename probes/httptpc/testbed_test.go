package httptpc

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// The testbed harness of the integration tests: the main SE (the "site")
// and the partner SE, real XRootD 5.5.3, each with a scratch area, tokens
// from the testbed issuer and the proxy.

type side struct {
	name      string
	base      string // https://host:port
	ref       string // reference file path
	adler32   string
	size      int64
	scopeBase string
	scratch   probe.Scratch
	hc        *http.Client // plain requests (MKCOL, HEAD, DELETE) with tokens
}

func (s *side) url(p string) string { return s.base + p }

// scope is a storage scope for p, relative to the issuer's base path.
func (s *side) scope(kind, p string) string {
	rel := strings.TrimPrefix(p, s.scopeBase)
	if rel == "" {
		rel = "/"
	}
	return "storage." + kind + ":" + rel
}

type bed struct {
	env           map[string]string
	cas           *cred.CAStore
	proxy         *cred.Proxy
	tokens        *cred.ClientCredentials
	site, partner *side
}

func newBed(t *testing.T) *bed {
	t.Helper()
	env := testbedenv.Load(t, "GRIDPROBE_WEBDAV_URL", "GRIDPROBE_PARTNER_WEBDAV_URL", "GRIDPROBE_ISSUER")
	cas, err := cred.LoadCAPool(env["X509_CERT_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := cred.LoadProxy(env["X509_USER_PROXY"])
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cred.NewClientCredentials(env["GRIDPROBE_ISSUER"], env["GRIDPROBE_CLIENT_ID"], env["GRIDPROBE_CLIENT_SECRET_FILE"], env["GRIDPROBE_ISSUER_CA"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	runID := engine.NewRunID()
	b := &bed{env: env, cas: cas, proxy: proxy, tokens: cc}
	b.site = b.newSide(t, "site", env["GRIDPROBE_WEBDAV_URL"], env["GRIDPROBE_REF_PATH"], env["GRIDPROBE_REF_ADLER32"], env["GRIDPROBE_REF_SIZE"], "/testvo/gridprobe", "/testvo", runID)
	b.partner = b.newSide(t, "partner", env["GRIDPROBE_PARTNER_WEBDAV_URL"], env["GRIDPROBE_PARTNER_REF_PATH"], env["GRIDPROBE_PARTNER_REF_ADLER32"],
		env["GRIDPROBE_PARTNER_REF_SIZE"], env["GRIDPROBE_PARTNER_WRITE_DIR"], env["GRIDPROBE_PARTNER_SCOPE_BASE"], runID)
	return b
}

func (b *bed) newSide(t *testing.T, name, base, ref, adler, size, writeDir, scopeBase, runID string) *side {
	t.Helper()
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || base == "" || ref == "" || adler == "" {
		t.Fatalf("testbed environment incomplete for the %s SE: url %q ref %q adler32 %q size %q", name, base, ref, adler, size)
	}
	sc, err := probe.NewScratch(writeDir, runID)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	tr := &http.Transport{TLSClientConfig: b.cas.TLSConfig(u.Host, nil), DisableCompression: true}
	s := &side{name: name, base: base, ref: ref, adler32: adler, size: n, scopeBase: scopeBase, scratch: sc,
		hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	t.Cleanup(tr.CloseIdleConnections)
	return s
}

// token gets the narrowest token for scopes at the side's audience.
func (b *bed) token(t *testing.T, s *side, scopes ...string) *cred.Token {
	t.Helper()
	tok, err := b.tokens.Token(context.Background(), cred.TokenRequest{Scopes: scopes, Audience: s.base})
	if err != nil {
		t.Fatalf("token %v for %s: %v", scopes, s.base, err)
	}
	return tok
}

// client is the httptpc Client: with the proxy as TLS client certificate
// (crt copies) or without (token copies).
func (b *bed) client(t *testing.T, withProxy bool) *Client {
	var cert *tls.Certificate
	if withProxy {
		cert = &b.proxy.Cert
	}
	c := NewClient(func(hostport string) *tls.Config { return b.cas.TLSConfig(hostport, cert) })
	t.Cleanup(c.Close)
	return c
}

func (s *side) do(t *testing.T, method, p string, tok *cred.Token, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, s.url(p), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if tok != nil {
		req.Header.Set("Authorization", "Bearer "+tok.Bearer())
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s on the %s SE: %v", method, p, s.name, err)
	}
	resp.Body.Close()
	return resp
}

// prepare creates the side's scratch dir (XRootD 5.5 does not create the
// parent of a pulled file) and registers its removal, files first.
func (b *bed) prepare(t *testing.T, s *side, files ...string) {
	t.Helper()
	if resp := s.do(t, "MKCOL", s.scratch.Dir(), b.token(t, s, s.scope("create", s.scratch.Dir())), nil); resp.StatusCode != 201 {
		t.Fatalf("MKCOL %s on the %s SE: %s", s.scratch.Dir(), s.name, resp.Status)
	}
	t.Cleanup(func() {
		// XRootD 5.5.3 stats before DELETE: the clean-up token needs read too.
		tok := b.token(t, s, s.scope("read", s.scratch.Dir()), s.scope("modify", s.scratch.Dir()))
		for _, p := range append(files, s.scratch.Dir()) {
			err := s.scratch.Delete(context.Background(), p, func(ctx context.Context, p string) error {
				resp := s.do(t, http.MethodDelete, p, tok, nil)
				if resp.StatusCode != 200 && resp.StatusCode != 204 && resp.StatusCode != 404 {
					t.Errorf("clean-up: DELETE %s on the %s SE: %s", p, s.name, resp.Status)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}
	})
}

// stat returns the size and adler32 of p (HEAD with Want-Digest), or -1
// when it does not exist.
func (b *bed) stat(t *testing.T, s *side, p string) (int64, string) {
	t.Helper()
	resp := s.do(t, http.MethodHead, p, b.token(t, s, s.scope("read", s.scratch.Dir())), map[string]string{"Want-Digest": "adler32"})
	if resp.StatusCode == http.StatusNotFound {
		return -1, ""
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD %s on the %s SE: %s", p, s.name, resp.Status)
	}
	digest := strings.TrimPrefix(resp.Header.Get("Digest"), "adler32=")
	return resp.ContentLength, digest
}

// verify checks the copy at the destination against the source's size and
// adler32 (compared numerically: some servers drop leading zeros).
func (b *bed) verify(t *testing.T, dst *side, p string, src *side) {
	t.Helper()
	size, adler := b.stat(t, dst, p)
	want, _ := strconv.ParseUint(src.adler32, 16, 32)
	got, err := strconv.ParseUint(adler, 16, 32)
	if size != src.size || err != nil || got != want {
		t.Errorf("copy %s on the %s SE: %d bytes adler32 %q, want %d bytes adler32 %s (the %s SE's %s)", p, dst.name, size, adler, src.size, src.adler32, src.name, src.ref)
	}
}

// curlOutcome is what a reproduce run printed: "HTTP <code>: <last line>".
type curlOutcome struct {
	exit   int
	status int
	last   string
}

var curlLineRE = regexp.MustCompile(`(?m)^HTTP (\d{3}): (.*)$`)

// runRepro runs the reproduce lines with the token values in files (never
// inline) and returns what they printed.
func (b *bed) runRepro(t *testing.T, r Repro, srcTok, dstTok *cred.Token) curlOutcome {
	t.Helper()
	dir := t.TempDir()
	env := append(os.Environ(), "X509_CERT_DIR="+b.env["X509_CERT_DIR"], "X509_USER_PROXY="+b.env["X509_USER_PROXY"])
	for _, f := range []struct {
		name string
		tok  *cred.Token
	}{{EnvSrcTokenFile, srcTok}, {EnvDstTokenFile, dstTok}} {
		if f.tok == nil {
			continue
		}
		file := filepath.Join(dir, strings.ToLower(f.name))
		if err := os.WriteFile(file, []byte(f.tok.Bearer()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env = append(env, f.name+"="+file)
	}
	script := "set -u\n" + strings.Join(r.Lines(), "\n") + "\n"
	for _, secret := range []*cred.Token{srcTok, dstTok} {
		if secret != nil && strings.Contains(script, secret.Bearer()) {
			t.Fatalf("a reproduce line holds a token")
		}
	}
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	o := curlOutcome{}
	if ee, ok := err.(*exec.ExitError); ok {
		o.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running the reproduce lines: %v", err)
	}
	m := curlLineRE.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("reproduce lines printed no \"HTTP <code>: <line>\":\n%s\n%s", cred.Redact(script), cred.Redact(string(out)))
	}
	o.status, _ = strconv.Atoi(m[1])
	o.last = m[2]
	return o
}

// sameOutcome checks that the curl run ended as Copy did.
func sameOutcome(t *testing.T, res CopyResult, err error, o curlOutcome) {
	t.Helper()
	status := res.Status
	var e *Error
	var f Final
	var fok bool
	if err == nil {
		f, fok = res.Final, true
	} else if errors.As(err, &e) {
		status = e.Status
		f, fok = finalLine(o.last)
	}
	if o.status != status {
		t.Errorf("curl got HTTP %d, Copy %d", o.status, status)
	}
	if (err == nil) != (o.exit == 0) {
		t.Errorf("curl exit %d (last line %q), Copy error %v", o.exit, o.last, err)
	}
	if err == nil || (e != nil && e.Status < 300) {
		got, ok := finalLine(o.last)
		if !ok || !fok || got.Verdict != f.Verdict {
			t.Errorf("curl last line %q, Copy's final %+v", o.last, f)
		}
		if e != nil && finalError(got).RemoteStatus != e.RemoteStatus {
			t.Errorf("curl last line %q, Copy's remote status %d", o.last, e.RemoteStatus)
		}
	}
}
