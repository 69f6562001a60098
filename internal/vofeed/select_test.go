package vofeed

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/config"
)

func readFeed(t testing.TB, path string) *Feed {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, probs, err := ParseXML(path, bytes.NewReader(data))
	if err != nil || len(probs) > 0 {
		t.Fatalf("%s: %v %v", path, err, probs)
	}
	return f
}

func baseConfig(t testing.TB, text string) *config.Config {
	t.Helper()
	c, err := config.ParseBase("base.yaml", []byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSelectTestbed(t *testing.T) {
	sel, probs := Select(readFeed(t, "testdata/testbed.xml"), nil, Filter{}, baseConfig(t, "vo: testvo\n"))
	if len(probs) > 0 {
		t.Fatalf("problems %v", probs)
	}
	if len(sel.Sites) != 1 || sel.Services != 4 {
		t.Fatalf("selection %+v", sel)
	}
	s := sel.Sites[0]
	if s.Name != "T2_LOCAL_Testbed" || s.Groups != (config.Groups{Tier: "2", Country: "LOCAL"}) ||
		strings.Join(s.GridSites, ",") != "GRIDPROBE-TESTBED" {
		t.Errorf("site %+v", s)
	}
	var urls []string
	for _, sv := range s.Services {
		urls = append(urls, sv.Type+" "+sv.URL+" "+sv.Path+" "+sv.Queue)
	}
	want := "webdav https://localhost:18443 /testvo |xrootd root://localhost:11094 /testvo |" +
		"arc-ce https://localhost:18450/arex  grid|htcondor-ce condor://localhost:9619  "
	if strings.Join(urls, "|") != want {
		t.Errorf("services\n%s\nwant\n%s", strings.Join(urls, "|"), want)
	}
	var skipped []string
	for _, k := range sel.Skipped {
		skipped = append(skipped, k.Reason)
	}
	if strings.Join(skipped, "|") != "flavour SRM: SRM is not probed: it has no WLCG token profile (probe the site's WEBDAV endpoint)|"+
		"flavour PERFSONAR: a network measurement host, not a storage or compute service" {
		t.Errorf("skipped %q", skipped)
	}
}

func TestSelectFilters(t *testing.T) {
	feed := readFeed(t, "testdata/cms-200.xml")
	base := baseConfig(t, "vo: cms\n")
	all, probs := Select(feed, nil, Filter{}, base)
	if len(probs) > 0 || len(all.Sites) != 200 {
		t.Fatalf("%d sites, problems %v", len(all.Sites), probs)
	}
	count := func(f Filter) (sites, services int) {
		sel, _ := Select(feed, nil, f, base)
		return len(sel.Sites), sel.Services
	}
	t2, _ := count(Filter{Groups: []string{"Tier-2"}})
	t2b, _ := count(Filter{Groups: []string{"tier=2"}})
	us, _ := count(Filter{Groups: []string{"country=US"}})
	one, _ := count(Filter{Groups: []string{"T1_US_FNAL", "t0_ch_cern"}})
	if t2 != t2b || t2 < 100 || t2 > 160 || us < 5 || us > 15 || one != 2 {
		t.Errorf("Tier-2 %d, tier=2 %d, country=US %d, two by name %d", t2, t2b, us, one)
	}
	_, prod := count(Filter{})
	_, anyProd := count(Filter{Production: "any"})
	_, nonProd := count(Filter{Production: "false"})
	if prod+nonProd != anyProd || nonProd == 0 {
		t.Errorf("production %d + not %d != any %d", prod, nonProd, anyProd)
	}
	_, storage := count(Filter{Flavours: []string{"WEBDAV", "xrootd"}})
	sel, _ := Select(feed, nil, Filter{Flavours: []string{"WEBDAV", "xrootd"}}, base)
	for _, s := range sel.Sites {
		for _, sv := range s.Services {
			if sv.Type != "webdav" && sv.Type != "xrootd" {
				t.Fatalf("flavour filter let through %+v", sv)
			}
		}
	}
	if storage == 0 || storage >= prod {
		t.Errorf("storage %d of %d", storage, prod)
	}
}

// Duplicates: nothing is probed twice, and each duplicate says where the
// first one is.
func TestSelectDuplicates(t *testing.T) {
	in := `<root><vo>cms</vo>
<atp_site name="A-GRID">
  <service hostname="se.a.org" flavour="WEBDAV" endpoint="se.a.org:443"/>
  <service hostname="SE.A.org" flavour="WEBDAV" endpoint="SE.a.org:443"/>
  <service hostname="xrd1.a.org" flavour="XROOTD"/>
  <service hostname="xrd2.a.org" flavour="XROOTD" endpoint="xrd2.a.org:1095"/>
  <group name="T2_AA_Site" type="CMS_Site"/>
</atp_site>
<atp_site name="A-GRID">
  <service hostname="ce.a.org" flavour="HTCONDOR-CE"/>
  <group name="T2_AA_Site" type="CMS_Site"/>
</atp_site>
<atp_site name="B-GRID">
  <service hostname="se.a.org" flavour="WEBDAV" endpoint="se.a.org:443"/>
  <service hostname="ce.b.org" flavour="ARC-CE"/>
  <group name="T2_BB_Site" type="CMS_Site"/>
</atp_site>
<atp_site name="W-GRID">
  <service hostname="se.w.org" flavour="WEBDAV"/>
  <group name="T2_WW_Written" type="CMS_Site"/>
</atp_site>
<atp_site name="C-GRID">
  <service hostname="se.written.org" flavour="WEBDAV"/>
  <group name="T2_CC_Site" type="CMS_Site"/>
</atp_site>
</root>`
	feed, _, err := ParseXML("f.xml", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	base := baseConfig(t, `vo: cms
sites:
  - name: T2_WW_Written
    services: [{type: webdav, url: "https://se.w2.org"}]
  - name: T2_XX_Other
    services: [{type: webdav, url: "https://se.written.org"}]
`)
	sel, probs := Select(feed, nil, Filter{}, base)
	var got []string
	for _, p := range probs {
		got = append(got, p.String())
	}
	want := []string{
		"f.xml:4:3: /root/atp_site[1]/service[2]: webdav https://SE.a.org:443 is listed again (first at f.xml:3:3: /root/atp_site[1]/service[1], site T2_AA_Site); it is probed once, for T2_AA_Site",
		"f.xml:9:1: /root/atp_site[2]: atp_site A-GRID is listed again for T2_AA_Site (first at f.xml:2:1: /root/atp_site[1]); its services are merged, each endpoint once",
		"f.xml:14:3: /root/atp_site[3]/service[1]: webdav https://se.a.org:443 is listed again (first at f.xml:3:3: /root/atp_site[1]/service[1], site T2_AA_Site); it is probed once, for T2_AA_Site",
		"f.xml:18:1: /root/atp_site[4]: site T2_WW_Written is written in base.yaml (line 3); that one is used, the feed's left out",
		"f.xml:23:3: /root/atp_site[5]/service[1]: webdav https://se.written.org is listed again (first at base.yaml:6, site T2_XX_Other); it is probed once, for T2_XX_Other",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var names []string
	for _, s := range sel.Sites {
		for _, sv := range s.Services {
			names = append(names, s.Name+" "+sv.Type+" "+sv.URL+" "+sv.Name)
		}
	}
	wantNames := []string{
		"T2_AA_Site webdav https://se.a.org:443 ",
		"T2_AA_Site xrootd root://xrd1.a.org org.cms.SE-XRootD.xrd1.a.org",
		"T2_AA_Site xrootd root://xrd2.a.org:1095 org.cms.SE-XRootD.xrd2.a.org_1095",
		"T2_AA_Site htcondor-ce condor://ce.a.org ",
		"T2_BB_Site arc-ce https://ce.b.org/arex ",
	}
	if strings.Join(names, "\n") != strings.Join(wantNames, "\n") {
		t.Errorf("services:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(wantNames, "\n"))
	}
	if sel.Skipped[0].Reason != "site without a service to probe (after flavours and filters)" || sel.Skipped[0].Count != 1 {
		t.Errorf("skipped %+v", sel.Skipped)
	}
}

func TestSelectCRICGroups(t *testing.T) {
	data, err := os.ReadFile("testdata/cric-200.json")
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := ParseCRIC("cric-200.json", data, "cms")
	if err != nil {
		t.Fatal(err)
	}
	sel, _ := Select(readFeed(t, "testdata/cms-200.xml"), c, Filter{Groups: []string{"federation=DE-KIT"}}, baseConfig(t, "vo: cms\n"))
	if len(sel.Sites) != 1 || sel.Sites[0].Name != "T1_DE_KIT" || sel.Sites[0].Groups != (config.Groups{Tier: "1", Country: "DE", Federation: "DE-KIT"}) {
		t.Errorf("sites %+v", sel.Sites)
	}
}

// WriteSites and Nodes give the same sites once decoded.
func TestWriteSitesAndNodesAgree(t *testing.T) {
	base := baseConfig(t, "vo: cms\n")
	sel, _ := Select(readFeed(t, "testdata/cms-200.xml"), nil, Filter{}, base)
	var b bytes.Buffer
	if err := WriteSites(&b, sel); err != nil {
		t.Fatal(err)
	}
	written, err := config.Parse("imported.yaml", append([]byte("vo: cms\n"), b.Bytes()...))
	if err != nil {
		t.Fatalf("written sites do not parse: %v\n%s", err, b.String()[:2000])
	}
	merged, probs := Merge(base, sel)
	if len(probs) > 0 {
		t.Fatalf("merge: %v", probs)
	}
	if len(written.Sites) != 200 || len(merged.Sites) != 200 {
		t.Fatalf("%d written, %d merged", len(written.Sites), len(merged.Sites))
	}
	for i := range written.Sites {
		w, m := written.Sites[i], merged.Sites[i]
		if w.Name != m.Name || w.Groups != m.Groups || len(w.Services) != len(m.Services) {
			t.Fatalf("site %d: %+v\n%+v", i, w, m)
		}
		for j := range w.Services {
			if w.Services[j].URL.String() != m.Services[j].URL.String() || w.Services[j].Name != m.Services[j].Name ||
				w.Services[j].Queue != m.Services[j].Queue || w.Services[j].Path != m.Services[j].Path {
				t.Fatalf("site %s service %d: %+v\n%+v", w.Name, j, w.Services[j], m.Services[j])
			}
		}
	}
}
