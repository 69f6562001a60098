package bench

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// The fair peer (P1b): the operation list of P1 (GfalOps) done through
// gfal2's Python API in one process with one context, as ETF's storage
// probes drive gfal2 (bench/gfal2_ops.py). Tokens are fetched before the
// process starts and handed over on its stdin, never in its arguments or
// environment.

//go:embed gfal2_ops.py
var gfalPyScript []byte

// GfalPyResult is one run of the operation list in one gfal2 context.
type GfalPyResult struct {
	// Wall is the operation list alone, timed inside the process; Setup is
	// importing gfal2 and creating the context; Process is the whole
	// process, interpreter start-up included, and CPU its user+system
	// time.
	Wall, Setup, Process, CPU time.Duration
	Ops, Failed               int
	// OK says, per operation, whether it succeeded; Errors holds the
	// gfal2 message of each failed one (redacted).
	OK     []bool
	Errors []string
	// Slowest is the longest operation and its index.
	Slowest   time.Duration
	SlowestOp int
}

// pyOp is one operation as gfal2_ops.py reads it.
type pyOp struct {
	Args   []string `json:"args"`
	Proxy  string   `json:"proxy,omitempty"`
	Token  *int     `json:"token,omitempty"`
	Prefix string   `json:"prefix,omitempty"`
}

type pyInput struct {
	Tokens  []string `json:"tokens"`
	Timeout int      `json:"timeout"`
	Ops     []pyOp   `json:"ops"`
}

type pyOutput struct {
	Setup float64 `json:"setup_seconds"`
	Wall  float64 `json:"wall_seconds"`
	Ops   []struct {
		OK      bool    `json:"ok"`
		Error   string  `json:"error"`
		Seconds float64 `json:"seconds"`
	} `json:"ops"`
}

// pyInputOf turns ops and their tokens (by GfalCred.key) into the script's
// input: each token once, referenced by index, with the endpoint it is for
// (the credential prefix gfal2 matches URLs against).
func pyInputOf(ops []GfalOp, tokens map[string]string) (pyInput, error) {
	in := pyInput{Timeout: int(GfalOpTimeout / time.Second), Tokens: []string{}}
	index := map[string]int{}
	for _, op := range ops {
		p := pyOp{Args: op.Args}
		if op.Cred.Proxy != "" {
			p.Proxy = op.Cred.Proxy
			in.Ops = append(in.Ops, p)
			continue
		}
		key := op.Cred.key()
		tok, ok := tokens[key]
		if !ok {
			return in, fmt.Errorf("%s %s: no token for %s", op.Check, op.Args[0], key)
		}
		i, seen := index[key]
		if !seen {
			i = len(in.Tokens)
			index[key] = i
			in.Tokens = append(in.Tokens, tok)
		}
		p.Token = &i
		prefix, err := endpointOf(op.Args)
		if err != nil {
			return in, fmt.Errorf("%s %s: %w", op.Check, op.Args[0], err)
		}
		p.Prefix = prefix
		in.Ops = append(in.Ops, p)
	}
	return in, nil
}

// endpointOf is scheme://host[:port] of the first remote URL in args.
func endpointOf(args []string) (string, error) {
	for _, a := range args[1:] {
		u, err := url.Parse(a)
		if err != nil || u.Scheme == "" || u.Scheme == "file" || u.Host == "" {
			continue
		}
		return u.Scheme + "://" + u.Host, nil
	}
	return "", fmt.Errorf("no remote URL in %q", args)
}

// GfalPyRun fetches the tokens the operations need (untimed), then runs
// the whole list in one Python process with one gfal2 context.
func GfalPyRun(ctx context.Context, src cred.Source, ops []GfalOp, baseEnv []string, tmp string) (GfalPyResult, error) {
	tokens, err := gfalTokens(ctx, src, ops)
	if err != nil {
		return GfalPyResult{}, err
	}
	in, err := pyInputOf(ops, tokens)
	if err != nil {
		return GfalPyResult{}, err
	}
	return runPy(ctx, in, baseEnv, tmp)
}

// runPy runs gfal2_ops.py on in (the script is written to tmp).
func runPy(ctx context.Context, in pyInput, baseEnv []string, tmp string) (GfalPyResult, error) {
	script := filepath.Join(tmp, "gfal2_ops.py")
	if err := os.WriteFile(script, gfalPyScript, 0o600); err != nil {
		return GfalPyResult{}, err
	}
	stdin, err := json.Marshal(in)
	if err != nil {
		return GfalPyResult{}, err
	}
	var env []string
	for _, e := range baseEnv { // credentials come from the input only
		if !strings.HasPrefix(e, "BEARER_TOKEN") && !strings.HasPrefix(e, "X509_USER_PROXY=") {
			env = append(env, e)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(in.Ops)+1)*GfalOpTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, gfalPython(), script)
	cmd.Env, cmd.Stdin = env, bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	process := time.Since(start)
	if err != nil {
		return GfalPyResult{}, fmt.Errorf("%s %s: %w: %s", gfalPython(), filepath.Base(script), err, cred.Redact(lastLine(stderr.String())))
	}
	var out pyOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return GfalPyResult{}, fmt.Errorf("reading the output of %s: %w", filepath.Base(script), err)
	}
	if len(out.Ops) != len(in.Ops) {
		return GfalPyResult{}, fmt.Errorf("%s answered %d operations of %d", filepath.Base(script), len(out.Ops), len(in.Ops))
	}
	r := GfalPyResult{Wall: secs(out.Wall), Setup: secs(out.Setup), Process: process, CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), Ops: len(out.Ops),
		OK: make([]bool, len(out.Ops)), Errors: make([]string, len(out.Ops))}
	for i, o := range out.Ops {
		r.OK[i] = o.OK
		if !o.OK {
			r.Failed++
			r.Errors[i] = cred.Redact(o.Error)
		}
		if d := secs(o.Seconds); d > r.Slowest {
			r.Slowest, r.SlowestOp = d, i
		}
	}
	return r, nil
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// GfalPyAvailable says what is missing for P1b, "" when nothing.
func GfalPyAvailable() string {
	if err := exec.Command(gfalPython(), "-c", "import gfal2").Run(); err != nil {
		return gfalPython() + " cannot import gfal2 (apt-get install python3-gfal2)"
	}
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/gfal2-plugins/libgfal_plugin_file.so"); err != nil {
		return "gfal2 file plugin missing: copies to and from file:// fail (apt-get install gfal2-plugin-file)"
	}
	return ""
}

// GfalDiff is how one run of an operation list in one context differs from
// a run as separate processes: the operations that succeeded only in the
// context and those that succeeded only as processes, named "check tool
// (credential)" with a count where one repeats.
type GfalDiff struct {
	OnlyInContext, OnlyAsProcesses []string
	InContext, AsProcesses         int // operations
}

// Differences compares the outcomes of two runs of ops.
func Differences(ops []GfalOp, processes, oneContext []bool) GfalDiff {
	var a, b counted
	var d GfalDiff
	for i := range ops {
		if i >= len(processes) || i >= len(oneContext) || processes[i] == oneContext[i] {
			continue
		}
		name := fmt.Sprintf("%s %s (%s)", ops[i].Check, ops[i].Args[0], credKind(ops[i].Cred))
		if oneContext[i] {
			a.add(name)
			d.InContext++
		} else {
			b.add(name)
			d.AsProcesses++
		}
	}
	d.OnlyInContext, d.OnlyAsProcesses = a.list(), b.list()
	return d
}

func credKind(c GfalCred) string {
	if c.Proxy != "" {
		return "proxy " + filepath.Base(c.Proxy)
	}
	return "token"
}

// counted keeps names in first-seen order with their counts.
type counted struct {
	names []string
	n     map[string]int
}

func (c *counted) add(s string) {
	if c.n == nil {
		c.n = map[string]int{}
	}
	if c.n[s] == 0 {
		c.names = append(c.names, s)
	}
	c.n[s]++
}

func (c *counted) list() []string {
	var out []string
	for _, s := range c.names {
		if k := c.n[s]; k > 1 {
			s = fmt.Sprintf("%s ×%d", s, k)
		}
		out = append(out, s)
	}
	return out
}
