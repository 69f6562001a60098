package gsi

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
)

// Through the real session layer (probes/xrootd/xrd) against the testbed.

func xrdOptions(t *testing.T, env map[string]string, a *Authenticator) xrd.Options {
	t.Helper()
	pool := x509.NewCertPool()
	files, _ := filepath.Glob(filepath.Join(env["X509_CERT_DIR"], "*.0"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			pool.AppendCertsFromPEM(b)
		}
	}
	return xrd.Options{
		TLSConfig: &tls.Config{RootCAs: pool},
		Auth:      func() []secproto.Authenticator { return []secproto.Authenticator{a} },
	}
}

func TestXrdSessionGSI(t *testing.T) {
	env := testbed(t)
	ctx, cancel := withTimeout()
	defer cancel()
	a := New(Config{ProxyFile: env["X509_USER_PROXY"], CADir: env["X509_CERT_DIR"]})
	s, err := xrd.Dial(ctx, env["GRIDPROBE_XROOTD_URL"], xrdOptions(t, env, a))
	if err != nil {
		t.Fatalf("xrd.Dial with gsi: %v", err)
	}
	defer s.Close()
	if p := s.Info().AuthProtocol; p != "gsi" {
		t.Errorf("authenticated with %q", p)
	}
	st, err := s.Stat(ctx, env["GRIDPROBE_REF_PATH"])
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	t.Logf("stat: %+v; gsi: DH %d bits (weak %v), %s/%s", st, a.Result().DHBits, a.Result().WeakDH, a.Result().Cipher, a.Result().Digest)
}

func TestXrdSessionGSIFailures(t *testing.T) {
	env := testbed(t)
	u, _ := url.Parse(env["GRIDPROBE_XROOTD_URL"])
	for _, tc := range []struct {
		name   string
		proxy  string
		url    string
		caDir  string
		want   error  // client-side error
		server string // class of the server's 3030 text
	}{
		{name: "untrusted proxy", proxy: env["GRIDPROBE_UNTRUSTED_PROXY"], server: ClassClientCAUnknown},
		{name: "expired proxy", proxy: env["GRIDPROBE_EXPIRED_PROXY"], want: ErrProxyExpired},
		{name: "CA dir without the server CA", proxy: env["X509_USER_PROXY"], caDir: t.TempDir(), want: ErrUnknownCA},
		{name: "host name", proxy: env["X509_USER_PROXY"], url: "roots://127.0.0.1:" + u.Port(), want: ErrHostNameMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := withTimeout()
			defer cancel()
			caDir := env["X509_CERT_DIR"]
			if tc.caDir != "" {
				caDir = tc.caDir
			}
			target := env["GRIDPROBE_XROOTD_URL"]
			if tc.url != "" {
				target = tc.url
			}
			a := New(Config{ProxyFile: tc.proxy, CADir: caDir})
			opts := xrdOptions(t, env, a)
			if tc.url != "" {
				// TLS itself is checked for localhost; the GSI check must still catch the IP.
				opts.TLSConfig.ServerName = "localhost"
				opts.SkipLoopbackNameCheck = true
			}
			s, err := xrd.Dial(ctx, target, opts)
			if err == nil {
				s.Close()
				t.Fatal("authenticated")
			}
			t.Logf("%v", err)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.server != "" {
				var se *xrd.ServerError
				if !errors.As(err, &se) || se.Code != xrd.ErrAuthFailed {
					t.Fatalf("err = %v, want kXR_AuthFailed", err)
				}
				if c := ClassifyServerError(se.Message); c != tc.server || !strings.HasPrefix(se.Message, "Secgsi:") {
					t.Errorf("class of %q = %q, want %q", se.Message, c, tc.server)
				}
			}
		})
	}
}
