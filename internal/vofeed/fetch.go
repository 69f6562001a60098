package vofeed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// MaxSourceSize bounds what is read from one source (the CMS feed is
// about 1 MB).
const MaxSourceSize = 64 << 20

// maxSize is MaxSourceSize (tests lower it).
var maxSize int64 = MaxSourceSize

// FetchTimeout bounds one fetch when the caller's context has no deadline.
const FetchTimeout = 60 * time.Second

// IsURL reports whether a source is a URL rather than a file path.
func IsURL(src string) bool { return strings.Contains(src, "://") }

// Fetch reads a source: a file (a relative path is taken from dir), or an
// https URL whose server is verified against the grid CA directory caDir
// (X509_CERT_DIR, /etc/grid-security/certificates by default) and, failing
// that, the system's CAs (CRIC and the feed servers may use either). Plain
// http is refused: the feed decides what is probed.
func Fetch(ctx context.Context, src, dir, caDir string) ([]byte, error) {
	if !IsURL(src) {
		if dir != "" && !filepath.IsAbs(src) {
			src = filepath.Join(dir, src)
		}
		return readFile(src)
	}
	u, err := url.Parse(src)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s: not an https URL", SafeURL(src))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, FetchTimeout)
		defer cancel()
	}
	client, err := httpsClient(cred.CADir(caDir))
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SafeURL(src), err)
	}
	req.Header.Set("Accept", "application/xml, application/json;q=0.9, */*;q=0.1")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %s", SafeURL(src), cred.Redact(err.Error()))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: HTTP %s", SafeURL(src), resp.Status)
	}
	return readLimited(resp.Body, SafeURL(src))
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read source: %w", err)
	}
	defer f.Close()
	return readLimited(f, path)
}

func readLimited(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > maxSize {
		return nil, fmt.Errorf("%s: larger than the limit of %d bytes", name, maxSize)
	}
	return data, nil
}

// httpsClient verifies servers against the CA directory, then the system
// roots; redirects must stay on https.
func httpsClient(caDir string) (*http.Client, error) {
	store, err := cred.LoadCAPool(caDir)
	if err != nil {
		return nil, err
	}
	system, _ := x509.SystemCertPool() // nil (no system roots) is fine: the CA dir decides
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSHandshakeTimeout: 20 * time.Second,
		ForceAttemptHTTP2:   true,
		TLSClientConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, // replaced by VerifyConnection below
			VerifyConnection: func(cs tls.ConnectionState) error {
				err := store.VerifyServer(cs.PeerCertificates, cs.ServerName, time.Now())
				if err == nil || system == nil || len(cs.PeerCertificates) == 0 {
					return err
				}
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				if _, serr := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: cs.ServerName,
					Roots: system, Intermediates: inter}); serr == nil {
					return nil
				}
				return err
			},
		},
	}
	return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return errors.New("redirected away from https")
		}
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		return nil
	}}, nil
}

// SafeURL is a source for messages: without user info and query (either
// may carry a credential).
func SafeURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || !IsURL(s) {
		if i := strings.IndexAny(s, "?#"); i >= 0 && IsURL(s) {
			return s[:i] + "?…"
		}
		return s
	}
	v := *u
	v.User = nil
	if v.RawQuery != "" {
		v.RawQuery = "…"
	}
	v.Fragment = ""
	return v.String()
}
