package config_test

import (
	"os"
	"reflect"
	"testing"

	. "github.com/gridprobe/gridprobe/internal/config"
	_ "github.com/gridprobe/gridprobe/probes/all"
)

// FuzzParse: Parse never panics; it returns a config or an error, never
// both; and an accepted config survives Redacted → Parse unchanged.
func FuzzParse(f *testing.F) {
	full, err := os.ReadFile("testdata/sites.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add([]byte(base))
	f.Add([]byte(""))
	f.Add([]byte("~"))
	f.Add([]byte("- a\n"))
	f.Add([]byte(svc("tiemout: 30s", "timeout: ${NOPE:-${TIMEOUT}}", "skip: [1a, 1a]", "read_file: {path: /testvo/f, adler32: 0000000G}")))
	f.Add([]byte("vo: v\nsites:\n  - &s {name: S, services: [&v {type: xrootd, url: 'roots://a', federation: 'root://r'}]}\n  - <<: *s\n    name: T\n"))
	f.Add([]byte("credentials: {token: {issuer: 'https://i', client_id: c, client_secret_file: /s}}\n" + base))
	f.Add([]byte(base + "      - {type: htcondor-ce, url: 'condor://[::1]', interval: 1.5d}\n"))
	f.Add([]byte(base + "---\n"))
	f.Add([]byte(policyConfig))
	f.Add([]byte(svc("summary: {critical: ['1*', 2ssl], commissioning: [], commissioning_effect: none}")))
	f.Add([]byte("publish: {url: stomps://mb, destination: /topic/t, cert_file: /c, spool_max_bytes: 1MiB, flush_timeout: 0s}\n" + base))
	f.Add([]byte(tmplBase + "  - name: T2_XX_A\n    services: [{type: webdav, url: \"https://a:1\", path: /p$$}, {type: arc-ce, url: \"https://c\"}]\n"))
	f.Add([]byte("vo: v\nsites_from: {vofeed: f.xml, cric: \"https://c/q?json\", refresh: 1h, max_age: 2d, cache: /var/c, groups: [Tier-2, tier=1], production: any, flavours: [WEBDAV]}\n"))
	f.Add([]byte("vo: v\ndefaults: {templates: {xrootd: {url: \"roots://$(endpoint)\", federation: \"root://$(host)\", skip: [1a]}}}\nsites: [{name: T1_AB_C, groups: {federation: F}, services: [{type: xrootd, url: \"root://h\"}]}]\n"))
	f.Add([]byte(partnersConfig))
	f.Add([]byte("vo: v\ndefaults: {templates: {webdav: {tpc_partners: [{url: \"https://p.$(host)\", write_dir: /v/w}]}}, tpc_partners: [{url: 'davs://r', read_file: {path: /f}}]}\nsites: [{name: S, services: [{type: webdav, url: \"https://h\"}]}]\n"))
	lookup := env(map[string]string{"TIMEOUT": "90s", "EMPTY": "", "GP_PROXY": "/tmp/p"})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseWith("f.yaml", data, lookup)
		if (c == nil) == (err == nil) {
			t.Fatalf("config %v and error %v", c, err)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		out, err := c.Redacted()
		if err != nil {
			t.Fatalf("Redacted: %v", err)
		}
		c2, err := ParseWith("f.yaml", out, env(nil))
		if err != nil {
			t.Fatalf("Redacted output does not parse: %v\n%s", err, out)
		}
		clearLines(c)
		clearLines(c2)
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip differs:\n%+v\n%+v\n%s", c, c2, out)
		}
	})
}
