package plan

import (
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

const sites = `vo: testvo
sites:
  - name: T2_A
    services:
      - type: webdav
        url: https://se.a.example:443
        scope_base: /testvo
        read_file: {path: /testvo/ref.dat, adler32: 0a0b0c0d}
        write_dir: /testvo/gridprobe
        skip: [10macaroon]
      - type: xrootd
        url: roots://se.a.example:1094
        scope_base: /testvo
        read_file: {path: /testvo/ref.dat, adler32: 0a0b0c0d}
        write_dir: /testvo/gridprobe
  - name: T2_B
    services:
      - {type: xrootd, url: "root://se.b.example:1094"}
`

func load(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse("sites.yaml", []byte(sites))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func ids(svc *engine.Service) string { return strings.Join(engine.CheckIDs(svc), ",") }

func TestBuildSelectsAndSkips(t *testing.T) {
	cfg := load(t)
	opt := Options{RunID: engine.NewRunID(), Creds: probe.NewCredentials(cfg.Credentials, nil)}
	all, err := Build(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || len(all[0].Services) != 2 || all[0].Budget != cfg.Defaults.Budget {
		t.Fatalf("sites %+v", all)
	}
	web := all[0].Services[0]
	if web.Name != "org.testvo.SE-WebDAV" || strings.Contains(ids(web), "10macaroon") || !strings.Contains(ids(web), "14tkn-read") {
		t.Fatalf("webdav service %s: %s", web.Name, ids(web))
	}

	opt.Sites, opt.Services, opt.Checks = []string{"T2_A"}, []string{"xrootd"}, []string{"14tkn-read"}
	one, err := Build(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || len(one[0].Services) != 1 {
		t.Fatalf("selection gave %d sites", len(one))
	}
	if got := ids(one[0].Services[0]); !strings.HasPrefix(got, "1connection,3version,14tkn-read") || strings.Contains(got, "4crt-read") {
		t.Fatalf("14tkn-read selection runs %s", got)
	}

	creds := opt.Creds
	if _, err := Build(cfg, Options{RunID: opt.RunID, Creds: creds, Sites: []string{"T2_NOPE"}}); err == nil || !strings.Contains(err.Error(), "T2_A, T2_B") {
		t.Fatalf("unknown site error %v", err)
	}
	if _, err := Build(cfg, Options{RunID: opt.RunID, Creds: creds, Checks: []string{"77nope"}}); err == nil || !strings.Contains(err.Error(), `no check "77nope"`) {
		t.Fatalf("unknown check error %v", err)
	}
	if _, err := Build(cfg, Options{}); err == nil {
		t.Fatal("no run id accepted")
	}
}
