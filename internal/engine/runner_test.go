package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func ok(context.Context, *Env) Outcome { return Okf("fine") }

func crit(context.Context, *Env) Outcome { return Critf("broken") }

// waitCtx blocks until its context ends, as a hung endpoint would.
func waitCtx(ctx context.Context, _ *Env) Outcome {
	<-ctx.Done()
	return Critf("read: %v", ctx.Err())
}

func byCheck(results []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range results {
		m[r.Site+"/"+r.Check] = r
	}
	return m
}

func site(name string, checks ...Check) *Site {
	return &Site{Name: name, Budget: time.Minute, Services: []*Service{{
		Name: "org.testvo.SE-WebDAV", Protocol: "webdav", VO: "testvo", URL: "https://se.example:443",
		Timeout: time.Second, Checks: checks,
	}}}
}

func TestOrderAndPrerequisites(t *testing.T) {
	var mu sync.Mutex
	var order []string
	rec := func(id string, o Outcome) func(context.Context, *Env) Outcome {
		return func(context.Context, *Env) Outcome {
			mu.Lock()
			order = append(order, id)
			mu.Unlock()
			return o
		}
	}
	s := site("A",
		Check{ID: "1connection", Run: rec("1connection", Okf("up"))},
		Check{ID: "2ssl", Requires: []string{"1connection"}, Run: rec("2ssl", Critf("unknown CA"))},
		Check{ID: "4crt-read", Requires: []string{"2ssl"}, Run: rec("4crt-read", Okf("never"))},
		Check{ID: "5x", Requires: []string{"2ssl", "1connection", "4crt-read"}, Run: rec("5x", Okf("never"))},
		Check{ID: "6warn", Requires: []string{"1connection"}, Run: rec("6warn", Warnf("slow"))},
		Check{ID: "7after-warn", Requires: []string{"6warn"}, Run: rec("7after-warn", Okf("ran"))},
	)
	res := (&Runner{}).Run(context.Background(), []*Site{s})
	if got, want := strings.Join(order, ","), "1connection,2ssl,6warn,7after-warn"; got != want {
		t.Fatalf("run order %s, want %s", got, want)
	}
	var ids []string
	for _, r := range res {
		ids = append(ids, r.Check)
	}
	if got, want := strings.Join(ids, ","), "1connection,2ssl,4crt-read,5x,6warn,7after-warn,99summary"; got != want {
		t.Fatalf("result order %s, want %s", got, want)
	}
	m := byCheck(res)
	if r := m["A/4crt-read"]; r.State != Unknown || r.Detail != "prerequisite 2ssl failed" {
		t.Errorf("4crt-read = %s %q", r.State, r.Detail)
	}
	if r := m["A/5x"]; r.State != Unknown || r.Detail != "prerequisites 2ssl, 4crt-read failed" {
		t.Errorf("5x = %s %q", r.State, r.Detail)
	}
	if r := m["A/7after-warn"]; r.State != OK {
		t.Errorf("a WARNING prerequisite must not block: %s %q", r.State, r.Detail)
	}
	sum := m["A/99summary"]
	if sum.State != Critical {
		t.Errorf("summary state %s, want CRITICAL", sum.State)
	}
	want := "4 of 6 checks not OK; CRITICAL: 2ssl; UNKNOWN: 4crt-read, 5x; WARNING: 6warn"
	if sum.Detail != want {
		t.Errorf("summary detail %q, want %q", sum.Detail, want)
	}
	for _, r := range res {
		if r.RunID == "" || r.Site != "A" || r.Protocol != "webdav" {
			t.Errorf("result lacks identity: %+v", r)
		}
	}
}

func TestSummaryAllOK(t *testing.T) {
	res := (&Runner{}).Run(context.Background(), []*Site{site("A",
		Check{ID: "1connection", Run: ok}, Check{ID: "2ssl", Run: ok})})
	sum := res[len(res)-1]
	if sum.Check != SummaryID || sum.State != OK || sum.Detail != "all 2 checks OK" {
		t.Fatalf("summary = %+v", sum)
	}
}

func TestCheckTimeout(t *testing.T) {
	s := site("A",
		Check{ID: "1connection", Timeout: 50 * time.Millisecond, Run: waitCtx},
		Check{ID: "2ssl", Requires: []string{"1connection"}, Run: ok},
		Check{ID: "3independent", Run: ok},
	)
	start := time.Now()
	m := byCheck((&Runner{}).Run(context.Background(), []*Site{s}))
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("round took %s; a hung check must cost only its timeout", el)
	}
	if r := m["A/1connection"]; r.State != Critical || !strings.HasPrefix(r.Detail, "timeout after 50ms") {
		t.Errorf("1connection = %s %q", r.State, r.Detail)
	}
	if r := m["A/2ssl"]; r.State != Unknown || r.Detail != "prerequisite 1connection failed" {
		t.Errorf("2ssl = %s %q", r.State, r.Detail)
	}
	if r := m["A/3independent"]; r.State != OK {
		t.Errorf("an independent check after a timeout must still run: %s %q", r.State, r.Detail)
	}
}

func TestCheckIgnoringContextIsAbandoned(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := site("A", Check{ID: "1hang", Timeout: 20 * time.Millisecond, Run: func(context.Context, *Env) Outcome {
		<-release
		return Okf("late")
	}})
	r := &Runner{Grace: 20 * time.Millisecond}
	m := byCheck(r.Run(context.Background(), []*Site{s}))
	if got := m["A/1hang"]; got.State != Critical || !strings.Contains(got.Detail, "timeout after 20ms") {
		t.Fatalf("1hang = %s %q", got.State, got.Detail)
	}
}

func TestSiteBudget(t *testing.T) {
	s := site("A",
		Check{ID: "1slow", Timeout: time.Hour, Run: waitCtx},
		Check{ID: "2next", Run: ok},
	)
	s.Budget = 80 * time.Millisecond
	m := byCheck((&Runner{}).Run(context.Background(), []*Site{s}))
	if r := m["A/1slow"]; r.State != Critical || !strings.Contains(r.Detail, "site budget 80ms exhausted") {
		t.Errorf("1slow = %s %q", r.State, r.Detail)
	}
	if r := m["A/2next"]; r.State != Unknown || r.Detail != "not run: site budget of 80ms exhausted" {
		t.Errorf("2next = %s %q", r.State, r.Detail)
	}
	if r := m["A/99summary"]; r.State != Critical {
		t.Errorf("summary = %s", r.State)
	}
}

func TestSlowSiteDoesNotDelayOthers(t *testing.T) {
	slow := site("slow", Check{ID: "1slow", Timeout: time.Second, Run: waitCtx})
	fast := site("fast", Check{ID: "1fast", Run: ok})
	done := make(chan string, 2)
	r := &Runner{Concurrency: 2, OnSiteDone: func(site string, _ []Result) { done <- site }}
	go r.Run(context.Background(), []*Site{slow, fast})
	select {
	case first := <-done:
		if first != "fast" {
			t.Fatalf("first finished site %s, want fast", first)
		}
	case <-time.After(500 * time.Millisecond):
		t.Fatal("fast site delayed by the slow one")
	}
	<-done
}

func TestConcurrencyBound(t *testing.T) {
	var cur, peak atomic.Int32
	run := func(context.Context, *Env) Outcome {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		cur.Add(-1)
		return Okf("ok")
	}
	var sites []*Site
	for i := range 12 {
		sites = append(sites, site(fmt.Sprint("S", i), Check{ID: "1c", Run: run}))
	}
	res := (&Runner{Concurrency: 3}).Run(context.Background(), sites)
	if got := peak.Load(); got != 3 {
		t.Fatalf("peak concurrency %d, want 3", got)
	}
	if len(res) != 24 {
		t.Fatalf("%d results, want 24", len(res))
	}
	for i, r := range res {
		if want := fmt.Sprint("S", i/2); r.Site != want {
			t.Fatalf("result %d from %s, want %s (site order must be kept)", i, r.Site, want)
		}
	}
}

func TestCleanupAfterFailureTimeoutAndCancel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		run    func(context.Context, *Env) Outcome
		cancel bool
	}{
		{"failure", crit, false},
		{"timeout", waitCtx, false},
		{"panic", func(context.Context, *Env) Outcome { panic("boom") }, false},
		{"cancel", waitCtx, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cleaned []string
			var cleanupCtxErr error
			s := site("A",
				Check{ID: "7crt-write", Timeout: 100 * time.Millisecond, Run: func(ctx context.Context, env *Env) Outcome {
					env.Cleanup("first", func(context.Context) error { cleaned = append(cleaned, "first"); return nil })
					env.Cleanup("second", func(ctx context.Context) error {
						cleanupCtxErr = ctx.Err()
						cleaned = append(cleaned, "second")
						return nil
					})
					return tc.run(ctx, env)
				}},
				Check{ID: "8next", Run: ok},
			)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				time.AfterFunc(20*time.Millisecond, cancel)
			}
			m := byCheck((&Runner{}).Run(ctx, []*Site{s}))
			if got := strings.Join(cleaned, ","); got != "second,first" {
				t.Fatalf("cleanups ran %q, want LIFO second,first", got)
			}
			if cleanupCtxErr != nil {
				t.Fatalf("cleanup got a dead context: %v", cleanupCtxErr)
			}
			r := m["A/7crt-write"]
			switch tc.name {
			case "cancel":
				if r.State != Unknown || !strings.HasPrefix(r.Detail, "interrupted: round cancelled") {
					t.Errorf("cancelled check = %s %q", r.State, r.Detail)
				}
				if n := m["A/8next"]; n.State != Unknown || n.Detail != "not run: round cancelled" {
					t.Errorf("next after cancel = %s %q", n.State, n.Detail)
				}
			case "panic":
				if r.State != Unknown || !strings.Contains(r.Detail, "panic: boom") {
					t.Errorf("panicking check = %s %q", r.State, r.Detail)
				}
			default:
				if r.State != Critical {
					t.Errorf("check = %s %q", r.State, r.Detail)
				}
			}
		})
	}
}

func TestFailedCleanupWarnsInSummary(t *testing.T) {
	s := site("A", Check{ID: "7crt-write", Run: func(_ context.Context, env *Env) Outcome {
		env.Cleanup("rm /testvo/gridprobe/x", func(context.Context) error { return errors.New("403 Forbidden") })
		return Okf("written")
	}})
	m := byCheck((&Runner{}).Run(context.Background(), []*Site{s}))
	sum := m["A/99summary"]
	if sum.State != Warning || !strings.Contains(sum.Detail, "7crt-write cleanup rm /testvo/gridprobe/x: 403 Forbidden") {
		t.Fatalf("summary = %s %q", sum.State, sum.Detail)
	}
}

func TestSelectRunsPrerequisitesOnly(t *testing.T) {
	var ran []string
	rec := func(id string) func(context.Context, *Env) Outcome {
		return func(context.Context, *Env) Outcome { ran = append(ran, id); return Okf("ok") }
	}
	svc := site("A",
		Check{ID: "1connection", Run: rec("1connection")},
		Check{ID: "2ssl", Requires: []string{"1connection"}, Run: rec("2ssl")},
		Check{ID: "4crt-read", Requires: []string{"2ssl"}, Run: rec("4crt-read")},
		Check{ID: "14tkn-read", Requires: []string{"2ssl"}, Run: rec("14tkn-read")},
	).Services[0]
	sel, err := Select(svc, []string{"14tkn-read"})
	if err != nil {
		t.Fatal(err)
	}
	res := (&Runner{}).Run(context.Background(), []*Site{{Name: "A", Services: []*Service{sel}}})
	if got := strings.Join(ran, ","); got != "1connection,2ssl,14tkn-read" {
		t.Fatalf("ran %s", got)
	}
	if len(res) != 3 {
		t.Fatalf("a partial run has no summary; got %d results", len(res))
	}
	if _, err := Select(svc, []string{"15nope"}); err == nil || !strings.Contains(err.Error(), `no check "15nope"`) {
		t.Fatalf("unknown id error = %v", err)
	}
	full, _ := Select(svc, []string{SummaryID})
	if full != svc {
		t.Fatal("selecting 99summary must run the whole service")
	}
}

func TestSkipSatisfiesPrerequisite(t *testing.T) {
	svc := Skip(site("A",
		Check{ID: "2ssl", Run: crit},
		Check{ID: "4crt-read", Requires: []string{"2ssl"}, Run: ok},
	).Services[0], []string{"2ssl"})
	m := byCheck((&Runner{}).Run(context.Background(), []*Site{{Name: "A", Services: []*Service{svc}}}))
	if _, present := m["A/2ssl"]; present {
		t.Fatal("skipped check reported")
	}
	if r := m["A/4crt-read"]; r.State != OK {
		t.Fatalf("4crt-read = %s %q", r.State, r.Detail)
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := byCheck((&Runner{Concurrency: 1}).Run(ctx, []*Site{site("A", Check{ID: "1c", Run: ok})}))
	if r := m["A/1c"]; r.State != Unknown || !strings.Contains(r.Detail, "cancelled") {
		t.Fatalf("1c = %s %q", r.State, r.Detail)
	}
}

func TestReproduceFallbackAndOneLine(t *testing.T) {
	s := site("A", Check{ID: "1c", Timeout: 10 * time.Millisecond, Run: waitCtx,
		Reproduce: func() []string { return []string{"curl -sS https://se.example/"} }},
		Check{ID: "2long", Run: func(context.Context, *Env) Outcome {
			return Critf("line one\nline two %s", strings.Repeat("x", 400))
		}})
	m := byCheck((&Runner{}).Run(context.Background(), []*Site{s}))
	if r := m["A/1c"]; len(r.Reproduce) != 1 {
		t.Errorf("timeout result lacks reproduce: %+v", r)
	}
	d := m["A/2long"].Detail
	if strings.Contains(d, "\n") || len(d) > MaxDetail || !strings.HasPrefix(d, "line one line two") {
		t.Errorf("detail not folded: %q", d)
	}
}

func TestRunIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewRunID()
		if seen[id] || strings.ContainsAny(id, "/. ") {
			t.Fatalf("bad or repeated run id %q", id)
		}
		seen[id] = true
	}
}

func TestWorstAndParse(t *testing.T) {
	if Worst(OK, Unknown, Warning) != Unknown || Worst(Unknown, Critical) != Critical || Worst() != OK {
		t.Fatal("severity order wrong")
	}
	for _, s := range []State{OK, Warning, Critical, Unknown} {
		p, err := ParseState(s.String())
		if err != nil || p != s {
			t.Fatalf("round trip %s: %v %v", s, p, err)
		}
	}
}

func TestServicesOfASiteRunSideBySide(t *testing.T) {
	var running, peak atomic.Int32
	slow := func(context.Context, *Env) Outcome {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
		running.Add(-1)
		return Okf("ok")
	}
	s := &Site{Name: "A", Budget: time.Minute}
	for _, name := range []string{"org.testvo.SE-WebDAV", "org.testvo.SE-XRootD", "org.testvo.CE-ARC"} {
		s.Services = append(s.Services, &Service{Name: name, Timeout: time.Second, Checks: []Check{{ID: "1c", Run: slow}}})
	}
	res := (&Runner{}).Run(context.Background(), []*Site{s})
	if peak.Load() != 3 {
		t.Fatalf("peak %d services at once, want 3", peak.Load())
	}
	var order []string
	for _, r := range res {
		order = append(order, r.Service+"/"+r.Check)
	}
	want := "org.testvo.SE-WebDAV/1c,org.testvo.SE-WebDAV/99summary,org.testvo.SE-XRootD/1c,org.testvo.SE-XRootD/99summary,org.testvo.CE-ARC/1c,org.testvo.CE-ARC/99summary"
	if strings.Join(order, ",") != want {
		t.Fatalf("result order %v", order)
	}
}

// A check whose network deadline (derived from its context) fires just
// before the context ends is still reported as a timeout.
func TestNetworkDeadlineCountsAsTimeout(t *testing.T) {
	s := site("A", Check{ID: "1c", Timeout: 30 * time.Millisecond, Run: func(ctx context.Context, _ *Env) Outcome {
		d, _ := ctx.Deadline()
		time.Sleep(time.Until(d))
		return Critf("read tcp: i/o timeout")
	}})
	m := byCheck((&Runner{}).Run(context.Background(), []*Site{s}))
	if r := m["A/1c"]; r.State != Critical || !strings.HasPrefix(r.Detail, "timeout after 30ms: read tcp: i/o timeout") {
		t.Fatalf("1c = %s %q", r.State, r.Detail)
	}
}
