package ce

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/wnline"
	"github.com/gridprobe/gridprobe/probes/probe"
	// The storage types the test job checks (probes/all would import this
	// package again).
	_ "github.com/gridprobe/gridprobe/probes/webdav"
	_ "github.com/gridprobe/gridprobe/probes/xrootd"
)

// wnOut is a job stdout as the launcher frames probe wn's lines.
func wnOut(t testing.TB, lines ...wnline.Line) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("gridprobe-marker-x\nhost wn1 user nobody pwd /s\n" + wnBegin + "\n")
	for _, l := range lines {
		out, err := wnline.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(out)
	}
	return b.String()
}

func okLines() []wnline.Line {
	var ls []wnline.Line
	for _, c := range wnline.Catalogue {
		if c.ID != wnline.Summary {
			ls = append(ls, wnline.Line{Check: c.ID, Credential: c.Credential, State: engine.OK, Detail: c.ID + " fine", Start: time.Now()})
		}
	}
	return append(ls, wnline.Line{Check: wnline.Summary, State: engine.OK, Detail: "all OK", Host: "wn1", Checks: len(ls)})
}

func TestReadWNOutput(t *testing.T) {
	good := wnOut(t, okLines()...)
	rep, err := readWNOutput([]byte(good+wnExit+" 0\n"), nil)
	if err != nil || rep.Summary.Host != "wn1" || len(rep.Lines) != 8 {
		t.Fatalf("good output: %v %+v", err, rep)
	}
	lines := okLines()
	for _, c := range []struct {
		name, stdout, stderr string
		err                  error
		want                 string
	}{
		{"no payload", "gridprobe-marker-x\n/bin/sh: ./probe: not found\n", "exec format error", nil, `did not start: the job's stdout has no "gridprobe-wn-begin" line (stdout starts "gridprobe-marker-x\n/bin/sh: ./probe: not found\n"; stderr "exec format error")`},
		{"nothing written", wnOut(t) + wnExit + " 127\n", "./probe: not found", wnline.ErrEmpty, `probe wn wrote nothing and exited 127 (stderr "./probe: not found")`},
		{"truncated", wnOut(t, lines[:3]...), "", wnline.ErrTruncated, "no WN-99summary line after 3 check lines"},
		{"killed mid-line", wnOut(t, lines[:2]...) + `{"wn_version":1,"check":"WN-1`, "Killed", wnline.ErrNotJSON, `line 3: "{\"wn_version\":1,\"check\":\"WN-1"`},
		{"not JSON", wnOut(t) + "panic: runtime error: index out of range\n" + wnExit + " 2\n", "goroutine 1 [running]", wnline.ErrNotJSON, `line 1: "panic: runtime error: index out of range"`},
		{"older version", wnOut(t) + `{"wn_version":0,"check":"WN-01basic","state":"OK"}` + "\n" + wnExit + " 0\n", "", wnline.ErrVersion, "from an older probe wn (wn_version 0, this probe reads 1)"},
		{"crash after output", good + wnExit + " 139\n", "SIGSEGV", nil, "probe wn exited 139 after complete output"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := readWNOutput([]byte(c.stdout), []byte(c.stderr))
			if err == nil || !strings.Contains(err.Error(), c.want) || c.err != nil && !errors.Is(err, c.err) {
				t.Errorf("error %v\nwant %v containing %q", err, c.err, c.want)
			}
		})
	}
}

// TestWNOutcomes: each WN check of the CE takes its line; a missing line,
// unreadable output or no payload are UNKNOWN with the reason; the CE's
// scratch cleanup shows on WN-21tkn-write.
func TestWNOutcomes(t *testing.T) {
	w := &wnState{jobID: "42"}
	lines := okLines()
	lines[5].State, lines[5].Detail = engine.Critical, "webdav CRITICAL: upload 403"
	lines[4].State, lines[4].Party, lines[4].Detail = engine.Unknown, engine.PartyProbe, "the job's token lacks read:/ref"
	rep, err := readWNOutput([]byte(wnOut(t, lines...)+wnExit+" 2\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.rep = rep
	if o := w.outcome(wnline.TknWrite, true); o.State != engine.Critical || o.Detail != "webdav CRITICAL: upload 403" {
		t.Errorf("WN-21: %s %q", o.State, o.Detail)
	}
	if o := w.outcome(wnline.TknRead, true); o.State != engine.Unknown || o.Party != engine.PartyProbe {
		t.Errorf("WN-20: %s party %q", o.State, o.Party)
	}
	if o := w.outcome(wnline.Summary, true); o.State != engine.Critical || o.Party != "" ||
		!strings.Contains(o.Detail, "2 of 8 worker-node checks not OK on wn1 (job 42): WN-20tkn-read UNKNOWN, WN-21tkn-write CRITICAL") {
		t.Errorf("summary: %s %q %q", o.State, o.Party, o.Detail)
	}
	w.cleaned = "the job left 1 objects in webdav /d/gp-x; removed by the CE check"
	rep.Lines[5].State = engine.OK
	if o := w.outcome(wnline.TknWrite, true); o.State != engine.Warning || !strings.HasPrefix(o.Detail, "the job left 1 objects") {
		t.Errorf("WN-21 after the CE's cleanup: %s %q", o.State, o.Detail)
	}
	// Without the crt lines (no proxy in the job).
	rep.Lines = rep.Lines[:6]
	if o := w.outcome(wnline.CrtRead, true); o.State != engine.Unknown || !strings.Contains(o.Detail, "had no usable proxy") {
		t.Errorf("missing crt line: %s %q", o.State, o.Detail)
	}
	rep.Lines[4].State = engine.OK
	if o := w.outcome(wnline.Summary, false); o.State != engine.Warning {
		t.Errorf("summary without crt checks: %s %q", o.State, o.Detail)
	}
	w.outErr = errors.New("probe wn output truncated: no WN-99summary line")
	if o := w.outcome(wnline.Basic, true); o.State != engine.Unknown || o.Detail != "job 42: probe wn output truncated: no WN-99summary line" {
		t.Errorf("bad output: %s %q", o.State, o.Detail)
	}
	w.noWN = errNoWN{"no static probe binary to ship"}
	if o := w.outcome(wnline.Basic, true); o.State != engine.Unknown || !strings.Contains(o.Detail, "no worker-node payload was shipped: no static probe binary") {
		t.Errorf("no payload: %s %q", o.State, o.Detail)
	}
	w.submit = "job 42 HELD on schedd localhost: disk full"
	if got := w.unmet([]string{IDTknSubmit}); got != "prerequisite 14tkn-submit failed: job 42 HELD on schedd localhost: disk full" {
		t.Errorf("unmet: %q", got)
	}
}

func TestWNScript(t *testing.T) {
	j := jobSpec{wn: "gp-20261207T120000Z-0123456789ab", withProxy: true}
	s := j.launcher("gridprobe-marker-m")
	for _, want := range []string{"#!/bin/sh\n", "echo gridprobe-marker-m\n", `BEARER_TOKEN_FILE="$(pwd)/gridprobe-wn.token"`,
		`if [ ! -s "$X509_USER_PROXY" ] && [ -s gridprobe-wn.proxy ]`, "./probe wn -c gridprobe-wn.yaml --run-id gp-20261207T120000Z-0123456789ab\n",
		"echo gridprobe-wn-exit $?\n", "rm -f gridprobe-wn.token gridprobe-wn.proxy\n", "exit 0\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("launcher lacks %q:\n%s", want, s)
		}
	}
	adl := string(j.adl("n", "grid", "m"))
	for _, want := range []string{"<Argument>gridprobe-wn.sh</Argument>", "<InputFile><Name>probe</Name><IsExecutable>true</IsExecutable></InputFile>",
		"<InputFile><Name>gridprobe-wn.token</Name></InputFile>", "<InputFile><Name>gridprobe-wn.proxy</Name></InputFile>"} {
		if !strings.Contains(adl, want) {
			t.Errorf("ADL lacks %q:\n%s", want, adl)
		}
	}
	sub := j.condorSubmit("n", "")
	for _, want := range []string{"executable = gridprobe-wn.sh\n", "transfer_input_files = probe, gridprobe-wn.yaml, gridprobe-wn.token\n", "x509userproxy = gridprobe-wn.proxy\n"} {
		if !strings.Contains(sub, want) {
			t.Errorf("submit file lacks %q:\n%s", want, sub)
		}
	}
}

func FuzzReadWNOutput(f *testing.F) {
	f.Add([]byte(wnOut(f, okLines()...)+wnExit+" 0\n"), []byte(""))
	f.Add([]byte(wnBegin+"\n{\n"+wnExit+" x\n"), []byte("\xff"))
	f.Add([]byte(wnBegin+"\n"+wnExit+" 0"), []byte(nil))
	f.Fuzz(func(t *testing.T, stdout, stderr []byte) {
		rep, err := readWNOutput(stdout, stderr)
		if err == nil && (rep == nil || rep.Summary.Check != wnline.Summary) {
			t.Fatal("no error and no complete report")
		}
		if err != nil && len(err.Error()) > 1200 {
			t.Fatalf("error of %d bytes", len(err.Error()))
		}
		w := &wnState{rep: rep, outErr: err, jobID: "1"}
		for _, c := range wnline.Catalogue {
			if o := w.outcome(c.ID, true); len(engine.OneLine(o.Detail)) > engine.MaxDetail {
				t.Fatal("detail too long")
			}
		}
	})
}

// TestWNReproduce: the WN reproduce lines are valid shell, carry no token,
// and the files they write are the job's own (launcher, configuration,
// submit file).
func TestWNReproduce(t *testing.T) {
	cfgText := "vo: testvo\nsites:\n  - name: T2_X\n    services:\n      - {type: htcondor-ce, url: \"condor://ce.example.org:9619\"}\n" +
		"      - {type: webdav, url: \"https://se.example.org:443\", scope_base: /testvo, write_dir: /testvo/gp, read_file: {path: /testvo/ref}}\n"
	cfg, err := config.Parse("unit.yaml", []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	site := &cfg.Sites[0]
	wcfg, err := wnConfigFor(cfg, site)
	if err != nil {
		t.Fatal(err)
	}
	tgt := probe.Target{Config: cfg, Site: site, Service: &site.Services[0], RunID: engine.NewRunID()}
	js := jobSpec{wn: "gp-20261207T120000Z-0123456789ab", withProxy: true}
	pl := &wnPayload{config: wcfg, scopes: []string{"storage.read:/ref"}, aud: "https://se.example.org:443"}
	cs := &condorSvc{t: tgt, u: tgt.Service.URL, host: "ce.example.org", pool: "ce.example.org:9619", aud: tgt.Audience()}
	as := &arcSvc{t: tgt, u: tgt.Service.URL, ws: "https://ce.example.org/arex", aud: "https://ce.example.org", queue: "grid"}
	for name, lines := range map[string][]string{"htcondor": cs.reproWN(js, pl), "arc": as.reproWN(js, pl)} {
		script := strings.Join(lines, "\n")
		if out, err := exec.Command("bash", "-n", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("%s: bash -n: %v %s\n%s", name, err, out, script)
		}
		if strings.Contains(script, "eyJ") {
			t.Errorf("%s: token in reproduce lines", name)
		}
		d := t.TempDir()
		for _, l := range lines {
			if strings.HasPrefix(l, "printf '%s\\n' ") && !strings.Contains(l, "ActivityDescription") {
				cmd := exec.Command("bash", "-c", l)
				cmd.Dir = d
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v %s", l, err, out)
				}
			}
		}
		if b, _ := os.ReadFile(filepath.Join(d, wnConfig)); !bytes.Equal(b, wcfg) {
			t.Errorf("%s: the written %s differs from the job's:\n%s", name, wnConfig, b)
		}
		if b, _ := os.ReadFile(filepath.Join(d, wnLauncher)); string(b) != js.launcher("gridprobe-marker-manual") {
			t.Errorf("%s: the written launcher differs:\n%s", name, b)
		}
		if !strings.Contains(script, "./probe wn -c gridprobe-wn.yaml --run-id "+js.wn) {
			t.Errorf("%s: no by-hand probe wn line", name)
		}
	}
	if _, err := config.Parse(wnConfig, wcfg); err != nil {
		t.Errorf("generated config: %v", err)
	}
	if strings.Contains(string(wcfg), "htcondor-ce") || strings.Contains(string(wcfg), "client_secret") {
		t.Errorf("the job's configuration holds more than the site's storage:\n%s", wcfg)
	}
}

func TestFindWNBinary(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\necho\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{notELF, "not an ELF executable"},
		{"/bin/sh", "dynamically linked (build with CGO_ENABLED=0)"},
		{filepath.Join(t.TempDir(), "none"), "missing"},
	} {
		t.Setenv(WNBinaryEnv, c.path)
		if _, err := findWNBinary(); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), WNBinaryEnv) {
			t.Errorf("%s: %v, want %q", c.path, err, c.want)
		}
	}
	// Unset: the running binary (a test binary, not probe) is not shipped.
	t.Setenv(WNBinaryEnv, "")
	if _, err := findWNBinary(); err == nil || !strings.Contains(err.Error(), "no static probe binary to ship") {
		t.Errorf("unset: %v", err)
	}
}
