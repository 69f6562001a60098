package wn

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// minScratch is the free space below which the job's scratch area is a
// WARNING: a job cannot stage a typical input file into less.
const minScratch = 1 << 30

// node is what WN-01basic reports about the worker node.
type node struct {
	Host, User, OS, Kernel string
	CPUs                   int
	MemAvailable           uint64 // bytes; 0 unknown
	ScratchDir             string
	ScratchFree            uint64
	ScratchErr             error
	CVMFS                  string // "present (n repositories mounted)", "absent"
	CADir                  string
	CAs                    int // <hash>.0 files
	CAErr                  error
}

// inspect reads the node's basics. scratch is the job's working area
// ($_CONDOR_SCRATCH_DIR, else $TMPDIR, else the working directory).
func inspect(getenv func(string) string, caDir string) node {
	n := node{CPUs: runtime.NumCPU(), CADir: caDir}
	n.Host, _ = os.Hostname()
	n.User = strconv.Itoa(os.Geteuid())
	if u := getenv("USER"); u != "" {
		n.User = u + " (" + n.User + ")"
	}
	n.OS = osRelease("/etc/os-release")
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		n.Kernel = strings.TrimSpace(string(b))
	}
	n.MemAvailable = memAvailable("/proc/meminfo")
	n.ScratchDir = firstSet(getenv("_CONDOR_SCRATCH_DIR"), getenv("TMPDIR"))
	if n.ScratchDir == "" {
		n.ScratchDir, _ = os.Getwd()
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(n.ScratchDir, &st); err != nil {
		n.ScratchErr = err
	} else {
		n.ScratchFree = st.Bavail * uint64(st.Bsize)
	}
	n.CVMFS = "absent"
	if fi, err := os.Stat("/cvmfs"); err == nil && fi.IsDir() {
		ents, _ := os.ReadDir("/cvmfs")
		n.CVMFS = fmt.Sprintf("present (%d repositories visible)", len(ents))
	}
	cas, err := filepath.Glob(filepath.Join(caDir, "*.0"))
	switch {
	case err != nil:
		n.CAErr = err
	case len(cas) == 0:
		if _, serr := os.Stat(caDir); serr != nil {
			n.CAErr = fmt.Errorf("missing")
		} else {
			n.CAErr = fmt.Errorf("no <hash>.0 CA files")
		}
	}
	n.CAs = len(cas)
	return n
}

func firstSet(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func osRelease(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return runtime.GOOS
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			vals[k] = strings.Trim(v, `"'`)
		}
	}
	if v := vals["PRETTY_NAME"]; v != "" {
		return v
	}
	return firstSet(strings.TrimSpace(vals["NAME"]+" "+vals["VERSION"]), runtime.GOOS)
}

func memAvailable(path string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// basicOutcome is WN-01basic.
func basicOutcome(n node) engine.Outcome {
	o := engine.Okf("%s on %s, kernel %s, %s, %d CPUs", dash(n.Host), n.OS, dash(n.Kernel), runtime.GOARCH, n.CPUs)
	if n.MemAvailable > 0 {
		o.Detail += fmt.Sprintf(", %s memory available", gib(n.MemAvailable))
	}
	o.Detail += ", user " + n.User
	switch {
	case n.ScratchErr != nil:
		o.State = engine.Warning
		o.Detail += fmt.Sprintf("; scratch %s: %v", n.ScratchDir, n.ScratchErr)
	case n.ScratchFree < minScratch:
		o.State = engine.Warning
		o.Detail += fmt.Sprintf("; scratch %s has only %s free (< %s)", n.ScratchDir, gib(n.ScratchFree), gib(minScratch))
	default:
		o.Detail += fmt.Sprintf("; scratch %s: %s free", n.ScratchDir, gib(n.ScratchFree))
	}
	o.Detail += "; /cvmfs " + n.CVMFS
	if n.CAErr != nil {
		o.State = engine.Worst(o.State, engine.Warning)
		o.Detail += fmt.Sprintf("; CA directory %s: %v (TLS to the storage cannot be verified)", n.CADir, n.CAErr)
	} else {
		o.Detail += fmt.Sprintf("; CA directory %s (%d CAs)", n.CADir, n.CAs)
	}
	o.Perf = []engine.Perf{{Label: "cpus", Value: float64(n.CPUs)}, {Label: "scratch_free", Value: float64(n.ScratchFree), Unit: "B"}}
	return o
}

func gib(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	default:
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	}
}

// endpoint is one storage endpoint the node must reach.
type endpoint struct {
	Kind string // webdav, xrootd
	URL  *url.URL
}

// networkOutcome is WN-02network: a TCP connection from the node to every
// address of every storage endpoint of the site (probe.Connection, as
// 1connection does from the probe host).
func networkOutcome(ctx context.Context, eps []endpoint) engine.Outcome {
	if len(eps) == 0 {
		return engine.Unknownf("the site has no storage endpoint in the configuration")
	}
	state := engine.OK
	var parts, repro []string
	var perf []engine.Perf
	for _, ep := range eps {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		o := probe.Connection(cctx, ep.URL, nil)
		cancel()
		state = engine.Worst(state, o.State)
		host, port := probe.HostPort(ep.URL)
		if o.State == engine.OK {
			parts = append(parts, fmt.Sprintf("%s %s:%s reachable (%s)", ep.Kind, host, port, time.Since(start).Round(100*time.Microsecond)))
		} else {
			parts = append([]string{fmt.Sprintf("%s %s:%s: %s", ep.Kind, host, port, o.Detail)}, parts...)
		}
		repro = append(repro, o.Reproduce...)
		for _, p := range o.Perf {
			p.Label = ep.Kind + "_" + p.Label
			perf = append(perf, p)
		}
	}
	return engine.Outcome{State: state, Detail: "from the worker node: " + strings.Join(parts, "; "), Reproduce: repro, Perf: perf}
}
