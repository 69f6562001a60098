package issuerint

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/round"
	"github.com/gridprobe/gridprobe/internal/tokensource"
)

// sitesYAML is the testbed site (WebDAV and XRootD of the real SE) and a
// central site with the issuer service reached at issuerURL, with the
// credentials.token block tokenYAML.
func sitesYAML(env map[string]string, issuerURL, tokenYAML string) string {
	storage := func(typ, url string) string {
		return fmt.Sprintf(`      - type: %s
        url: %s
        scope_base: /testvo
        read_file: {path: /testvo/reference.dat, adler32: "%s", size: %s}
        write_dir: /testvo/gridprobe
        foreign_file: /othervo/reference.dat
`, typ, url, env["GRIDPROBE_REF_ADLER32"], env["GRIDPROBE_REF_SIZE"])
	}
	return fmt.Sprintf(`vo: testvo
prefix: org.testvo
defaults: {timeout: 30s, budget: 5m}
credentials:
  x509:
    proxy: %s
    foreign_proxy: %s
    novoms_proxy: %s
    ca_dir: %s
    voms_dir: %s
  token:
%s
sites:
  - name: T0_CENTRAL
    services:
      - type: issuer
        url: %s
        issuer: %s
  - name: T2_LOCAL_Testbed
    services:
%s%s`, env["X509_USER_PROXY"], env["GRIDPROBE_FOREIGN_PROXY"], env["GRIDPROBE_NOVOMS_PROXY"], env["X509_CERT_DIR"],
		env["X509_VOMS_DIR"], tokenYAML, issuerURL, env["GRIDPROBE_ISSUER"],
		storage("webdav", env["GRIDPROBE_WEBDAV_URL"]), storage("xrootd", env["GRIDPROBE_XROOTD_URL"]))
}

// runRound is one round as `probe run` makes it (internal/round), with a
// fresh token source (a new process has an empty cache) behind the
// round's breaker.
func runRound(t *testing.T, yaml string) ([]engine.Result, time.Duration) {
	t.Helper()
	cfg, err := config.Parse("sites.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	src, err := tokensource.New(cfg.Credentials.Token)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := src.(interface{ Close() error }); ok {
		defer c.Close()
	}
	rd, err := round.Build(cfg, round.Options{Tokens: cred.NewRound(src)})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	res := rd.Runner(4, nil).Run(ctx, rd.Sites)
	return res, time.Since(start)
}

func key(r engine.Result) string { return r.Site + " " + r.Service + " " + r.Check }

func index(rs []engine.Result) map[string]engine.Result {
	m := map[string]engine.Result{}
	for _, r := range rs {
		m[key(r)] = r
	}
	return m
}

func dump(t *testing.T, name string, rs []engine.Result) {
	t.Helper()
	for _, r := range rs {
		t.Logf("%s: %-28s %-14s %-8s %-7s %s", name, r.Service, r.Check, r.State, r.Party, r.Detail)
	}
}
