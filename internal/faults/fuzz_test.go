package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/xrootd/gsi"
)

// Fuzz tests for inputs whose owning packages have no fuzz test of this
// property; each calls the owner's exported API.

// FuzzTokenNeverPrinted: whatever a token file holds, parsing it never
// panics, and no way of printing the token shows the raw value.
func FuzzTokenNeverPrinted(f *testing.F) {
	f.Add(MintJWT("https://se.example.org"))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("MDAxY2xvY2F0aW9uIGV4YW1wbGUKMDAxZGlkZW50aWZpZXIgeAo")
	f.Add("not a token at all \x00\xff")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := cred.NewToken(raw, "fuzz")
		if err != nil || tok == nil {
			return
		}
		secret := tok.Bearer()
		if len(secret) < 12 {
			return // too short to tell a leak from a coincidence
		}
		for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s %q", tok, tok, tok, tok, tok), fmt.Sprint(*tok), tok.Summary(), fmt.Sprintf("%+v", tok.Claims())} {
			if strings.Contains(s, secret) {
				t.Fatalf("token printed: %q", s)
			}
		}
	})
}

// FuzzRedact: a registered secret never survives Redact, wherever it sits
// in the text.
func FuzzRedact(f *testing.F) {
	f.Add("client-secret-0123456789", "error: secret=%s in body")
	f.Add("abcdefghijklmnop", "%s%s%s")
	f.Fuzz(func(t *testing.T, secret, tmpl string) {
		if len(secret) < 16 || len(secret) > 512 || strings.TrimSpace(secret) != secret || len(tmpl) > 4096 {
			return
		}
		cred.RegisterSecret(secret)
		text := strings.ReplaceAll(tmpl, "%s", secret) + " " + secret
		if out := cred.Redact(text); strings.Contains(out, secret) {
			t.Fatalf("secret survived Redact: %q", out)
		}
	})
}

// FuzzProxyPEM: proxy/PEM parsing (the GSI credential parser and the
// cred loader) never panics on any file content.
func FuzzProxyPEM(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	if b, err := os.ReadFile(os.Getenv("X509_USER_PROXY")); err == nil {
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		gsi.ParseProxyPEM(b)
		p := filepath.Join(dir, "proxy.pem")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		cred.LoadProxy(p)
	})
}

// FuzzScratchGuard: any path the delete guard lets through lies literally
// inside the run's scratch directory, with no "." or ".." element.
func FuzzScratchGuard(f *testing.F) {
	for _, gc := range GuardCases() {
		f.Add(gc.WriteDir, gc.Path)
	}
	f.Fuzz(func(t *testing.T, writeDir, p string) {
		s, err := probe.NewScratch(writeDir, GuardRunID)
		if err != nil {
			return
		}
		if s.Check(p) != nil {
			return
		}
		if p != s.Dir() && !strings.HasPrefix(p, s.Dir()+"/") {
			t.Fatalf("%q accepted outside %s", p, s.Dir())
		}
		for _, e := range strings.Split(strings.TrimPrefix(p, s.Dir()), "/") {
			if e == "." || e == ".." {
				t.Fatalf("%q accepted with a %q element", p, e)
			}
		}
	})
}
