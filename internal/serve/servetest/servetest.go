// Package servetest starts `probe serve` in-process against the local
// testbed for integration tests (status page in Chromium, Prometheus
// scraping the probe).
package servetest

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/round"
	"github.com/gridprobe/gridprobe/internal/serve"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
)

// RepoRoot is the repository root (where sites.yaml and testbed/ are).
func RepoRoot() string { return testbedenv.RepoRoot() }

// Testbed loads the testbed's environment (testbed/env) into the test's
// environment and checks that its storage endpoints answer. If the testbed
// is not up the test fails, unless GRIDPROBE_NO_TESTBED=1, which skips it
// saying so.
func Testbed(t *testing.T) {
	t.Helper()
	testbedenv.Setenv(t, "GRIDPROBE_WEBDAV_URL", "GRIDPROBE_XROOTD_URL")
}

// Server is a running in-process `probe serve`.
type Server struct {
	URL string // http://127.0.0.1:port
	*serve.Server
}

// Start runs `probe serve` on the repository's sites.yaml (the testbed's),
// on a free loopback port, with every service's first round at once. The
// server stops when the test ends.
func Start(t *testing.T, opts serve.Options) *Server {
	t.Helper()
	if opts.ConfigPath == "" {
		opts.ConfigPath = filepath.Join(RepoRoot(), "sites.yaml")
	}
	if opts.InitialSpread == 0 {
		opts.InitialSpread = -1
	}
	if opts.TokenSource == nil {
		opts.TokenSource = round.TokenSource
	}
	if opts.Log == nil {
		opts.Log = serve.NewLogger(io.Discard, 0)
	}
	s, err := serve.New(opts)
	if err != nil {
		t.Fatalf("serve.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("serve did not stop within 60s")
		}
	})
	return &Server{URL: "http://" + ln.Addr().String(), Server: s}
}

// WaitRounds waits until every scheduled service has completed a round.
func (s *Server) WaitRounds(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if s.RoundsDone() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every service completed a round within %v", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Get fetches a path of the server.
func (s *Server) Get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s\n%s", path, resp.Status, b)
	}
	return string(b)
}
