package cred

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// leaks reports which part of raw (whole, payload, signature) out contains.
func leaks(raw, out string) string {
	parts := strings.Split(raw, ".")
	switch {
	case strings.Contains(out, raw):
		return "whole token"
	case len(parts) == 3 && strings.Contains(out, parts[1]):
		return "payload"
	case len(parts) == 3 && strings.Contains(out, parts[2]):
		return "signature"
	}
	return ""
}

func TestTokenNeverPrinted(t *testing.T) {
	raw := signJWT(t, wlcgClaims("alice", time.Hour, "storage.read:/data storage.create:/scratch"))
	tok, err := NewToken(raw, "test")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Bearer() != raw {
		t.Fatal("Bearer is not the token")
	}
	type holder struct {
		Tok     *Token
		Val     Token
		private Token
		ptr     *Token
	}
	h := holder{Tok: tok, Val: *tok, private: *tok, ptr: tok}
	var outs []string
	for _, v := range []any{tok, *tok, h, &h, []*Token{tok}, map[string]Token{"k": *tok}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
	}
	for _, v := range []any{tok, *tok, h, &h, []*Token{tok}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
	}
	outs = append(outs, fmt.Errorf("probe failed with %v: %w", tok, errors.New("x")).Error(), tok.Summary(), tok.String())
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("got", "token", tok, "val", *tok)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("got", "token", tok)
	outs = append(outs, logBuf.String())
	for _, o := range outs {
		if w := leaks(raw, o); w != "" {
			t.Errorf("%s leaked in %q", w, o)
		}
	}
	want := "[token sub=alice exp=" + tok.Expiry.UTC().Format(time.RFC3339) + "]"
	if s := fmt.Sprint(tok); s != want {
		t.Errorf("String = %q, want %q", s, want)
	}
	c := tok.Claims()
	if c.Subject != "alice" || len(c.Audience) != 2 || len(c.Scopes) != 2 || c.ID != "abc-123" || c.WLCGVersion != "1.0" ||
		len(c.Groups) != 1 || c.NotBefore.IsZero() || c.IssuedAt.IsZero() || c.Issuer != "https://issuer.example" {
		t.Errorf("claims %+v", c)
	}
	if !c.HasAudience("https://se.example:1094/") || c.HasAudience("https://se.example") {
		t.Error("HasAudience")
	}
	// Redact removes every part the registry knows, even cut apart.
	parts := strings.Split(raw, ".")
	for _, s := range []string{raw, parts[1], parts[2], "x=" + parts[2] + "!"} {
		if got := Redact("curl -H 'X: " + s + "'"); leaks(raw, got) != "" {
			t.Errorf("Redact left %q", got)
		}
	}
}

func TestTokenSummaryNotNarrowed(t *testing.T) {
	raw := signJWT(t, wlcgClaims("bob", 30*time.Minute, "storage.read:/"))
	path := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(path, []byte(raw+"\n"), 0o600)
	src := &FileSource{Path: path, Origin: "config"}
	tok, err := src.Token(context.Background(), TokenRequest{Scopes: []string{"storage.read:/x"}, Audience: "https://se.example:1094"})
	if err != nil {
		t.Fatal(err)
	}
	s := tok.Summary()
	if tok.Narrowed || !strings.HasPrefix(s, `token sub=bob scope="storage.read:/" aud=https://se.example:1094,other expires in 29m`) || !strings.HasSuffix(s, "(not narrowed to the check)") {
		t.Errorf("Summary %q narrowed=%v", s, tok.Narrowed)
	}
	if ex := tok.Excess([]string{"storage.read:/x"}); len(ex) != 1 || ex[0] != "storage.read:/" {
		t.Errorf("Excess %q", ex)
	}
	if !tok.Covers("storage.read:/x/y") || tok.Covers("storage.create:/x") {
		t.Error("Covers")
	}
}

func TestOpaqueToken(t *testing.T) {
	mac := "MDAxY2xvY2F0aW9uIE9wdGlvbmFsLmVtcHR5CjAwMThpZGVudGlmaWVyIG1hY2Fyb29uCg"
	tok, err := NewToken(mac, "macaroon from https://se")
	if err != nil || tok.IsJWT() || len(tok.Claims().Scopes) != 0 {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v %s", tok, *tok, tok.Summary()); strings.Contains(s, mac) || !strings.Contains(s, "opaque token") {
		t.Errorf("opaque: %q", s)
	}
	if got := Redact("body " + mac); strings.Contains(got, mac) {
		t.Errorf("macaroon not registered: %q", got)
	}
	for _, bad := range []string{"", "  ", "two words"} {
		if _, err := NewToken(bad, "t"); err == nil {
			t.Errorf("NewToken(%q) accepted", bad)
		}
	}
}

// withDiscoveryEnv isolates discovery from the machine: no env, a private
// /tmp.
func withDiscoveryEnv(t *testing.T) (xdg, tmp string) {
	t.Setenv("BEARER_TOKEN", "")
	t.Setenv("BEARER_TOKEN_FILE", "")
	xdg, tmp = t.TempDir(), t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	old := tmpDir
	tmpDir = tmp
	t.Cleanup(func() { tmpDir = old })
	return xdg, tmp
}

func TestDiscoverOrder(t *testing.T) {
	xdg, tmp := withDiscoveryEnv(t)
	euid := strconv.Itoa(os.Geteuid())
	ctx := context.Background()
	tokEnv := signJWT(t, wlcgClaims("env", time.Hour, "storage.read:/"))
	tokFile := signJWT(t, wlcgClaims("file", time.Hour, "storage.read:/"))
	tokXDG := signJWT(t, wlcgClaims("xdg", time.Hour, "storage.read:/"))
	tokTmp := signJWT(t, wlcgClaims("tmp", time.Hour, "storage.read:/"))
	file := filepath.Join(t.TempDir(), "btf")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(file, "\n  "+tokFile+"  \n")
	write(filepath.Join(xdg, "bt_u"+euid), tokXDG+"\n")
	write(filepath.Join(tmp, "bt_u"+euid), tokTmp)

	expect := func(wantSub, wantDesc string) {
		t.Helper()
		src, err := Discover()
		if err != nil {
			t.Fatalf("Discover: %v", err)
		}
		if !strings.Contains(src.Describe(), wantDesc) {
			t.Errorf("Describe %q, want %q", src.Describe(), wantDesc)
		}
		tok, err := src.Token(ctx, TokenRequest{Scopes: []string{"storage.read:/a"}})
		if err != nil {
			t.Fatal(err)
		}
		if tok.Claims().Subject != wantSub || tok.Narrowed {
			t.Errorf("got sub %q narrowed %v, want %q", tok.Claims().Subject, tok.Narrowed, wantSub)
		}
	}
	t.Setenv("BEARER_TOKEN", " "+tokEnv+"\n")
	t.Setenv("BEARER_TOKEN_FILE", file)
	expect("env", "environment variable BEARER_TOKEN")
	t.Setenv("BEARER_TOKEN", "  \n") // blank: next step
	expect("file", "token file "+file+" (BEARER_TOKEN_FILE)")
	write(file, " \n") // empty file: next
	expect("xdg", filepath.Join(xdg, "bt_u"+euid)+" (XDG_RUNTIME_DIR)")
	t.Setenv("BEARER_TOKEN_FILE", filepath.Join(t.TempDir(), "missing")) // missing: next
	os.Remove(filepath.Join(xdg, "bt_u"+euid))
	expect("tmp", filepath.Join(tmp, "bt_u"+euid)+" (default)")
	t.Setenv("XDG_RUNTIME_DIR", "")
	expect("tmp", "(default)")
	os.Remove(filepath.Join(tmp, "bt_u"+euid))
	if _, err := Discover(); !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "bt_u"+euid) {
		t.Errorf("nothing: %v", err)
	}
}

func TestDiscoverInvalid(t *testing.T) {
	xdg, _ := withDiscoveryEnv(t)
	euid := strconv.Itoa(os.Geteuid())
	garbage := "not-a-jwt-but-a-secret-value-42"
	t.Setenv("BEARER_TOKEN", garbage)
	_, err := Discover()
	if err == nil || !strings.Contains(err.Error(), "BEARER_TOKEN") || strings.Contains(err.Error(), garbage) {
		t.Errorf("invalid env: %v", err)
	}
	t.Setenv("BEARER_TOKEN", "")
	p := filepath.Join(xdg, "bt_u"+euid)
	os.WriteFile(p, []byte(garbage), 0o600)
	_, err = Discover()
	if err == nil || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), garbage) {
		t.Errorf("invalid file: %v", err)
	}
	// An unreadable token file (a directory) is an error, not a skip.
	os.Remove(p)
	os.Mkdir(p, 0o700)
	if _, err = Discover(); err == nil || errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), p) {
		t.Errorf("unreadable file: %v", err)
	}
}

func TestFileSourceRotationAndExpiry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tok")
	src := &FileSource{Path: path}
	ctx := context.Background()
	os.WriteFile(path, []byte(signJWT(t, wlcgClaims("first", time.Hour, "storage.read:/"))), 0o600)
	a, err := src.Token(ctx, TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte(signJWT(t, wlcgClaims("second", time.Hour, "storage.read:/"))), 0o600)
	b, err := src.Token(ctx, TokenRequest{})
	if err != nil || a.Claims().Subject != "first" || b.Claims().Subject != "second" {
		t.Fatalf("rotation not seen: %v %v %v", a, b, err)
	}
	os.WriteFile(path, []byte(signJWT(t, wlcgClaims("old", -time.Minute, "storage.read:/"))), 0o600)
	if _, err := src.Token(ctx, TokenRequest{}); err == nil || !strings.Contains(err.Error(), "expired at") {
		t.Errorf("expired: %v", err)
	}
	os.WriteFile(path, nil, 0o600)
	if _, err := src.Token(ctx, TokenRequest{}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := src.Token(cctx, TokenRequest{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
}

func TestScopeCovers(t *testing.T) {
	cases := []struct {
		g, w string
		want bool
	}{
		{"storage.read:/foo", "storage.read:/foo", true},
		{"storage.read:/foo", "storage.read:/foo/x", true},
		{"storage.read:/foo/", "storage.read:/foo/x/y", true},
		{"storage.read:/foo", "storage.read:/foobar", false},
		{"storage.read:/foo", "storage.read:/", false},
		{"storage.read:/", "storage.read:/anything/at/all", true},
		{"storage.read:/foo", "storage.read:/foo/../bar", false},
		{"storage.read:/foo", "storage.create:/foo", false},
		{"storage.modify:/foo", "storage.create:/foo/new", true},
		{"storage.create:/foo", "storage.modify:/foo", false},
		{"storage.modify:/foo", "storage.read:/foo", false},
		{"storage.stage:/tape", "storage.stage:/tape/f", true},
		{"storage.read", "storage.read:/foo", false},
		{"storage.read:/foo", "storage.read", false},
		{"storage.read:foo", "storage.read:/foo/x", true},
		{"compute.create", "compute.create", true},
		{"compute.create", "compute.modify", false},
		{"compute.read", "compute.read:/x", false},
		{"wlcg.groups:/testvo", "wlcg.groups:/testvo", true},
		{"storage.read:/foo", "compute.read", false},
	}
	for _, c := range cases {
		if got := ScopeCovers(c.g, c.w); got != c.want {
			t.Errorf("ScopeCovers(%q, %q) = %v, want %v", c.g, c.w, got, c.want)
		}
	}
}

func FuzzParseClaims(f *testing.F) {
	f.Add(signJWT(f, wlcgClaims("seed", time.Hour, "storage.read:/ storage.create:/x")))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOjF9.")
	f.Add("eyJ.eyJ.")
	f.Add("eyJhbGciOiJub25lIn0.e30.sig")
	f.Add(`eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOlsxLG51bGwsImEiXSwiZXhwIjoiMTIzIiwic2NvcGUiOnt9fQ.x`)
	f.Fuzz(func(t *testing.T, raw string) {
		_, _ = parseClaims(raw)
		tok, err := NewToken(raw, "fuzz")
		if err != nil {
			if strings.Contains(err.Error(), raw) && len(strings.TrimSpace(raw)) >= 8 {
				t.Fatalf("error contains the token: %v", err)
			}
			return
		}
		_ = tok.Summary()
		out := fmt.Sprintf("%v %+v %#v", tok, *tok, tok.Claims())
		if r := tok.Bearer(); len(r) >= 8 && strings.Contains(fmt.Sprintf("%v %+v %#v", tok, *tok, tok), r) {
			t.Fatalf("token printed: %q", out)
		}
	})
}
