package probe

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/engine"
)

type fixedResolver []net.IPAddr

func (f fixedResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) { return f, nil }

func TestConnectionAllSomeNone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	u, _ := url.Parse("https://se.example:" + port)
	// A closed port on another loopback address stands for an address that refuses.
	all := Connection(context.Background(), u, fixedResolver{{IP: net.ParseIP("127.0.0.1")}})
	if all.State != engine.OK || !strings.Contains(all.Detail, "reachable on all addresses") {
		t.Errorf("all: %s %q", all.State, all.Detail)
	}
	some := Connection(context.Background(), u, fixedResolver{{IP: net.ParseIP("127.0.0.1")}, {IP: net.ParseIP("127.0.0.2")}})
	if some.State != engine.Warning || !strings.Contains(some.Detail, "127.0.0.2:"+port+": connection refused") {
		t.Errorf("some: %s %q", some.State, some.Detail)
	}
	none := Connection(context.Background(), u, fixedResolver{{IP: net.ParseIP("127.0.0.2")}})
	if none.State != engine.Critical || !strings.Contains(none.Detail, "unreachable on every address") {
		t.Errorf("none: %s %q", none.State, none.Detail)
	}
	if len(all.Reproduce) != 1 || !strings.Contains(all.Reproduce[0], "/dev/tcp/se.example/"+port) {
		t.Errorf("reproduce = %q", all.Reproduce)
	}
}
