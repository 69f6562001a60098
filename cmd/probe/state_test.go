package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// listen is a loopback port that accepts and hangs up (1connection OK).
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln
}

type jsonLine struct {
	Site, Check, State string
	Since              time.Time
	Start              time.Time
	Perf               []struct {
		Label string
		Value float64
	}
}

func (l jsonLine) age() (float64, bool) {
	for _, p := range l.Perf {
		if p.Label == "age" {
			return p.Value, true
		}
	}
	return 0, false
}

func runJSON(t *testing.T, args ...string) (map[string]jsonLine, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"run", "--format", "json", "--progress", "off"}, args...), &out, &errb)
	m := map[string]jsonLine{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r jsonLine
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v (stderr %s)", l, err, errb.String())
		}
		m[r.Site+"/"+r.Check] = r
	}
	return m, errb.String(), code
}

// TestRunStateAge: two `probe run --state` runs an hour apart (the clock
// is shifted, not slept): the unchanged check's Age grows by the hour, the
// changed one's starts again; a corrupt state file is warned about and its
// Ages shown as unknown.
func TestRunStateAge(t *testing.T) {
	up, flip := listen(t), listen(t)
	cfg := writeConfig(t, "vo: testvo\nsites:\n"+
		"  - name: T2_UP\n    services:\n      - {type: xrootd, url: \"root://"+up.Addr().String()+"\"}\n"+
		"  - name: T2_FLIP\n    services:\n      - {type: xrootd, url: \"root://"+flip.Addr().String()+"\"}\n")
	state := filepath.Join(t.TempDir(), "state.json")
	t.Setenv("BEARER_TOKEN", "")
	t.Setenv("BEARER_TOKEN_FILE", "")
	t.Cleanup(func() { clock = time.Now })

	clock = func() time.Time { return time.Now().Add(-time.Hour) } // the first run, an hour ago
	first, stderr, code := runJSON(t, "-c", cfg, "--check", "1connection", "--state", state)
	if code != 0 || stderr != "" {
		t.Fatalf("first run: exit %d, stderr %q", code, stderr)
	}
	for _, k := range []string{"T2_UP/1connection", "T2_FLIP/1connection"} {
		if r := first[k]; r.State != "OK" || !r.Since.Equal(r.Start) {
			t.Fatalf("first run %s: %+v (a new state file starts counting at its first run)", k, r)
		}
	}

	flip.Close() // T2_FLIP's state changes
	clock = time.Now
	second, _, code := runJSON(t, "-c", cfg, "--check", "1connection", "--state", state)
	if code != 2 {
		t.Fatalf("second run: exit %d, want 2", code)
	}
	u, f := second["T2_UP/1connection"], second["T2_FLIP/1connection"]
	if u.State != "OK" || !u.Since.Equal(first["T2_UP/1connection"].Since) {
		t.Errorf("unchanged: since %v, want the first run's %v", u.Since, first["T2_UP/1connection"].Since)
	}
	if a, ok := u.age(); !ok || a < 3600 || a > 3600+60 {
		t.Errorf("unchanged: age %v, want an hour", a)
	}
	if f.State != "CRITICAL" || !f.Since.Equal(f.Start) {
		t.Errorf("changed: %+v, want since = its start", f)
	}
	if a, ok := f.age(); !ok || a > 60 {
		t.Errorf("changed: age %v, want about 0", a)
	}

	// The table of a third run: Age is the time in state.
	var out, errb bytes.Buffer
	run([]string{"run", "-c", cfg, "--check", "1connection", "--state", state, "--progress", "off"}, &out, &errb)
	if !regexp.MustCompile(`│ T2_UP +│ OK +│ .*│ 1h(1m)? +│`).MatchString(out.String()) {
		t.Errorf("table lacks the hour in state:\n%s", out.String())
	}

	// A corrupt state file: warned, kept aside, Age unknown, exit unchanged.
	if err := os.WriteFile(state, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	code = run([]string{"run", "-c", cfg, "--check", "1connection", "--state", state, "--progress", "off"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "moved to "+state+".bad") {
		t.Errorf("corrupt file: exit %d, stderr %q", code, errb.String())
	}
	if strings.Count(out.String(), "│ unknown │") != 2 {
		t.Errorf("Age not unknown after a corrupt state file:\n%s", out.String())
	}
}
