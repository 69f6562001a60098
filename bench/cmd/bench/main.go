// Command bench runs gridprobe's benchmarks against the local testbed and
// prints one table (figure, measured, target, PASS/FAIL), also written to
// bench/RESULTS.md. Run from the repository root after `make testbed-up`:
//
//	eval "$(testbed/env)" && go run ./bench/cmd/bench
//
// P3 runs its rounds in a child process (this binary with -child) so peak
// RSS and goroutines are the probe's own, not the forwarders'.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/bench"
	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/round"
)

type opts struct {
	runs, gfalRuns, p2Runs int
	oneWay                 time.Duration
	sites, p3Conc, p3Runs  int
	p3Checks               string
	p3HeapProfile          string
	p3CPUProfile           string
	only                   string
	out                    string
	config                 string
}

func main() {
	var o opts
	flag.IntVar(&o.runs, "runs", 5, "P1, P1b: gridprobe rounds (median)")
	flag.IntVar(&o.gfalRuns, "gfal-runs", 3, "P1, P1b: gfal2 baseline runs (median)")
	flag.IntVar(&o.p2Runs, "p2-runs", 3, "P2: rounds through the latency links (median)")
	flag.DurationVar(&o.oneWay, "oneway", 20*time.Millisecond, "P2/P3: injected latency each way")
	flag.IntVar(&o.sites, "sites", 1000, "P3: sites in the round")
	flag.IntVar(&o.p3Runs, "p3-runs", 3, "P3: rounds of one site and of all sites (median walls, largest RSS)")
	flag.IntVar(&o.p3Conc, "p3-concurrency", 1000, "P3: sites at once (defaults.concurrency); below -sites the round runs in waves")
	flag.StringVar(&o.p3Checks, "p3-checks", "light", "P3: light (connection, TLS, session bring-up, token read) or all")
	flag.StringVar(&o.p3HeapProfile, "p3-heapprofile", "", "P3: write the heap profile of the many-site child at its peak heap to this file")
	flag.StringVar(&o.p3CPUProfile, "p3-cpuprofile", "", "P3: write the CPU profile of the many-site child's round to this file")
	flag.StringVar(&o.only, "only", "P1,P1b,P2,P3,P4,P5", "which figures to measure (P1b: gfal2 in one Python process)")
	flag.StringVar(&o.out, "o", "bench/RESULTS.md", "write the table here too (empty: don't)")
	flag.StringVar(&o.config, "c", "sites.yaml", "P1: the testbed's sites.yaml")
	child := flag.String("child", "", "internal: run one P3 round from this config and print JSON")
	childP5 := flag.String("child-p5", "", "internal: import, validate and plan this feed once and print JSON")
	flag.Parse()
	if *childP5 != "" {
		round.TuneGC() // as `probe` does
		os.Exit(runChildP5(context.Background(), *childP5))
	}
	raiseNoFile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *child != "" {
		round.TuneGC() // as `probe` does
		os.Exit(runChild(ctx, *child, o))
	}
	if os.Getenv("GRIDPROBE_WEBDAV_URL") == "" || os.Getenv("GRIDPROBE_XROOTD_URL") == "" {
		fmt.Fprintln(os.Stderr, `bench: no testbed environment: run make testbed-up, then eval "$(testbed/env)"`)
		os.Exit(2)
	}
	var rows []bench.Row
	var notes []string
	want := func(id string) bool { return slices.Contains(strings.Split(o.only, ","), id) }
	if want("P1") || want("P1b") {
		run := gridprobeRounds(ctx, o)
		defer run.close()
		notes = append(notes, run.notes...)
		for _, f := range []struct {
			id string
			fn func(context.Context, opts, *p1Run) ([]bench.Row, []string)
		}{{"P1", p1}, {"P1b", p1b}} {
			if want(f.id) {
				r, n := f.fn(ctx, o, run)
				rows, notes = append(rows, r...), append(notes, n...)
			}
		}
	}
	if want("P2") {
		r, n := p2(ctx, o)
		rows, notes = append(rows, r...), append(notes, n...)
	}
	if want("P3") {
		r, n := p3(ctx, o)
		rows, notes = append(rows, r...), append(notes, n...)
	}
	if want("P4") {
		r, n := p4()
		rows, notes = append(rows, r...), append(notes, n...)
	}
	if want("P5") {
		r, n := p5(ctx, o)
		rows, notes = append(rows, r...), append(notes, n...)
	}
	command := "make bench  (go run ./bench/cmd/bench " + strings.Join(os.Args[1:], " ") + ")"
	var sb strings.Builder
	bench.WriteTable(&sb, rows, strings.TrimSpace(command), notes)
	fmt.Print("\n" + sb.String())
	if o.out != "" {
		text := "# gridprobe benchmarks (latest run)\n\n" + sb.String()
		if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		}
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

// raiseNoFile lifts the soft open-file limit to the hard one: P3's links
// hold two descriptors per open connection and a listener per site and
// protocol (about 8 000 at once for 1 000 sites). As root the hard limit is
// first raised to 65 536 where it is lower.
func raiseNoFile() {
	const want = 1 << 16
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return
	}
	if l.Max < want {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}); err == nil {
			return
		}
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func notMeasured(figure, target, why string) bench.Row {
	return bench.Row{Figure: figure, Measured: "—", Target: target, Verdict: "not measured: " + why}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ---- P2 ----

type links struct {
	ls []*bench.Link
}

func (l *links) add(upstream string, oneWay time.Duration) (*bench.Link, error) {
	k, err := bench.NewLink(upstream, oneWay)
	if err != nil {
		return nil, err
	}
	l.ls = append(l.ls, k)
	return k, nil
}

func (l *links) stats() bench.LinkStats {
	var s bench.LinkStats
	for _, k := range l.ls {
		x := k.Stats()
		s.Conns += x.Conns
		s.RoundTrips += x.RoundTrips
		s.Stalls += x.Stalls
		s.LongestWait = max(s.LongestWait, x.LongestWait)
	}
	return s
}

func (l *links) close() {
	for _, k := range l.ls {
		_ = k.Close()
	}
}

// upstreams are the real endpoints' host:port and audiences.
func upstreams() (webdav, xrootd, webdavAud, xrootdAud string, err error) {
	w, err1 := url.Parse(os.Getenv("GRIDPROBE_WEBDAV_URL"))
	x, err2 := url.Parse(os.Getenv("GRIDPROBE_XROOTD_URL"))
	if err1 != nil || err2 != nil {
		return "", "", "", "", fmt.Errorf("bad testbed URLs")
	}
	return "127.0.0.1:" + w.Port(), "127.0.0.1:" + x.Port(), w.Scheme + "://" + w.Host, x.Scheme + "://" + x.Host, nil
}

// linkedSites makes n sites, each with its own pair of latency links.
func linkedSites(l *links, n int, oneWay time.Duration, conc int) (string, error) {
	w, x, wa, xa, err := upstreams()
	if err != nil {
		return "", err
	}
	eps := make([]bench.Endpoint, n)
	for i := range eps {
		lw, err := l.add(w, oneWay)
		if err != nil {
			return "", err
		}
		lx, err := l.add(x, oneWay)
		if err != nil {
			return "", err
		}
		eps[i] = bench.Endpoint{WebDAV: fmt.Sprintf("https://localhost:%d", lw.Port()), XRootD: fmt.Sprintf("roots://localhost:%d", lx.Port())}
	}
	return bench.SitesYAML(eps, bench.SitesOptions{Concurrency: conc, WebDAVAudience: wa, XRootDAudience: xa}), nil
}

func p2(ctx context.Context, o opts) ([]bench.Row, []string) {
	rtt := 2 * o.oneWay
	fig := fmt.Sprintf("P2 wall / (RTT × minimal round trips), RTT %v, full lists minus 9federation", rtt)
	const target = "≤ 1.5"
	var l links
	defer l.close()
	text, err := linkedSites(&l, 1, o.oneWay, 1)
	if err != nil {
		return []bench.Row{notMeasured(fig, target, err.Error())}, nil
	}
	tmp, err := os.MkdirTemp("", "gridprobe-bench-p2-")
	if err != nil {
		return []bench.Row{notMeasured(fig, target, err.Error())}, nil
	}
	defer os.RemoveAll(tmp)
	cfg, _, err := bench.LoadSites(tmp, "p2.yaml", text)
	if err != nil {
		return []bench.Row{notMeasured(fig, target, err.Error())}, nil
	}
	var walls []time.Duration
	var floor bench.Floor
	var tally bench.Tally
	perProto := map[string][]time.Duration{}
	perCheck := map[string][]time.Duration{} // protocol/check → durations
	for i := 0; i < o.p2Runs; i++ {
		r, err := bench.RunRound(ctx, cfg, bench.RoundOptions{})
		if err != nil {
			return []bench.Row{notMeasured(fig, target, err.Error())}, nil
		}
		walls = append(walls, r.Wall)
		floor, tally = bench.FloorOf(r.Results), bench.Count(r.Results)
		byProto := map[string]time.Duration{}
		for _, x := range r.Results {
			byProto[x.Protocol] += x.Duration
			if x.Check != engine.SummaryID {
				k := x.Protocol + "/" + x.Check
				perCheck[k] = append(perCheck[k], x.Duration)
			}
		}
		for p, d := range byProto {
			perProto[p] = append(perProto[p], d)
		}
		logf("P2 round %d: %s (floor %s), %s", i+1, bench.Secs(r.Wall), bench.Secs(floor.FloorTime(rtt)), tally)
		for _, l := range tally.NotOK {
			logf("P2 round %d not OK: %s", i+1, truncate(l, 160))
		}
	}
	wall := bench.Median(walls)
	st := l.stats()
	ratio := wall.Seconds() / floor.FloorTime(rtt).Seconds()
	notes := []string{fmt.Sprintf("P2: median wall %s of %d rounds; floor %d round trips × %v = %s (the longest service: the engine runs a site's services side by side; webdav %d, xrootd %d, counted per check in bench/rtt.go); "+
		"the links saw %d connections and %d round trips per round (TCP handshakes + client turns). Checks: %s.",
		bench.Secs(wall), o.p2Runs, floor.CriticalPath(), rtt, bench.Secs(floor.FloorTime(rtt)), floor.PerService["webdav"], floor.PerService["xrootd"],
		st.Conns/int64(o.p2Runs), st.RoundTrips/int64(o.p2Runs), tally)}
	// A check faster than its count means the count is wrong: name it.
	var under []string
	for _, k := range slices.Sorted(maps.Keys(perCheck)) {
		proto, id, _ := strings.Cut(k, "/")
		counted, ok := bench.MinRoundTrips[proto][id]
		took := float64(bench.Median(perCheck[k])) / float64(rtt)
		logf("P2 %s: %.1f RTT (counted %d)", k, took, counted)
		// 1connection only connects: a link accepts at once and charges the
		// TCP handshake to the first bytes, which 1connection never sends.
		if ok && took < float64(counted)-0.5 && id != "1connection" {
			under = append(under, fmt.Sprintf("%s %.1f < %d", k, took, counted))
		}
	}
	if len(under) > 0 {
		notes = append(notes, "P2 checks faster than their counted floor (in RTTs; bench/rtt.go overstates them): "+strings.Join(under, ", "))
	}
	for _, p := range []string{"webdav", "xrootd"} {
		if d := perProto[p]; len(d) > 0 {
			m := bench.Median(d)
			fl := time.Duration(floor.ChecksOnly(p)) * rtt
			if m < fl {
				notes = append(notes, fmt.Sprintf("P2 %s: its checks took less than the counted floor, so bench/rtt.go overstates %s's minimal round trips (the probe reuses or pipelines more than counted): recount before trusting the ratio.", p, p))
			}
			notes = append(notes, fmt.Sprintf("P2 %s: checks took %s (median), their floor %s (%d round trips, the cleanups' %d left out as their time is) → %.2f.",
				p, bench.Secs(m), bench.Secs(fl), floor.ChecksOnly(p), floor.Cleanups[p], m.Seconds()/fl.Seconds()))
		}
	}
	if len(floor.Uncounted) > 0 {
		notes = append(notes, "P2: checks without a round-trip count (their time is in the wall, not in the floor): "+strings.Join(floor.Uncounted, ", "))
	}
	return []bench.Row{{Figure: fig, Measured: fmt.Sprintf("%.2f (%s / %s)", ratio, bench.Secs(wall), bench.Secs(floor.FloorTime(rtt))),
		Target: target, Verdict: bench.Verdict(ratio <= 1.5)}}, notes
}

// ---- P3 ----

// p3Light is the P3 check list when not "all": what every site costs the
// probe (connections, TLS, session bring-up, a token read) without the
// GSI logins and write cycles whose server-side CPU would make the run
// measure the one local SE instead of the probe.
var p3Light = map[string][]string{
	"webdav": {"1connection", "2ssl", "14tkn-read"},
	"xrootd": {"1connection", "3version", "14tkn-read"},
}

type childResult struct {
	WallNS           int64       `json:"wall_ns"`
	Tally            bench.Tally `json:"tally"`
	GoroutinesBefore int         `json:"goroutines_before"`
	GoroutinesAfter  int         `json:"goroutines_after"`
	VmHWMkB          int64       `json:"vmhwm_kb"`
	PeakMem          memPeak     `json:"peak_mem"`
	CPUNS            int64       `json:"cpu_ns"`
	RunIDs           []string    `json:"run_ids"`
	Error            string      `json:"error,omitempty"`
}

func runChild(ctx context.Context, cfgPath string, o opts) int {
	out := childResult{GoroutinesBefore: runtime.NumGoroutine()}
	defer func() { _ = json.NewEncoder(os.Stdout).Encode(out) }()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		out.Error = err.Error()
		return 1
	}
	ro := bench.RoundOptions{Concurrency: o.p3Conc}
	if o.p3Checks != "all" {
		ro.Checks = p3Light
	}
	stopMem := watchMemory(&out.PeakMem)
	stopProfile := func() {}
	if o.p3HeapProfile != "" {
		stopProfile = peakHeapProfile(o.p3HeapProfile)
	}
	if o.p3CPUProfile != "" {
		f, err := os.Create(o.p3CPUProfile)
		if err != nil {
			out.Error = err.Error()
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			out.Error = err.Error()
			return 1
		}
	}
	r, err := bench.RunRound(ctx, cfg, ro)
	if o.p3CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	stopProfile()
	stopMem()
	if err != nil {
		out.Error = err.Error()
		return 1
	}
	out.WallNS, out.Tally, out.RunIDs = int64(r.Wall), bench.Count(r.Results), r.RunIDs
	r.Results, cfg = nil, nil
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > out.GoroutinesBefore && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	out.GoroutinesAfter = runtime.NumGoroutine()
	if out.GoroutinesAfter > out.GoroutinesBefore {
		fmt.Fprintln(os.Stderr, "bench child: goroutines still running after the round:")
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
	}
	out.VmHWMkB = vmHWM()
	out.CPUNS = int64(selfCPU())
	return 0
}

// peakHeapProfile samples the heap every 100ms during the round and
// writes the heap profile to path whenever the heap in use reached a new
// peak (10% above the last written one); stop ends the sampling.
func peakHeapProfile(path string) (stop func()) {
	runtime.MemProfileRate = 64 << 10
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var peak uint64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse < peak+peak/10 {
				continue
			}
			peak = ms.HeapInuse
			if f, err := os.Create(path); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
				fmt.Fprintf(os.Stderr, "bench child: heap profile at %d MB in use\n", peak>>20)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// memPeak is the largest value seen of each of the Go runtime's memory
// classes during the round (bytes).
type memPeak struct {
	Total, HeapObjects, HeapUnused, HeapFree, Stacks int64
	Goroutines                                       int64
}

// watchMemory samples runtime/metrics (no stop-the-world) every 50ms into
// p until stop is called.
func watchMemory(p *memPeak) (stop func()) {
	names := []string{"/memory/classes/total:bytes", "/memory/classes/heap/objects:bytes",
		"/memory/classes/heap/unused:bytes", "/memory/classes/heap/free:bytes", "/memory/classes/heap/stacks:bytes", "/sched/goroutines:goroutines"}
	dst := []*int64{&p.Total, &p.HeapObjects, &p.HeapUnused, &p.HeapFree, &p.Stacks, &p.Goroutines}
	samples := make([]metrics.Sample, len(names))
	for i, n := range names {
		samples[i].Name = n
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			for i, sm := range samples {
				if sm.Value.Kind() == metrics.KindUint64 {
					*dst[i] = max(*dst[i], int64(sm.Value.Uint64()))
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// selfCPU is the user+system CPU this process used so far (not its
// children): in the P3 parent, the latency links.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return 0
}

func child(ctx context.Context, cfgPath string, o opts) (childResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return childResult{}, err
	}
	args := []string{"-child", cfgPath, "-p3-concurrency", fmt.Sprint(o.p3Conc), "-p3-checks", o.p3Checks}
	if o.p3HeapProfile != "" {
		args = append(args, "-p3-heapprofile", o.p3HeapProfile)
	}
	if o.p3CPUProfile != "" {
		args = append(args, "-p3-cpuprofile", o.p3CPUProfile)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	var r childResult
	if jerr := json.Unmarshal(b, &r); jerr != nil {
		return r, fmt.Errorf("child: %v (output %q)", err, truncate(string(b), 200))
	}
	if r.Error != "" {
		return r, fmt.Errorf("child: %s", r.Error)
	}
	return r, nil
}

func p3(ctx context.Context, o opts) ([]bench.Row, []string) {
	figT := fmt.Sprintf("P3 %d sites, one round: wall / one site's (RTT %v, concurrency %d, checks %s)", o.sites, 2*o.oneWay, o.p3Conc, o.p3Checks)
	const figR, figG = "P3 peak RSS of the probe process (largest of the runs)", "P3 goroutines left after the round (worst run)"
	tmp, err := os.MkdirTemp("", "gridprobe-bench-p3-")
	if err != nil {
		return []bench.Row{notMeasured(figT, "≤ 2×", err.Error())}, nil
	}
	defer os.RemoveAll(tmp)
	proxy, caDir, xurl := os.Getenv("X509_USER_PROXY"), os.Getenv("X509_CERT_DIR"), os.Getenv("GRIDPROBE_XROOTD_URL")

	// run is one round of n sites with what the SE, this process (the
	// links) and the kernel's accept queues saw meanwhile.
	run := func(n int) (p3Round, error) {
		var l links
		defer l.close()
		text, err := linkedSites(&l, n, o.oneWay, o.p3Conc)
		if err != nil {
			return p3Round{}, err
		}
		p := fmt.Sprintf("%s/p3-%d.yaml", tmp, n)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			return p3Round{}, err
		}
		pid := bench.SEPid()
		c0, l0, ov0 := bench.ProcCPU(pid), selfCPU(), bench.ListenOverflows()
		r, err := child(ctx, p, o)
		x := p3Round{r: r, seCPU: bench.ProcCPU(pid) - c0, linkCPU: selfCPU() - l0, links: l.stats()}
		if ov1 := bench.ListenOverflows(); ov0 >= 0 && ov1 >= 0 {
			x.overflows = ov1 - ov0
		}
		return x, err
	}
	// Each of the p3Runs rounds: one site, then all of them (fresh links,
	// fresh run ids). Walls are medians; RSS and goroutines left the worst.
	var ones, manys []p3Round
	for i := 0; i < max(o.p3Runs, 1); i++ {
		one, err := run(1)
		if err != nil {
			return []bench.Row{notMeasured(figT, "≤ 2×", err.Error())}, nil
		}
		logf("P3 run %d, one site: %s, %s", i+1, bench.Secs(time.Duration(one.r.WallNS)), one.r.Tally)
		many, err := run(o.sites)
		if err != nil {
			return []bench.Row{notMeasured(figT, "≤ 2×", err.Error())}, nil
		}
		logf("P3 run %d, %d sites: %s, %s, RSS %d MB", i+1, o.sites, bench.Secs(time.Duration(many.r.WallNS)), many.r.Tally, many.r.VmHWMkB>>10)
		ones, manys = append(ones, one), append(manys, many)
	}
	byWall := func(a, b p3Round) int { return cmp.Compare(a.r.WallNS, b.r.WallNS) }
	slices.SortFunc(ones, byWall)
	slices.SortFunc(manys, byWall)
	one, m := ones[len(ones)/2].r, manys[len(manys)/2] // the median rounds
	many := m.r
	wall1, walln := time.Duration(one.WallNS), time.Duration(many.WallNS)
	ratio := walln.Seconds() / wall1.Seconds()
	var worstRSS int64
	left, worstLeft := 0, manys[0].r
	var rss []string
	for _, x := range manys {
		worstRSS = max(worstRSS, x.r.VmHWMkB)
		rss = append(rss, fmt.Sprintf("%d", x.r.VmHWMkB>>10))
		if l := x.r.GoroutinesAfter - x.r.GoroutinesBefore; l > left {
			left, worstLeft = l, x.r
		}
	}
	rssMB := float64(worstRSS) / 1024
	ncpu := time.Duration(runtime.NumCPU())
	probeCPU := time.Duration(many.CPUNS)
	machine := (m.seCPU + m.linkCPU + probeCPU) / ncpu
	mb := func(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }
	pm := many.PeakMem
	var stalls, overflows int64
	var longest time.Duration
	for _, x := range manys {
		stalls, longest, overflows = stalls+x.links.Stalls, max(longest, x.links.LongestWait), overflows+x.overflows
	}
	waited := fmt.Sprintf("%d connections waited %v or more for the server to answer", stalls, bench.StallAfter)
	if stalls > 0 {
		waited += fmt.Sprintf(" (longest %s)", bench.Secs(longest))
	}
	notes := []string{fmt.Sprintf("P3: %d runs; median one site %s, median %d sites %s (%s); the links carried %d connections in that round. "+
		"Over all %d-site rounds, %s, and the kernel dropped %d connection attempts at a full accept queue "+
		"(the one SE's listen backlog of 255 stands for a thousand servers' here: each drop costs a TCP retransmission of 1 s or more).",
		len(manys), bench.Secs(wall1), o.sites, bench.Secs(walln), many.Tally, m.links.Conns, o.sites, waited, overflows),
		fmt.Sprintf("P3 peak RSS of the %d-site rounds: %s MB (the table shows the largest). Memory peaks of the median round (Go runtime, each at its own moment): all classes %s, "+
			"live and unswept heap objects %s, heap unused in spans %s, heap free %s, goroutine stacks %s (%d goroutines at most).",
			o.sites, strings.Join(rss, ", "), mb(pm.Total), mb(pm.HeapObjects), mb(pm.HeapUnused), mb(pm.HeapFree), mb(pm.Stacks), pm.Goroutines),
		fmt.Sprintf("P3 CPU of the median %d-site round: probe %s (%.1f ms a site), the SE's xrootd %s, the latency links %s; on %d CPUs that is ≥ %s of wall (%.1f× one site's) before any waiting, "+
			"and the probe alone needs ≥ %s (%.1f× one site's). The wall is %.2f× that CPU floor.",
			o.sites, bench.Secs(probeCPU), probeCPU.Seconds()*1000/float64(o.sites), bench.Secs(m.seCPU), bench.Secs(m.linkCPU), runtime.NumCPU(),
			bench.Secs(machine), machine.Seconds()/wall1.Seconds(), bench.Secs(probeCPU/ncpu), (probeCPU/ncpu).Seconds()/wall1.Seconds(), walln.Seconds()/machine.Seconds())}
	var ids []string
	for _, x := range append(ones, manys...) {
		for _, l := range x.r.Tally.NotOK {
			notes = append(notes, "P3 not OK: "+truncate(l, 200))
		}
		ids = append(ids, x.r.RunIDs...)
	}
	clean := fmt.Sprintf("none of the %d sites' scratch dirs is left in /testvo/gridprobe", len(ids))
	if after, err := bench.ListDir(ctx, xurl, proxy, caDir, "/testvo/gridprobe"); err != nil {
		clean = "could not list /testvo/gridprobe after the rounds: " + err.Error()
	} else {
		var stale []string
		for _, n := range after {
			if slices.Contains(ids, n) {
				stale = append(stale, n)
			}
		}
		if len(stale) > 0 {
			clean = fmt.Sprintf("%d of the rounds' scratch dirs left in /testvo/gridprobe, e.g. %s", len(stale), stale[0])
		}
	}
	notes = append(notes, "P3 cleanup: "+clean+".")
	return []bench.Row{
		{Figure: figT, Measured: fmt.Sprintf("%.2f× (%s / %s)", ratio, bench.Secs(walln), bench.Secs(wall1)), Target: "≤ 2×", Verdict: bench.Verdict(ratio <= 2)},
		{Figure: figR, Measured: fmt.Sprintf("%.0f MB", rssMB), Target: "≤ 256 MB", Verdict: bench.Verdict(rssMB <= 256)},
		{Figure: figG, Measured: fmt.Sprintf("%d (%d before, %d after)", left, worstLeft.GoroutinesBefore, worstLeft.GoroutinesAfter), Target: "0", Verdict: bench.Verdict(left <= 0)},
	}, notes
}

// p3Round is one P3 round with what the SE and the links used meanwhile.
type p3Round struct {
	r              childResult
	seCPU, linkCPU time.Duration
	links          bench.LinkStats
	overflows      int64 // connections the kernel dropped at full accept queues
}

// ---- P4 ----

func p4() ([]bench.Row, []string) {
	r := testing.Benchmark(bench.BenchRenderMetrics)
	per := time.Duration(r.NsPerOp())
	return []bench.Row{{Figure: "P4 render /metrics, 1 000 sites × 30 checks (internal/metrics.Handler as serve wires it)",
			Measured: fmt.Sprintf("%.1f ms", float64(per)/1e6), Target: "≤ 50 ms", Verdict: bench.Verdict(per <= 50*time.Millisecond)}},
		[]string{fmt.Sprintf("P4: %d iterations, %d B/op, %d allocs/op, %d bytes of exposition: the per-check families written straight from the snapshot (metrics.WriteChecks), "+
			"the round metrics of 2 000 services written directly too (Rounds.WriteRounds), the reload gauges and Go/process collectors through client_golang's registry.",
			r.N, r.AllocedBytesPerOp(), r.AllocsPerOp(), r.Bytes)}
}
