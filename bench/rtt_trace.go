package bench

import (
	"context"
	"fmt"
	"net/http/httptrace"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/round"
	"github.com/gridprobe/gridprobe/probes/webdav"
	"github.com/gridprobe/gridprobe/probes/xrootd"
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
)

// CheckTrace is what one check (or a service's cleanups, Check ==
// cleanupID) cost on its service's latency link: the wall time and the
// link's connection and round-trip counts over that time. It is the
// diagnostic behind the counts in rtt.go: RoundTrips is what the probe
// really waited for, MinRoundTrips what it needs.
type CheckTrace struct {
	Protocol, Check string
	State           engine.State // engine.OK for the cleanups
	Duration        time.Duration
	Conns           int64
	RoundTrips      int64
	// Events are what the probe's clients reported, in order: "new" or
	// "reused" for each HTTP request's connection, "session" for each
	// XRootD connection brought up, "wait" for a kXR_wait or kXR_waitresp.
	Events []string
}

// settle lets the link's reader see the last bytes a check sent (a
// closing session's TLS alert) before its counts are read.
const settle = 3 * time.Millisecond

// TraceRound runs one round of cfg's first site like RunRound, and records
// for each check and for each service's cleanups the counts of the link
// its service goes through (links by protocol; a protocol without a link
// gets zero counts, which is how a run without links measures the time
// spent off the wire). Services run side by side as in a real round.
func TraceRound(ctx context.Context, cfg *config.Config, links map[string]*Link) ([]CheckTrace, error) {
	if len(cfg.Sites) == 0 {
		return nil, fmt.Errorf("trace: no site")
	}
	rd, err := round.Build(cfg, round.Options{Sites: []string{cfg.Sites[0].Name}})
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	if rd.TokenErr != nil {
		return nil, fmt.Errorf("token source: %w", rd.TokenErr)
	}
	site := rd.Sites[0]
	var mu sync.Mutex
	var out []CheckTrace
	ev := &events{m: map[string][]string{}}
	if l := links[webdav.Type]; l != nil {
		ev.httpAddr = l.Addr()
	}
	for _, svc := range site.Services {
		link := links[svc.Protocol]
		stats := func() LinkStats {
			if link == nil {
				return LinkStats{}
			}
			time.Sleep(settle)
			return link.Stats()
		}
		var last LinkStats // at the end of the latest check
		var lastAt time.Time
		record := func(id string, st engine.State, d time.Duration, from, to LinkStats) {
			mu.Lock()
			defer mu.Unlock()
			out = append(out, CheckTrace{Protocol: svc.Protocol, Check: id, State: st, Duration: d,
				Conns: to.Conns - from.Conns, RoundTrips: to.RoundTrips - from.RoundTrips, Events: ev.take(svc.Protocol)})
		}
		for i := range svc.Checks {
			c := &svc.Checks[i]
			run, id := c.Run, c.ID
			c.Run = func(ctx context.Context, env *engine.Env) engine.Outcome {
				before := stats()
				start := time.Now()
				o := run(ctx, env)
				d := time.Since(start)
				last, lastAt = stats(), time.Now()
				record(id, o.State, d, before, last)
				return o
			}
		}
		closeSvc := svc.Close
		svc.Close = func() { // after the cleanups, before the pooled connections close
			record(cleanupID, engine.OK, time.Since(lastAt), last, stats())
			if closeSvc != nil {
				closeSvc()
			}
		}
	}
	rd.Runner(1, nil).Run(ev.traced(ctx), rd.Sites)
	return out, nil
}

// events collects what the clients report, per protocol: the HTTP
// client's for webdav, the XRootD session layer's for xrootd.
type events struct {
	mu sync.Mutex
	m  map[string][]string
	// httpAddr, when set, keeps only HTTP requests to it (not the
	// token issuer's).
	httpAddr string
}

func (e *events) add(proto, what string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[proto] = append(e.m[proto], what)
}

func (e *events) take(proto string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.m[proto]
	e.m[proto] = nil
	return out
}

// traced makes every check and cleanup of the round report to e.
func (e *events) traced(ctx context.Context) context.Context {
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if e.httpAddr != "" && (i.Conn == nil || i.Conn.RemoteAddr().String() != e.httpAddr) {
			return
		}
		e.add(webdav.Type, map[bool]string{true: "reused", false: "new"}[i.Reused])
	}})
	return xrd.WithTrace(ctx, &xrd.Trace{
		Connected: func(xrd.Info) { e.add(xrootd.Type, "session") },
		Wait:      func(string, time.Duration, string) { e.add(xrootd.Type, "wait") },
		WaitResp:  func(string, time.Duration, string) { e.add(xrootd.Type, "waitresp") },
	})
}
