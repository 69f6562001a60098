package bench

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/round"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
)

// Every check of both catalogues has a count, and nothing else does.
// TestEveryCheckCounted: every check of the bench's storage catalogues
// (taken from the probes, as P2 runs them: no federation) has a count, and
// nothing else has one.
func TestEveryCheckCounted(t *testing.T) {
	for k, v := range map[string]string{"GRIDPROBE_REF_ADLER32": "6dc53b34", "GRIDPROBE_REF_SIZE": "1048576",
		"GRIDPROBE_ISSUER": "https://issuer.example", "GRIDPROBE_CLIENT_ID": "c", "GRIDPROBE_CLIENT_SECRET_FILE": "/s",
		"GRIDPROBE_ISSUER_CA": "/ca", "GRIDPROBE_FOREIGN_PROXY": "/f", "GRIDPROBE_NOVOMS_PROXY": "/n",
		"X509_CERT_DIR": "/c", "X509_USER_PROXY": "/p", "X509_VOMS_DIR": "/v"} {
		t.Setenv(k, v) // the sites.yaml references them; nothing is loaded
	}
	yml := SitesYAML([]Endpoint{{WebDAV: "https://se.example:443", XRootD: "roots://se.example:1094"}}, SitesOptions{Concurrency: 1})
	cfg, _, err := LoadSites(t.TempDir(), "count.yaml", yml)
	if err != nil {
		t.Fatal(err)
	}
	sites, err := round.Catalogue(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range sites[0].Services {
		want := append(engine.CheckIDs(svc)[:len(svc.Checks)], cleanupID)
		got := MinRoundTrips[svc.Protocol]
		if len(got) != len(want) {
			t.Errorf("%s: %d counts, want %d (%v)", svc.Protocol, len(got), len(want), want)
		}
		for _, id := range want {
			if n, ok := got[id]; !ok || n <= 0 {
				t.Errorf("%s/%s: count %d (present %v)", svc.Protocol, id, n, ok)
			}
		}
	}
}

func testbedLinks(t *testing.T, oneWay time.Duration) (map[string]*Link, *Endpoint, SitesOptions) {
	t.Helper()
	w, err1 := url.Parse(os.Getenv("GRIDPROBE_WEBDAV_URL"))
	x, err2 := url.Parse(os.Getenv("GRIDPROBE_XROOTD_URL"))
	if err1 != nil || err2 != nil || w.Host == "" || x.Host == "" {
		t.Fatalf("bad testbed URLs %q %q", os.Getenv("GRIDPROBE_WEBDAV_URL"), os.Getenv("GRIDPROBE_XROOTD_URL"))
	}
	o := SitesOptions{Concurrency: 1, WebDAVAudience: w.Scheme + "://" + w.Host, XRootDAudience: x.Scheme + "://" + x.Host}
	if oneWay == 0 {
		return nil, &Endpoint{WebDAV: w.String(), XRootD: x.String()}, o
	}
	links := map[string]*Link{}
	for proto, port := range map[string]string{"webdav": w.Port(), "xrootd": x.Port()} {
		l, err := NewLink("127.0.0.1:"+port, oneWay)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		links[proto] = l
	}
	return links, &Endpoint{
		WebDAV: fmt.Sprintf("https://localhost:%d", links["webdav"].Port()),
		XRootD: fmt.Sprintf("roots://localhost:%d", links["xrootd"].Port()),
	}, o
}

func traceOnce(t *testing.T, oneWay time.Duration) []CheckTrace {
	t.Helper()
	links, ep, o := testbedLinks(t, oneWay)
	cfg, _, err := LoadSites(t.TempDir(), "trace.yaml", SitesYAML([]Endpoint{*ep}, o))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tr, err := TraceRound(ctx, cfg, links)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestCountsAgainstTestbed runs the check lists through 20 ms links to the
// real testbed SE and holds every count against what the link saw: a
// count above the round trips the probe really waited for is wrong. With
// -v it prints, per check, the round trips counted, seen by the link, and
// measured in wall time with the same check's time off the wire (a run
// without links) taken out. Needs the testbed (make testbed-up).
func TestCountsAgainstTestbed(t *testing.T) {
	testbedenv.Setenv(t, "GRIDPROBE_WEBDAV_URL", "GRIDPROBE_XROOTD_URL")
	if testing.Short() {
		t.Skip("-short: the testbed trace takes about 20 s")
	}
	const oneWay = 20 * time.Millisecond
	rtt := 2 * oneWay
	const runs = 2
	type key struct{ proto, id string }
	direct := map[key]time.Duration{}
	for _, c := range traceOnce(t, 0) {
		direct[key{c.Protocol, c.Check}] = c.Duration
	}
	linked := map[key][]CheckTrace{}
	var order []key
	for i := 0; i < runs; i++ {
		for _, c := range traceOnce(t, oneWay) {
			k := key{c.Protocol, c.Check}
			if i == 0 {
				order = append(order, k)
			}
			linked[k] = append(linked[k], c)
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].proto < order[j].proto })
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %-16s %-8s %7s %6s %5s %9s %9s\n", "proto", "check", "state", "counted", "link", "conns", "wall/RTT", "wire/RTT")
	for _, k := range order {
		cs := linked[k]
		var d time.Duration
		minRT := cs[0].RoundTrips
		for _, c := range cs {
			d += c.Duration
			minRT = min(minRT, c.RoundTrips)
		}
		d /= time.Duration(len(cs))
		counted, ok := MinRoundTrips[k.proto][k.id]
		fmt.Fprintf(&b, "%-8s %-16s %-8s %7d %6d %5d %9.1f %9.1f  %s\n", k.proto, k.id, cs[0].State, counted, cs[0].RoundTrips, cs[0].Conns,
			float64(d)/float64(rtt), float64(d-direct[k])/float64(rtt), strings.Join(cs[0].Events, " "))
		switch {
		case !ok:
			t.Errorf("%s/%s has no count in MinRoundTrips", k.proto, k.id)
		case cs[0].State != engine.OK && k.id != cleanupID:
			// A failing check stops early: its count is for the full list.
		case int64(counted) > minRT:
			t.Errorf("%s/%s: counted %d round trips, the link saw the probe wait for only %d", k.proto, k.id, counted, minRT)
		}
	}
	t.Logf("per check, RTT %v, %d runs (link: client turns + TCP handshakes of the first run; wire: wall minus the run without links):\n%s", rtt, runs, b.String())
}

// TestFloorOf: a service's cleanups are counted once, in PerService and
// Cleanups, and ChecksOnly leaves them out; summaries are not counted.
func TestFloorOf(t *testing.T) {
	rs := []engine.Result{
		{Site: "S", Service: "x", Protocol: "xrootd", Check: "3version"},
		{Site: "S", Service: "x", Protocol: "xrootd", Check: "14tkn-read"},
		{Site: "S", Service: "x", Protocol: "xrootd", Check: engine.SummaryID},
	}
	f := FloorOf(rs)
	c := MinRoundTrips["xrootd"]
	checks := c["3version"] + c["14tkn-read"]
	if f.PerService["xrootd"] != checks+c[cleanupID] || f.Cleanups["xrootd"] != c[cleanupID] || f.ChecksOnly("xrootd") != checks {
		t.Errorf("floor %+v: want %d with %d of cleanups", f, checks+c[cleanupID], c[cleanupID])
	}
	if f.CriticalPath() != checks+c[cleanupID] || len(f.Uncounted) != 0 {
		t.Errorf("critical path %d, uncounted %v", f.CriticalPath(), f.Uncounted)
	}
}
