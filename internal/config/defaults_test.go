package config_test

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	. "github.com/gridprobe/gridprobe/internal/config"
	_ "github.com/gridprobe/gridprobe/probes/all"
)

func TestDefaults(t *testing.T) {
	c, err := ParseWith("sites.yaml", []byte(base), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults{Timeout: 60 * time.Second, Budget: 10 * time.Minute, Concurrency: 20,
		CertExpiryWarning: 14 * 24 * time.Hour, StorageInterval: 30 * time.Minute, CEInterval: 60 * time.Minute,
		WNMinLifetime: DefaultWNMinTokenLifetime}
	if !reflect.DeepEqual(c.Defaults, want) {
		t.Errorf("defaults %+v, want %+v", c.Defaults, want)
	}
	s := c.Sites[0]
	v := s.Services[0]
	if c.Prefix != "org.testvo" || s.VO != "testvo" || s.Budget != 10*time.Minute || s.Line != 3 ||
		v.VO != "testvo" || v.Timeout != time.Minute || v.Name != "org.testvo.SE-WebDAV" ||
		v.ReadFile.Size != -1 || v.Interval != 30*time.Minute || v.Line != 5 ||
		v.Audience != "https://se.example.org" || v.URL.String() != "https://se.example.org" {
		t.Errorf("got %+v / %+v / %+v", c, s, v)
	}
}

func TestInheritance(t *testing.T) {
	in := `vo: top
defaults: {timeout: 30s, budget: 20m, ce_interval: 2h, storage_interval: 5m}
sites:
  - name: A                      # everything inherited
    services:
      - {type: webdav, url: "https://a"}
      - {type: arc-ce, url: "https://ce"}
  - name: B
    vo: sitevo
    budget: 1h
    services:
      - {type: xrootd, url: "root://b"}                     # site vo
      - {type: htcondor-ce, url: "condor://c:1", vo: own, timeout: 5m, interval: 10m}
`
	c, err := ParseWith("sites.yaml", []byte(in), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		siteVO   string
		budget   time.Duration
		vo, name string
		timeout  time.Duration
		interval time.Duration
	}
	var got []row
	for _, s := range c.Sites {
		for _, v := range s.Services {
			got = append(got, row{s.VO, s.Budget, v.VO, v.Name, v.Timeout, v.Interval})
		}
	}
	want := []row{
		{"top", 20 * time.Minute, "top", "org.top.SE-WebDAV", 30 * time.Second, 5 * time.Minute},
		{"top", 20 * time.Minute, "top", "org.top.CE-ARC", 30 * time.Second, 2 * time.Hour},
		{"sitevo", time.Hour, "sitevo", "org.sitevo.SE-XRootD", 30 * time.Second, 5 * time.Minute},
		{"sitevo", time.Hour, "own", "org.own.CE-HTCondor", 5 * time.Minute, 10 * time.Minute},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
	// An explicit prefix is used for every VO.
	c, err = ParseWith("sites.yaml", []byte("prefix: ch.cern\n"+in), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Sites[1].Services[1].Name; n != "ch.cern.CE-HTCondor" {
		t.Errorf("name with explicit prefix: %q", n)
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	in := `vo: testvo
x-webdav: &dav
sites:
  - name: A
    services:
      - &svc {type: webdav, url: "https://a", timeout: 10s, skip: [99summary]}
      - <<: *svc
        url: https://b
        name: second
  - name: B
    services: [*svc]
`
	// x-webdav is not a known key: anchors need a home in the schema.
	if _, err := ParseWith("sites.yaml", []byte(in), testEnv); err == nil ||
		err.Error() != `sites.yaml:2:1: unknown key "x-webdav" in config (known: vo, prefix, defaults, credentials, sites, publish, sites_from)` {
		t.Fatalf("err = %v", err)
	}
	in = strings.Replace(in, "x-webdav: &dav\n", "", 1)
	c, err := ParseWith("sites.yaml", []byte(in), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	a2 := c.Sites[0].Services[1]
	b1 := c.Sites[1].Services[0]
	if a2.RawURL != "https://b" || a2.Timeout != 10*time.Second || a2.Name != "second" || !reflect.DeepEqual(a2.Skip, []string{"99summary"}) ||
		b1.RawURL != "https://a" || b1.Timeout != 10*time.Second || b1.Line != 5 {
		t.Errorf("got %+v\n%+v", a2, b1)
	}
	// An error inside an aliased node is reported once, where it is written.
	bad := strings.Replace(in, "timeout: 10s", "timeout: 10", 1)
	_, err = ParseWith("sites.yaml", []byte(bad), testEnv)
	if err == nil || err.Error() != `sites.yaml:5:56: timeout: "10" is not a duration (missing unit, e.g. "10s")` {
		t.Errorf("err = %v", err)
	}
}

// A file of aliases that would expand to a huge tree (2000 sites × 2000
// services × 10 skip ids = 4e7 values) is refused quickly.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("vo: v\nsites:\n  - &s {name: S, services: [&v {type: webdav, url: 'https://a', skip: [&k 1a, *k, *k, *k, *k, *k, *k, *k, *k, *k]}")
	for range 2000 {
		b.WriteString(", *v")
	}
	b.WriteString("]}\n")
	for range 2000 {
		b.WriteString("  - *s\n")
	}
	start := time.Now()
	_, err := ParseWith("sites.yaml", []byte(b.String()), testEnv)
	if err == nil || !strings.Contains(err.Error(), "too many values") {
		t.Errorf("err = %.300v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestRedacted(t *testing.T) {
	data, err := os.ReadFile("testdata/sites.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, []byte("      - {type: arc-ce, url: 'https://ce3.example.org', name: ce3, queue: 'q$$1'}\n")...)
	c, err := ParseWith("sites.yaml", data, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"client_secret_file: /etc/gridprobe/client-secret\n", "proxy: /tmp/x509up_u1000\n",
		"cert_expiry_warning: 168h0m0s\n", "queue: q$$1\n", "  - name: T2_XX_Example\n"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("Redacted lacks %q:\n%s", want, out)
		}
	}
	// The output is a valid sites.yaml that means the same.
	c2, err := ParseWith("sites.yaml", out, env(nil))
	if err != nil {
		t.Fatalf("Redacted output does not parse: %v\n%s", err, out)
	}
	clearLines(c)
	clearLines(c2)
	if !reflect.DeepEqual(c, c2) {
		t.Errorf("round trip differs:\n%+v\n%+v", c, c2)
	}
}

func clearLines(c *Config) {
	for i := range c.Defaults.Summary {
		c.Defaults.Summary[i].Line = 0
		clearPolicyLines(&c.Defaults.Summary[i].Policy)
	}
	clearFrom(c)
	for i := range c.Sites {
		c.Sites[i].Line = 0
		for j := range c.Sites[i].Services {
			c.Sites[i].Services[j].Line = 0
			if p := c.Sites[i].Services[j].Summary; p != nil {
				clearPolicyLines(p)
			}
		}
	}
}

func clearPolicyLines(p *SummaryPolicy) {
	for _, l := range [][]Pattern{p.Critical, p.Commissioning} {
		for k := range l {
			l[k].Line, l[k].Col = 0, 0
		}
	}
}

// clearFrom drops the templates and the provenance of every value: Parse
// has applied the templates and Redacted writes the effective values.
func clearFrom(c *Config) {
	c.Templates = nil
	for i := range c.Sites {
		for j := range c.Sites[i].Services {
			c.Sites[i].Services[j].From = nil
		}
	}
}

// TestNoSecretFields guards the promise that no field of Config holds a
// secret value: a new field whose name suggests one must be a reference
// (…File, …Dir) or be reviewed here.
func TestNoSecretFields(t *testing.T) {
	allowed := map[string]bool{
		"Token": true, // the Token section: locations only
	}
	var walk func(tp reflect.Type, path string)
	walk = func(tp reflect.Type, path string) {
		for tp.Kind() == reflect.Slice || tp.Kind() == reflect.Pointer {
			tp = tp.Elem()
		}
		if tp.Kind() != reflect.Struct || tp.PkgPath() != reflect.TypeFor[Config]().PkgPath() {
			return
		}
		for i := range tp.NumField() {
			f := tp.Field(i)
			name := strings.ToLower(f.Name)
			risky := strings.Contains(name, "secret") || strings.Contains(name, "password") ||
				strings.Contains(name, "token") || strings.Contains(name, "key") || strings.Contains(name, "macaroon")
			if risky && !allowed[f.Name] && !strings.HasSuffix(f.Name, "File") && !strings.HasSuffix(f.Name, "Dir") {
				t.Errorf("%s.%s may hold a secret value; reference a file instead", path, f.Name)
			}
			walk(f.Type, path+"."+f.Name)
		}
	}
	walk(reflect.TypeFor[Config](), "Config")
}
