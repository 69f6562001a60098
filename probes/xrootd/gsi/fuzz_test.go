package gsi

import (
	"context"
	"crypto/x509"
	"math/rand/v2"
	"testing"

	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
)

// FuzzParseServerStep feeds arbitrary kXR_authmore bodies to a client
// waiting for kXGS_cert (and, when that succeeds, for a third round). It
// must never panic. The seeds are real fake-server replies; a fixed random
// source keeps the client's challenge stable so mutations reach the DH and
// cipher code behind the signature checks.
func FuzzParseServerStep(f *testing.F) {
	pki := sharedPKI(f)
	caDir := writeCADir(f, []*x509.Certificate{pki.ca}, nil)
	srv := newFakeServer(f, pki, 512)
	srv.delegate = true
	newAuth := func() *Authenticator {
		a := New(Config{Credential: pki.cred(), CADir: caDir, Rand: rand.NewChaCha8([32]byte{1})})
		return a
	}
	ctx := context.Background()
	a := newAuth()
	cred, err := a.Start(ctx, secproto.Server{Host: "localhost", Params: srv.params()})
	if err != nil {
		f.Fatal(err)
	}
	_, reply, err := srv.auth(cred)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(reply, []byte(nil))
	cred2, err := a.Continue(ctx, reply)
	if err != nil {
		f.Fatal(err)
	}
	_, reply2, err := srv.auth(cred2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(reply, reply2)
	f.Add([]byte("gsi\x00\x00\x00\x07\xd1\x00\x00\x00\x00"), []byte("gsi\x00"))
	f.Add([]byte{}, []byte{})

	f.Fuzz(func(t *testing.T, step2, step3 []byte) {
		a := newAuth()
		if _, err := a.Start(ctx, secproto.Server{Host: "localhost", Params: srv.params()}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Continue(ctx, step2); err != nil {
			return
		}
		_, _ = a.Continue(ctx, step3)
		_, _ = a.Continue(ctx, step3) // after the end: must fail, not panic
	})
}
