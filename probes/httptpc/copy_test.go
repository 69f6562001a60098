package httptpc

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// Fault-injection tests against an in-process fake active side. They prove
// how Copy ends, not that a real server works (integration_test.go does).

const (
	activeSecret  = "gridprobe-test-active-token-0123456789"
	passiveSecret = "gridprobe-test-passive-token-9876543210"
)

func testTokens(t *testing.T) (*cred.Token, *cred.Token) {
	t.Helper()
	a, err := cred.NewToken(activeSecret, "test active")
	if err != nil {
		t.Fatal(err)
	}
	p, err := cred.NewToken(passiveSecret, "test passive")
	if err != nil {
		t.Fatal(err)
	}
	return a, p
}

// fake starts a TLS server with h and a Client that trusts it.
func fake(t *testing.T, h http.HandlerFunc) (*httptest.Server, *Client) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c := NewClient(func(string) *tls.Config { return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12} })
	t.Cleanup(c.Close)
	return srv, c
}

func marker(n int64) string {
	return fmt.Sprintf("Perf Marker\nTimestamp: %d\nStripe Index: 0\nStripe Bytes Transferred: %d\nTotal Stripe Count: 1\nEnd\n", time.Now().Unix(), n)
}

// started writes the 201 and the first marker and flushes them.
func started(w http.ResponseWriter, bytes int64) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, marker(bytes))
	w.(http.Flusher).Flush()
}

func pullReq(srv *httptest.Server, a, p *cred.Token) CopyRequest {
	return CopyRequest{Mode: Pull, Source: "https://partner.example:18543/vo/src.dat", Destination: srv.URL + "/vo/dst.dat",
		ActiveToken: a, PassiveToken: p}
}

func TestCopySuccessSendsTheHeaders(t *testing.T) {
	a, p := testTokens(t)
	var got http.Header
	srv, c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		got.Set("X-Method", r.Method)
		started(w, 0)
		io.WriteString(w, marker(1<<20)+"success: Created")
	})
	req := pullReq(srv, a, p)
	req.Overwrite = OverwriteNo
	res, err := c.Copy(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 201 || res.Final.Verdict != Success || res.Progress.Markers != 2 || res.Progress.Bytes != 1<<20 {
		t.Errorf("result %+v", res)
	}
	want := map[string]string{
		"X-Method": "COPY", "Source": req.Source, "Authorization": "Bearer " + activeSecret,
		"Transferheaderauthorization": "Bearer " + passiveSecret, "Credential": "none", "Overwrite": "F",
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, got.Get(k), v)
		}
	}
	if got.Get("Destination") != "" {
		t.Errorf("a pull sent Destination %q", got.Get("Destination"))
	}
	w := c.Wire()
	if w.Conns != 1 || w.Requests != 1 || w.BytesOut == 0 || w.BytesIn == 0 {
		t.Errorf("wire %+v", w)
	}
}

func TestCopyPushSendsDestination(t *testing.T) {
	a, p := testTokens(t)
	var dst, src string
	srv, c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		dst, src = r.Header.Get("Destination"), r.Header.Get("Source")
		started(w, 0)
		io.WriteString(w, "success: Created\n")
	})
	req := CopyRequest{Mode: Push, Source: srv.URL + "/vo/src.dat", Destination: "https://partner.example/vo/dst.dat", ActiveToken: a, PassiveToken: p}
	if _, err := c.Copy(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if dst != req.Destination || src != "" {
		t.Errorf("Destination %q Source %q", dst, src)
	}
}

func TestCopyFollowsRedirectWithHeaders(t *testing.T) {
	a, p := testTokens(t)
	var second http.Header
	srv, c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/vo/dst.dat" {
			w.Header().Set("Location", "/data/dst.dat?x=1")
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		second = r.Header.Clone()
		started(w, 0)
		io.WriteString(w, "success: Created")
	})
	res, err := c.Copy(context.Background(), pullReq(srv, a, p))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Redirects) != 1 || !strings.HasSuffix(res.URL, "/data/dst.dat?x=1") {
		t.Errorf("redirects %v url %s", res.Redirects, res.URL)
	}
	if second.Get("Transferheaderauthorization") != "Bearer "+passiveSecret || second.Get("Source") == "" || second.Get("Authorization") == "" {
		t.Errorf("re-issued COPY lost headers: %v", second)
	}
	if w := c.Wire(); w.Requests != 2 || w.Redirects != 1 {
		t.Errorf("wire %+v", w)
	}
}

func TestCopyRedirectLoopAndPlainHTTP(t *testing.T) {
	a, p := testTokens(t)
	srv, c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		loc := "/again"
		if r.URL.Path == "/plain" {
			loc = "http://127.0.0.1:1/x"
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	_, err := c.Copy(context.Background(), pullReq(srv, a, p))
	if KindOf(err) != KindProtocol || !strings.Contains(err.Error(), "more than 5 redirects") {
		t.Errorf("loop: %v", err)
	}
	req := pullReq(srv, a, p)
	req.Destination = srv.URL + "/plain"
	if _, err = c.Copy(context.Background(), req); KindOf(err) != KindProtocol || !strings.Contains(err.Error(), "not an https URL") {
		t.Errorf("plain http: %v", err)
	}
}

// TestCopyFaults: every way an active side (or, through it, a partner) can
// misbehave ends within the deadline with a clear, classified reason and no
// token in the message.
func TestCopyFaults(t *testing.T) {
	cases := []struct {
		name    string
		h       http.HandlerFunc
		kind    Kind
		side    Side
		status  int
		remote  int
		markers int
		want    string // substring of the error
	}{
		{name: "partner hangs: no answer at all", kind: KindTimeout, want: "no answer to COPY within the deadline",
			h: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
		{name: "partner hangs after the first marker", kind: KindTimeout, status: 201, markers: 1, want: "no final line within the deadline",
			h: func(w http.ResponseWriter, r *http.Request) { started(w, 0); <-r.Context().Done() }},
		{name: "markers forever, never a final line", kind: KindTimeout, status: 201, want: "no final line within the deadline",
			h: func(w http.ResponseWriter, r *http.Request) {
				started(w, 0)
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for n := int64(1); ; n++ {
					select {
					case <-r.Context().Done():
						return
					case <-tick.C:
						io.WriteString(w, marker(n))
						w.(http.Flusher).Flush()
					}
				}
			}},
		{name: "stream ends without a final line", kind: KindTransport, status: 201, markers: 2, want: "stream ended without a final",
			h: func(w http.ResponseWriter, r *http.Request) { started(w, 0); io.WriteString(w, marker(5)) }},
		{name: "connection closed mid-copy", kind: KindTransport, status: 201, markers: 1, want: "stream broken before the final line",
			h: func(w http.ResponseWriter, r *http.Request) {
				started(w, 0)
				io.WriteString(w, "Perf Marker\nStripe Bytes")
				w.(http.Flusher).Flush()
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
			}},
		{name: "garbage markers", kind: KindProtocol, status: 201, markers: 1, want: `Stripe Bytes Transferred value "lots"`,
			h: func(w http.ResponseWriter, r *http.Request) {
				started(w, 0)
				io.WriteString(w, "Perf Marker\nStripe Bytes Transferred: lots\nEnd\nsuccess: Created")
			}},
		{name: "not a marker stream", kind: KindProtocol, status: 200, want: "outside a performance marker",
			h: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "<html>welcome "+activeSecret+"</html>\n")
			}},
		{name: "endless line", kind: KindProtocol, status: 201, markers: 1, want: "line longer than",
			h: func(w http.ResponseWriter, r *http.Request) {
				started(w, 0)
				io.WriteString(w, strings.Repeat("x", 5000))
			}},
		{name: "passive side refuses", kind: KindDenied, side: SidePassive, status: 201, remote: 403, markers: 1, want: "remote status 403",
			h: func(w http.ResponseWriter, r *http.Request) {
				started(w, 0)
				io.WriteString(w, `failure: Remote side failed with status code 403; error message: "token `+passiveSecret+` refused"`)
			}},
		{name: "aborted", kind: KindAborted, side: SideActive, status: 201, markers: 1, want: "shutting down",
			h: func(w http.ResponseWriter, r *http.Request) {
				started(w, 0)
				io.WriteString(w, "aborted: shutting down\n")
			}},
		{name: "active side refuses", kind: KindDenied, side: SideActive, status: 401, want: "HTTP 401",
			h: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "Unknown", http.StatusUnauthorized) }},
		{name: "destination exists", kind: KindExists, side: SideActive, status: 412,
			h: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "File exists", http.StatusPreconditionFailed)
			}},
		{name: "no HTTP-TPC", kind: KindUnsupported, side: SideActive, status: 405,
			h: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusMethodNotAllowed) }},
	}
	const deadline = 300 * time.Millisecond
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, p := testTokens(t)
			srv, c := fake(t, tc.h)
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			_, err := c.Copy(ctx, pullReq(srv, a, p))
			took := time.Since(start)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Kind != tc.kind || (tc.side != 0 && e.Side != tc.side) || e.Status != tc.status || e.RemoteStatus != tc.remote {
				t.Errorf("got %s/%s/%d/%d, want %s/%s/%d/%d: %v", e.Kind, e.Side, e.Status, e.RemoteStatus, tc.kind, tc.side, tc.status, tc.remote, err)
			}
			if tc.markers > 0 && e.Progress.Markers != tc.markers {
				t.Errorf("markers %d, want %d", e.Progress.Markers, tc.markers)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q lacks %q", msg, tc.want)
			}
			if strings.Contains(msg, activeSecret) || strings.Contains(msg, passiveSecret) {
				t.Errorf("error leaks a token: %q", msg)
			}
			// Bounded by the deadline (plus slack for a loaded machine): a
			// hung partner must not hold the check.
			if took > deadline+5*time.Second {
				t.Errorf("took %v with a %v deadline", took, deadline)
			}
		})
	}
}

// TestTransferHeaderCasingOnTheWire reads the raw request bytes a Copy
// sends (a TLS listener that is not an HTTP server) and checks the header
// names keep the casing XRootD < 5.7 matches case-sensitively.
func TestTransferHeaderCasingOnTheWire(t *testing.T) {
	a, p := testTokens(t)
	cert := httptest.NewTLSServer(http.NotFoundHandler())
	cert.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(tcp, cert.TLS.Clone())
	defer ln.Close()
	raw := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			raw <- "accept: " + err.Error()
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		var b strings.Builder
		for {
			line, err := br.ReadString('\n')
			b.WriteString(line)
			if err != nil || line == "\r\n" {
				break
			}
		}
		raw <- b.String()
		io.WriteString(conn, "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\nsuccess: Created")
	}()
	pool := x509.NewCertPool()
	pool.AddCert(cert.Certificate())
	c := NewClient(func(string) *tls.Config { return &tls.Config{RootCAs: pool} })
	defer c.Close()
	req := CopyRequest{Mode: Pull, Source: "https://partner.example/vo/src.dat", Destination: "https://" + tcp.Addr().String() + "/vo/dst.dat",
		ActiveToken: a, PassiveToken: p}
	if _, err := c.Copy(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	wire := <-raw
	for _, line := range []string{
		"COPY /vo/dst.dat HTTP/1.1\r\n",
		"\r\nTransferHeaderAuthorization: Bearer " + passiveSecret + "\r\n",
		"\r\nAuthorization: Bearer " + activeSecret + "\r\n",
		"\r\nCredential: none\r\n",
		"\r\nSource: https://partner.example/vo/src.dat\r\n",
	} {
		if !strings.Contains(wire, line) {
			t.Errorf("request on the wire lacks %q:\n%s", strings.TrimSpace(line), cred.Redact(wire))
		}
	}
	if strings.Contains(wire, "Transferheaderauthorization") {
		t.Errorf("canonicalised header name on the wire")
	}
}

func TestCopyRejectsBadRequests(t *testing.T) {
	c := NewClient(func(string) *tls.Config { return &tls.Config{} })
	for _, req := range []CopyRequest{
		{Source: "https://a/x", Destination: "https://b/y"},
		{Mode: Pull, Source: "http://a/x", Destination: "https://b/y"},
		{Mode: Push, Source: "https://a/x", Destination: "/y"},
	} {
		if _, err := c.Copy(context.Background(), req); err == nil || KindOf(err) != 0 {
			t.Errorf("%+v: err %v", req, err)
		}
	}
}

func TestRequestMacaroon(t *testing.T) {
	var body, ctype string
	srv, c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body, ctype = string(b), r.Header.Get("Content-Type")
		if r.URL.Path == "/denied" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		io.WriteString(w, `{"macaroon": "MDAxY2xvY2F0aW9uIFQyX0xPQ0FMX1Rlc3RiZWQKMDAzNGlkZW50aWZpZXIg", "expires_in": 600}`)
	})
	tok, err := c.RequestMacaroon(context.Background(), srv.URL+"/vo/src.dat", SourceActivities, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "application/macaroon-request" || body != `{"caveats":["activity:DOWNLOAD,READ_METADATA"],"validity":"PT600S"}` {
		t.Errorf("request %q %q", ctype, body)
	}
	if tok.IsJWT() || cred.Redact(tok.Bearer()) != cred.Redacted {
		t.Errorf("macaroon not registered for redaction")
	}
	_, err = c.RequestMacaroon(context.Background(), srv.URL+"/denied", DestinationActivities, time.Minute)
	if KindOf(err) != KindDenied {
		t.Errorf("denied: %v", err)
	}
}

func TestReproLines(t *testing.T) {
	r := Repro{Mode: Pull, Source: "https://partner:18543/vo/ref.dat", Destination: "https://site:18443/vo/gp/x.dat", Overwrite: OverwriteNo,
		SourceScopes: "storage.read:/ref.dat", DestinationScopes: "storage.create:/gp", SourceAudience: "https://partner:18543",
		DestinationAudience: "https://site:18443", Timeout: 30 * time.Second}
	got := strings.Join(r.Lines(), "\n")
	for _, want := range []string{
		`# needs in $DST_TOKEN_FILE a token with scope "storage.create:/gp" and audience https://site:18443 (destination, active)`,
		`"Authorization: Bearer $(cat "$DST_TOKEN_FILE")"`,
		`"TransferHeaderAuthorization: Bearer $(cat "$SRC_TOKEN_FILE")"`,
		`-H 'Credential: none' -H 'Source: https://partner:18543/vo/ref.dat' -H 'Overwrite: F' --max-time 30 -L -X COPY -o gridprobe-tpc.txt -w '%{http_code}' https://site:18443/vo/gp/x.dat`,
		`tail -n 1 gridprobe-tpc.txt | grep -qi '^success:'`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("reproduce lines lack %s:\n%s", want, got)
		}
	}
	r = Repro{Mode: Push, Source: "https://site:18443/vo/ref.dat", Destination: "https://partner:18543/vo/gp/x.dat", Proxy: true}
	got = strings.Join(r.Lines(), "\n")
	for _, want := range []string{
		`--cert "$X509_USER_PROXY" --key "$X509_USER_PROXY" -X POST -H 'Content-Type: application/macaroon-request' -d '{"caveats":["activity:UPLOAD"],"validity":"PT600S"}' https://partner:18543/vo/gp/x.dat`,
		`"TransferHeaderAuthorization: Bearer $(cat gridprobe-tpc-macaroon.txt)"`,
		`-H 'Destination: https://partner:18543/vo/gp/x.dat'`,
		`-X COPY -o gridprobe-tpc.txt -w '%{http_code}' https://site:18443/vo/ref.dat`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("proxy push lines lack %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Authorization: Bearer $(cat \"$") {
		t.Errorf("proxy lines read a token file:\n%s", got)
	}
}
