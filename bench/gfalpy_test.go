package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/testbedenv"
)

func TestPyInputSendsEachTokenOnceAndOnlyOnStdin(t *testing.T) {
	ops := GfalOps(GfalTarget{Protocol: "xrootd", Base: "roots://h:1094/", Audience: "roots://h:1094", Federation: "root://r:2/",
		Proxy: "/p", ForeignProxy: "/f", NoVOMSProxy: "/n", RunID: "gp-20260101T000000Z-000000000000", LocalFile: "/l", LocalDir: "/d"})
	tokens := map[string]string{}
	for _, op := range ops {
		if op.Cred.Proxy == "" {
			tokens[op.Cred.key()] = "tok-" + op.Cred.key()
		}
	}
	in, err := pyInputOf(ops, tokens)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Ops) != len(ops) || len(in.Tokens) != len(tokens) {
		t.Fatalf("%d ops, %d tokens; want %d, %d", len(in.Ops), len(in.Tokens), len(ops), len(tokens))
	}
	for i, p := range in.Ops {
		if ops[i].Cred.Proxy != "" {
			if p.Proxy != ops[i].Cred.Proxy || p.Token != nil {
				t.Errorf("op %d: proxy %q token %v", i, p.Proxy, p.Token)
			}
			continue
		}
		if p.Token == nil || in.Tokens[*p.Token] != tokens[ops[i].Cred.key()] {
			t.Errorf("op %d (%s): wrong token", i, ops[i].Check)
		}
		if p.Prefix != "roots://h:1094" {
			t.Errorf("op %d: prefix %q", i, p.Prefix)
		}
		for _, a := range p.Args {
			if strings.Contains(a, "tok-") {
				t.Errorf("op %d: a token in the arguments: %q", i, a)
			}
		}
	}
	if _, err := pyInputOf(ops, map[string]string{}); err == nil {
		t.Error("missing tokens accepted")
	}
}

// The script's mechanics against gfal2's file plugin (no server needed):
// every tool, the recursive remove, and failures reported per operation.
func TestGfal2OpsScriptOnLocalFiles(t *testing.T) {
	if why := GfalPyAvailable(); why != "" {
		if os.Getenv(testbedenv.OptOut) == "1" {
			t.Skipf("%s=1: %s", testbedenv.OptOut, why)
		}
		t.Fatalf("%s (make testbed-up installs it, or set %s=1 to skip)", why, testbedenv.OptOut)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.dat")
	if err := os.WriteFile(src, []byte("gridprobe"), 0o600); err != nil {
		t.Fatal(err)
	}
	u := func(p string) string { return "file://" + filepath.Join(dir, p) }
	ops := []pyOp{
		{Args: []string{"gfal-mkdir", "-p", u("a/b")}},
		{Args: []string{"gfal-copy", "file://" + src, u("a/b/f.dat")}},
		{Args: []string{"gfal-copy", "file://" + src, u("a/b/f.dat")}}, // exists, no -f: fails
		{Args: []string{"gfal-copy", "-f", "file://" + src, u("a/b/f.dat")}},
		{Args: []string{"gfal-stat", u("a/b/f.dat")}},
		{Args: []string{"gfal-sum", u("a/b/f.dat"), "ADLER32"}},
		{Args: []string{"gfal-ls", u("a/b")}},
		{Args: []string{"gfal-rm", "-r", u("a")}},
		{Args: []string{"gfal-stat", u("a")}}, // gone: fails
	}
	for i := range ops {
		ops[i].Proxy = "/nonexistent-proxy"
	}
	r, err := runPy(context.Background(), pyInput{Tokens: []string{}, Timeout: 10, Ops: ops}, os.Environ(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, false, true, true, true, true, true, false}
	for i, ok := range want {
		if r.OK[i] != ok {
			t.Errorf("op %d %v: ok %v, want %v (%s)", i, ops[i].Args[:len(ops[i].Args)-1], r.OK[i], ok, r.Errors[i])
		}
	}
	if r.Failed != 2 || r.Wall <= 0 || r.Process < r.Wall {
		t.Errorf("failed %d, wall %v, process %v", r.Failed, r.Wall, r.Process)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Errorf("gfal-rm -r left %s/a: %v", dir, err)
	}
}

func TestDifferencesNamesBothDirections(t *testing.T) {
	ops := []GfalOp{
		{Check: "6crt-access", Cred: GfalCred{Proxy: "/x/othervo.pem"}, Args: []string{"gfal-copy"}},
		{Check: "6crt-access", Cred: GfalCred{Proxy: "/x/othervo.pem"}, Args: []string{"gfal-copy"}},
		{Check: "14tkn-read", Cred: GfalCred{Scopes: []string{"storage.read:/"}}, Args: []string{"gfal-stat"}},
		{Check: "4crt-read", Cred: GfalCred{Proxy: "/x/testvo.pem"}, Args: []string{"gfal-sum"}},
	}
	d := Differences(ops, []bool{false, false, true, true}, []bool{true, true, false, true})
	if d.InContext != 2 || d.AsProcesses != 1 || len(d.OnlyInContext) != 1 || d.OnlyInContext[0] != "6crt-access gfal-copy (proxy othervo.pem) ×2" ||
		len(d.OnlyAsProcesses) != 1 || d.OnlyAsProcesses[0] != "14tkn-read gfal-stat (token)" {
		t.Errorf("%+v", d)
	}
}
