package main

import (
	"testing"

	"github.com/gridprobe/gridprobe/internal/config"
)

// TestWithPartners: probe cleanup visits each partner's write_dir once,
// as a service of the naming service's type, after the site's services.
func TestWithPartners(t *testing.T) {
	cfg, err := config.Parse("sites.yaml", []byte(`vo: testvo
defaults:
  tpc_partners:
    - {name: ref, url: "https://ref.example.org", write_dir: /testvo/tpc, read_file: {path: /testvo/r}}
    - {name: nowrite, url: "https://ro.example.org", read_file: {path: /testvo/r}}
sites:
  - name: T2_A
    services:
      - {type: webdav, url: "https://a.org", write_dir: /testvo/w}
      - {type: webdav, url: "https://a.org:8443", name: second}
  - name: T2_B
    services:
      - {type: webdav, url: "https://b.org"}
`))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	a := withPartners(&cfg.Sites[0], seen)
	if len(a) != 3 || a[2].Name != "TPC partner ref" || a[2].URL.String() != "https://ref.example.org" || a[2].WriteDir != "/testvo/tpc" || a[2].Type != "webdav" {
		t.Fatalf("T2_A: %d services, last %+v", len(a), a[len(a)-1])
	}
	if b := withPartners(&cfg.Sites[1], seen); len(b) != 1 {
		t.Errorf("T2_B: the partner's write_dir again (%d services)", len(b))
	}
}
