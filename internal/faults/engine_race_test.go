package faults

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// TestEngineConcurrentRounds runs several rounds at once (as serve does:
// scheduled rounds and /probe runs overlap) over sites whose checks
// succeed, fail, hang past their timeout, ignore their context, panic and
// register cleanups, and checks under -race that every round returns every
// result, every cleanup runs exactly once and nothing outlives its budget.
func TestEngineConcurrentRounds(t *testing.T) {
	const rounds, sites = 6, 15
	var registered, ran atomic.Int64
	mkSites := func(round int) []*engine.Site {
		var out []*engine.Site
		for i := 0; i < sites; i++ {
			svc := &engine.Service{Name: "org.testvo.SE-Fake", Protocol: "webdav", Timeout: 100 * time.Millisecond}
			for j, kind := range []string{"ok", "fail", "hang", "ignore", "panic", "cleanup"} {
				kind := kind
				svc.Checks = append(svc.Checks, engine.Check{
					ID: fmt.Sprintf("%d%s", j+1, kind), Credential: engine.CredNone,
					Run: func(ctx context.Context, env *engine.Env) engine.Outcome {
						switch kind {
						case "fail":
							return engine.Critf("failed on purpose")
						case "hang":
							<-ctx.Done()
							return engine.Critf("%v", ctx.Err())
						case "ignore":
							time.Sleep(150 * time.Millisecond) // past timeout, within grace
							return engine.Okf("late")
						case "panic":
							panic("boom")
						case "cleanup":
							registered.Add(1)
							env.Cleanup("scratch", func(ctx context.Context) error { ran.Add(1); return nil })
						}
						return engine.Okf("fine")
					},
				})
			}
			out = append(out, &engine.Site{Name: fmt.Sprintf("R%d_S%02d", round, i), Budget: 2 * time.Second, Services: []*engine.Service{svc}})
		}
		return out
	}
	var wg sync.WaitGroup
	errs := make(chan string, rounds*sites*10)
	for r := 0; r < rounds; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := engine.Runner{Concurrency: 5, Grace: 300 * time.Millisecond, CleanupTimeout: time.Second}
			start := time.Now()
			res := run.Run(context.Background(), mkSites(r))
			if len(res) != sites*7 {
				errs <- fmt.Sprintf("round %d: %d results, want %d", r, len(res), sites*7)
			}
			if d := time.Since(start); d > 3*(2*time.Second+time.Second) {
				errs <- fmt.Sprintf("round %d took %s", r, d)
			}
			for _, x := range res {
				want := map[string]engine.State{"1ok": engine.OK, "2fail": engine.Critical, "3hang": engine.Critical,
					"4ignore": engine.OK, "5panic": engine.Unknown, "6cleanup": engine.OK, engine.SummaryID: engine.Critical}[x.Check]
				if x.State != want {
					errs <- fmt.Sprintf("%s %s: %s (%s), want %s", x.Site, x.Check, x.State, x.Detail, want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if registered.Load() != rounds*sites || ran.Load() != registered.Load() {
		t.Errorf("cleanups: %d registered, %d ran, want %d", registered.Load(), ran.Load(), rounds*sites)
	}
}
