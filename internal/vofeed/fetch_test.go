package vofeed

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
)

// testCA writes a grid CA directory with one CA and returns it with a TLS
// certificate for 127.0.0.1 signed by that CA.
func testCA(t *testing.T) (dir string, cert tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gridprobe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "0badcafe.0"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func feedServer(t *testing.T, cert tls.Certificate, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchHTTPS(t *testing.T) {
	caDir, cert := testCA(t)
	feed, err := os.ReadFile("testdata/testbed.xml")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/feed.xml", func(w http.ResponseWriter, r *http.Request) { w.Write(feed) })
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/x", http.StatusFound)
	})
	srv := feedServer(t, cert, mux)
	ctx := context.Background()

	got, err := Fetch(ctx, srv.URL+"/feed.xml", "", caDir)
	if err != nil || string(got) != string(feed) {
		t.Fatalf("fetch: %v", err)
	}
	if _, err := Fetch(ctx, srv.URL+"/gone?token=s3cret", "", caDir); err == nil ||
		err.Error() != "fetch "+srv.URL+"/gone?…: HTTP 404 Not Found" {
		t.Errorf("404: %v", err)
	}
	if _, err := Fetch(ctx, srv.URL+"/plain", "", caDir); err == nil || !strings.Contains(err.Error(), "redirected away from https") {
		t.Errorf("redirect to http: %v", err)
	}
	otherCA, _ := testCA(t)
	if _, err := Fetch(ctx, srv.URL+"/feed.xml", "", otherCA); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("server of an unknown CA: %v", err)
	}
}

func TestFetchFileAndLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.xml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	defer func(m int64) { maxSize = m }(maxSize)
	maxSize = 4096
	if err := f.Truncate(maxSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Fetch(context.Background(), "big.xml", dir, ""); err == nil || !strings.Contains(err.Error(), "larger than the limit of 4096 bytes") {
		t.Errorf("big file: %v", err)
	}
	if _, err := Fetch(context.Background(), "nope.xml", dir, ""); err == nil || !strings.Contains(err.Error(), "nope.xml") {
		t.Errorf("missing file: %v", err)
	}
}

// Read keeps the last good copy of each source in the cache and falls back
// to it when the source cannot be read or parsed.
func TestReadCache(t *testing.T) {
	dir := t.TempDir()
	feed, _ := os.ReadFile("testdata/testbed.xml")
	if err := os.WriteFile(filepath.Join(dir, "feed.xml"), feed, 0o644); err != nil {
		t.Fatal(err)
	}
	sf := &config.SitesFrom{VOFeed: "feed.xml", Cache: "cache"}
	o := Options{Dir: dir, UseCache: true}
	inv, err := Read(context.Background(), sf, o)
	if err != nil || len(inv.Cached) > 0 || len(inv.Feed.Sites) != 1 {
		t.Fatalf("first read: %v %+v", err, inv)
	}
	if _, err := os.Stat(filepath.Join(dir, "cache", "vofeed.xml")); err != nil {
		t.Fatalf("no cached copy: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "feed.xml"), feed[:100], 0o644); err != nil { // truncated
		t.Fatal(err)
	}
	inv, err = Read(context.Background(), sf, o)
	if err != nil || len(inv.Cached) != 1 || len(inv.Feed.Sites) != 1 || !strings.Contains(inv.Cached[0], "truncated") {
		t.Fatalf("fallback: %v %+v", err, inv)
	}
	o.UseCache = false
	if _, err := Read(context.Background(), sf, o); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("without the cache: %v", err)
	}
}

func TestCheckChange(t *testing.T) {
	for _, tc := range []struct {
		prev, next int
		ok         bool
	}{{0, 0, false}, {0, 5, true}, {100, 0, false}, {100, 999, true}, {100, 1000, false}, {100, 11, true}, {100, 10, false}, {1, 9, true}} {
		if err := CheckChange(tc.prev, tc.next); (err == nil) != tc.ok {
			t.Errorf("%d → %d: %v", tc.prev, tc.next, err)
		}
	}
}
