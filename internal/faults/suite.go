package faults

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// SuiteOptions choose what RunSuite runs.
type SuiteOptions struct {
	Sites    int           // sites in the mixed round (default 100)
	FuzzTime time.Duration // per fuzz target; 0: no fuzzing
	Log      io.Writer     // progress lines; nil: discarded
	// Parts are the parts to run (SuiteParts); none: all. A part can be run
	// on its own, so that a part spoilt by a crash of the testbed SE
	// (testbed/KNOWN_ISSUES.md 7) can be run again without the others.
	Parts []string
}

// SuiteParts are RunSuite's parts, in the order they run: every fault alone
// in one round; the mixed round and the delete guard; the token-leak proof
// (with the fuzz targets when asked).
var SuiteParts = []string{"each", "mixed", "leak"}

func (o SuiteOptions) runs(part string) bool {
	return len(o.Parts) == 0 || slices.Contains(o.Parts, part)
}

// RunSuite runs the reliability and security proof against the testbed (the
// parts opt asks for) and returns its figures: every fault alone in one
// round, a mixed round of opt.Sites sites, the adversarial delete guard, the
// token-leak proof, and (when asked) every fuzz target of the module.
func RunSuite(ctx context.Context, tb *Testbed, opt SuiteOptions) (*Figures, error) {
	if opt.Sites <= 0 {
		opt.Sites = 100
	}
	logf := func(format string, a ...any) {
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, "faults: "+format+"\n", a...)
		}
	}
	f := &Figures{}
	parts := []struct {
		name string
		run  func(context.Context, *Testbed, SuiteOptions, *Figures, func(string, ...any)) error
	}{{"each", runEachFault}, {"mixed", runMixed}, {"leak", runLeakProof}}
	for _, p := range parts {
		if !opt.runs(p.name) {
			continue
		}
		if err := p.run(ctx, tb, opt, f, logf); err != nil {
			return nil, err
		}
		f.Parts = append(f.Parts, p.name)
	}
	return f, nil
}

// runEachFault: every fault once, one site each, short timeouts.
func runEachFault(ctx context.Context, tb *Testbed, _ SuiteOptions, f *Figures, logf func(string, ...any)) error {
	h, err := NewHarness(tb, 5*time.Second, 30*time.Second)
	if err != nil {
		return err
	}
	defer h.Close()
	var cases []*Case
	for i, name := range Faults {
		c, err := h.Case(ctx, name, i)
		if err != nil {
			return fmt.Errorf("fault %s: %w", name, err)
		}
		cases = append(cases, c)
	}
	logf("round 1: %d sites, one per fault", len(cases))
	rr, err := h.RunRound(ctx, cases, len(cases))
	if err != nil {
		return err
	}
	f.AddRound("each fault", rr)
	return nil
}

// runMixed: the mixed round, then the delete guard.
func runMixed(ctx context.Context, tb *Testbed, opt SuiteOptions, f *Figures, logf func(string, ...any)) error {
	h, err := NewHarness(tb, 5*time.Second, 30*time.Second)
	if err != nil {
		return err
	}
	defer h.Close()
	cases, err := h.MixCases(ctx, opt.Sites)
	if err != nil {
		return err
	}
	logf("round 2: %d sites, every fault mixed with healthy sites", len(cases))
	rr, err := h.RunRound(ctx, cases, 20)
	if err != nil {
		return err
	}
	f.AddRound(fmt.Sprintf("%d sites", opt.Sites), rr)
	g := RunGuard(ctx)
	f.GuardAttempts, f.GuardRefused = g.Attempts, g.Refused
	for _, e := range g.Escaped {
		f.Problems = append(f.Problems, "delete guard let through "+e)
	}
	return nil
}

// runLeakProof: the token-leak proof, then the fuzz targets when asked.
func runLeakProof(ctx context.Context, tb *Testbed, opt SuiteOptions, f *Figures, logf func(string, ...any)) error {
	h, err := NewHarness(tb, 5*time.Second, 30*time.Second)
	if err != nil {
		return err
	}
	defer h.Close()
	logf("token-leak proof: probe run in every format, probe serve")
	dir, err := os.MkdirTemp("", "gridprobe-faults-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lp, err := h.RunLeakProof(ctx, dir)
	if err != nil {
		return fmt.Errorf("token-leak proof: %w", err)
	}
	f.LeakSurfaces = len(lp.Surfaces)
	f.TokensLeaked = lp.Leaked()
	for _, l := range lp.Leaks {
		f.Problems = append(f.Problems, fmt.Sprintf("LEAK: %s found %d times in %s", l.Needle, l.Count, l.Surface))
	}
	for _, p := range lp.Problems {
		f.Problems = append(f.Problems, "token-leak proof: "+p)
	}
	if len(lp.Problems) > 0 {
		f.LeakIncomplete = true
	}
	if opt.FuzzTime <= 0 {
		return nil
	}
	res, err := RunFuzz(ctx, tb.Root, opt.FuzzTime, logf)
	if err != nil {
		return err
	}
	f.Fuzz = res
	for _, r := range res {
		if !r.OK {
			f.Panics++
			f.Problems = append(f.Problems, fmt.Sprintf("fuzz %s %s: %s", r.Pkg, r.Name, r.Tail))
		}
	}
	return nil
}

// FuzzResult is one fuzz target's run.
type FuzzResult struct {
	Pkg, Name string
	OK        bool
	Execs     string // the last "execs: N" the fuzzer printed
	Tail      string // last lines of output when it failed
}

var (
	fuzzFuncRE = regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)
	execsRE    = regexp.MustCompile(`execs: (\d+)`)
)

// FuzzTargets finds every fuzz target in the module: package dir → names.
func FuzzTargets(root string) (map[string][]string, error) {
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range fuzzFuncRE.FindAllSubmatch(b, -1) {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			out["./"+rel] = append(out["./"+rel], string(m[1]))
		}
		return nil
	})
	return out, err
}

// RunFuzz runs every fuzz target for d each (go test -fuzz), one after the
// other.
func RunFuzz(ctx context.Context, root string, d time.Duration, logf func(string, ...any)) ([]FuzzResult, error) {
	targets, err := FuzzTargets(root)
	if err != nil {
		return nil, err
	}
	pkgs := make([]string, 0, len(targets))
	for p := range targets {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	var out []FuzzResult
	for _, pkg := range pkgs {
		for _, name := range targets[pkg] {
			cctx, cancel := context.WithTimeout(ctx, d+3*time.Minute)
			cmd := exec.CommandContext(cctx, "go", "test", pkg, "-run", "^$", "-fuzz", "^"+name+"$", "-fuzztime", d.String(), "-parallel", "2")
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GRIDPROBE_NO_TESTBED=1")
			b, err := cmd.CombinedOutput()
			cancel()
			r := FuzzResult{Pkg: pkg, Name: name, OK: err == nil}
			if m := execsRE.FindAllStringSubmatch(string(b), -1); len(m) > 0 {
				r.Execs = m[len(m)-1][1]
			}
			if !r.OK {
				r.Tail = tail(string(b), 6)
			}
			logf("fuzz %s %s: ok=%v execs=%s", pkg, name, r.OK, r.Execs)
			out = append(out, r)
		}
	}
	return out, nil
}

func tail(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
