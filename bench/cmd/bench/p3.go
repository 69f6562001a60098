package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/bench"
	"github.com/gridprobe/gridprobe/internal/config"
)

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
	CPUNS            int64       `json:"cpu_ns"`       // the whole child process
	RoundCPUNS       int64       `json:"round_cpu_ns"` // the round alone
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
	cpu0 := selfCPU()
	r, err := bench.RunRound(ctx, cfg, ro)
	out.RoundCPUNS = int64(selfCPU() - cpu0)
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
func selfCPU() time.Duration { return bench.ProcessCPU() }

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

// child runs one P3 round in a child process; profiles (when asked for)
// are written by the many-site rounds only.
func child(ctx context.Context, cfgPath string, o opts, profile bool) (childResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return childResult{}, err
	}
	args := []string{"-child", cfgPath, "-p3-concurrency", fmt.Sprint(o.p3Conc), "-p3-checks", o.p3Checks}
	if o.p3HeapProfile != "" && profile {
		args = append(args, "-p3-heapprofile", o.p3HeapProfile)
	}
	if o.p3CPUProfile != "" && profile {
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

// P3's figures: (a) the probe's CPU per site against the floor of the
// check set's work (bench/cpufloor.go), (b) the round's wall against what
// the machine allows (one site's wall, or the CPU of everything that ran
// spread over the CPUs, whichever is longer), (c) peak RSS at full
// concurrency, and goroutines left.
const (
	p3aTarget, p3bTarget = 1.5, 1.2
	p3cTargetMB          = 150
)

func p3(ctx context.Context, o opts) ([]bench.Row, []string) {
	figA := fmt.Sprintf("P3a probe CPU per site / its floor (%d sites at once, checks %s)", o.sites, o.p3Checks)
	tmp, err := os.MkdirTemp("", "gridprobe-bench-p3-")
	if err != nil {
		return []bench.Row{notMeasured(figA, fmt.Sprintf("≤ %.1f", p3aTarget), err.Error())}, nil
	}
	defer os.RemoveAll(tmp)
	ones, manys, err := p3Rounds(ctx, o, tmp)
	if err != nil {
		return []bench.Row{notMeasured(figA, fmt.Sprintf("≤ %.1f", p3aTarget), err.Error())}, nil
	}
	byWall := func(a, b p3Round) int { return cmp.Compare(a.r.WallNS, b.r.WallNS) }
	slices.SortFunc(ones, byWall)
	slices.SortFunc(manys, byWall)
	one, m := ones[len(ones)/2], manys[len(manys)/2] // the median rounds
	rowA, notes := p3CPU(o, figA, m)
	rowB, n := p3Wall(o, one, m, manys)
	notes = append(notes, n...)
	rows, n := p3Memory(o, manys)
	notes = append(notes, n...)
	var ids []string
	for _, x := range append(ones, manys...) {
		for _, l := range x.r.Tally.NotOK {
			notes = append(notes, "P3 not OK: "+truncate(l, 200))
		}
		ids = append(ids, x.r.RunIDs...)
	}
	notes = append(notes, "P3 cleanup: "+p3Leftovers(ctx, ids)+".")
	return append([]bench.Row{rowA, rowB}, rows...), notes
}

// p3Rounds runs, o.p3Runs times, one site and then all of them (fresh
// links, fresh run ids).
func p3Rounds(ctx context.Context, o opts, tmp string) (ones, manys []p3Round, err error) {
	for i := 0; i < max(o.p3Runs, 1); i++ {
		one, err := p3Run(ctx, o, tmp, 1)
		if err != nil {
			return nil, nil, err
		}
		logf("P3 run %d, one site: %s, %s", i+1, bench.Secs(time.Duration(one.r.WallNS)), one.r.Tally)
		before, uerr := measureUnits(ctx)
		many, err := p3Run(ctx, o, tmp, o.sites)
		if err != nil {
			return nil, nil, err
		}
		after, uerr2 := measureUnits(ctx)
		many.units, many.unitsErr = []bench.UnitCosts{before, after}, errors.Join(uerr, uerr2)
		logf("P3 run %d, %d sites: %s, %s, probe CPU %.1f ms a site, RSS %d MB", i+1, o.sites, bench.Secs(time.Duration(many.r.WallNS)), many.r.Tally,
			float64(many.r.RoundCPUNS)/1e6/float64(o.sites), many.r.VmHWMkB>>10)
		ones, manys = append(ones, one), append(manys, many)
	}
	return ones, manys, nil
}

// p3Run is one round of n sites with what the SE, this process (the
// links) and the kernel's accept queues saw meanwhile.
func p3Run(ctx context.Context, o opts, tmp string, n int) (p3Round, error) {
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
	r, err := child(ctx, p, o, n > 1)
	c1 := bench.ProcCPU(pid)
	x := p3Round{r: r, seCPU: c1 - c0, seKnown: c0 > 0 && c1 >= c0, linkCPU: selfCPU() - l0, links: l.stats()}
	if ov1 := bench.ListenOverflows(); ov0 >= 0 && ov1 >= 0 {
		x.overflows = ov1 - ov0
	}
	return x, err
}

// measureUnits measures the floor's unit costs (bench/cpufloor.go): the
// handshakes against the testbed SE's https port.
func measureUnits(ctx context.Context) (bench.UnitCosts, error) {
	return bench.MeasureUnitCosts(ctx, hostOf(os.Getenv("GRIDPROBE_WEBDAV_URL")), os.Getenv("X509_CERT_DIR"), 300)
}

// p3CPU is figure (a): the probe's CPU per site in the median many-site
// round against the floor of the check set's work, at the mean of the unit
// costs measured just before and just after that round (CPU time per
// operation rises when the machine is busy, for the probe as for the
// measurement: measuring on both sides of the round keeps the two alike).
func p3CPU(o opts, fig string, m p3Round) (bench.Row, []string) {
	target := fmt.Sprintf("≤ %.1f", p3aTarget)
	sites := float64(o.sites)
	perSite := time.Duration(float64(m.r.RoundCPUNS) / sites)
	checks := p3Light
	if o.p3Checks == "all" {
		checks = nil // not counted
	}
	size, _ := strconv.ParseInt(os.Getenv("GRIDPROBE_REF_SIZE"), 10, 64)
	work := bench.WorkOf(checks, size)
	if checks == nil || len(work.Uncounted) > 0 {
		return notMeasured(fig, target, "the floor is counted for the light check set only"), nil
	}
	if m.unitsErr != nil {
		return notMeasured(fig, target, "unit costs: "+m.unitsErr.Error()), nil
	}
	u := bench.MeanCosts(m.units...)
	floor := work.Floor(u)
	ratio := perSite.Seconds() / floor.Seconds()
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	notes := []string{fmt.Sprintf("P3a floor per site (unit costs: the mean of those measured just before and just after the round, floors %.2f and %.2f ms): %d TLS handshakes × %.0f µs + %.2f MiB received and decrypted × (%.0f + %.0f) µs/MiB + %.2f MiB adler32 × %.0f µs/MiB = %.2f ms; "+
		"no GSI login (the light set's XRootD session logs in with ztn). Unit costs measured in the bench process (CPU time): %s. "+
		"The links saw %.2f TLS connections and %.2f MiB sent down per site.",
		msOf(work.Floor(m.units[0])), msOf(work.Floor(m.units[1])), work.Handshakes, us(u.Handshake), mib(work.Decrypted), us(u.ReceivePerMiB), us(u.DecryptPerMiB), mib(work.Checksummed), us(u.Adler32PerMiB), msOf(floor),
		u, float64(m.links.Spoken)/sites, mib(m.links.BytesDown)/sites),
		fmt.Sprintf("P3a probe CPU: %.2f ms a site over the median %d-site round (getrusage of the probe process from building the round to its last cleanup; "+
			"process start-up and reading sites.yaml, %.0f ms in all, left out).", msOf(perSite), o.sites, float64(m.r.CPUNS-m.r.RoundCPUNS)/1e6)}
	return bench.Row{Figure: fig, Measured: fmt.Sprintf("%.2f (%.2f ms / %.2f ms)", ratio, msOf(perSite), msOf(floor)),
		Target: target, Verdict: bench.Verdict(ratio <= p3aTarget)}, notes
}

func msOf(d time.Duration) float64 { return float64(d) / 1e6 }
func us(d time.Duration) float64   { return float64(d) / 1e3 }

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
}

// p3Wall is figure (b): the median many-site round's wall against the
// longer of one site's wall and the machine's CPU floor (the CPU of the
// probe, the SE and the links spread over all CPUs).
func p3Wall(o opts, one, m p3Round, manys []p3Round) (bench.Row, []string) {
	fig := fmt.Sprintf("P3b %d-site round wall / max(one site's wall, CPU of probe + SE + links ÷ CPUs) (RTT %v, concurrency %d)", o.sites, 2*o.oneWay, o.p3Conc)
	target := fmt.Sprintf("≤ %.1f", p3bTarget)
	wall1, walln := time.Duration(one.r.WallNS), time.Duration(m.r.WallNS)
	ncpu := time.Duration(runtime.NumCPU())
	probeCPU := time.Duration(m.r.CPUNS)
	machine := (m.seCPU + m.linkCPU + probeCPU) / ncpu
	bound := max(wall1, machine)
	ratio := walln.Seconds() / bound.Seconds()
	var stalls, overflows int64
	var longest time.Duration
	for _, x := range manys {
		stalls, longest, overflows = stalls+x.links.Stalls, max(longest, x.links.LongestWait), overflows+x.overflows
	}
	waited := fmt.Sprintf("%d connections waited %v or more for the server to answer", stalls, bench.StallAfter)
	if stalls > 0 {
		waited += fmt.Sprintf(" (longest %s)", bench.Secs(longest))
	}
	notes := []string{fmt.Sprintf("P3b: %d runs; median one site %s, median %d sites %s (%s; %.1f× one site's); the links carried %d connections in that round. "+
		"Over all %d-site rounds, %s, and the kernel dropped %d connection attempts at a full accept queue "+
		"(the one SE's listen backlog of 255 stands for a thousand servers' here: each drop costs a TCP retransmission of 1 s or more).",
		len(manys), bench.Secs(wall1), o.sites, bench.Secs(walln), m.r.Tally, walln.Seconds()/wall1.Seconds(), m.links.Conns, o.sites, waited, overflows),
		fmt.Sprintf("P3b CPU of the median %d-site round: probe %s (%.1f ms a site, its whole process), the SE's xrootd %s, the latency links %s; on %d CPUs that is ≥ %s of wall "+
			"(%.1f× one site's) before any waiting, and the probe alone needs ≥ %s (%.1f× one site's).",
			o.sites, bench.Secs(probeCPU), msOf(probeCPU)/float64(o.sites), seCPU(m), bench.Secs(m.linkCPU), runtime.NumCPU(),
			bench.Secs(machine), machine.Seconds()/wall1.Seconds(), bench.Secs(probeCPU/ncpu), (probeCPU/ncpu).Seconds()/wall1.Seconds())}
	verdict := bench.Verdict(ratio <= p3bTarget)
	if !m.seKnown {
		verdict = "not measured: the SE restarted during the round (its CPU is unknown)"
	}
	return bench.Row{Figure: fig, Measured: fmt.Sprintf("%.2f (%s / %s)", ratio, bench.Secs(walln), bench.Secs(bound)), Target: target, Verdict: verdict}, notes
}

func seCPU(m p3Round) string {
	if !m.seKnown {
		return "unknown (it restarted)"
	}
	return bench.Secs(m.seCPU)
}

// p3Memory is figure (c), peak RSS, and the goroutines left.
func p3Memory(o opts, manys []p3Round) ([]bench.Row, []string) {
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
	mb := func(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }
	pm := manys[len(manys)/2].r.PeakMem
	notes := []string{fmt.Sprintf("P3c peak RSS of the %d-site rounds: %s MB (the table shows the largest). Memory peaks of the median round (Go runtime, each at its own moment): all classes %s, "+
		"live and unswept heap objects %s, heap unused in spans %s, heap free %s, goroutine stacks %s (%d goroutines at most).",
		o.sites, strings.Join(rss, ", "), mb(pm.Total), mb(pm.HeapObjects), mb(pm.HeapUnused), mb(pm.HeapFree), mb(pm.Stacks), pm.Goroutines)}
	return []bench.Row{
		{Figure: fmt.Sprintf("P3c peak RSS of the probe process, %d sites at concurrency %d (largest of the runs)", o.sites, o.p3Conc),
			Measured: fmt.Sprintf("%.0f MB", rssMB), Target: fmt.Sprintf("≤ %d MB", p3cTargetMB), Verdict: bench.Verdict(rssMB <= p3cTargetMB)},
		{Figure: "P3 goroutines left after the round (worst run)", Measured: fmt.Sprintf("%d (%d before, %d after)", left, worstLeft.GoroutinesBefore, worstLeft.GoroutinesAfter),
			Target: "0", Verdict: bench.Verdict(left <= 0)},
	}, notes
}

// p3Leftovers says whether any round's scratch dir is left on the SE.
func p3Leftovers(ctx context.Context, ids []string) string {
	proxy, caDir, xurl := os.Getenv("X509_USER_PROXY"), os.Getenv("X509_CERT_DIR"), os.Getenv("GRIDPROBE_XROOTD_URL")
	after, err := bench.ListDir(ctx, xurl, proxy, caDir, "/testvo/gridprobe")
	if err != nil {
		return "could not list /testvo/gridprobe after the rounds: " + err.Error()
	}
	var stale []string
	for _, n := range after {
		if slices.Contains(ids, n) {
			stale = append(stale, n)
		}
	}
	if len(stale) > 0 {
		return fmt.Sprintf("%d of the rounds' scratch dirs left in /testvo/gridprobe, e.g. %s", len(stale), stale[0])
	}
	return fmt.Sprintf("none of the %d sites' scratch dirs is left in /testvo/gridprobe", len(ids))
}

// p3Round is one P3 round with what the SE and the links used meanwhile.
type p3Round struct {
	r              childResult
	seCPU, linkCPU time.Duration
	seKnown        bool // the SE ran throughout (its CPU is known)
	// units are the floor's unit costs measured just before and just
	// after a many-site round.
	units     []bench.UnitCosts
	unitsErr  error
	links     bench.LinkStats
	overflows int64 // connections the kernel dropped at full accept queues
}
