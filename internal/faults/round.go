package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/adler32"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/plan"
	"github.com/gridprobe/gridprobe/internal/round"
)

// Expect is what one check must report under a fault: one of States, with
// every Detail substring (case-insensitive) in its detail.
type Expect struct {
	Check  string
	States []engine.State
	Detail []string
}

func want(check string, st engine.State, detail ...string) Expect {
	return Expect{Check: check, States: []engine.State{st}, Detail: detail}
}

// Case is one site of a round: an endpoint with one fault, what its checks
// must report, and how to list what the run left behind.
type Case struct {
	Fault    string // fault name, e.g. "latency>timeout"
	Type     string // webdav.Type or xrootd.Type
	URL      string
	WriteDir string
	// Audience is the token audience when it differs from the URL (a
	// proxy in front of a real endpoint keeps the endpoint's audience).
	Audience string
	Expect   []Expect
	// SameAs names the baseline fault (a direct, unproxied site in the
	// same round) whose every check state this site must reproduce.
	SameAs string
	// Leftovers lists what this run left in its scratch area (nil: the
	// fault leaves no way to write); scratchID names the site's scratch
	// directory in this round (plan.ScratchID).
	Leftovers func(ctx context.Context, scratchID string) ([]string, error)
	// ForeignDeletes lists deletes outside the run's scratch area that
	// this case's server saw (fake servers only; the testbed is audited
	// through its log).
	ForeignDeletes func(scratchID string) []string
	// Partners are the service's tpc_partners lines of sites.yaml (TPC
	// faults); FakeRef: the site serves the harness's own reference file.
	Partners string
	FakeRef  bool
}

// Harness owns every fault server and proxy of a suite run.
type Harness struct {
	TB        *Testbed
	Timeout   time.Duration // per check
	Budget    time.Duration // per site
	toxi      *Toxi
	ca        *CA
	mu        sync.Mutex
	closers   []func()
	refData   []byte
	dirsMade  map[string]bool
	Tokens    cred.Source
	nextProxy int
	// id keeps this harness's write dirs apart from another suite's
	// running against the same testbed at the same time.
	id string
}

// NewHarness prepares fault servers against the testbed. Close releases
// everything it started.
func NewHarness(tb *Testbed, timeout, budget time.Duration) (*Harness, error) {
	ca, err := LoadCA(tb.Env["GRIDPROBE_TESTBED"]+"/ca/ca.pem", tb.Env["GRIDPROBE_TESTBED"]+"/ca/ca.key")
	if err != nil {
		return nil, fmt.Errorf("testbed CA (signs the expired / wrong-host certificates): %w", err)
	}
	cc, err := cred.NewClientCredentials(tb.Env["GRIDPROBE_ISSUER"], tb.Env["GRIDPROBE_CLIENT_ID"], tb.Env["GRIDPROBE_CLIENT_SECRET_FILE"], tb.Env["GRIDPROBE_ISSUER_CA"])
	if err != nil {
		return nil, fmt.Errorf("token source: %w", err)
	}
	ref := make([]byte, 4096)
	for i := range ref {
		ref[i] = byte(i * 7)
	}
	return &Harness{TB: tb, Timeout: timeout, Budget: budget, toxi: NewToxi(), ca: ca, refData: ref, dirsMade: map[string]bool{}, Tokens: cc,
		id: harnessID()}, nil
}

// Close stops every server and proxy.
func (h *Harness) Close() {
	h.toxi.Close()
	h.mu.Lock()
	cs := h.closers
	h.closers = nil
	h.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

func (h *Harness) onClose(f func()) {
	h.mu.Lock()
	h.closers = append(h.closers, f)
	h.mu.Unlock()
}

func (h *Harness) proxyName() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextProxy++
	return fmt.Sprintf("p%d", h.nextProxy)
}

func (h *Harness) mkdir(ctx context.Context, dir string) error {
	h.mu.Lock()
	done := h.dirsMade[dir]
	h.mu.Unlock()
	if done {
		return nil
	}
	h.mu.Lock()
	rootDone := h.dirsMade[FaultsWriteRoot]
	h.mu.Unlock()
	if !rootDone {
		if err := h.TB.MkdirWebDAV(ctx, FaultsWriteRoot); err != nil {
			return fmt.Errorf("preparing %s: %w", FaultsWriteRoot, err)
		}
		h.mu.Lock()
		h.dirsMade[FaultsWriteRoot] = true
		h.mu.Unlock()
	}
	if err := h.TB.MkdirLeaf(ctx, dir); err != nil {
		return fmt.Errorf("preparing write_dir %s: %w", dir, err)
	}
	h.mu.Lock()
	h.dirsMade[dir] = true
	h.mu.Unlock()
	return nil
}

// localhost turns 127.0.0.1:port into localhost:port: the testbed host
// certificate names localhost, and GSI checks DNS names only.
func localhost(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return "localhost:" + port
}

// SitesYAML renders a sites.yaml for the cases (site i = case i).
func (h *Harness) SitesYAML(cases []*Case, concurrency int) string {
	env := h.TB.Env
	var b strings.Builder
	fmt.Fprintf(&b, `vo: testvo
prefix: org.testvo
defaults: {timeout: %s, budget: %s, concurrency: %d, cert_expiry_warning: 14d}
credentials:
  x509:
    proxy: %s
    foreign_proxy: %s
    novoms_proxy: %s
    ca_dir: %s
    voms_dir: %s
  token:
    issuer: %s
    client_id: %s
    client_secret_file: %s
    ca_file: %s
sites:
`, h.Timeout, h.Budget, concurrency, env["X509_USER_PROXY"], env["GRIDPROBE_FOREIGN_PROXY"], env["GRIDPROBE_NOVOMS_PROXY"],
		env["X509_CERT_DIR"], env["X509_VOMS_DIR"], env["GRIDPROBE_ISSUER"], env["GRIDPROBE_CLIENT_ID"],
		env["GRIDPROBE_CLIENT_SECRET_FILE"], env["GRIDPROBE_ISSUER_CA"])
	for i, c := range cases {
		adler, size := env["GRIDPROBE_REF_ADLER32"], env["GRIDPROBE_REF_SIZE"]
		if c.Fault == "malformed-propfind" || strings.HasPrefix(c.Fault, "tls-") || c.FakeRef {
			adler, size = fmt.Sprintf("%08x", adler32.Checksum(h.refData)), fmt.Sprint(len(h.refData))
		}
		fmt.Fprintf(&b, `  - name: T2_FAULT_%03d
    services:
      - type: %s
        url: %s
        scope_base: /testvo
        read_file: {path: /testvo/reference.dat, adler32: "%s", size: %s}
        write_dir: %s
        foreign_file: /othervo/reference.dat
`, i, c.Type, c.URL, adler, size, c.WriteDir)
		if c.Audience != "" {
			fmt.Fprintf(&b, "        audience: %s\n", c.Audience)
		}
		b.WriteString(c.Partners)
	}
	return b.String()
}

// SiteName is the site name of case i.
func SiteName(i int) string { return fmt.Sprintf("T2_FAULT_%03d", i) }

// Build turns the cases into engine sites with the real probes.
func (h *Harness) Build(cases []*Case, runID string, concurrency int) (*config.Config, []*engine.Site, error) {
	cfg, err := config.Parse("faults-sites.yaml", []byte(h.SitesYAML(cases, concurrency)))
	if err != nil {
		return nil, nil, fmt.Errorf("fault round config: %w", err)
	}
	rd, err := round.Build(cfg, round.Options{RunID: runID, Tokens: h.Tokens})
	if err != nil {
		return nil, nil, err
	}
	return cfg, rd.Sites, nil
}

// Verdict is how one case fared in a round.
type Verdict struct {
	Case      *Case
	Site      string
	Results   map[string]engine.Result
	Checked   int      // expectations checked
	Correct   int      // expectations met
	Problems  []string // unmet expectations, leftovers, foreign deletes
	Leftovers []string
	Foreign   []string
	Duration  time.Duration // the site's time, cleanups included (first start to summary)
	// ChecksDuration is the checks' part: first start to the end of the
	// last check (cleanups run after it with their own deadline).
	ChecksDuration time.Duration
}

// Round runs the cases as one round and judges every site.
type RoundResult struct {
	RunID    string
	Duration time.Duration
	Limit    time.Duration
	// Budget, Grace and CleanupTimeout bound one site: its checks end
	// within Budget+Grace, its cleanups within CleanupTimeout after that.
	Budget, Grace, CleanupTimeout time.Duration
	Verdicts                      []*Verdict
	Results                       []engine.Result
	Panics                        int
	Foreign                       []string // foreign deletes seen in the testbed audit log
	LogEntries                    []string
}

// RunRound runs cases concurrently in one round with the real probes and
// judges each site: expectations, leftovers, foreign deletes, budget.
func (h *Harness) RunRound(ctx context.Context, cases []*Case, concurrency int) (*RoundResult, error) {
	runID := engine.NewRunID()
	cfg, sites, err := h.Build(cases, runID, concurrency)
	if err != nil {
		return nil, err
	}
	scratch := make([]string, len(cases)) // each site's scratch directory name
	for i := range cfg.Sites {
		if scratch[i], err = plan.ScratchID(runID, &cfg.Sites[i], &cfg.Sites[i].Services[0]); err != nil {
			return nil, err
		}
	}
	logStart := h.TB.ServerLogOffset()
	var logMu sync.Mutex
	rr := &RoundResult{RunID: runID, Budget: h.Budget}
	r := engine.Runner{Concurrency: concurrency, RunID: runID, CleanupTimeout: 20 * time.Second, Grace: time.Second,
		Log: logFunc(func(format string, a ...any) {
			logMu.Lock()
			defer logMu.Unlock()
			rr.LogEntries = append(rr.LogEntries, fmt.Sprintf(format, a...))
		})}
	rr.Grace, rr.CleanupTimeout = r.Grace, r.CleanupTimeout
	waves := (len(cases) + concurrency - 1) / concurrency
	// Each wave of sites costs at most its budget, the runner's grace and
	// the cleanup timeout; everything beyond that is a hang.
	rr.Limit = time.Duration(waves)*(h.Budget+r.Grace+r.CleanupTimeout) + 10*time.Second
	rctx, cancel := context.WithTimeout(ctx, rr.Limit+time.Minute)
	defer cancel()
	start := time.Now()
	rr.Results = r.Run(rctx, sites)
	rr.Duration = time.Since(start)
	for _, l := range rr.LogEntries {
		if strings.Contains(l, ": panic: ") {
			rr.Panics++
		}
	}
	for _, res := range rr.Results {
		if strings.Contains(res.Detail, "panic") {
			rr.Panics++
		}
	}
	bySite := map[string]map[string]engine.Result{}
	for _, res := range rr.Results {
		if bySite[res.Site] == nil {
			bySite[res.Site] = map[string]engine.Result{}
		}
		bySite[res.Site][res.Check] = res
	}
	lctx, lcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer lcancel()
	for i, c := range cases {
		v := &Verdict{Case: c, Site: SiteName(i), Results: bySite[SiteName(i)]}
		var first, last, lastCheck time.Time
		for id, res := range v.Results {
			if first.IsZero() || res.Start.Before(first) {
				first = res.Start
			}
			e := res.Start.Add(res.Duration)
			if e.After(last) {
				last = e
			}
			if id != engine.SummaryID && e.After(lastCheck) {
				lastCheck = e
			}
		}
		v.Duration, v.ChecksDuration = last.Sub(first), lastCheck.Sub(first)
		for _, e := range c.Expect {
			v.Checked++
			res, ok := v.Results[e.Check]
			if !ok {
				v.Problems = append(v.Problems, fmt.Sprintf("%s: no result", e.Check))
				continue
			}
			if msg := e.judge(res); msg != "" {
				v.Problems = append(v.Problems, msg)
				continue
			}
			v.Correct++
		}
		if c.SameAs != "" {
			var base *Verdict
			for j, o := range cases {
				if o.Fault == c.SameAs && j < len(rr.Verdicts) {
					base = rr.Verdicts[j]
					break
				}
			}
			if base == nil {
				v.Problems = append(v.Problems, fmt.Sprintf("no %s site in the round to compare with", c.SameAs))
			} else {
				for _, id := range sortedChecks(base.Results) {
					v.Checked++
					got, ok := v.Results[id]
					switch {
					case !ok:
						v.Problems = append(v.Problems, fmt.Sprintf("%s: no result", id))
					case got.State != base.Results[id].State:
						v.Problems = append(v.Problems, fmt.Sprintf("%s: %s (%s), the unproxied endpoint: %s (%s)", id, got.State, got.Detail, base.Results[id].State, base.Results[id].Detail))
					default:
						v.Correct++
					}
				}
			}
		}
		if c.Leftovers != nil {
			left, err := c.Leftovers(lctx, scratch[i])
			if err != nil {
				v.Problems = append(v.Problems, fmt.Sprintf("listing the scratch area: %v", err))
			}
			v.Leftovers = left
			if len(left) > 0 {
				why := ""
				for _, l := range rr.LogEntries {
					if strings.HasPrefix(l, v.Site+" ") && strings.Contains(l, "cleanup") && strings.Contains(l, "failed") {
						why += "; " + l
					}
				}
				v.Problems = append(v.Problems, fmt.Sprintf("scratch area not empty: %s%s", strings.Join(left, ", "), why))
			}
		}
		if c.ForeignDeletes != nil {
			v.Foreign = c.ForeignDeletes(scratch[i])
			if len(v.Foreign) > 0 {
				v.Problems = append(v.Problems, fmt.Sprintf("deletes outside the scratch area: %s", strings.Join(v.Foreign, ", ")))
			}
		}
		rr.Verdicts = append(rr.Verdicts, v)
	}
	dels, err := h.TB.AuditDeletes(logStart)
	if err != nil {
		return nil, err
	}
	// The testbed is shared with other tests running now: a delete counts
	// as this round's foreign delete when it lies in this round's write
	// dirs but outside this run's scratch area, or hits a protected path
	// (the reference files, the VO bases, the write roots themselves).
	writeDirs := map[string]bool{}
	for _, c := range cases {
		if c.Leftovers != nil && strings.HasPrefix(c.WriteDir, FaultsWriteRoot+"/") {
			writeDirs[c.WriteDir] = true // a testbed write_dir of this round
		}
	}
	for _, p := range dels {
		mine := false
		for wd := range writeDirs {
			mine = mine || p == wd || strings.HasPrefix(p, wd+"/")
		}
		inRun := false
		for _, id := range scratch {
			inRun = inRun || strings.Contains(p, "/"+id+"/") || strings.HasSuffix(p, "/"+id)
		}
		if (mine && !inRun) || protected[p] {
			rr.Foreign = append(rr.Foreign, p)
		}
	}
	return rr, nil
}

// protected are paths no probe may ever delete.
var protected = map[string]bool{
	"/testvo": true, "/othervo": true, "/testvo/reference.dat": true, "/othervo/reference.dat": true,
	"/testvo/gridprobe": true, FaultsWriteRoot: true,
}

// FaultsWriteRoot holds the write_dir of every testbed site of a round.
const FaultsWriteRoot = "/testvo/gridprobe/faults"

// InAnyScratch reports whether p lies inside some run's scratch area
// <write_dir>/gp-YYYYMMDDTHHMMSSZ-<12 hex>[/...].
func InAnyScratch(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if runIDRE.MatchString(e) {
			return true
		}
	}
	return false
}

func (e Expect) judge(res engine.Result) string {
	okState := false
	for _, s := range e.States {
		okState = okState || res.State == s
	}
	if !okState {
		return fmt.Sprintf("%s: %s, want %v (%s)", e.Check, res.State, e.States, res.Detail)
	}
	for _, d := range e.Detail {
		if !strings.Contains(strings.ToLower(res.Detail), strings.ToLower(d)) {
			return fmt.Sprintf("%s: detail %q lacks %q", e.Check, res.Detail, d)
		}
	}
	return ""
}

type logFunc func(format string, a ...any)

func (f logFunc) Logf(format string, a ...any) { f(format, a...) }

// Summaries returns "site: state detail" of each site's 99summary (sorted),
// for reports.
func (rr *RoundResult) Summaries() []string {
	var out []string
	for _, v := range rr.Verdicts {
		s := v.Results[engine.SummaryID]
		out = append(out, fmt.Sprintf("%s %-26s %-8s %s", v.Site, v.Case.Fault, s.State, s.Detail))
	}
	sort.Strings(out)
	return out
}

var _ http.Handler = (*MalformedDAV)(nil)

// harnessID is a short random name for a harness's write dirs.
func harnessID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "h" + hex.EncodeToString(b[:])
}
