package ce

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// Outputs of the real condor_ping 23.9.6 against the testbed.
const (
	pingOK = `Destination:                 daemon at <127.0.0.1:9619>
Remote Version:              $CondorVersion: 23.9.6 2026-07-12 PackageID: 23.9.6+dfsg-2.1+b10 $
Local  Version:              $CondorVersion: 23.9.6 2026-07-12 PackageID: 23.9.6+dfsg-2.1+b10 $
Session ID:                  localhost:28949:1795480423:0
Instruction:                 WRITE
Command:                     60021
Encryption:                  AES
Integrity:                   AES
Authenticated using:         SCITOKENS
All authentication methods:  SCITOKENS
Remote Mapping:              gpuser@users.htcondor.org
Authorized:                  TRUE
`
	pingDenied = `WRITE failed!
SECMAN:2010:Received "DENIED" from server for user gpuser@users.htcondor.org using method SCITOKENS.
`
	pingAuthFail = `WRITE failed!
AUTHENTICATE:1003:Failed to authenticate with any method
AUTHENTICATE:1004:Failed to authenticate using SCITOKENS
`
)

func TestParsePing(t *testing.T) {
	p := parsePing(pingOK)
	if !p.Authorized || p.Mapping != "gpuser@users.htcondor.org" || p.Method != "SCITOKENS" || p.Failure != "" {
		t.Errorf("ok: %+v", p)
	}
	p = parsePing(pingDenied)
	if p.Authorized || deniedUser(p.Failure) != "gpuser@users.htcondor.org" || shortFailure(p.Failure) != "SECMAN:2010" {
		t.Errorf("denied: %+v user %q short %q", p, deniedUser(p.Failure), shortFailure(p.Failure))
	}
	if !strings.Contains(explainCondor(p.Failure), "lacks the scopes") {
		t.Errorf("denied explanation: %s", explainCondor(p.Failure))
	}
	p = parsePing(pingAuthFail)
	if p.Authorized || shortFailure(p.Failure) != "AUTHENTICATE:1004" {
		t.Errorf("auth failure: %+v short %q", p, shortFailure(p.Failure))
	}
	if ex := explainCondor(p.Failure); !strings.Contains(ex, "SCITOKENS_SERVER_AUDIENCE") || !strings.Contains(ex, "mapfile") {
		t.Errorf("auth explanation: %s", ex)
	}
	if ex := explainCondor("ERROR: couldn't locate localhost!"); !strings.Contains(ex, "cannot reach") {
		t.Errorf("locate explanation: %s", ex)
	}
}

func TestMissingScopes(t *testing.T) {
	tok := scopedToken(t, "compute.read")
	if got := strings.Join(missingScopes(tok, PingScopes), " "); got != "compute.create compute.modify compute.cancel" {
		t.Errorf("missing = %q", got)
	}
	if got := missingScopes(scopedToken(t, "compute.cancel compute.create compute.modify"), PingScopes); len(got) != 0 {
		t.Errorf("missing = %q", got)
	}
}

// scopedToken is an unsigned JWT with the given scope (claims only: the
// probe reads them, never verifies).
func scopedToken(t *testing.T, scope string) *cred.Token {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	raw := enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." +
		enc([]byte(`{"iss":"https://issuer.example","sub":"gridprobe","aud":"condor://ce:9619","scope":"`+scope+`"}`)) + ".c2lnbmF0dXJl"
	tok, err := cred.NewToken(raw, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestToolTokenHandling runs a stand-in condor_ping from $PATH: the token
// reaches it only as a 0600 file named by BEARER_TOKEN_FILE, never in its
// arguments, and the file is gone afterwards.
func TestToolTokenHandling(t *testing.T) {
	dir := t.TempDir()
	script := `#!/bin/sh
echo "args: $*"
echo "mode: $(stat -c %a "$BEARER_TOKEN_FILE")"
echo "file: $BEARER_TOKEN_FILE"
echo "methods: $_condor_SEC_CLIENT_AUTHENTICATION_METHODS"
echo "bearer-env: ${BEARER_TOKEN:-unset} want-env: ${WANT:-unset}"
cp "$BEARER_TOKEN_FILE" "$1"
`
	if err := os.WriteFile(filepath.Join(dir, "condor_ping"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(CondorRootEnv, "")
	t.Setenv("PATH", dir+":/usr/bin:/bin")
	t.Setenv("BEARER_TOKEN", "must-not-reach-the-tool")
	tools, err := findCondorTools("/etc/grid-security/certificates")
	if err != nil {
		t.Fatal(err)
	}
	tok := scopedToken(t, "compute.read")
	tools.caDir = "/ca"
	t.Setenv("WANT", "probe-environment-variable")
	copied := filepath.Join(t.TempDir(), "copy")
	r := tools.run(context.Background(), tok, "", "condor_ping", copied, "-addr", "<127.0.0.1:9619>", "WRITE")
	if r.err != nil {
		t.Fatalf("%v: %s", r.err, r.stderr)
	}
	out := r.stdout
	for _, want := range []string{"args: " + copied + " -addr <127.0.0.1:9619> WRITE", "mode: 600", "methods: SCITOKENS", "bearer-env: unset want-env: unset"} {
		if !strings.Contains(out, want) {
			t.Errorf("tool output lacks %q:\n%s", want, out)
		}
	}
	if b, err := os.ReadFile(copied); err != nil || string(b) != tok.Bearer()+"\n" {
		t.Errorf("the tool did not find the token in BEARER_TOKEN_FILE (%v)", err)
	}
	if strings.Contains(out, tok.Bearer()) {
		t.Error("the token appears in the tool's output")
	}
	_, f, _ := strings.Cut(out, "file: ")
	f, _, _ = strings.Cut(f, "\n")
	if _, err := os.Stat(f); !os.IsNotExist(err) {
		t.Errorf("token file %s still exists after the run (%v)", f, err)
	}
}

func TestToolsMissing(t *testing.T) {
	t.Setenv(CondorRootEnv, "")
	t.Setenv("PATH", t.TempDir())
	if _, err := findCondorTools(""); err == nil || !strings.Contains(err.Error(), "HTCondor client tools not installed") {
		t.Errorf("err = %v", err)
	}
	t.Setenv(CondorRootEnv, t.TempDir())
	if _, err := findCondorTools(""); err == nil || !strings.Contains(err.Error(), "HTCondor client tools not installed") {
		t.Errorf("root err = %v", err)
	}
}

func TestADLIsXMLWithTheScript(t *testing.T) {
	j := jobSpec{exit: 3, sleep: time.Second}
	adl := j.adl("gridprobe-<x>&", "grid", "gridprobe-marker-m")
	var doc struct {
		Name string   `xml:"ActivityIdentification>Name"`
		Args []string `xml:"Application>Executable>Argument"`
		Q    string   `xml:"Resources>QueueName"`
		Out  []string `xml:"DataStaging>OutputFile>Name"`
	}
	if err := xml.Unmarshal(adl, &doc); err != nil {
		t.Fatalf("%v\n%s", err, adl)
	}
	if doc.Name != "gridprobe-<x>&" || doc.Q != "grid" || len(doc.Args) != 2 || doc.Args[1] != j.script("gridprobe-marker-m") {
		t.Errorf("doc = %+v", doc)
	}
	if strings.Join(doc.Out, ",") != jobStdout+","+jobStderr {
		t.Errorf("outputs = %v", doc.Out)
	}
	out, err := exec.Command("sh", "-c", doc.Args[1]).CombinedOutput()
	if code := exitCode(err); code != 3 || !strings.HasPrefix(string(out), "gridprobe-marker-m\n") {
		t.Errorf("script exit %d output %q", code, out)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestReproduceLinesParse: every reproduce line is valid shell and names
// credentials only through the environment.
func TestReproduceLinesParse(t *testing.T) {
	tgt := testTarget(t, "arc-ce", "https://ce.example.org:443/arex")
	as := &arcSvc{t: tgt, u: tgt.Service.URL, ws: "https://ce.example.org:443/arex", aud: tgt.Audience(), queue: "grid"}
	ht := testTarget(t, "htcondor-ce", "condor://ce.example.org:9619")
	cs := &condorSvc{t: ht, u: ht.Service.URL, host: "ce.example.org", pool: "ce.example.org:9619", aud: ht.Audience()}
	var all [][]string
	all = append(all, as.reproInfo(engine.CredX509), as.reproInfo(engine.CredToken), as.reproSubmit(engine.CredX509),
		as.reproSubmit(engine.CredToken), as.reproAccess(), cs.reproPing(), cs.reproSubmit(), cs.reproAccess(), probe.ReproduceTLS(as.u))
	for _, lines := range all {
		script := strings.Join(lines, "\n")
		if out, err := exec.Command("bash", "-n", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("bash -n: %v %s\n%s", err, out, script)
		}
		if strings.Contains(script, "eyJ") {
			t.Errorf("token in reproduce lines: %s", script)
		}
	}
	sub := strings.Join(as.reproSubmit(engine.CredToken), "\n")
	for _, want := range []string{`"Authorization: Bearer $(cat "$BEARER_TOKEN_FILE")"`, "/rest/1.0/jobs?action=new", "diagnose/status", "action=clean", "--capath \"$X509_CERT_DIR\""} {
		if !strings.Contains(sub, want) {
			t.Errorf("ARC submit reproduce lacks %q:\n%s", want, sub)
		}
	}
	if x := strings.Join(as.reproSubmit(engine.CredX509), "\n"); !strings.Contains(x, `--cert "$X509_USER_PROXY" --key "$X509_USER_PROXY"`) {
		t.Errorf("x509 reproduce: %s", x)
	}
	ping := strings.Join(cs.reproPing(), "\n")
	if !strings.Contains(ping, `condor_ping -addr "$SCHEDD" -verbose WRITE`) || !strings.Contains(ping, "BEARER_TOKEN_FILE") {
		t.Errorf("ping reproduce: %s", ping)
	}
	// The submit file written by the reproduce line is the check's own.
	script := strings.Join(cs.reproSubmit(), "\n")
	d := t.TempDir()
	line := ""
	for _, l := range strings.Split(script, "\n") {
		if strings.HasPrefix(l, "printf '%s\\n'") {
			line = l
		}
	}
	cmd := exec.Command("bash", "-c", line)
	cmd.Dir = d
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	got, _ := os.ReadFile(filepath.Join(d, "gridprobe.sub"))
	if string(got) != cs.job.condorSubmit("gridprobe-manual", "") {
		t.Errorf("submit file from the reproduce line:\n%s\nwant:\n%s", got, cs.job.condorSubmit("gridprobe-manual", ""))
	}
}

func testTarget(t *testing.T, typ, u string) probe.Target {
	t.Helper()
	cfg, err := config.Parse("unit.yaml", []byte("vo: testvo\nsites:\n  - name: T2_X\n    services:\n      - {type: "+typ+", url: \""+u+"\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	site := &cfg.Sites[0]
	return probe.Target{Config: cfg, Site: site, Service: &site.Services[0], RunID: engine.NewRunID(),
		Creds: probe.NewCredentials(cfg.Credentials, nil)}
}
