package webdav

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/probes/storage"
)

// XrdHttp refuses an upload as soon as it has the headers and closes the
// connection without reading the body (seen on the testbed: a 64 KiB PUT
// with a token of an untrusted issuer failed with "write: broken pipe"). The
// PUT must still report the server's refusal, not a transport failure.
func TestPutRefusedBeforeTheBodyIsDenied(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\nConnection: close\r\n\r\ndenied\n")
	}))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c := newClient(u, &tls.Config{RootCAs: pool}, "unit")
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 5; i++ { // the race between the write and the answer, several times
		err := store{c: c}.Write(ctx, "/testvo/x.dat", make([]byte, 16<<20), storage.New)
		if !storage.Is(err, storage.Denied) {
			t.Fatalf("attempt %d: PUT refused before its body: %v, want a denial (403)", i, err)
		}
	}
}
