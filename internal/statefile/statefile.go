// Package statefile keeps the last state of every check between one-shot
// runs (`probe run --state FILE`), so that a run started by cron, Nagios or
// Checkmk can say how long each check has been in its state (ETF's Age)
// besides when it ran (Checked), as `probe serve` does from memory.
//
// The file is small JSON ({"format": "gridprobe-state/1", "checks": [...]},
// one entry per site, service, check and credential). Runs of different
// services may share one file and run at the same time: an update takes an
// exclusive flock on FILE.lock (a file of its own, because the state file
// itself is replaced), reads the file, merges its own results into it and
// writes it back through a temporary file renamed over the old one, so a
// reader never sees half a file and no run loses another's entries. The
// standard library's flock and rename are all this needs; no locking
// library is used.
//
// A file that is not a state file (corrupt, truncated, someone else's) is
// moved aside to FILE.bad, never read as history: the run says so, and
// its checks' Age is unknown (zero Since) until their state next changes.
// A new file starts the history: a check's first recorded state counts
// from that run, as in Nagios and `probe serve`.
package statefile

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// Format names the file format and its version.
const Format = "gridprobe-state/1"

// MaxSize bounds the file read (a state file of 100 000 checks is ~20 MB).
const MaxSize = 64 << 20

// Forget is how long an entry not refreshed by any run stays in the file
// (services removed from sites.yaml do not pile up for ever).
const Forget = 90 * 24 * time.Hour

// Key identifies one check of one service.
type Key struct {
	Site       string `json:"site"`
	Service    string `json:"service"`
	Check      string `json:"check"`
	Credential string `json:"credential"`
}

// Entry is the last known state of one check.
type Entry struct {
	Key
	State engine.State `json:"state"`
	// Since is when the check entered State; zero: unknown.
	Since time.Time `json:"since,omitzero"`
	// Checked is when the check last ran.
	Checked time.Time `json:"checked"`
}

type file struct {
	Format string  `json:"format"`
	Checks []Entry `json:"checks"`
}

// Parse reads a state file's content. An error says why it is not a
// usable state file.
func Parse(data []byte) (map[Key]Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f file
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a gridprobe state file: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not a gridprobe state file: data after the JSON object")
	}
	if f.Format != Format {
		return nil, fmt.Errorf("not a gridprobe state file: format %.40q, want %q", f.Format, Format)
	}
	m := make(map[Key]Entry, len(f.Checks))
	for i, e := range f.Checks {
		switch {
		case e.Site == "" || e.Service == "" || e.Check == "":
			return nil, fmt.Errorf("checks[%d]: site, service and check are required", i)
		case e.State < engine.OK || e.State > engine.Unknown:
			return nil, fmt.Errorf("checks[%d]: bad state %d", i, e.State)
		case e.Checked.IsZero():
			return nil, fmt.Errorf("checks[%d]: no checked time", i)
		case !e.Since.IsZero() && e.Since.After(e.Checked):
			return nil, fmt.Errorf("checks[%d]: since %s is after checked %s", i, e.Since.Format(time.RFC3339), e.Checked.Format(time.RFC3339))
		}
		if _, dup := m[e.Key]; dup {
			return nil, fmt.Errorf("checks[%d]: %s %s %s (%s) is listed twice", i, e.Site, e.Service, e.Check, e.Credential)
		}
		m[e.Key] = e
	}
	return m, nil
}

// Options of an Update.
type Options struct {
	// Now is the time of the update (pruning); time.Now when zero.
	Now time.Time
	// ReadOnly gives the results their Since without recording them (an
	// interrupted run must not record the UNKNOWNs of checks it never ran).
	ReadOnly bool
	// Warn receives what the caller should tell the user (a bad file moved
	// aside); nil drops it.
	Warn func(string)
}

// Update gives every result its Since from the state file at path and
// records the results there (see the package comment). It returns the
// results with Since set and an "age" perf value (seconds in the state
// when the check ended; NaN, shown as unknown, when not known). An error
// means the file could not be read or written; the results are then
// returned as they came.
func Update(path string, results []engine.Result, opt Options) ([]engine.Result, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	unlock, err := lock(path + ".lock")
	if err != nil {
		return results, err
	}
	defer unlock()
	prev, lost, err := load(path, opt.Warn)
	if err != nil {
		return results, err
	}
	out := make([]engine.Result, len(results))
	for i, r := range results {
		k := Key{r.Site, r.Service, r.Check, r.Credential}
		e := next(prev[k], r, lost)
		r.Since = e.Since
		r.Perf = append(r.Perf[:len(r.Perf):len(r.Perf)], agePerf(r, e.Since))
		out[i] = r
		if !opt.ReadOnly {
			prev[k] = e
		}
	}
	if opt.ReadOnly {
		return out, nil
	}
	if err := write(path, prev, opt.Now); err != nil {
		return out, err
	}
	return out, nil
}

// next is the entry after result r, given the previous entry p (zero: none)
// and whether the history was lost.
func next(p Entry, r engine.Result, lost bool) Entry {
	e := Entry{Key: Key{r.Site, r.Service, r.Check, r.Credential}, State: r.State, Checked: r.Start}
	switch {
	case !p.Checked.IsZero() && p.State == r.State:
		e.Since = p.Since // unknown stays unknown until the state changes
	case !p.Checked.IsZero() || !lost:
		e.Since = r.Start // a change seen now, or the first record of a new file
	}
	return e
}

func agePerf(r engine.Result, since time.Time) engine.Perf {
	p := engine.Perf{Label: "age", Value: math.NaN(), Unit: "s"}
	if !since.IsZero() {
		p.Value = math.Max(0, math.Round(r.Start.Add(r.Duration).Sub(since).Seconds()))
	}
	return p
}

// load reads the state file: no file is an empty history; a bad one is
// moved aside to path.bad and reported as lost.
func load(path string, warn func(string)) (map[Key]Entry, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[Key]Entry{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("state file: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	f.Close()
	if err != nil {
		return nil, false, fmt.Errorf("state file %s: %w", path, err)
	}
	var m map[Key]Entry
	if len(data) > MaxSize {
		err = fmt.Errorf("larger than %d MB", MaxSize>>20)
	} else {
		m, err = Parse(data)
	}
	if err == nil {
		return m, false, nil
	}
	if rerr := os.Rename(path, path+".bad"); rerr != nil {
		return nil, false, fmt.Errorf("state file %s is unusable (%v) and cannot be moved aside: %w", path, err, rerr)
	}
	if warn != nil {
		warn(fmt.Sprintf("state file %s is unusable (%v): moved to %s.bad and started afresh; Age is unknown until a check's state changes",
			path, err, path))
	}
	return map[Key]Entry{}, true, nil
}

// write replaces the file at path with entries (those checked within
// Forget of now), through a temporary file in the same directory.
func write(path string, entries map[Key]Entry, now time.Time) error {
	f := file{Format: Format, Checks: make([]Entry, 0, len(entries))}
	for _, e := range entries {
		if now.Sub(e.Checked) <= Forget {
			f.Checks = append(f.Checks, e)
		}
	}
	sortEntries(f.Checks)
	data, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// lock takes an exclusive flock on the lock file, waiting for other runs
// (they hold it only while they read, merge and write the state file).
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state file lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("state file lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Service, b.Service),
			cmp.Compare(a.Check, b.Check), cmp.Compare(a.Credential, b.Credential))
	})
}
