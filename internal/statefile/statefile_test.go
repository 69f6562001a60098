package statefile

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func res(site, service, check string, st engine.State, start time.Time) engine.Result {
	return engine.Result{Site: site, Service: service, Check: check, Credential: engine.CredNone, State: st,
		Start: start, Duration: 2 * time.Second}
}

// round is the results of one run of service svc at time at: check a
// keeps its state, check b is in state bState.
func round(svc string, at time.Time, bState engine.State) []engine.Result {
	return []engine.Result{res("S", svc, "1a", engine.OK, at), res("S", svc, "2b", bState, at)}
}

func age(t *testing.T, r engine.Result) float64 {
	t.Helper()
	for _, p := range r.Perf {
		if p.Label == "age" {
			return p.Value
		}
	}
	t.Fatalf("%s: no age perf in %+v", r.Check, r.Perf)
	return 0
}

func update(t *testing.T, path string, rs []engine.Result, opt Options) []engine.Result {
	t.Helper()
	out, err := Update(path, rs, opt)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAgeGrowsAndResets: a new file starts the history; an unchanged
// state keeps its Since (Age grows), a changed one starts again.
func TestAgeGrowsAndResets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	r1 := update(t, path, round("svc", t0, engine.OK), Options{Now: t0})
	for _, r := range r1 {
		if !r.Since.Equal(t0) || age(t, r) != 2 {
			t.Errorf("first run %s: since %v age %v, want %v and 2s", r.Check, r.Since, age(t, r), t0)
		}
	}
	t1 := t0.Add(time.Hour)
	r2 := update(t, path, round("svc", t1, engine.Critical), Options{Now: t1})
	if !r2[0].Since.Equal(t0) || age(t, r2[0]) != 3602 {
		t.Errorf("unchanged: since %v age %v, want %v and 3602s", r2[0].Since, age(t, r2[0]), t0)
	}
	if !r2[1].Since.Equal(t1) || age(t, r2[1]) != 2 {
		t.Errorf("changed: since %v age %v, want %v and 2s", r2[1].Since, age(t, r2[1]), t1)
	}
	// The input is not modified (its Perf slice is not appended to).
	in := round("svc", t1, engine.OK)
	in[0].Perf = make([]engine.Perf, 0, 4)
	update(t, path, in, Options{Now: t1, ReadOnly: true})
	if len(in[0].Perf) != 0 || !in[0].Since.IsZero() {
		t.Errorf("input changed: %+v", in[0])
	}
}

// TestReadOnly: an interrupted run reads the history but records nothing.
func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	update(t, path, round("svc", t0, engine.OK), Options{Now: t0})
	before, _ := os.ReadFile(path)
	t1 := t0.Add(time.Minute)
	out := update(t, path, round("svc", t1, engine.Unknown), Options{Now: t1, ReadOnly: true})
	if !out[0].Since.Equal(t0) || !out[1].Since.Equal(t1) {
		t.Errorf("since %v %v", out[0].Since, out[1].Since)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("read-only update wrote the file:\n%s", after)
	}
}

// TestBadFileMovedAside: a corrupt or foreign file is warned about, kept
// as .bad, never read as history: Age is unknown until the state changes.
func TestBadFileMovedAside(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":    "\x00\x01 not json",
		"truncated":  `{"format":"gridprobe-state/1","checks":[{"site":"S"`,
		"foreign":    "vo: testvo\nsites: []\n",
		"other json": `{"format":"something-else/2","checks":[]}`,
		"extra key":  `{"format":"gridprobe-state/1","checks":[],"owner":"me"}`,
		"bad state":  `{"format":"gridprobe-state/1","checks":[{"site":"S","service":"svc","check":"1a","credential":"none","state":"MAYBE","checked":"2026-11-24T09:00:00Z"}]}`,
		"future since": `{"format":"gridprobe-state/1","checks":[{"site":"S","service":"svc","check":"1a","credential":"none","state":"OK",` +
			`"since":"2026-11-25T00:00:00Z","checked":"2026-11-24T09:00:00Z"}]}`,
		"twice":    `{"format":"gridprobe-state/1","checks":[` + strings.Repeat(`{"site":"S","service":"svc","check":"1a","credential":"none","state":"OK","checked":"2026-11-24T09:00:00Z"},`, 2) + `{"site":"S","service":"svc","check":"3c","credential":"none","state":"OK","checked":"2026-11-24T09:00:00Z"}]}`,
		"trailing": `{"format":"gridprobe-state/1","checks":[]} {}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			var warnings []string
			warn := func(s string) { warnings = append(warnings, s) }
			out := update(t, path, round("svc", t0, engine.OK), Options{Now: t0, Warn: warn})
			if len(warnings) != 1 || !strings.Contains(warnings[0], "moved to "+path+".bad") {
				t.Errorf("warnings %q", warnings)
			}
			if kept, _ := os.ReadFile(path + ".bad"); string(kept) != content {
				t.Errorf("the bad file was not kept: %q", kept)
			}
			for _, r := range out {
				if !r.Since.IsZero() || !math.IsNaN(age(t, r)) {
					t.Errorf("%s: since %v age %v after a bad file, want unknown", r.Check, r.Since, age(t, r))
				}
			}
			// Next run: unchanged stays unknown, changed is known.
			t1 := t0.Add(time.Hour)
			out = update(t, path, round("svc", t1, engine.Critical), Options{Now: t1, Warn: warn})
			if len(warnings) != 1 {
				t.Errorf("the replacement file was not accepted: %q", warnings)
			}
			if !out[0].Since.IsZero() || !out[1].Since.Equal(t1) {
				t.Errorf("second run: since %v, %v; want unknown, %v", out[0].Since, out[1].Since, t1)
			}
		})
	}
}

// TestConcurrentServices: runs of different services updating one file at
// once lose nothing (flock + merge) and leave a valid file.
func TestConcurrentServices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	const services, rounds = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, services*rounds)
	for s := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				at := t0.Add(time.Duration(i) * time.Minute)
				if _, err := Update(path, round(fmt.Sprintf("svc%d", s), at, engine.OK), Options{Now: at}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if len(m) != services*2 {
		t.Fatalf("%d entries, want %d", len(m), services*2)
	}
	for k, e := range m {
		if !e.Since.Equal(t0) || !e.Checked.Equal(t0.Add((rounds-1)*time.Minute)) {
			t.Errorf("%v: since %v checked %v", k, e.Since, e.Checked)
		}
	}
	if left, _ := filepath.Glob(path + ".tmp-*"); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestForget: entries nobody refreshed for longer than Forget go.
func TestForget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	update(t, path, round("old", t0, engine.OK), Options{Now: t0})
	later := t0.Add(Forget + time.Hour)
	update(t, path, round("new", later, engine.OK), Options{Now: later})
	data, _ := os.ReadFile(path)
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	for k := range m {
		if k.Service == "old" {
			t.Errorf("stale entry kept: %v", k)
		}
	}
	if len(m) != 2 {
		t.Errorf("%d entries, want 2", len(m))
	}
}

// TestUnwritable: a state file that cannot be written is an error, and the
// results still come back (with their Age).
func TestUnwritable(t *testing.T) {
	// A missing directory (root could write a read-only one).
	path := filepath.Join(t.TempDir(), "missing-dir", "state.json")
	out, err := Update(path, round("svc", t0, engine.OK), Options{Now: t0})
	if err == nil || !strings.Contains(err.Error(), "state file") {
		t.Errorf("err = %v", err)
	}
	if len(out) != 2 {
		t.Errorf("results %v", out)
	}
}

// FuzzParse: Parse never panics, and what it accepts survives a write and
// a parse unchanged.
func FuzzParse(f *testing.F) {
	good, _ := json.Marshal(file{Format: Format, Checks: []Entry{
		{Key: Key{"S", "svc", "1a", "none"}, State: engine.Critical, Since: t0, Checked: t0.Add(time.Hour)},
		{Key: Key{"S", "svc", "2b", "token"}, State: engine.OK, Checked: t0},
	}})
	f.Add(good)
	f.Add([]byte(`{"format":"gridprobe-state/1","checks":[]}`))
	f.Add([]byte(`{"format":"gridprobe-state/1","checks":null}`))
	f.Add([]byte(`{"format":"gridprobe-state/1","checks":[{"site":"S","service":"s","check":"c","state":"OK","checked":"0001-01-01T00:00:00Z"}]}`))
	f.Add([]byte("[]"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if m != nil || err.Error() == "" {
				t.Fatalf("map %v with error %q", m, err)
			}
			return
		}
		path := filepath.Join(t.TempDir(), "state.json")
		now := time.Time{}
		for _, e := range m {
			if e.Checked.After(now) {
				now = e.Checked
			}
		}
		if err := write(path, m, now); err != nil {
			if strings.Contains(err.Error(), "json") {
				return // a time json cannot write (year outside 0..9999) is refused, not corrupted
			}
			t.Fatal(err)
		}
		data2, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Parse(data2)
		if err != nil {
			t.Fatalf("written file does not parse: %v\n%s", err, data2)
		}
		kept := map[Key]Entry{}
		for k, e := range m {
			if now.Sub(e.Checked) <= Forget {
				kept[k] = e
			}
		}
		if len(kept) != len(m2) {
			t.Fatalf("%d entries, want %d", len(m2), len(kept))
		}
		for k, e := range kept {
			e2 := m2[k]
			if e2.State != e.State || !e2.Since.Equal(e.Since) || !e2.Checked.Equal(e.Checked) {
				t.Fatalf("%v: %+v, want %+v", k, e2, e)
			}
		}
	})
}
