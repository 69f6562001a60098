package vofeed

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func parseXMLString(t *testing.T, s string) (*Feed, []Problem, error) {
	t.Helper()
	return ParseXML("feed.xml", strings.NewReader(s))
}

func TestParseTestbedFeed(t *testing.T) {
	f, err := os.Open("testdata/testbed.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	feed, probs, err := ParseXML("testbed.xml", f)
	if err != nil || len(probs) > 0 {
		t.Fatalf("err %v, problems %v", err, probs)
	}
	if feed.VO != "testvo" || !feed.LastUpdate.Equal(time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)) || len(feed.Sites) != 1 {
		t.Fatalf("feed %+v", feed)
	}
	s := feed.Sites[0]
	if s.Name != "GRIDPROBE-TESTBED" || len(s.Services) != 6 || len(s.Groups) != 5 {
		t.Fatalf("site %+v", s)
	}
	w := s.Services[0]
	if w.Host != "localhost" || w.Flavour != "WEBDAV" || w.Endpoint != "localhost:18443" || !w.Production ||
		len(w.Paths) != 2 || w.Paths[1] != (SEPath{ID: "WRDEL3PCP", Path: "/testvo"}) ||
		w.Where.Path != "/root/atp_site[1]/service[1]" || w.Where.Line != 13 {
		t.Errorf("webdav %+v", w)
	}
	if a := s.Services[2]; a.Flavour != "ARC-CE" || len(a.Queues) != 1 || a.Queues[0].Queue != "grid" {
		t.Errorf("arc %+v", a)
	}
	if g := s.Groups[1]; g != (Group{Name: "T2_LOCAL_Testbed", Type: "TESTVO_Site"}) {
		t.Errorf("group %+v", g)
	}
}

func TestParseGeneratedFeed(t *testing.T) {
	data, err := os.ReadFile("testdata/cms-200.xml")
	if err != nil {
		t.Fatal(err)
	}
	feed, probs, err := ParseXML("cms-200.xml", strings.NewReader(string(data)))
	if err != nil || len(probs) > 0 {
		t.Fatalf("err %v, problems %v", err, probs)
	}
	if len(feed.Sites) != 200 || feed.VO != "cms" {
		t.Fatalf("%d sites, vo %q", len(feed.Sites), feed.VO)
	}
}

func TestXMLErrorsNameThePlace(t *testing.T) {
	head := "<root>\n<vo>cms</vo>\n<atp_site name=\"A\">\n<service hostname=\"h1\" flavour=\"WEBDAV\"/>\n"
	for _, tc := range []struct{ name, in, want string }{
		{"truncated inside a service", head + "<service hostname=\"h2\" flavour=\"XROOTD\">\n<se_resource path=\"/x\"/>",
			"feed.xml:6:25: /root/atp_site[1]/service[2]: truncated: <service> (line 5) is not closed"},
		{"truncated after a site", head + "</atp_site>\n<atp_site name=\"B\">",
			"feed.xml:6:20: /root/atp_site[2]: truncated: <atp_site> (line 6) is not closed"},
		{"bad attribute", head + "<service hostname=h3 flavour=\"X\"/>\n</atp_site></root>",
			"feed.xml:5: /root/atp_site[1]: malformed XML: unquoted or missing attribute value in element"},
		{"mismatched end", head + "</service></atp_site></root>",
			"feed.xml:5: /root/atp_site[1]: malformed XML: element <atp_site> closed by </service>"},
		{"not a feed", "<html><body/></html>", "feed.xml:1:1: the document element is <html>, not <root>: not an ETF VO feed"},
		{"empty", "  ", "feed.xml:1:3: empty document: no <root> element (is this a VO feed?)"},
		{"doctype", "<!DOCTYPE root [<!ENTITY a \"b\">]><root/>", "feed.xml:1:1: a DOCTYPE is not allowed in a VO feed"},
		{"second root", "<root/><root/>", "feed.xml:1:8: <root> after </root>: one feed per document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseXMLString(t, tc.in)
			var e *Error
			if !errors.As(err, &e) || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestXMLEntriesLeftOut(t *testing.T) {
	in := `<root><vo>cms</vo><last_update>yesterday</last_update>
<atp_site name="A">
  <service flavour="WEBDAV"/>
  <service hostname="h" />
  <service endpoint="EP.example.org:1094" flavour="XROOTD" production_status="maybe"/>
  <service hostname="h2" flavour="WEBDAV" endpoint="h2:443" production_status="FALSE"/>
</atp_site>
<atp_site><service hostname="x" flavour="WEBDAV"/></atp_site>
</root>`
	feed, probs, err := parseXMLString(t, in)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range probs {
		got = append(got, p.String())
	}
	want := []string{
		`feed.xml:1:19: /root/last_update[1]: last_update "yesterday" is not YYYY-MM-DDThh:mm:ssZ; ignored`,
		`feed.xml:3:3: /root/atp_site[1]/service[1]: service without hostname or endpoint: nothing to probe; left out`,
		`feed.xml:4:3: /root/atp_site[1]/service[2]: service h without a flavour: left out`,
		`feed.xml:5:3: /root/atp_site[1]/service[3]: production_status "maybe" is neither true nor false; taken as production (as ETF does)`,
		`feed.xml:8:1: /root/atp_site[2]: atp_site without a name: left out (1 services)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(feed.Sites) != 1 || len(feed.Sites[0].Services) != 2 {
		t.Fatalf("sites %+v", feed.Sites)
	}
	if s := feed.Sites[0].Services[0]; s.Host != "ep.example.org" || !s.Production {
		t.Errorf("host from endpoint: %+v", s)
	}
	if s := feed.Sites[0].Services[1]; s.Production {
		t.Errorf("production_status FALSE: %+v", s)
	}
}

func TestXMLLatin1(t *testing.T) {
	in := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><root><vo>cms</vo><atp_site name=\"Z\xfcrich\"><service hostname=\"h\" flavour=\"WEBDAV\"/></atp_site></root>"
	feed, _, err := parseXMLString(t, in)
	if err != nil || feed.Sites[0].Name != "Zürich" {
		t.Fatalf("err %v, feed %+v", err, feed)
	}
	_, _, err = parseXMLString(t, `<?xml version="1.0" encoding="EBCDIC"?><root/>`)
	if err == nil || !strings.Contains(err.Error(), `encoding "EBCDIC" is not supported`) {
		t.Errorf("EBCDIC: %v", err)
	}
}
