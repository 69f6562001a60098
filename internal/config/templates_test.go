package config_test

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	. "github.com/gridprobe/gridprobe/internal/config"
	_ "github.com/gridprobe/gridprobe/probes/all"
)

const tmplBase = `vo: cms
defaults:
  templates:
    webdav:
      scope_base: /
      read_file: {path: "$(path)/store/test/$(vo)/ref.dat", adler32: "${REF_SUM:-0badcafe}", size: 1024}
      write_dir: $(path)/store/temp/$(site)
      foreign_file: /othervo/ref.dat
      audience: https://$(host)
    arc-ce:
      queue: $(site)-queue
      skip: [16tkn-access]
sites:
`

func TestTemplatesApplied(t *testing.T) {
	in := tmplBase + `  - name: T2_XX_A
    services:
      - {type: webdav, url: "https://se.a.org:1094", path: /eos/a}
      - type: arc-ce
        url: https://ce.a.org/arex
        queue: explicit
`
	c, err := ParseWith("sites.yaml", []byte(in), env(map[string]string{"REF_SUM": "1A2B3C4D"}))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Sites[0].Services[0]
	if w.ReadFile != (FileRef{Path: "/eos/a/store/test/cms/ref.dat", Adler32: "1a2b3c4d", Size: 1024}) ||
		w.WriteDir != "/eos/a/store/temp/T2_XX_A" || w.ScopeBase != "/" || w.ForeignFile != "/othervo/ref.dat" ||
		w.Audience != "https://se.a.org" || w.Path != "/eos/a" {
		t.Errorf("webdav %+v", w)
	}
	if w.From["read_file"] != "sites.yaml:6:18 (defaults.templates.webdav)" || w.From["url"] != "sites.yaml:16:24" ||
		w.From["path"] != "sites.yaml:16:54" || w.From["timeout"] != "" {
		t.Errorf("From %v", w.From)
	}
	a := c.Sites[0].Services[1]
	if a.Queue != "explicit" || strings.Join(a.Skip, ",") != "16tkn-access" || a.From["queue"] != "sites.yaml:19:9" ||
		a.From["skip"] != "sites.yaml:12:13 (defaults.templates.arc-ce)" {
		t.Errorf("arc %+v %v", a, a.From)
	}
	// The effective config carries the filled values: it parses back
	// without the templates to the same services.
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ParseWith("sites.yaml", out, env(nil))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := c2.Sites[0].Services[0]; got.ReadFile != w.ReadFile || got.WriteDir != w.WriteDir {
		t.Errorf("round trip %+v", got)
	}
}

// ${VAR} is expanded once, when the file is read; $(…) per service; the
// values either inserts are never expanded again.
func TestTemplatePrecedence(t *testing.T) {
	in := `vo: cms
defaults:
  templates:
    webdav:
      write_dir: ${BASE}$(path)x/$$(site)
sites:
  - name: T2_XX_A
    services: [{type: webdav, url: "https://se.a.org", path: "/p$$q"}]
`
	c, err := ParseWith("sites.yaml", []byte(in), env(map[string]string{"BASE": "/env/$(site)"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sites[0].Services[0].WriteDir; got != "/env/$(site)/p$qx/$(site)" {
		t.Fatalf("write_dir %q", got)
	}
}

func TestTemplateErrors(t *testing.T) {
	for _, tc := range []struct{ name, tmpl, svc, want string }{
		{"env-style placeholder", `write_dir: ${site}/x`, `{type: webdav, url: "https://a"}`,
			`sites.yaml:5:18: templates.webdav.write_dir: ${site} is an environment reference and site is not set; template placeholders are written $(site)`},
		{"unknown placeholder", `write_dir: /$(sitename)`, `{type: webdav, url: "https://a"}`,
			`sites.yaml:5:18: templates.webdav.write_dir: $(sitename) is not a placeholder (known: $(site), $(vo), $(host), $(endpoint), $(path))`},
		{"unclosed", `write_dir: /$(site`, `{type: webdav, url: "https://a"}`,
			`sites.yaml:5:18: templates.webdav.write_dir: "$(" without a closing ")"`},
		{"key for another type", `queue: q`, `{type: webdav, url: "https://a"}`,
			`sites.yaml:5:7: templates.webdav: queue is only for type arc-ce, htcondor-ce, not webdav`},
		{"empty path", `write_dir: $(path)/gridprobe`, `{type: webdav, url: "https://a"}`,
			`sites.yaml:5:18: templates.webdav.write_dir: $(path) is empty for this service (for the service at sites.yaml:9 of site "T2_XX_A"; set path: or write_dir: on the service)`},
		{"value invalid for a service", `write_dir: $(path)`, `{type: webdav, url: "https://a", path: /}`,
			`sites.yaml:5:18: write_dir: must not be / (the probe creates and deletes <write_dir>/<run id>/; use a directory of its own) (from defaults.templates.webdav, for the service at sites.yaml:9 of site "T2_XX_A")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := "vo: cms\ndefaults:\n  templates:\n    webdav:\n      " + tc.tmpl + "\nsites:\n  - name: T2_XX_A\n    services:\n      - " + tc.svc + "\n"
			_, err := ParseWith("sites.yaml", []byte(in), env(nil))
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
	_, err := ParseWith("sites.yaml", []byte("vo: cms\nsites:\n  - name: A\n    services: [{type: webdav, url: \"https://a\", write_dir: /$(site)}]\n"), env(nil))
	if err == nil || !strings.Contains(err.Error(), `a lone "$"`) {
		t.Errorf("$( outside a template: %v", err)
	}
}

func TestSitesFrom(t *testing.T) {
	c, err := ParseWith("sites.yaml", []byte(`vo: cms
sites_from:
  vofeed: https://cmssst.web.cern.ch/cmssst/vofeed/vofeed.xml
  cric: cric.json
  refresh: 3h
  groups: [Tier-2, country=US]
  flavours: [WEBDAV]
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	sf := c.SitesFrom
	if sf.VOFeed == "" || sf.CRIC != "cric.json" || sf.Refresh.Hours() != 3 || sf.MaxAge != DefaultFeedMaxAge ||
		sf.Production != "true" || strings.Join(sf.Groups, ",") != "Tier-2,country=US" || len(c.Sites) != 0 {
		t.Errorf("%+v", sf)
	}
	_, err = ParseWith("sites.yaml", []byte("vo: cms\nsites_from:\n  vofeed: http://x/feed.xml\n  production: maybe\n  groups: [colour=red]\n"), env(nil))
	want := `sites.yaml:3:11: vofeed "http://x/feed.xml": scheme must be https (the feed decides what is probed: it must come over a verified connection) for sites_from
sites.yaml:4:15: production: "maybe" must be true, false or any
sites.yaml:5:12: groups: "colour=red": a group filter is a feed group name or tier=…, country=…, federation=…`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

// Sites from a feed are decoded like written ones; a problem points into
// the feed (its file, line, column and element path) and leaves that site
// out, not the others.
func TestAppendSites(t *testing.T) {
	base, err := ParseWith("sites.yaml", []byte(tmplBase+"  - name: T2_XX_Written\n    services: [{type: webdav, url: \"https://w\", path: /w}]\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	origins := map[Position]Origin{}
	scalar := func(v string, line int, path string) *yaml.Node {
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Line: line, Column: 7}
		origins[Position{line, 7}] = Origin{File: "feed.xml", Note: path}
		return n
	}
	site := func(name, url string, line int) *yaml.Node {
		p := "/root/atp_site[" + name + "]"
		svc := &yaml.Node{Kind: yaml.MappingNode, Line: line + 1, Column: 7, Content: []*yaml.Node{
			scalar("type", line+1, p+"/service[1]"), scalar("webdav", line+1, p+"/service[1]"),
			scalar("url", line+1, p+"/service[1]"), scalar(url, line+1, p+"/service[1]"),
			scalar("path", line+1, p+"/service[1]"), scalar("/store", line+1, p+"/service[1]")}}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Line: line, Column: 4, Content: []*yaml.Node{svc}}
		m := &yaml.Node{Kind: yaml.MappingNode, Line: line, Column: 4, Content: []*yaml.Node{
			scalar("name", line, p), scalar(name, line, p), scalar("services", line, p), seq}}
		return m
	}
	c, errs := AppendSites(base, []*yaml.Node{site("T2_XX_Good", "https://good:443", 10), site("T2_XX_Bad", "ftp://bad", 20),
		site("T2_XX_Written", "https://other", 30)}, origins)
	want := `feed.xml:21:7: url "ftp://bad": scheme must be https or davs for type webdav (/root/atp_site[T2_XX_Bad]/service[1])
feed.xml:30:7: site "T2_XX_Written" is also in sites.yaml (line 14); that one is used (/root/atp_site[T2_XX_Written])`
	if errs.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", errs, want)
	}
	if len(c.Sites) != 2 || len(base.Sites) != 1 {
		t.Fatalf("%d sites (base %d)", len(c.Sites), len(base.Sites))
	}
	g := c.Sites[1].Services[0]
	if c.Sites[1].Name != "T2_XX_Good" || g.WriteDir != "/store/store/temp/T2_XX_Good" || g.Audience != "https://good" ||
		g.From["url"] != "feed.xml:11:7 /root/atp_site[T2_XX_Good]/service[1]" ||
		g.From["write_dir"] != "sites.yaml:7:18 (defaults.templates.webdav)" {
		t.Errorf("service %+v %v", g, g.From)
	}
}
