package serve

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// feedXML lists n sites, each with one WebDAV door at endpoint (a
// host:port), plus extras (raw <atp_site> elements).
func feedXML(n int, endpoint, extras string) string {
	var b strings.Builder
	b.WriteString("<root><vo>testvo</vo>\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `<atp_site name="GRID-%d"><service hostname="127.0.0.1" flavour="WEBDAV" endpoint="https://%s/s%d"><se_resource id="RD" path="/s%d"/></service>`+
			`<group name="T2_FD_Site%d" type="TESTVO_Site"/><group name="Tier-2" type="TESTVO_Tier"/></atp_site>`+"\n", i, endpoint, i, i, i)
	}
	b.WriteString(extras + "</root>\n")
	return b.String()
}

type feedTest struct {
	s        *Server
	dir      string
	now      time.Time
	log      *bytes.Buffer
	endpoint string
}

func newFeedTest(t *testing.T, sites int) *feedTest {
	t.Helper()
	u, err := url.Parse(endpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	ft := &feedTest{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), log: &bytes.Buffer{}, endpoint: u.Host}
	cfg := `vo: testvo
defaults: {timeout: 5s, budget: 20s}
sites_from: {vofeed: feed.xml, cache: cache, refresh: 1h, max_age: 3h}
sites:
  - name: T2_WR_Written
    services: [{type: webdav, url: "https://` + u.Host + `/written"}]
`
	ft.dir = t.TempDir()
	writeConfig(t, filepath.Join(ft.dir, "sites.yaml"), cfg)
	ft.writeFeed(t, feedXML(sites, u.Host, ""))
	s, err := New(Options{ConfigPath: filepath.Join(ft.dir, "sites.yaml"), Log: NewLogger(ft.log, 0),
		Now: func() time.Time { return ft.now }})
	if err != nil {
		t.Fatalf("New: %v\n%s", err, ft.log)
	}
	ft.s = s
	return ft
}

func (ft *feedTest) writeFeed(t *testing.T, body string) {
	t.Helper()
	writeConfig(t, filepath.Join(ft.dir, "feed.xml"), body)
}

func (ft *feedTest) services() int {
	ft.s.mu.RLock()
	defer ft.s.mu.RUnlock()
	return len(ft.s.order)
}

func (ft *feedTest) metric(t *testing.T, line string) bool {
	t.Helper()
	_, body, _ := get(t, ft.s.Handler(), "/metrics")
	return strings.Contains(body, line)
}

func TestFeedSitesAndMetrics(t *testing.T) {
	ft := newFeedTest(t, 3)
	if n := ft.services(); n != 4 {
		t.Fatalf("%d services, want 1 written + 3 from the feed", n)
	}
	for _, want := range []string{
		`gridprobe_site_info{country="FD",federation="",site="T2_FD_Site0",tier="2",vo="testvo"} 1`,
		`gridprobe_site_info{country="WR",federation="",site="T2_WR_Written",tier="2",vo="testvo"} 1`,
		`gridprobe_feed_sites 3`, `gridprobe_feed_last_refresh_successful 1`, `gridprobe_feed_age_seconds 0`,
		`gridprobe_feed_max_age_seconds 10800`,
	} {
		if !ft.metric(t, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	_, body, _ := get(t, ft.s.Handler(), "/?tier=2&country=FD")
	if !strings.Contains(body, `data-site="T2_FD_Site1"`) || strings.Contains(body, `data-site="T2_WR_Written"`) ||
		!strings.Contains(body, "3 sites from [feed.xml], read 0s ago") || !strings.Contains(body, `<select name="country"`) {
		t.Errorf("status page with group filters:\n%s", body)
	}
}

// A feed that breaks keeps the sites in use; a feed that suddenly lists no
// site or ten times more is refused; a good one is applied.
func TestFeedRefreshKeepsTheLastGoodFeed(t *testing.T) {
	ft := newFeedTest(t, 3)
	ctx := context.Background()
	for _, tc := range []struct{ name, feed, want string }{
		// (the column of the cut depends on the length of the test server's port)
		{"truncated", feedXML(3, ft.endpoint, "")[:300], ": /root/atp_site[2]: truncated: <atp_site> (line 3) is not closed"},
		{"no sites", feedXML(0, ft.endpoint, ""), "no sites selected; keeping the previous configuration"},
		{"ten times more", feedXML(30, ft.endpoint, ""), "the feed now lists 30 sites, ten times or more the 3 before: refused"},
		{"not a feed", "<html/>", "not an ETF VO feed"},
	} {
		ft.writeFeed(t, tc.feed)
		err := ft.s.RefreshFeed(ctx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if n := ft.services(); n != 4 {
			t.Errorf("%s: %d services after a refused refresh", tc.name, n)
		}
		if !ft.metric(t, "gridprobe_feed_last_refresh_successful 0") {
			t.Errorf("%s: refresh not reported as failed", tc.name)
		}
	}
	// Stale: the feed in use was read more than max_age ago.
	ft.now = ft.now.Add(4 * time.Hour)
	_ = ft.s.RefreshFeed(ctx)
	if !strings.Contains(ft.log.String(), "WARNING sites_from: the feed in use is stale") || !ft.metric(t, "gridprobe_feed_age_seconds 14400") {
		t.Errorf("no stale warning:\n%s", ft.log)
	}
	_, body, _ := get(t, ft.s.Handler(), "/")
	if !strings.Contains(body, `data-feed-stale="true"`) || !strings.Contains(body, "WARNING: stale (older than 3h00m)") {
		t.Errorf("status page shows no stale feed")
	}
	// A duplicate endpoint and a flavour gridprobe does not probe: reported, the rest applied, nothing twice.
	extras := fmt.Sprintf(`<atp_site name="GRID-X"><service hostname="127.0.0.1" flavour="WEBDAV" endpoint="https://%s/s0"/>`+
		`<service hostname="h" flavour="GRIDFTP"/><service hostname="h" flavour="MAGIC"/><group name="T2_FD_Other" type="TESTVO_Site"/></atp_site>`, ft.endpoint)
	ft.writeFeed(t, feedXML(5, ft.endpoint, extras))
	if err := ft.s.RefreshFeed(ctx); err != nil {
		t.Fatal(err)
	}
	if n := ft.services(); n != 6 || !ft.metric(t, "gridprobe_feed_sites 5") || !ft.metric(t, "gridprobe_feed_age_seconds 0") {
		t.Errorf("%d services after a good refresh", n)
	}
	if !strings.Contains(ft.log.String(), "is listed again (first at feed.xml:2:") {
		t.Errorf("duplicate not logged:\n%s", ft.log)
	}
}

// At start an unreadable source is taken from the cache; a reload with an
// unchanged sites_from: keeps the sources in use.
func TestFeedCacheAndReload(t *testing.T) {
	ft := newFeedTest(t, 2)
	if err := os.Remove(filepath.Join(ft.dir, "feed.xml")); err != nil {
		t.Fatal(err)
	}
	if err := ft.s.Reload(); err != nil || ft.services() != 3 {
		t.Fatalf("reload without the feed: %v, %d services", err, ft.services())
	}
	s2, err := New(Options{ConfigPath: filepath.Join(ft.dir, "sites.yaml"), Log: NewLogger(ft.log, 0)})
	if err != nil {
		t.Fatalf("start from the cache: %v", err)
	}
	s2.mu.RLock()
	n := len(s2.order)
	s2.mu.RUnlock()
	if n != 3 || !strings.Contains(ft.log.String(), "using its cached copy") {
		t.Errorf("%d services from the cache\n%s", n, ft.log)
	}
	if err := os.RemoveAll(filepath.Join(ft.dir, "cache")); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{ConfigPath: filepath.Join(ft.dir, "sites.yaml"), Log: NewLogger(ft.log, 0)}); err == nil ||
		!strings.Contains(err.Error(), "and no cached copy in") {
		t.Errorf("start without feed and cache: %v", err)
	}
}
