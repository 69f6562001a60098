package faults

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/probes/probe"
)

func TestDeleteGuardRefusesAdversarialPaths(t *testing.T) {
	r := RunGuard(context.Background())
	for _, e := range r.Escaped {
		t.Errorf("delete guard let through %s", e)
	}
	if r.Attempts != len(GuardCases()) || r.Refused != r.Attempts {
		t.Errorf("refused %d of %d", r.Refused, r.Attempts)
	}
	// The guard is not a wall that refuses everything: its own paths pass.
	s, err := probe.NewScratch("/testvo/gridprobe", GuardRunID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{s.Dir(), s.Path("7crt-write.dat"), s.Path("8crt-directory", "file.dat"), s.Dir() + "/a..b"} {
		called := false
		if err := s.Delete(context.Background(), p, func(context.Context, string) error { called = true; return nil }); err != nil || !called {
			t.Errorf("own path %q refused: %v", p, err)
		}
	}
}

// TestRefusedPortRefuses: the refused fault's port refuses connections while
// it is held (and nothing else can listen on it meanwhile).
func TestRefusedPortRefuses(t *testing.T) {
	addr, release, err := Refused()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil || !strings.Contains(err.Error(), "refused") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("another listener could take %s while it is held", addr)
	}
}
