package webdav

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

// HTTP-TPC checks between the testbed's two real storage elements (the
// main SE as the site, the partner SE as its partner; XRootD 5.5.3 both),
// through the engine as `probe run` runs them; the printed reproduce lines
// are run with tokens in files and must give the same outcome.

// tpcYAML is the testbed site with the partner SE as its only TPC partner.
func tpcYAML(env map[string]string) string {
	return sitesYAML(env, scenario{}) + fmt.Sprintf(`        tpc_partners:
          - name: partner
            url: %s
            read_file: {path: %s, adler32: "%s", size: %s}
            write_dir: %s
            scope_base: %s
`, env["GRIDPROBE_PARTNER_WEBDAV_URL"], env["GRIDPROBE_PARTNER_REF_PATH"], env["GRIDPROBE_PARTNER_REF_ADLER32"],
		env["GRIDPROBE_PARTNER_REF_SIZE"], env["GRIDPROBE_PARTNER_WRITE_DIR"], env["GRIDPROBE_PARTNER_SCOPE_BASE"])
}

// tpcChecks are the TPC check ids with the partner "partner".
func tpcChecks() []string {
	var out []string
	for _, id := range storage.TPCIDs() {
		out = append(out, storage.TPCCheckID(id, "partner"))
	}
	return out
}

// tpcRun runs the TPC checks of the testbed site.
func tpcRun(t *testing.T, env map[string]string) *run {
	t.Helper()
	cfg, err := config.Parse("tpc-sites.yaml", []byte(tpcYAML(env)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	tk := cfg.Credentials.Token
	cc, err := cred.NewClientCredentials(tk.Issuer, tk.ClientID, tk.ClientSecretFile, tk.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	runID := engine.NewRunID()
	site := &cfg.Sites[0]
	target := probe.Target{Config: cfg, Site: site, Service: &site.Services[0], RunID: runID, Creds: probe.NewCredentials(cfg.Credentials, cc)}
	svc, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	if svc, err = engine.Select(svc, tpcChecks()); err != nil {
		t.Fatal(err)
	}
	r := engine.Runner{RunID: runID, Log: testLog{t}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := r.Run(ctx, []*engine.Site{{Name: site.Name, Budget: site.Budget, Services: []*engine.Service{svc}}})
	res := &run{results: map[string]engine.Result{}, order: out, target: target, env: env}
	for _, x := range out {
		res.results[x.Check] = x
		t.Logf("%-24s %-8s %s", x.Check, x.State, x.Detail)
		for _, l := range append([]string{x.Detail}, x.Reproduce...) {
			if strings.Contains(l, "eyJ") {
				t.Errorf("%s: a token in the detail or a reproduce line: %q", x.Check, l)
			}
		}
	}
	return res
}

// partnerScratch is the run's scratch directory on the partner SE.
func partnerScratch(t *testing.T, r *run) string {
	t.Helper()
	p := r.target.Service.TPCPartners[0]
	id, err := storage.PartnerRunID(r.target.RunID, p)
	if err != nil {
		t.Fatal(err)
	}
	return p.WriteDir + "/" + id
}

// assertGone: nothing of the run is listed below a write_dir of an SE.
func assertGone(t *testing.T, env map[string]string, base, writeDir, runDir string) {
	t.Helper()
	out, err := proxyCurl(t, env, "-X", "PROPFIND", "-H", "Depth: 1", base+writeDir+"/")
	if err != nil {
		t.Fatalf("listing %s at %s: %v: %s", writeDir, base, err, out)
	}
	if strings.Contains(out, filepath.Base(runDir)) {
		t.Errorf("%s still listed at %s after the run", runDir, base)
	}
}

// TestTPCAgainstTestbed: every TPC check OK between two 5.5.3 SEs, with
// the detail's figures; nothing left on either SE; the reproduce lines
// agree.
func TestTPCAgainstTestbed(t *testing.T) {
	env := testbedenv.Load(t, "GRIDPROBE_WEBDAV_URL", "GRIDPROBE_PARTNER_WEBDAV_URL")
	r := tpcRun(t, env)
	for _, id := range tpcChecks() {
		r.want(t, id, engine.OK)
	}
	size := env["GRIDPROBE_PARTNER_REF_SIZE"] + " B"
	r.want(t, "19tkn-tpc-pull-partner", engine.OK, "pull of partner's /testvo/reference.dat to <scratch>/19tkn-tpc-pull-partner.dat: "+size,
		"adler32 "+env["GRIDPROBE_PARTNER_REF_ADLER32"]+" (the server's)", "tokens: src storage.read:/reference.dat, dst storage.create:<scratch>")
	r.want(t, "12crt-tpc-push-partner", engine.OK, "adler32 "+env["GRIDPROBE_REF_ADLER32"], "a macaroon from partner")
	r.want(t, "21tkn-tpc-access-partner", engine.OK, "read-only dst token (401", "create-only dst token over a file (401", "src token for another path (remote 403")
	pdir := partnerScratch(t, r)
	assertScratchEmpty(t, env, r.target)
	assertGone(t, env, env["GRIDPROBE_PARTNER_WEBDAV_URL"], env["GRIDPROBE_PARTNER_WRITE_DIR"], pdir)
	r.assertTPCReproduces(t, pdir)
}

var needTPCToken = regexp.MustCompile(`^# needs in \$(SRC|DST)_TOKEN_FILE a token with scope "([^"]*)" and audience (\S+)`)

// assertTPCReproduces runs each OK check's reproduce lines, with a token
// of the scopes and audience each "needs in" comment names in the file it
// names, and wants exit 0; then removes what they left on both SEs.
func (r *run) assertTPCReproduces(t *testing.T, partnerDir string) {
	t.Helper()
	defer r.sweepBoth(t, partnerDir)
	for _, id := range tpcChecks() {
		res := r.results[id]
		if res.State != engine.OK || len(res.Reproduce) == 0 {
			t.Errorf("%s: %s with %d reproduce lines", id, res.State, len(res.Reproduce))
			continue
		}
		out, err := r.tpcReproduce(t, res)
		if err != nil {
			t.Errorf("%s is OK but its reproduce lines fail: %v\n%s\n%s", id, err, strings.Join(res.Reproduce, "\n"), out)
		}
	}
}

func (r *run) tpcReproduce(t *testing.T, res engine.Result) (string, error) {
	t.Helper()
	dir := t.TempDir()
	var script strings.Builder
	script.WriteString("set -e\n")
	for i, line := range res.Reproduce {
		script.WriteString(line + "\n")
		m := needTPCToken.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		tok, err := r.target.Creds.Tokens.Token(ctx, cred.TokenRequest{Scopes: strings.Fields(m[2]), Audience: m[3]})
		cancel()
		if err != nil {
			t.Fatalf("%s: token for %q: %v", res.Check, line, err)
		}
		f := filepath.Join(dir, fmt.Sprintf("token-%d", i))
		if err := os.WriteFile(f, []byte(tok.Bearer()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&script, "export %s_TOKEN_FILE=%s\n", m[1], f)
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "X509_CERT_DIR="+r.env["X509_CERT_DIR"], "X509_USER_PROXY="+r.env["X509_USER_PROXY"])
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "eyJ") {
		t.Errorf("%s: reproduce output shows a token", res.Check)
	}
	return string(out), err
}

// sweepBoth removes what the reproduce lines left in the run's scratch
// directories on the site and on the partner, through the scratch guard.
func (r *run) sweepBoth(t *testing.T, partnerDir string) {
	t.Helper()
	sc, err := r.target.Scratch()
	if err != nil {
		t.Fatal(err)
	}
	for _, side := range []struct{ base, dir string }{
		{r.env["GRIDPROBE_WEBDAV_URL"], sc.Dir()}, {r.env["GRIDPROBE_PARTNER_WEBDAV_URL"], partnerDir},
	} {
		guard, err := probe.NewScratch(filepath.Dir(side.dir), filepath.Base(side.dir))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := proxyCurl(t, r.env, "-X", "PROPFIND", "-H", "Depth: 1", side.base+side.dir+"/")
		for _, m := range regexp.MustCompile(`<D:href>([^<]+)</D:href>`).FindAllStringSubmatch(out, -1) {
			p := strings.TrimSuffix(m[1], "/")
			if p == side.dir {
				continue
			}
			if err := guard.Delete(context.Background(), p, func(_ context.Context, p string) error {
				_, err := proxyCurl(t, r.env, "-X", "DELETE", side.base+p)
				return err
			}); err != nil {
				t.Error(err)
			}
		}
		_ = guard.Delete(context.Background(), side.dir, func(_ context.Context, p string) error {
			_, err := proxyCurl(t, r.env, "-X", "DELETE", side.base+p)
			return err
		})
		assertGone(t, r.env, side.base, filepath.Dir(side.dir), side.dir)
	}
}
