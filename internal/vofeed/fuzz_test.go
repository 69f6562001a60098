package vofeed

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gridprobe/gridprobe/internal/config"
)

// checkSelection: whatever a parser accepted, selecting and writing it
// never panics, the written sites.yaml is well-formed YAML whose site
// count matches, and every kept service has a type and a url.
func checkSelection(t *testing.T, feed *Feed, cric *CRIC) {
	base, err := config.ParseBase("base.yaml", []byte("vo: cms\n"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	sel, _ := Select(feed, cric, Filter{Production: "any"}, base)
	for _, s := range sel.Sites {
		for _, sv := range s.Services {
			if sv.Type == "" || sv.URL == "" {
				t.Fatalf("service without type or url: %+v", sv)
			}
		}
	}
	var b bytes.Buffer
	if err := WriteSites(&b, sel); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Sites []map[string]any `yaml:"sites"`
	}
	if err := yaml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("written sites are not YAML: %v\n%s", err, b.String())
	}
	if len(doc.Sites) != len(sel.Sites) {
		t.Fatalf("%d sites written, %d read back\n%s", len(sel.Sites), len(doc.Sites), b.String())
	}
	Merge(base, sel) // must not panic; bad entries become problems
}

func checkError(t *testing.T, err error) {
	var e *Error
	if !errors.As(err, &e) || e.Msg == "" || e.Source == "" {
		t.Fatalf("error without a place: %#v", err)
	}
}

func FuzzParseXML(f *testing.F) {
	for _, p := range []string{"testdata/testbed.xml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`<root><vo>cms</vo><atp_site name="A"><service hostname="h" flavour="WEBDAV" endpoint="h:1"><se_resource path="/$x"/></service><group name="T2_A_B" type="CMS_Site"/></atp_site></root>`))
	f.Add([]byte(`<root><atp_site name="A"><service hostname="h:x" flavour="XROOTD"/><service endpoint="https://u@h/p?q" flavour="ARC-CE"><ce_resource queue="q"/></service></atp_site>`))
	f.Add([]byte(`<?xml version="1.0" encoding="latin1"?><root><atp_site name="&amp;"/></root>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		feed, probs, err := ParseXML("f.xml", bytes.NewReader(data))
		if err != nil {
			checkError(t, err)
			return
		}
		for _, p := range probs {
			if !strings.HasPrefix(p.Path, "/root") {
				t.Fatalf("problem without an element path: %s", p)
			}
		}
		for _, s := range feed.Sites {
			for _, sv := range s.Services {
				if sv.Flavour == "" || (sv.Host == "" && sv.Endpoint == "") {
					t.Fatalf("kept an unusable service %+v", sv)
				}
			}
		}
		checkSelection(t, feed, nil)
	})
}

func FuzzParseCRIC(f *testing.F) {
	f.Add([]byte(`{"T2_XX": {"name": "T2_XX", "rc_tier_level": 2, "federations": ["A", "B"], "services": [{"hostname": "h", "flavour": "WEBDAV", "paths": [["RD", "/s"]]}]}}`))
	f.Add([]byte(`{"RC": [{"endpoint": "h:1094", "flavour": "XROOTD", "usage": {"cms": [{"site": "T2_YY"}]}}], "x": {"endpoint": "e", "flavour": "ARC-CE", "status": "production"}}`))
	f.Add([]byte(`{"a": {"name": 1}, "b": [1, null, {}], "c": {"tier": "Tier-2", "country": "ZZ"}}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, probs, err := ParseCRIC("c.json", data, "cms")
		if err != nil {
			checkError(t, err)
			return
		}
		for _, p := range probs {
			if !strings.HasPrefix(p.Path, "$") {
				t.Fatalf("problem without a JSON path: %s", p)
			}
		}
		checkSelection(t, nil, c)
	})
}
