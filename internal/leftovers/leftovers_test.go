package leftovers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/faults"
	"github.com/gridprobe/gridprobe/probes/xrootd/gsi"
	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
)

// memStore is an in-memory Store for edge cases.
type memStore struct {
	objs    map[string]bool // path → isDir
	removed []string
	lie     map[string][]Entry // dir → listing to return instead
}

func (m *memStore) List(_ context.Context, dir string) ([]Entry, error) {
	if l, ok := m.lie[dir]; ok {
		return l, nil
	}
	var out []Entry
	for p, d := range m.objs {
		if path.Dir(p) == dir {
			out = append(out, Entry{path.Base(p), d})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *memStore) Remove(_ context.Context, p string, _ bool) error {
	m.removed = append(m.removed, p)
	delete(m.objs, p)
	return nil
}

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
		m := &memStore{objs: map[string]bool{run: true}, lie: map[string][]Entry{run: {{Name: name}}}}
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

func testbed(t *testing.T) *faults.Testbed {
	t.Helper()
	root, err := faults.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	tb, err := faults.LoadTestbed(root)
	if err != nil {
		if errors.Is(err, faults.ErrNoTestbed) && os.Getenv("GRIDPROBE_NO_TESTBED") == "1" {
			t.Skipf("GRIDPROBE_NO_TESTBED=1: %v", err)
		}
		t.Fatalf("%v (start it with testbed/up.sh, or set GRIDPROBE_NO_TESTBED=1 to skip)", err)
	}
	return tb
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

func checkClean(t *testing.T, st Store, wd string, l layout) {
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

func TestCleanWebDAVTestbed(t *testing.T) {
	tb := testbed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wd := faults.FaultsWriteRoot + "/leftovers-" + rnd()
	if err := tb.MkdirWebDAV(ctx, wd); err != nil {
		t.Fatal(err)
	}
	base := tb.Env["GRIDPROBE_WEBDAV_URL"]
	l := names(time.Now())
	t.Cleanup(func() {
		// Remove what the test left with the proxy, bottom-up.
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, p := range []string{l.young + "/f", l.young, l.notRun + "/f", l.notRun, ""} {
			tb.Curl(c, "-X", "DELETE", base+strings.TrimSuffix(wd+"/"+p, "/"))
		}
	})
	for _, p := range []string{l.old, l.old + "/d", l.young, l.notRun} {
		if err := tb.MkdirLeaf(ctx, wd+"/"+p); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{l.old + "/f", l.old + "/d/g", l.young + "/f", l.notRun + "/f"} {
		if _, err := tb.Curl(ctx, "-f", "-T", "/dev/null", base+wd+"/"+p); err != nil {
			t.Fatal(err)
		}
	}
	proxy, err := cred.LoadProxy(tb.Env["X509_USER_PROXY"])
	if err != nil {
		t.Fatal(err)
	}
	ca, err := cred.LoadCAPool(tb.Env["X509_CERT_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.TLSConfig(strings.TrimPrefix(base, "https://"), &proxy.Cert)}, Timeout: 30 * time.Second}
	st, err := NewWebDAV(base, hc)
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, st, wd, l)
}

func TestCleanXRootDTestbed(t *testing.T) {
	tb := testbed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ca, err := cred.LoadCAPool(tb.Env["X509_CERT_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	u := tb.Env["GRIDPROBE_XROOTD_URL"]
	s, err := xrd.Dial(ctx, u, xrd.Options{TLSConfig: ca.TLSConfig(strings.TrimPrefix(u, "roots://"), nil),
		Auth: func() []secproto.Authenticator {
			return []secproto.Authenticator{gsi.New(gsi.Config{ProxyFile: tb.Env["X509_USER_PROXY"], CADir: tb.Env["X509_CERT_DIR"]})}
		}})
	if err != nil {
		t.Fatal(err)
	}
	wd := faults.FaultsWriteRoot + "/leftovers-" + rnd()
	l := names(time.Now())
	for _, d := range []string{wd + "/" + l.old + "/d", wd + "/" + l.young, wd + "/" + l.notRun} {
		if err := s.Mkdir(ctx, d, 0o755, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{l.old + "/f", l.old + "/d/g", l.young + "/f", l.notRun + "/f"} {
		if _, err := s.WriteFile(ctx, wd+"/"+p, []byte("x"), xrd.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		defer s.Close()
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, p := range []string{l.young + "/f", l.notRun + "/f"} {
			s.Rm(c, wd+"/"+p)
		}
		for _, d := range []string{l.young, l.notRun, ""} {
			s.Rmdir(c, strings.TrimSuffix(wd+"/"+d, "/"))
		}
	})
	checkClean(t, NewXRootD(s), wd, l)
}
