package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
)

func TestFloorCountsChecksAndCleanupOncePerService(t *testing.T) {
	rs := []engine.Result{
		{Site: "A", Service: "x", Protocol: "xrootd", Check: "1connection"},
		{Site: "A", Service: "x", Protocol: "xrootd", Check: "3version"},
		{Site: "A", Service: "x", Protocol: "xrootd", Check: engine.SummaryID},
		{Site: "A", Service: "w", Protocol: "webdav", Check: "2ssl"},
		{Site: "A", Service: "w", Protocol: "webdav", Check: "99new-check"},
	}
	f := FloorOf(rs)
	x := MinRoundTrips["xrootd"]
	w := MinRoundTrips["webdav"]
	if want := x["1connection"] + x["3version"] + x[cleanupID]; f.PerService["xrootd"] != want {
		t.Errorf("xrootd %d, want %d", f.PerService["xrootd"], want)
	}
	if want := w["2ssl"] + w[cleanupID]; f.PerService["webdav"] != want {
		t.Errorf("webdav %d, want %d", f.PerService["webdav"], want)
	}
	if len(f.Uncounted) != 1 || f.Uncounted[0] != "webdav/99new-check" {
		t.Errorf("uncounted %v", f.Uncounted)
	}
	if got := f.FloorTime(40 * time.Millisecond); got != time.Duration(max(f.PerService["xrootd"], f.PerService["webdav"]))*40*time.Millisecond {
		t.Errorf("floor time %v", got)
	}
	// the session arithmetic the counts rest on
	if rtXrdGSI != 6 || rtXrdZTN != 5 || rtHTTPS != 2 {
		t.Errorf("session costs changed: gsi %d ztn %d https %d", rtXrdGSI, rtXrdZTN, rtHTTPS)
	}
}

func TestSitesYAMLLoadsThroughTheConfigParser(t *testing.T) {
	for k, v := range map[string]string{
		"X509_USER_PROXY": "/p", "GRIDPROBE_FOREIGN_PROXY": "/f", "GRIDPROBE_NOVOMS_PROXY": "/n", "X509_CERT_DIR": "/c",
		"X509_VOMS_DIR": "/v", "GRIDPROBE_ISSUER": "https://localhost:1", "GRIDPROBE_CLIENT_ID": "id",
		"GRIDPROBE_CLIENT_SECRET_FILE": "/s", "GRIDPROBE_ISSUER_CA": "/ca", "GRIDPROBE_REF_ADLER32": "6dc53b34",
		"GRIDPROBE_REF_SIZE": "1048576",
	} {
		t.Setenv(k, v)
	}
	text := SitesYAML([]Endpoint{{WebDAV: "https://localhost:1001", XRootD: "roots://localhost:1002"}, {XRootD: "roots://localhost:1003"}},
		SitesOptions{Concurrency: 7, WebDAVAudience: "https://localhost:18443", XRootDAudience: "roots://localhost:11094", Federation: "root://localhost:11095"})
	cfg, _, err := LoadSites(t.TempDir(), "s.yaml", text)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sites) != 2 || len(cfg.Sites[0].Services) != 2 || len(cfg.Sites[1].Services) != 1 || cfg.Defaults.Concurrency != 7 {
		t.Fatalf("parsed %+v", cfg.Sites)
	}
	x := cfg.Sites[0].Services[1]
	if x.Audience != "roots://localhost:11094" || x.Federation != "root://localhost:11095" || x.RawURL != "roots://localhost:1002" {
		t.Errorf("xrootd service %+v", x)
	}
	if cfg.Sites[1].Name != "BENCH_00002" {
		t.Errorf("name %q", cfg.Sites[1].Name)
	}
}

func TestGfalOpsStayInTheScratchArea(t *testing.T) {
	for _, proto := range []string{"webdav", "xrootd"} {
		ops := GfalOps(GfalTarget{Protocol: proto, Base: "https://h:1", Audience: "https://h:1", Federation: "root://r:2/",
			Proxy: "/p", ForeignProxy: "/f", NoVOMSProxy: "/n", RunID: "gp-20260101T000000Z-000000000000", LocalFile: "/l", LocalDir: "/d"})
		if len(ops) < 30 {
			t.Errorf("%s: only %d operations", proto, len(ops))
		}
		for _, op := range ops {
			if op.Args[0] != "gfal-rm" {
				continue
			}
			target := op.Args[len(op.Args)-1]
			if !strings.HasPrefix(target, "https://h:1/testvo/gridprobe/gp-20260101T000000Z-000000000000") {
				t.Errorf("%s %s: gfal-rm outside the scratch area: %s", proto, op.Check, target)
			}
		}
		if last := ops[len(ops)-1]; last.Check != "cleanup" {
			t.Errorf("%s: last operation %v, want the scratch cleanup", proto, last)
		}
	}
}

func TestReplaceGeneratedKeepsTheAnalysis(t *testing.T) {
	old := "# title\n\nintro\n" + BeginGenerated + "\nold table\n" + EndGenerated + "\n\n## Analysis\n\nkept\n"
	got := ReplaceGenerated(old, "new table\n")
	want := "# title\n\nintro\n" + BeginGenerated + "\nnew table\n" + EndGenerated + "\n\n## Analysis\n\nkept\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if fresh := ReplaceGenerated("no markers\n", "t\n"); !strings.Contains(fresh, BeginGenerated+"\nt\n"+EndGenerated) || strings.Contains(fresh, "no markers") {
		t.Errorf("fresh file %q", fresh)
	}
}
