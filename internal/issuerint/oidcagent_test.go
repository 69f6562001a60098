package issuerint

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
)

// agent is a running oidc-agent (Debian's) with its own socket and home.
type agent struct {
	home string
	env  []string
	cmd  *exec.Cmd
}

func startAgent(t *testing.T) *agent {
	t.Helper()
	for _, tool := range []string{"oidc-agent", "oidc-gen", "oidc-token"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (Debian package oidc-agent; scripts/install-deps.sh installs it)", tool)
		}
	}
	a := &agent{home: t.TempDir()}
	sock := filepath.Join(a.home, "agent.sock")
	a.env = append(os.Environ(), "HOME="+a.home, "OIDC_SOCK="+sock, "OIDC_CONFIG_DIR="+filepath.Join(a.home, ".oidc-agent"))
	a.cmd = exec.Command("oidc-agent", "--console", "--quiet", "--socket-path="+sock)
	a.cmd.Env = a.env
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers end with it
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-a.cmd.Process.Pid, syscall.SIGTERM)
		a.cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatal("oidc-agent did not create its socket within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run runs an oidc-agent tool with the agent's environment plus extra.
func (a *agent) run(t *testing.T, extra []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append([]string{}, a.env...), extra...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, cred.Redact(errb.String()+out.String()))
	}
	return out.String()
}

// refreshToken gets a refresh token from the issuer instance the way the
// testbed hands one out: client credentials with offline_access (a real
// issuer gives it through oidc-gen's device or code flow).
func refreshToken(t *testing.T, env map[string]string, in *instance, secret string) string {
	t.Helper()
	pem, err := os.ReadFile(env["GRIDPROBE_ISSUER_CA"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"openid offline_access storage.read:/ storage.create:/ storage.modify:/"}}
	req, _ := http.NewRequest(http.MethodPost, in.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(env["GRIDPROBE_CLIENT_ID"], url.QueryEscape(secret))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || ans.RefreshToken == "" {
		t.Fatalf("no refresh token from %s: HTTP %d %v", in.URL, resp.StatusCode, err)
	}
	cred.RegisterSecret(ans.RefreshToken)
	return ans.RefreshToken
}

// TestOIDCAgentRefreshRound: oidc-agent, a real refresh-token client, is
// loaded with a refresh token of the testbed issuer (headless oidc-gen) and
// hands out narrowed access tokens (oidc-token --scope --aud); the refresh
// token it holds then drives a whole round of token checks against the
// testbed SE through gridprobe's refresh-token source, each token narrowed
// by the refresh_token grant, with the same verdicts as client credentials.
func TestOIDCAgentRefreshRound(t *testing.T) {
	env := testbedenv.Load(t, "GRIDPROBE_WEBDAV_URL", "GRIDPROBE_XROOTD_URL", "GRIDPROBE_ISSUER")
	in := startInstance(t, env, AgentPort)
	secretB, err := os.ReadFile(env["GRIDPROBE_CLIENT_SECRET_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(secretB))
	rt := refreshToken(t, env, in, secret)

	a := startAgent(t)
	// The client's secret reaches oidc-gen in a 0600 file, the refresh
	// token and the encryption password through the environment: never on
	// a command line.
	clientFile := filepath.Join(a.home, "client.json")
	cj, _ := json.Marshal(map[string]string{"client_id": env["GRIDPROBE_CLIENT_ID"], "client_secret": secret, "issuer_url": in.URL,
		"scope": "openid offline_access storage.read:/ storage.create:/ storage.modify:/"})
	if err := os.WriteFile(clientFile, cj, 0o600); err != nil {
		t.Fatal(err)
	}
	pw := []string{"OIDC_ENCRYPTION_PW=gridprobe-test-only", "OIDC_REFRESH_TOKEN=" + rt}
	a.run(t, pw, "oidc-gen", "-f", clientFile, "--rt-env", "--cp="+env["GRIDPROBE_ISSUER_CA"], "--prompt=none", "--pw-env", "--confirm-yes", "gridprobe-test")

	// oidc-token narrows as asked.
	raw := strings.TrimSpace(a.run(t, nil, "oidc-token", "--scope=storage.read:/reference.dat", "--aud="+env["GRIDPROBE_WEBDAV_URL"], "gridprobe-test"))
	tok, err := cred.NewToken(raw, "oidc-token")
	if err != nil {
		t.Fatal(err)
	}
	if c := tok.Claims(); strings.Join(c.Scopes, " ") != "storage.read:/reference.dat" || !c.HasAudience(env["GRIDPROBE_WEBDAV_URL"]) || c.Issuer != env["GRIDPROBE_ISSUER"] {
		t.Errorf("oidc-token gave %s iss=%s", tok.Summary(), c.Issuer)
	}

	// The refresh token oidc-agent holds, into a file for the probe.
	var acct struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal([]byte(a.run(t, pw[:1], "oidc-gen", "--print=gridprobe-test", "--pw-env")), &acct); err != nil || acct.RefreshToken == "" {
		t.Fatalf("oidc-gen --print: no refresh token (%v)", err)
	}
	rtFile := filepath.Join(t.TempDir(), "refresh-token")
	if err := os.WriteFile(rtFile, []byte(acct.RefreshToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refreshes := in.logged("grant=refresh_token")
	viaRT, took := runRound(t, sitesYAML(env, in.URL, fmt.Sprintf("    issuer: %s\n    issuer_url: %s\n    client_id: %s\n    client_secret_file: %s\n    refresh_token_file: %s\n    ca_file: %s",
		env["GRIDPROBE_ISSUER"], in.URL, env["GRIDPROBE_CLIENT_ID"], env["GRIDPROBE_CLIENT_SECRET_FILE"], rtFile, env["GRIDPROBE_ISSUER_CA"])))
	t.Logf("round through the refresh-token source: %s, %d refresh_token grants", took, in.logged("grant=refresh_token")-refreshes)
	viaCC, _ := runRound(t, sitesYAML(env, in.URL, fmt.Sprintf("    issuer: %s\n    issuer_url: %s\n    client_id: %s\n    client_secret_file: %s\n    ca_file: %s",
		env["GRIDPROBE_ISSUER"], in.URL, env["GRIDPROBE_CLIENT_ID"], env["GRIDPROBE_CLIENT_SECRET_FILE"], env["GRIDPROBE_ISSUER_CA"])))
	compareRounds(t, viaRT, viaCC, in.logged("grant=refresh_token")-refreshes)
}

func compareRounds(t *testing.T, viaRT, viaCC []engine.Result, grants int) {
	t.Helper()
	cc := index(viaCC)
	tokenChecks := 0
	for _, r := range viaRT {
		if r.Credential != engine.CredToken {
			continue
		}
		tokenChecks++
		if strings.Contains(r.Detail, "cannot get") || strings.Contains(r.Detail, "refresh token") {
			t.Errorf("%s %s: %s %q: the refresh-token source failed", r.Service, r.Check, r.State, r.Detail)
		}
		if want := cc[key(r)]; r.State != want.State {
			t.Errorf("%s %s: %s %q through the refresh token, %s %q with client credentials", r.Service, r.Check, r.State, r.Detail, want.State, want.Detail)
		}
	}
	if r := index(viaRT)["T2_LOCAL_Testbed org.testvo.SE-WebDAV 14tkn-read"]; r.State != engine.OK {
		t.Errorf("WebDAV 14tkn-read through the refresh token: %s %q", r.State, r.Detail)
	}
	if tokenChecks < 8 || grants < tokenChecks/2 {
		t.Errorf("%d token checks, %d refresh_token grants at the issuer: the round did not run on refreshed tokens", tokenChecks, grants)
	}
}
