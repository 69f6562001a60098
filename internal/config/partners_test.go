package config_test

import (
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/config"
	_ "github.com/gridprobe/gridprobe/probes/all"
)

// partnersConfig: the VO's reference SE over both protocols in defaults,
// a service with its own list, one with none, and the reference SE itself.
const partnersConfig = `vo: testvo
defaults:
  tpc_partners:
    - name: ref
      url: davs://ref.example.org
      read_file: {path: /testvo/tpc/ref.dat, adler32: 0A1B2C3D, size: 1048576}
      write_dir: /testvo/tpc/scratch
      scope_base: /testvo
    - name: ref
      url: roots://ref.example.org:1094
      read_file: {path: /testvo/tpc/ref.dat}
      write_dir: /testvo/tpc/scratch
sites:
  - name: T2_A
    services:
      - {type: webdav, url: "https://se.a.org"}
      - {type: xrootd, url: "root://se.a.org"}
      - {type: arc-ce, url: "https://ce.a.org/arex"}
  - name: T2_B
    services:
      - type: webdav
        url: https://se.b.org
        tpc_partners:
          - {url: "https://dcache.b-partner.org:2880", write_dir: /vo/w, audience: "https://dcache.b-partner.org"}
      - {type: xrootd, url: "root://se.b.org", tpc_partners: []}
  - name: T0_REF
    services:
      - {type: webdav, url: "https://ref.example.org"}
`

func TestPartners(t *testing.T) {
	c, err := config.Parse("sites.yaml", []byte(partnersConfig))
	if err != nil {
		t.Fatal(err)
	}
	names := func(s *config.Service) string {
		var out []string
		for _, p := range s.TPCPartners {
			out = append(out, p.Name+"="+p.URL.String()+" aud "+p.Audience)
		}
		return strings.Join(out, ", ")
	}
	for _, c := range []struct {
		sv   *config.Service
		want string
	}{
		{&c.Sites[0].Services[0], "ref=https://ref.example.org aud https://ref.example.org"}, // davs normalised, the https one only
		{&c.Sites[0].Services[1], "ref=roots://ref.example.org:1094 aud roots://ref.example.org:1094"},
		{&c.Sites[0].Services[2], ""}, // not storage
		{&c.Sites[1].Services[0], "dcache=https://dcache.b-partner.org:2880 aud https://dcache.b-partner.org"},
		{&c.Sites[1].Services[1], ""}, // [] means none
		{&c.Sites[2].Services[0], ""}, // the reference SE is not its own partner
	} {
		if got := names(c.sv); got != c.want {
			t.Errorf("%s %s: partners %q, want %q", c.sv.Type, c.sv.RawURL, got, c.want)
		}
	}
	ref := c.Sites[0].Services[0].TPCPartners[0]
	if ref.ReadFile.Adler32 != "0a1b2c3d" || ref.ReadFile.Size != 1048576 || ref.WriteDir != "/testvo/tpc/scratch" || ref.ScopeBase != "/testvo" {
		t.Errorf("reference partner %+v", ref)
	}
	if got := c.Sites[1].Services[1].TPCPartners; got == nil || len(got) != 0 {
		t.Errorf("tpc_partners: [] gives %v, want an empty list", got)
	}
	if from := c.Sites[0].Services[0].From["tpc_partners"]; from != "sites.yaml:3:3 (defaults.tpc_partners)" {
		t.Errorf("origin of the defaults' partners: %q", from)
	}
	// The effective config parses back to the same partners.
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	back, err := config.Parse("effective.yaml", out)
	if err != nil {
		t.Fatalf("effective config does not parse: %v\n%s", err, out)
	}
	if got, want := names(&back.Sites[1].Services[0]), names(&c.Sites[1].Services[0]); got != want {
		t.Errorf("after a round trip: %q, want %q", got, want)
	}
}

func TestPartnersFromTemplate(t *testing.T) {
	c, err := config.Parse("sites.yaml", []byte(`vo: testvo
defaults:
  templates:
    webdav:
      tpc_partners:
        - {name: near, url: "https://tpc.$(host)", write_dir: /testvo/w, read_file: {path: /testvo/r, size: 10}}
sites:
  - name: T2_A
    services: [{type: webdav, url: "https://se.a.org"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	sv := c.Sites[0].Services[0]
	if len(sv.TPCPartners) != 1 || sv.TPCPartners[0].URL.String() != "https://tpc.se.a.org" || sv.TPCPartners[0].ReadFile.Size != 10 {
		t.Fatalf("template partners %+v", sv.TPCPartners)
	}
	if !strings.Contains(sv.From["tpc_partners"], "defaults.templates.webdav") {
		t.Errorf("origin %q", sv.From["tpc_partners"])
	}
}

func TestPartnerErrors(t *testing.T) {
	_, err := config.Parse("sites.yaml", []byte(`vo: testvo
defaults:
  tpc_partners:
    - {url: "https://a.org", write_dir: /x}
    - {url: "https://a.org:8443", read_file: {path: /r}}
    - {url: "gsiftp://old.org", write_dir: /x}
sites:
  - name: T2_A
    services:
      - type: xrootd
        url: root://se.a.org
        tpc_partners:
          - {url: "https://a.org/path", write_dir: /x}
          - {name: Big, url: "root://b.org", write_dir: /}
          - {url: "root://c.org", scope_base: /vo, read_file: {path: /other/f, adler32: xyz}}
          - {url: "root://d.org"}
          - {url: "root://e.org", write_dir: /vo, scope_base: /vo}
`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`sites.yaml:5:7: defaults.tpc_partners[1]: partner name "a" is already used by the partner at line 4; set name: to tell them apart`,
		`sites.yaml:6:13: defaults.tpc_partners[2].url "gsiftp://old.org": scheme must be`,
		`sites.yaml:13:19: tpc_partners[0].url "https://a.org/path": scheme must be root or roots for a TPC partner of a xrootd service`,
		`sites.yaml:14:20: tpc_partners[1].name "Big": use lower-case letters`,
		`sites.yaml:14:57: tpc_partners[1].write_dir "/": use a directory of its own`,
		`tpc_partners[2].read_file.path "/other/f": outside scope_base "/vo"`,
		`tpc_partners[2].read_file.adler32: "xyz" is not 8 hex digits`,
		`sites.yaml:16:13: tpc_partners[3]: give read_file (a file the site pulls) and/or write_dir (where the site pushes to)`,
		`tpc_partners[4].write_dir "/vo": use a directory of its own`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}
