package cred

import (
	"bytes"
	"fmt"
	"log"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRedactPatterns(t *testing.T) {
	RegisterSecret("  registered-secret-value-1  ")
	RegisterSecret("short") // too short to register: ordinary words survive
	jwtLike := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	cases := []struct{ in, want string }{
		{"nothing to hide here: GET /testvo/file 403 Forbidden", "nothing to hide here: GET /testvo/file 403 Forbidden"},
		{"a short word stays", "a short word stays"},
		{"x registered-secret-value-1 y", "x [REDACTED] y"},
		{"curl -H 'Authorization: Bearer " + jwtLike + "' https://se", "curl -H 'Authorization: Bearer [REDACTED]' https://se"},
		{"token " + jwtLike + ".", "token [REDACTED]."},
		{"Authorization: Bearer MDAxY2xvY2F0aW9uIGxvY2FsCjAwMzBpZGVudGlmaWVy", "Authorization: Bearer [REDACTED]"},
		{"authorization: bearer abcdefgh12345678", "authorization: bearer [REDACTED]"},
		{"root://se//f?authz=Bearer%20abcdefghijkl&x=1", "root://se//f?authz=[REDACTED]&x=1"},
		{`{"access_token":"opaque-value-123456","token_type":"Bearer"}`, `{"access_token":"[REDACTED]","token_type":"Bearer"}`},
		{`{"macaroon": "MDAxY2xvY2F0aW9uIGxvY2F"}`, `{"macaroon": "[REDACTED]"}`},
		{"client_secret=hunter2hunter2&grant_type=x", "client_secret=[REDACTED]&grant_type=x"},
		{"Bearer tokens are described in RFC 6750", "Bearer tokens are described in RFC 6750"},
	}
	for _, c := range cases {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestRedactWriter(t *testing.T) {
	RegisterSecret("writer-secret-abcdef")
	var buf bytes.Buffer
	l := log.New(RedactWriter(&buf), "", 0)
	l.Printf("request with writer-secret-abcdef failed")
	fmt.Fprintf(RedactWriter(&buf), "Authorization: Bearer %s\n", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln")
	if got := buf.String(); got != "request with [REDACTED] failed\nAuthorization: Bearer [REDACTED]\n" {
		t.Errorf("got %q", got)
	}
}

func TestRedactConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s := fmt.Sprintf("concurrent-secret-%d-%d", g, i)
				registerSecret(s, time.Now().Add(time.Hour))
				if got := Redact("<" + s + ">"); got != "<[REDACTED]>" {
					t.Errorf("just registered %q not redacted: %q", s, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestRegistryBounded(t *testing.T) {
	// Expired entries are dropped once the registry is over its bound, and
	// unexpired ones stay.
	keep := "long-lived-secret-value"
	RegisterSecret(keep)
	past := time.Now().Add(-time.Minute)
	for i := 0; i < maxSecrets+10; i++ {
		registerSecret(fmt.Sprintf("expired-secret-%06d", i), past)
	}
	registry.mu.Lock()
	n := len(registry.secrets)
	registry.mu.Unlock()
	if n > maxSecrets {
		t.Errorf("registry holds %d secrets, bound %d", n, maxSecrets)
	}
	// Over the bound with nothing expired: the soonest-forgotten go first.
	soon := time.Now().Add(time.Hour)
	for i := 0; i < 2*maxSecrets; i++ {
		registerSecret(fmt.Sprintf("live-secret-%06d", i), soon.Add(time.Duration(i)*time.Second))
	}
	registry.mu.Lock()
	n = len(registry.secrets)
	registry.mu.Unlock()
	if n > maxSecrets {
		t.Errorf("registry holds %d secrets, bound %d", n, maxSecrets)
	}
	if last := fmt.Sprintf("live-secret-%06d", 2*maxSecrets-1); Redact(last) != Redacted {
		t.Error("newest secret dropped")
	}
	if Redact(keep) != Redacted {
		t.Error("unexpired secret dropped")
	}
}

func TestRedactNoAllocWithoutSecrets(t *testing.T) {
	for i := 0; i < 100; i++ {
		RegisterSecret(fmt.Sprintf("eyJfake%03d.payload-part-%03d.signature-%03d", i, i, i))
	}
	s := "OK - read /testvo/reference.dat 1048576 bytes adler32 1a2b3c4d in 0.12s"
	if n := testing.AllocsPerRun(100, func() { _ = Redact(s) }); n != 0 {
		t.Errorf("Redact allocates %v times on a clean line", n)
	}
}

func BenchmarkRedactShortClean(b *testing.B) {
	for i := 0; i < 200; i++ {
		RegisterSecret(fmt.Sprintf("bench-secret-%04d-%s", i, strings.Repeat("x", 40)))
	}
	s := "CRITICAL - file stat error: 403 Forbidden on https://se.example.org:1094/testvo/reference.dat"
	b.ReportAllocs()
	for b.Loop() {
		_ = Redact(s)
	}
}

func BenchmarkRedactShortWithSecret(b *testing.B) {
	for i := 0; i < 200; i++ {
		RegisterSecret(fmt.Sprintf("bench-secret-%04d-%s", i, strings.Repeat("x", 40)))
	}
	s := "curl -H 'X-Auth: bench-secret-0042-" + strings.Repeat("x", 40) + "' https://se"
	b.ReportAllocs()
	for b.Loop() {
		_ = Redact(s)
	}
}

func BenchmarkRedactShortBearer(b *testing.B) {
	s := "Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	b.ReportAllocs()
	for b.Loop() {
		_ = Redact(s)
	}
}
