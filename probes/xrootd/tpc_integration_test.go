package xrootd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage"
)

// root:// TPC checks with the partner SE: the probe's client does not
// drive XRootD TPC, so every TPC check is UNKNOWN saying what is missing
// (never the site's CRITICAL); their reproduce lines run the copy with
// xrdcp, and the token pull is run here to show that they work.

var needRootToken = regexp.MustCompile(`^# needs in \$(SRC|DST)_TOKEN_FILE a token with scope "([^"]*)"(?: \(plus [^)]*\))? and audience (\S+)`)

func TestRootTPCChecks(t *testing.T) {
	env := testbedenv.Load(t, "GRIDPROBE_XROOTD_URL", "GRIDPROBE_PARTNER_XROOTD_URL")
	yml := sitesYAML(env, scenario{federation: "-"}) + fmt.Sprintf(`        tpc_partners:
          - {name: partner, url: %s, read_file: {path: %s, adler32: "%s", size: %s}, write_dir: %s, scope_base: %s}
`, env["GRIDPROBE_PARTNER_XROOTD_URL"], env["GRIDPROBE_PARTNER_REF_PATH"], env["GRIDPROBE_PARTNER_REF_ADLER32"],
		env["GRIDPROBE_PARTNER_REF_SIZE"], env["GRIDPROBE_PARTNER_WRITE_DIR"], env["GRIDPROBE_PARTNER_SCOPE_BASE"])
	cfg, err := config.Parse("tpc-sites.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	tk := cfg.Credentials.Token
	cc, err := cred.NewClientCredentials(tk.Issuer, tk.ClientID, tk.ClientSecretFile, tk.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	site := &cfg.Sites[0]
	target := probe.Target{Config: cfg, Site: site, Service: &site.Services[0], RunID: engine.NewRunID(), Creds: probe.NewCredentials(cfg.Credentials, cc)}
	svc, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, id := range storage.TPCIDs() {
		ids = append(ids, storage.TPCCheckID(id, "partner"))
	}
	if svc, err = engine.Select(svc, ids); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results := map[string]engine.Result{}
	for _, r := range (&engine.Runner{RunID: target.RunID}).Run(ctx, []*engine.Site{{Name: site.Name, Budget: site.Budget, Services: []*engine.Service{svc}}}) {
		results[r.Check] = r
		t.Logf("%-24s %-8s %s", r.Check, r.State, r.Detail)
	}
	for _, id := range ids {
		want := "kXR_sync"
		if strings.Contains(id, "crt") {
			want = "GSI delegation"
		}
		if r := results[id]; r.State != engine.Unknown || !strings.Contains(r.Detail, "not run: root:// TPC") || !strings.Contains(r.Detail, want) || strings.HasSuffix(r.Detail, "...") {
			t.Errorf("%s: %s %q, want UNKNOWN naming what is missing (%s)", id, r.State, r.Detail, want)
		}
	}
	out, err := runRootRepro(t, env, cc, results["19tkn-tpc-pull-partner"].Reproduce)
	if err != nil {
		t.Errorf("the xrdcp token pull of 19tkn-tpc-pull-partner's reproduce lines fails: %v\n%s\n%s", err,
			strings.Join(results["19tkn-tpc-pull-partner"].Reproduce, "\n"), out)
	}
	sc, _ := target.Scratch()
	if ls, _ := xrdfsGSI(env, "ls", "/testvo/gridprobe"); strings.Contains(ls, filepath.Base(sc.Dir())) {
		t.Errorf("the reproduce lines left %s", sc.Dir())
	}
}

// runRootRepro runs reproduce lines with a token in each file a "needs
// in" comment names: the destination's gets storage.read on the same paths
// too, as the comment says XRootD before 5.6.9 needs.
func runRootRepro(t *testing.T, env map[string]string, tokens cred.Source, lines []string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	var script strings.Builder
	script.WriteString("set -e\n")
	for i, line := range lines {
		script.WriteString(line + "\n")
		m := needRootToken.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		scopes := strings.Fields(m[2])
		if m[1] == "DST" {
			for _, s := range scopes {
				scopes = append(scopes, "storage.read:"+s[strings.Index(s, ":")+1:])
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		tok, err := tokens.Token(ctx, cred.TokenRequest{Scopes: scopes, Audience: m[3]})
		cancel()
		if err != nil {
			t.Fatalf("token for %q: %v", line, err)
		}
		f := filepath.Join(dir, fmt.Sprintf("token-%d", i))
		if err := os.WriteFile(f, []byte(tok.Bearer()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&script, "export %s_TOKEN_FILE=%s\n", m[1], f)
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "X509_CERT_DIR="+env["X509_CERT_DIR"], "X509_USER_PROXY="+env["X509_USER_PROXY"])
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "eyJ") {
		t.Errorf("reproduce output shows a token")
	}
	return string(out), err
}
