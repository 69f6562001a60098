package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// The gfal2 baseline (P1): the operations of each check of the catalogue
// done the way an ETF probe does them, one gfal2 command-line process per
// operation. Where gridprobe verifies more (content compared byte for
// byte, server checksum against the configured one), the baseline is not
// charged for it; checks gfal2 cannot do (2ssl's certificate analysis,
// 10macaroon) have no operations. Refusals are expected to fail: the
// baseline times the attempt, whatever its exit code.

// GfalCred is the credential of one gfal2 operation.
type GfalCred struct {
	// Proxy is the proxy file (X509_USER_PROXY); "" for a token operation.
	Proxy string
	// Scopes and Audience ask the issuer for the operation's token
	// (BEARER_TOKEN); the token is fetched before timing starts.
	Scopes   []string
	Audience string
}

// GfalOp is one gfal2 command.
type GfalOp struct {
	Check string
	Cred  GfalCred
	Args  []string // gfal-<tool> and its arguments
}

// GfalTarget is what the gfal2 baseline works on.
type GfalTarget struct {
	Protocol     string // "webdav" or "xrootd"
	Base         string // https://localhost:18443 or roots://localhost:11094/
	Audience     string
	Federation   string // root://localhost:11095/ ("" for none)
	Proxy        string
	ForeignProxy string
	NoVOMSProxy  string
	RunID        string // the scratch area is /testvo/gridprobe/<RunID>
	LocalFile    string // a local file to upload
	LocalDir     string // where downloads go
}

// GfalOps lists the operations of one protocol's catalogue.
func GfalOps(t GfalTarget) []GfalOp {
	const ref, foreign = "/testvo/reference.dat", "/othervo/reference.dat"
	scratch := "/testvo/gridprobe/" + t.RunID
	rel := func(p string) string { return strings.TrimPrefix(p, "/testvo") } // scope path
	u := func(p string) string { return t.Base + p }
	down := func(p, name string) []string {
		return []string{"gfal-copy", "-f", u(p), "file://" + filepath.Join(t.LocalDir, name)}
	}
	up := func(p string, force bool) []string {
		a := []string{"gfal-copy"}
		if force {
			a = append(a, "-f")
		}
		return append(a, "file://"+t.LocalFile, u(p))
	}
	proxy := GfalCred{Proxy: t.Proxy}
	foreignP := GfalCred{Proxy: t.ForeignProxy}
	novoms := GfalCred{Proxy: t.NoVOMSProxy}
	tok := func(scopes ...string) GfalCred { return GfalCred{Scopes: scopes, Audience: t.Audience} }
	rd := func(p string) string { return "storage.read:" + rel(p) }
	cr := func(p string) string { return "storage.create:" + rel(p) }
	md := func(p string) string { return "storage.modify:" + rel(p) }
	xrd := t.Protocol == "xrootd"

	var ops []GfalOp
	add := func(check string, c GfalCred, args ...string) {
		ops = append(ops, GfalOp{Check: check, Cred: c, Args: args})
	}
	first := "3crt_extension"
	if xrd {
		first = "3version"
	}
	add(first, proxy, "gfal-ls", u("/testvo"))
	add("4crt-read", proxy, down(ref, "4.dat")...)
	add("4crt-read", proxy, "gfal-sum", u(ref), "ADLER32")
	if xrd {
		add("5crt-contain", foreignP, "gfal-stat", u(foreign))
		add("5crt-contain", proxy, down(foreign, "5a.dat")...)
		add("5crt-contain", proxy, down("/testvo/.."+foreign, "5b.dat")...)
	}
	add("6crt-access", proxy, "gfal-stat", u(ref))
	add("6crt-access", foreignP, down(ref, "6a.dat")...)
	add("6crt-access", novoms, down(ref, "6b.dat")...)
	w := scratch + "/7crt-write.dat"
	add("7crt-write", proxy, "gfal-mkdir", "-p", u(scratch))
	add("7crt-write", proxy, up(w, false)...)
	add("7crt-write", proxy, "gfal-stat", u(w))
	add("7crt-write", proxy, down(w, "7.dat")...)
	add("7crt-write", proxy, "gfal-sum", u(w), "ADLER32")
	add("7crt-write", proxy, "gfal-rm", u(w))
	add("7crt-write", proxy, "gfal-stat", u(w))
	d := scratch + "/8crt-directory"
	add("8crt-directory", proxy, "gfal-mkdir", u(d))
	add("8crt-directory", proxy, up(d+"/file.dat", false)...)
	add("8crt-directory", proxy, "gfal-ls", u(d))
	add("8crt-directory", proxy, "gfal-rm", u(d+"/file.dat"))
	add("8crt-directory", proxy, "gfal-rm", "-r", u(d))
	add("8crt-directory", proxy, "gfal-stat", u(d))
	if xrd && t.Federation != "" {
		add("9federation", proxy, "gfal-copy", "-f", t.Federation+ref, "file://"+filepath.Join(t.LocalDir, "9.dat"))
	}
	add("14tkn-read", tok(rd(ref)), down(ref, "14.dat")...)
	add("14tkn-read", tok(rd(ref)), "gfal-sum", u(ref), "ADLER32")
	if xrd {
		add("15tkn-contain", foreignP, "gfal-stat", u(foreign))
		add("15tkn-contain", tok("storage.read:/"), down(foreign, "15a.dat")...)
		add("15tkn-contain", tok("storage.read:/"), down("/testvo/.."+foreign, "15b.dat")...)
	}
	a := scratch + "/16tkn-access/a"
	ab := a + "b"
	add("16tkn-access", tok(cr(scratch)), "gfal-mkdir", "-p", u(scratch+"/16tkn-access"))
	add("16tkn-access", tok(cr(scratch)), up(a, false)...)
	add("16tkn-access", tok(cr(scratch)), up(ab, false)...)
	add("16tkn-access", tok(rd(scratch+"/16tkn-access")), "gfal-stat", u(a))
	add("16tkn-access", tok(rd(scratch+"/16tkn-access")), "gfal-stat", u(ab))
	add("16tkn-access", tok(cr(scratch+"/16tkn-access")), up(a, true)...)
	add("16tkn-access", tok(cr(scratch+"/16tkn-access")), "gfal-rm", u(a))
	add("16tkn-access", tok(rd(a)), down(a, "16a.dat")...)
	add("16tkn-access", tok(rd(a)), down(ab, "16b.dat")...)
	add("16tkn-access", tok(rd(ref)), "gfal-stat", u(ref))
	add("16tkn-access", tok(rd(a)), down(ref, "16c.dat")...)
	add("16tkn-access", GfalCred{Scopes: []string{rd(a)}, Audience: "https://gridprobe-other-endpoint.invalid"}, down(a, "16d.dat")...)
	tw := scratch + "/17tkn-write.dat"
	add("17tkn-write", tok(cr(scratch)), up(tw, false)...)
	add("17tkn-write", tok(rd(tw)), "gfal-stat", u(tw))
	add("17tkn-write", tok(rd(tw)), down(tw, "17.dat")...)
	add("17tkn-write", tok(rd(tw)), "gfal-sum", u(tw), "ADLER32")
	add("17tkn-write", tok(md(tw)), "gfal-rm", u(tw))
	add("17tkn-write", tok(rd(tw)), "gfal-stat", u(tw))
	td := scratch + "/18tkn-directory"
	add("18tkn-directory", tok(cr(scratch)), "gfal-mkdir", u(td))
	add("18tkn-directory", tok(cr(scratch)), up(td+"/file.dat", false)...)
	add("18tkn-directory", tok(rd(td)), "gfal-ls", u(td))
	add("18tkn-directory", tok(md(td)), "gfal-rm", u(td+"/file.dat"))
	add("18tkn-directory", tok(md(td)), "gfal-rm", "-r", u(td))
	add("18tkn-directory", tok(rd(td)), "gfal-stat", u(td))
	add("cleanup", proxy, "gfal-rm", "-r", u(scratch))
	return ops
}

// GfalResult is one timed gfal2 baseline run.
type GfalResult struct {
	Wall   time.Duration
	Ops    int
	Failed int // operations that exited non-zero (refusals included)
	// FailedOps names them, "check tool (credential)".
	FailedOps []string
	// OK says, per operation of the list, whether it succeeded.
	OK []bool
	// TimedOut names the operations killed at GfalOpTimeout, and Hung is
	// the time they took: an ETF probe waits for them too, but a fair
	// comparison may leave them out.
	TimedOut []string
	Hung     time.Duration
}

// GfalOpTimeout bounds one gfal2 process.
const GfalOpTimeout = 30 * time.Second

// GfalRun fetches the tokens the operations need (untimed), then runs the
// operations one process each, in order, and times them. A token is handed
// to its process in BEARER_TOKEN only, never printed.
func GfalRun(ctx context.Context, src cred.Source, ops []GfalOp, baseEnv []string) (GfalResult, error) {
	tokens, err := gfalTokens(ctx, src, ops)
	if err != nil {
		return GfalResult{}, err
	}
	var clean []string
	for _, e := range baseEnv {
		if !strings.HasPrefix(e, "BEARER_TOKEN") && !strings.HasPrefix(e, "X509_USER_PROXY=") {
			clean = append(clean, e)
		}
	}
	clean = append(clean, "GFAL_PYTHONBIN="+gfalPython())
	res := GfalResult{Ops: len(ops), OK: make([]bool, len(ops))}
	start := time.Now()
	for i, op := range ops {
		env := append([]string(nil), clean...)
		if op.Cred.Proxy != "" {
			env = append(env, "X509_USER_PROXY="+op.Cred.Proxy)
		} else {
			// a token operation: no X509_USER_PROXY, so the token is what
			// is presented (unless /tmp/x509up_u<uid> exists)
			env = append(env, "BEARER_TOKEN="+tokens[op.Cred.key()])
		}
		octx, cancel := context.WithTimeout(ctx, GfalOpTimeout)
		cmd := exec.CommandContext(octx, op.Args[0], op.Args[1:]...)
		cmd.Env = env
		t0 := time.Now()
		err := cmd.Run() // output discarded; exit code counted
		timedOut := octx.Err() == context.DeadlineExceeded
		cancel()
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		res.OK[i] = err == nil
		if err != nil {
			res.Failed++
			res.FailedOps = append(res.FailedOps, fmt.Sprintf("%s %s (%s)", op.Check, op.Args[0], credName(op.Cred)))
			if timedOut {
				res.TimedOut = append(res.TimedOut, fmt.Sprintf("%s %s (%s)", op.Check, op.Args[0], credName(op.Cred)))
				res.Hung += time.Since(t0)
			}
		}
	}
	res.Wall = time.Since(start)
	return res, nil
}

// gfalTokens fetches, before any timing, the token of every token
// operation, one per (scopes, audience): the key is GfalCred.key.
func gfalTokens(ctx context.Context, src cred.Source, ops []GfalOp) (map[string]string, error) {
	tokens := map[string]string{}
	for _, op := range ops {
		if op.Cred.Proxy != "" {
			continue
		}
		key := op.Cred.key()
		if _, ok := tokens[key]; ok {
			continue
		}
		t, err := src.Token(ctx, cred.TokenRequest{Scopes: op.Cred.Scopes, Audience: op.Cred.Audience})
		if err != nil {
			return nil, fmt.Errorf("token for %s: %w", key, err)
		}
		tokens[key] = t.Bearer()
	}
	return tokens, nil
}

// key identifies a token credential: its scopes and audience.
func (c GfalCred) key() string { return strings.Join(c.Scopes, " ") + "|" + c.Audience }

func credName(c GfalCred) string {
	if c.Proxy != "" {
		return "proxy " + filepath.Base(c.Proxy)
	}
	return "token " + strings.Join(c.Scopes, " ")
}

// gfalPython is the interpreter the gfal2 scripts run with: the system
// python3 that has the gfal2 bindings (a python3 earlier on PATH, e.g.
// pyenv's, would not have them).
func gfalPython() string {
	if p := os.Getenv("GFAL_PYTHONBIN"); p != "" {
		return p
	}
	return "/usr/bin/python3"
}

// GfalAvailable says what is missing for the baseline, "" when nothing.
func GfalAvailable() string {
	for _, tool := range []string{"gfal-ls", "gfal-copy", "gfal-mkdir", "gfal-rm", "gfal-sum", "gfal-stat"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not found (apt-get install gfal2-util-scripts gfal2-plugin-http gfal2-plugin-xrootd gfal2-plugin-file)"
		}
	}
	if err := exec.Command(gfalPython(), "-c", "import gfal2, gfal2_util").Run(); err != nil {
		return gfalPython() + " cannot import gfal2 (apt-get install python3-gfal2-util)"
	}
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/gfal2-plugins/libgfal_plugin_file.so"); err != nil {
		return "gfal2 file plugin missing: downloads to file:// fail (apt-get install gfal2-plugin-file)"
	}
	return ""
}
