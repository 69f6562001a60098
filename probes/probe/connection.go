package probe

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/protocol"
)

// HostPort returns host and port of u, with the scheme's default port.
func HostPort(u *url.URL) (host, port string) {
	host, port = u.Hostname(), u.Port()
	if port == "" {
		if port = protocol.DefaultPort(u.Scheme); port == "" {
			port = "80"
		}
	}
	return host, port
}

// Resolver is the subset of net.Resolver the connection check uses.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Connection is the 1connection check: resolve the endpoint's host and open
// a TCP connection to every address (IPv4 and IPv6). All reached: OK; some
// reached: WARNING naming the unreachable ones; none: CRITICAL.
func Connection(ctx context.Context, u *url.URL, res Resolver) engine.Outcome {
	if res == nil {
		res = net.DefaultResolver
	}
	host, port := HostPort(u)
	var addrs []net.IPAddr
	if ip := net.ParseIP(host); ip != nil {
		addrs = []net.IPAddr{{IP: ip}}
	} else {
		var err error
		addrs, err = res.LookupIPAddr(ctx, host)
		if err != nil {
			return engine.Critf("cannot resolve %s: %v", host, err)
		}
		if len(addrs) == 0 {
			return engine.Critf("%s resolves to no address", host)
		}
	}
	type probeResult struct {
		addr string
		took time.Duration
		err  error
	}
	results := make([]probeResult, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hp := net.JoinHostPort(a.String(), port)
			start := time.Now()
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", hp)
			if err == nil {
				c.Close()
			}
			results[i] = probeResult{hp, time.Since(start), err}
		}()
	}
	wg.Wait()
	sort.Slice(results, func(i, j int) bool { return results[i].addr < results[j].addr })
	var okAddrs, bad []string
	var perf []engine.Perf
	for _, r := range results {
		if r.err != nil {
			bad = append(bad, fmt.Sprintf("%s: %s", r.addr, shortNetErr(r.err)))
			continue
		}
		okAddrs = append(okAddrs, r.addr)
		perf = append(perf, engine.Perf{Label: "connect_" + r.addr, Value: r.took.Seconds(), Unit: "s"})
	}
	// Needs only bash: nc is often not installed on a site's hosts.
	reproduce := []string{fmt.Sprintf("timeout 10 bash -c %s && echo %s",
		Quote(fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port)), Quote(net.JoinHostPort(host, port)+" reachable"))}
	var o engine.Outcome
	switch {
	case len(bad) == 0:
		o = engine.Okf("Endpoint reachable on all addresses of %s: %s", host, strings.Join(okAddrs, ", "))
	case len(okAddrs) == 0:
		o = engine.Critf("Endpoint unreachable on every address of %s: %s", host, strings.Join(bad, "; "))
	default:
		o = engine.Warnf("Endpoint %s reachable on %s but not on %s", host, strings.Join(okAddrs, ", "), strings.Join(bad, "; "))
	}
	o.Reproduce, o.Perf = reproduce, perf
	return o
}

// shortNetErr keeps the useful end of a dial error ("connection refused",
// "i/o timeout") without repeating the address.
func shortNetErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		return s[i+2:]
	}
	return s
}
