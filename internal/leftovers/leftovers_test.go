package leftovers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/faults"
	"github.com/gridprobe/gridprobe/probes/storage"
	"github.com/gridprobe/gridprobe/probes/webdav"
	"github.com/gridprobe/gridprobe/probes/xrootd"
)

// memStore is an in-memory storage.Store (listing and removing) for edge
// cases; the other calls are not used by this package.
type memStore struct {
	storage.Store
	objs    map[string]bool // path → isDir
	removed []string
	lie     map[string][]storage.Info // dir → listing to return instead
}

func (m *memStore) List(_ context.Context, dir string) ([]storage.Info, error) {
	if l, ok := m.lie[dir]; ok {
		return l, nil
	}
	var out []storage.Info
	for p, d := range m.objs {
		if path.Dir(p) == dir {
			out = append(out, storage.Info{Path: p, Name: path.Base(p), IsDir: d})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *memStore) remove(p string) error {
	m.removed = append(m.removed, p)
	delete(m.objs, p)
	return nil
}

func (m *memStore) Delete(_ context.Context, p string) error { return m.remove(p) }
func (m *memStore) Rmdir(_ context.Context, p string) error  { return m.remove(p) }

func TestCleanOnlyOldRunDirs(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	wd := "/vo/gridprobe"
	m := &memStore{objs: map[string]bool{
		wd + "/gp-20261120T000000Z-aaaaaaaaaaaa":          true, // 4.5 days: old
		wd + "/gp-20261120T000000Z-aaaaaaaaaaaa/f":        false,
		wd + "/gp-20261120T000000Z-aaaaaaaaaaaa/d":        true,
		wd + "/gp-20261120T000000Z-aaaaaaaaaaaa/d/g":      false,
		wd + "/gp-20261124T110000Z-bbbbbbbbbbbb":          true, // 1 h: too young
		wd + "/gp-20261124T110000Z-bbbbbbbbbbbb/f":        false,
		wd + "/gp-20261101T000000Z-cccccccccccc":          false, // a file with a run-id name
		wd + "/gp-notarun":                                true,
		wd + "/gp-20261101T000000Z-CCCCCCCCCCCC":          true, // upper-case hex: not ours
		wd + "/gp-20261101T000000Z-dddddddddddd-old":      true,
		wd + "/gp-20261101T000000Z-eeeeeeeeeeee":          true, // the current run (skipped)
		wd + "/gp-20261301T000000Z-ffffffffffff":          true, // month 13: no time, not ours
		wd + "/gp-20261101T000000Z-eeeeeeeeeeee/keep.dat": false,
	}}
	found, err := Clean(context.Background(), m, wd, 24*time.Hour, "gp-20261101T000000Z-eeeeeeeeeeee", now)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range found {
		ids = append(ids, l.RunID)
		if l.Err != nil {
			t.Errorf("%s: %v", l.RunID, l.Err)
		}
		want := l.RunID == "gp-20261120T000000Z-aaaaaaaaaaaa"
		if l.Removed != want {
			t.Errorf("%s removed=%v, want %v", l.RunID, l.Removed, want)
		}
	}
	if strings.Join(ids, " ") != "gp-20261101T000000Z-eeeeeeeeeeee gp-20261120T000000Z-aaaaaaaaaaaa gp-20261124T110000Z-bbbbbbbbbbbb" {
		t.Errorf("found %v", ids)
	}
	for _, p := range m.removed {
		if !strings.HasPrefix(p, wd+"/gp-20261120T000000Z-aaaaaaaaaaaa") {
			t.Errorf("removed %s outside the old run's area", p)
		}
	}
	if len(m.removed) != 4 {
		t.Errorf("removed %v", m.removed)
	}
	if _, err := Clean(context.Background(), m, wd, 0, "", now); err == nil {
		t.Error("Clean without a minimum age accepted")
	}
}

// A lying listing cannot steer the delete outside the run's area.
func TestCleanRefusesLyingListing(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	wd := "/vo/gridprobe"
	run := wd + "/gp-20261120T000000Z-aaaaaaaaaaaa"
	for _, name := range []string{"..", "../../reference.dat", ".", "", "a/../../x"} {
		m := &memStore{objs: map[string]bool{run: true}, lie: map[string][]storage.Info{run: {{Name: name}}}}
		found, err := Clean(context.Background(), m, wd, time.Hour, "", now)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 || found[0].Removed || found[0].Err == nil {
			t.Errorf("entry %q: %+v", name, found)
		}
		for _, p := range m.removed {
			t.Errorf("entry %q: removed %s", name, p)
		}
	}
}

func rnd() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// fill creates the layout of a crashed run, a young run and foreign
// entries below wd through st's protocol, and returns the names.
type layout struct{ old, young, notRun string }

func names(now time.Time) layout {
	return layout{
		old:    "gp-" + now.Add(-72*time.Hour).UTC().Format("20060102T150405Z") + "-" + rnd() + "0000",
		young:  "gp-" + now.Add(-time.Minute).UTC().Format("20060102T150405Z") + "-" + rnd() + "1111",
		notRun: "gp-notarun-" + rnd(),
	}
}

func checkClean(t *testing.T, st storage.Store, wd string, l layout) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	found, err := Clean(ctx, st, wd, 24*time.Hour, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Leftover{}
	for _, f := range found {
		got[f.RunID] = f
	}
	if o := got[l.old]; !o.Removed || o.Err != nil || o.Objects != 4 {
		t.Errorf("old run: %+v", o)
	}
	if y, ok := got[l.young]; !ok || y.Removed {
		t.Errorf("young run: %+v (found %v)", y, ok)
	}
	ents, err := st.List(ctx, wd)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range ents {
		have[e.Name] = true
	}
	if have[l.old] || !have[l.young] || !have[l.notRun] {
		t.Errorf("after cleaning %s holds %v", wd, ents)
	}
}

// TestCleanTestbed leaves the scratch dirs of a crashed run, a young run
// and a foreign directory on each storage protocol of the testbed, and
// cleans with the protocol's own store (as probe cleanup does).
func TestCleanTestbed(t *testing.T) {
	tb := faults.TestTestbed(t)
	for _, typ := range []string{webdav.Type, xrootd.Type} {
		t.Run(typ, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			st, closeFn, err := tb.OpenStore(ctx, typ)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(closeFn) // after removeAll (cleanups run last-in first-out)
			wd := faults.FaultsWriteRoot + "/leftovers-" + rnd()
			l := names(time.Now())
			t.Cleanup(func() { removeAll(t, st, wd) })
			for _, d := range []string{faults.FaultsWriteRoot, wd, wd + "/" + l.old, wd + "/" + l.old + "/d", wd + "/" + l.young, wd + "/" + l.notRun} {
				if err := st.Mkdir(ctx, d, false); err != nil && !storage.Is(err, storage.Exists) {
					t.Fatal(err)
				}
			}
			for _, p := range []string{l.old + "/f", l.old + "/d/g", l.young + "/f", l.notRun + "/f"} {
				if err := st.Write(ctx, wd+"/"+p, []byte("x"), storage.New); err != nil {
					t.Fatal(err)
				}
			}
			checkClean(t, st, wd, l)
		})
	}
}

// removeAll removes what a test left below dir, bottom-up (test code: the
// probe itself only deletes through the scratch guard).
func removeAll(t *testing.T, st storage.Store, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ents, err := st.List(ctx, dir)
	if err != nil {
		t.Errorf("listing %s: %v", dir, err)
		return
	}
	for _, e := range ents {
		if e.IsDir {
			removeAll(t, st, e.Path)
			continue
		}
		if err := st.Delete(ctx, e.Path); err != nil {
			t.Errorf("removing %s: %v", e.Path, err)
		}
	}
	if err := st.Rmdir(ctx, dir); err != nil {
		t.Errorf("removing %s: %v", dir, err)
	}
}
