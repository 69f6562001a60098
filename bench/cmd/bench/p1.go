package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/bench"
	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/round"
	"github.com/gridprobe/gridprobe/probes/webdav"
	"github.com/gridprobe/gridprobe/probes/xrootd"
)

// ---- P1 and P1b ----

// p1Run is what P1 and P1b share: gridprobe's storage rounds (measured
// once), the token source and the scratch files of the gfal2 runs, and the
// outcome of each CLI operation so P1b can name what one context changes.
type p1Run struct {
	err    error
	gp     time.Duration // median gridprobe round
	notes  []string
	tokens cred.Source
	tmp    string
	local  string // the file uploads send
	cliOK  []bool // per operation of the CLI's last run; nil when P1 did not run
}

// gridprobeRounds runs the storage rounds P1 and P1b compare against
// (median of o.runs).
func gridprobeRounds(ctx context.Context, o opts) *p1Run {
	r := &p1Run{}
	cfg, err := config.Load(o.config)
	if err != nil {
		r.err = err
		return r
	}
	for i := range cfg.Sites { // the gfal2 baseline has no third-party copies either (P6 times them)
		for j := range cfg.Sites[i].Services {
			cfg.Sites[i].Services[j].TPCPartners = nil
		}
	}
	sePid := bench.SEPid()
	var walls []time.Duration
	var seCPU, gpCPU time.Duration
	seKnown := true
	var tally bench.Tally
	for i := 0; i < o.runs; i++ {
		c0, p0 := bench.ProcCPU(sePid), bench.ProcessCPU()
		// storage only: the gfal2 baseline has no CE operations
		res, err := bench.RunRound(ctx, cfg, bench.RoundOptions{Types: []string{webdav.Type, xrootd.Type}})
		if err != nil {
			r.err = err
			return r
		}
		c1 := bench.ProcCPU(sePid)
		gpCPU += bench.ProcessCPU() - p0
		seKnown = seKnown && c0 > 0 && c1 >= c0 // 0: no SE pid, or it restarted
		seCPU += c1 - c0
		walls = append(walls, res.Wall)
		tally = bench.Count(res.Results)
		logf("P1 gridprobe round %d: %s, %s", i+1, bench.Secs(res.Wall), tally)
	}
	r.gp = bench.Median(walls)
	n := time.Duration(o.runs)
	cpu := fmt.Sprintf("gridprobe used %s CPU per round and the SE's xrootd an unknown amount (it restarted during the rounds, or its pid file is missing)", bench.Secs(gpCPU/n))
	if seKnown {
		floor := (gpCPU + seCPU) / n / time.Duration(runtime.NumCPU())
		cpu = fmt.Sprintf("gridprobe used %s CPU per round and the SE's xrootd %s: on %d CPUs no round can take less than %s, and the median took %.2f× that",
			bench.Secs(gpCPU/n), bench.Secs(seCPU/n), runtime.NumCPU(), bench.Secs(floor), r.gp.Seconds()/floor.Seconds())
	}
	r.notes = []string{fmt.Sprintf("P1 gridprobe: %s per round (median of %d; %s); %s.", bench.Secs(r.gp), o.runs, tally, cpu)}
	for _, l := range tally.NotOK {
		r.notes = append(r.notes, "P1 not OK (probe finding, not a bench error): "+truncate(l, 200))
	}
	if r.tokens, r.err = round.TokenSource(cfg.Credentials.Token); r.err != nil {
		return r
	}
	if r.tmp, r.err = os.MkdirTemp("", "gridprobe-bench-gfal-"); r.err != nil {
		return r
	}
	r.local = r.tmp + "/upload.dat"
	data := make([]byte, 256<<10)
	copy(data, "gridprobe bench gfal2 baseline\n")
	r.err = os.WriteFile(r.local, data, 0o600)
	return r
}

func (r *p1Run) close() {
	if r.tmp != "" {
		_ = os.RemoveAll(r.tmp)
	}
}

// gfalOps is the operation list of one gfal2 run over both protocols, in a
// scratch area of its own.
func (r *p1Run) gfalOps() []bench.GfalOp {
	runID := engine.NewRunID()
	var ops []bench.GfalOp
	for _, t := range []bench.GfalTarget{
		{Protocol: "webdav", Base: os.Getenv("GRIDPROBE_WEBDAV_URL"), Audience: os.Getenv("GRIDPROBE_WEBDAV_URL")},
		{Protocol: "xrootd", Base: os.Getenv("GRIDPROBE_XROOTD_URL") + "/", Audience: os.Getenv("GRIDPROBE_XROOTD_URL"),
			Federation: os.Getenv("GRIDPROBE_REDIRECTOR_URL") + "/"},
	} {
		t.Proxy, t.ForeignProxy, t.NoVOMSProxy = os.Getenv("X509_USER_PROXY"), os.Getenv("GRIDPROBE_FOREIGN_PROXY"), os.Getenv("GRIDPROBE_NOVOMS_PROXY")
		t.RunID, t.LocalFile, t.LocalDir = runID, r.local, r.tmp
		ops = append(ops, bench.GfalOps(t)...)
	}
	return ops
}

func p1(ctx context.Context, o opts, r *p1Run) ([]bench.Row, []string) {
	const fig, target = "P1 gridprobe vs gfal2 CLI, full WebDAV+XRootD lists, both credentials", "≥ 30×"
	if r.err != nil {
		return []bench.Row{notMeasured(fig, target, r.err.Error())}, nil
	}
	if why := bench.GfalAvailable(); why != "" {
		return []bench.Row{{Figure: fig, Measured: "gridprobe " + bench.Secs(r.gp), Target: target, Verdict: "not measured: " + why}}, nil
	}
	var gwalls, gwallsNoHang []time.Duration
	var nops, failed int
	var hung []string
	for i := 0; i < o.gfalRuns; i++ {
		res, err := bench.GfalRun(ctx, r.tokens, r.gfalOps(), os.Environ())
		if err != nil {
			return []bench.Row{notMeasured(fig, target, "gfal2: "+err.Error())}, nil
		}
		gwalls = append(gwalls, res.Wall)
		gwallsNoHang = append(gwallsNoHang, res.Wall-res.Hung)
		nops, failed, hung, r.cliOK = res.Ops, res.Failed, res.TimedOut, res.OK
		if os.Getenv("BENCH_DEBUG") != "" {
			logf("gfal2 non-zero exits: %s", strings.Join(res.FailedOps, "; "))
		}
		logf("P1 gfal2 run %d: %s, %d processes (%d exited non-zero, refusals included)", i+1, bench.Secs(res.Wall), res.Ops, res.Failed)
	}
	gf := bench.Median(gwalls)
	ratio := gf.Seconds() / r.gp.Seconds()
	var notes []string
	if len(hung) > 0 {
		nh := bench.Median(gwallsNoHang)
		notes = append(notes, fmt.Sprintf("P1 gfal2: %d operations hung until killed at %v (%s); without them gfal2 takes %s, %.1f× gridprobe's time.",
			len(hung), bench.GfalOpTimeout, strings.Join(hung, "; "), bench.Secs(nh), nh.Seconds()/r.gp.Seconds()))
	}
	notes = append(notes, fmt.Sprintf("P1 gfal2: %s per run (median of %d), %d gfal-* processes, %d of them exit non-zero (the expected refusals among them); tokens fetched before timing, gfal2 is not charged for them.",
		bench.Secs(gf), o.gfalRuns, nops, failed))
	return []bench.Row{{Figure: fig, Measured: fmt.Sprintf("%.1f× (gridprobe %s, gfal2 %s)", ratio, bench.Secs(r.gp), bench.Secs(gf)),
		Target: target, Verdict: bench.Verdict(ratio >= 30)}}, notes
}

// p1b is the fair peer: the same list through gfal2's Python API in one
// process with one context.
func p1b(ctx context.Context, o opts, r *p1Run) ([]bench.Row, []string) {
	const fig, target = "P1b gridprobe vs gfal2 Python API (one process, one context), same operation list", "≥ 10×"
	if r.err != nil {
		return []bench.Row{notMeasured(fig, target, r.err.Error())}, nil
	}
	if why := bench.GfalPyAvailable(); why != "" {
		return []bench.Row{{Figure: fig, Measured: "gridprobe " + bench.Secs(r.gp), Target: target, Verdict: "not measured: " + why}}, nil
	}
	var walls, setups, procs, cpus, seCPUs []time.Duration
	var last bench.GfalPyResult
	var ops []bench.GfalOp
	sePid := bench.SEPid()
	for i := 0; i < o.gfalRuns; i++ {
		ops = r.gfalOps()
		c0 := bench.ProcCPU(sePid)
		res, err := bench.GfalPyRun(ctx, r.tokens, ops, os.Environ(), r.tmp)
		if err != nil {
			return []bench.Row{notMeasured(fig, target, "gfal2 Python: "+err.Error())}, nil
		}
		if c1 := bench.ProcCPU(sePid); c0 > 0 && c1 >= c0 {
			seCPUs = append(seCPUs, c1-c0)
		}
		cpus = append(cpus, res.CPU)
		walls, setups, procs = append(walls, res.Wall), append(setups, res.Setup), append(procs, res.Process)
		last = res
		if os.Getenv("BENCH_DEBUG") != "" {
			for j, e := range res.Errors {
				if !res.OK[j] {
					logf("P1b failed: %s (%s): %s", opName(ops[j]), strings.Join(ops[j].Cred.Scopes, " "), e)
				}
			}
		}
		logf("P1b gfal2 Python run %d: %s for %d operations (%d failed, refusals included; slowest %s: %s), set-up %s, process %s",
			i+1, bench.Secs(res.Wall), res.Ops, res.Failed, bench.Secs(res.Slowest), opName(ops[res.SlowestOp]), bench.Secs(res.Setup), bench.Secs(res.Process))
	}
	gf := bench.Median(walls)
	ratio := gf.Seconds() / r.gp.Seconds()
	notes := []string{fmt.Sprintf("P1b gfal2 Python: %s per run for the operation list alone (median of %d; %.0f ms an operation), %d operations, %d failed (the expected refusals among them); "+
		"importing gfal2 and creating the context took %s more, the whole process %s; tokens fetched before the process started, handed to gfal2 through its credential API (BEARER for https) and BEARER_TOKEN (XrdCl's ztn).",
		bench.Secs(gf), len(walls), gf.Seconds()*1000/float64(max(last.Ops, 1)), last.Ops, last.Failed, bench.Secs(bench.Median(setups)), bench.Secs(bench.Median(procs)))}
	se := "an unknown amount (it restarted, or its pid file is missing)"
	if len(seCPUs) == len(walls) {
		se = bench.Secs(bench.Median(seCPUs))
	}
	notes = append(notes, fmt.Sprintf("P1b CPU per run (medians): the Python process %s, the SE's xrootd %s.", bench.Secs(bench.Median(cpus)), se))
	if r.cliOK != nil {
		d := bench.Differences(ops, r.cliOK, last.OK)
		if d.InContext+d.AsProcesses == 0 {
			notes = append(notes, "P1b: every operation ended as it did as a separate gfal-* process (P1).")
		} else {
			notes = append(notes, fmt.Sprintf("P1b: gfal2 reuses a session opened with another credential (davix's HTTPS sessions, XrdCl's channels), so in one context "+
				"%d operations succeeded that failed as separate gfal-* processes (P1) (%s) and %d failed that succeeded there (%s): the one-context time skips logins that P1 and gridprobe do.",
				d.InContext, strings.Join(d.OnlyInContext, "; "), d.AsProcesses, strings.Join(d.OnlyAsProcesses, "; ")))
		}
	}
	return []bench.Row{{Figure: fig, Measured: fmt.Sprintf("%.1f× (gridprobe %s, gfal2 Python %s)", ratio, bench.Secs(r.gp), bench.Secs(gf)),
		Target: target, Verdict: bench.Verdict(ratio >= 10)}}, notes
}

func opName(op bench.GfalOp) string { return op.Check + " " + op.Args[0] }
