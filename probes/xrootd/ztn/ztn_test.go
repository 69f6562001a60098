package ztn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
)

const fakeJWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2ln"

func src(s string) func() (string, error) { return func() (string, error) { return s, nil } }

func TestCredentialBytes(t *testing.T) {
	a := New(src("  Bearer " + fakeJWT + "\n"))
	got, err := a.Start(context.Background(), secproto.Server{Host: "h", Params: "0:4096:", TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{'z', 't', 'n', 0, 0, 'T', 0, 0, 0, byte(len(fakeJWT) + 1)}, fakeJWT...)
	want = append(want, 0)
	if !bytes.Equal(got, want) {
		t.Errorf("credential\n got % x\nwant % x", got, want)
	}
	if a.Protocol() != "ztn" {
		t.Errorf("protocol %q", a.Protocol())
	}
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	secret := "very-secret-token-value"
	cases := []struct {
		name string
		a    *Authenticator
		srv  secproto.Server
		want string
	}{
		{"no TLS", New(src(secret)), secproto.Server{Params: "0:4096:"}, "requires a TLS"},
		{"too long", New(src(secret)), secproto.Server{Params: "0:10:", TLS: true}, "too long (server maximum 10)"},
		{"empty", New(src("  \n")), secproto.Server{Params: "0:4096:", TLS: true}, "empty bearer token"},
		{"version", New(src(secret)), secproto.Server{Params: "1:4096:", TLS: true}, "version 1"},
		{"bad params", New(src(secret)), secproto.Server{Params: "x:4096:", TLS: true}, "bad version"},
		{"source error", New(func() (string, error) { return "", errors.New("no token file") }), secproto.Server{TLS: true}, "no token file"},
		{"nil source", New(nil), secproto.Server{TLS: true}, "no token source"},
		{"NUL", New(src("a\x00b")), secproto.Server{TLS: true}, "NUL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.a.Start(ctx, tc.srv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("token in the error: %v", err)
			}
		})
	}
	if _, err := New(src(secret)).Continue(ctx, []byte("x")); err == nil {
		t.Error("Continue accepted a kXR_authmore")
	}
}

func TestNeverPrintsToken(t *testing.T) {
	secret := "very-secret-token-value"
	a := New(src(secret))
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s", a, a, a, a)} {
		if strings.Contains(s, secret) {
			t.Fatalf("printed token: %s", s)
		}
	}
}

func TestParseParams(t *testing.T) {
	for in, want := range map[string]Params{"0:4096:": {0, 4096}, "": {}, "0": {0, 0}, "0::": {0, 0}} {
		got, err := ParseParams(in)
		if err != nil || got != want {
			t.Errorf("ParseParams(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if _, err := ParseParams("0:-1:"); err == nil {
		t.Error("negative maximum accepted")
	}
}

func FuzzCredential(f *testing.F) {
	f.Add(fakeJWT, 4096)
	f.Fuzz(func(t *testing.T, tok string, max int) {
		b, err := Credential(tok, max)
		if err != nil {
			return
		}
		if len(b) != 10+len(tok)+1 || b[len(b)-1] != 0 || int(b[8])<<8|int(b[9]) != len(tok)+1 {
			t.Fatalf("bad layout for %d-byte token", len(tok))
		}
	})
}
