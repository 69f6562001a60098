package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/publish"
	"github.com/gridprobe/gridprobe/internal/publish/stomptest"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
)

// publishConfig is the testbed's sites.yaml plus a publish: section.
func publishConfig(t *testing.T, env map[string]string, dest, credFile string) string {
	t.Helper()
	base, err := os.ReadFile(filepath.Join(testbedenv.RepoRoot(), "testbed", "sites.testbed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, string(base)+fmt.Sprintf(`publish:
  url: %s
  destination: %s
  credentials_file: %s
  spool_dir: %s
  flush_timeout: 20s
`, env["GRIDPROBE_STOMP_URL"], dest, credFile, filepath.Join(t.TempDir(), "spool")))
}

func testQueue() string {
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("/queue/gridprobe.test.run.%x", b)
}

// TestRunPublish runs a real round (the testbed's WebDAV service) with
// --publish and reads every result back from the broker with the
// independent STOMP client: one message per result, the same states.
func TestRunPublish(t *testing.T) {
	env := testbedenv.Setenv(t, "GRIDPROBE_WEBDAV_URL", "GRIDPROBE_STOMP_URL")
	testbedenv.BrokerLock(t, env, false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dest := testQueue()
	login, pass, err := publish.ReadCredentials(env["GRIDPROBE_STOMP_CREDENTIALS"])
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(env["GRIDPROBE_STOMP_URL"])
	c, err := stomptest.Dial(ctx, u.Host, nil, login, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(dest); err != nil {
		t.Fatal(err)
	}
	cfg := publishConfig(t, env, dest, env["GRIDPROBE_STOMP_CREDENTIALS"])
	var out, errb bytes.Buffer
	code := run([]string{"run", "-c", cfg, "--service", "webdav", "--format", "json", "--publish", "--progress", "off"}, &out, &errb)
	states := map[string]string{}
	worst := 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r struct {
			Metric, State string
			StateCode     int `json:"state_code"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		states[r.Metric] = r.State
		worst = max(worst, r.StateCode)
	}
	if len(states) < 10 || code != worst && !(worst == 3 && code == 2) {
		t.Fatalf("exit %d, %d results; stderr:\n%s", code, len(states), errb.String())
	}
	if !strings.Contains(errb.String(), fmt.Sprintf("published %d results", len(states))) {
		t.Errorf("stderr lacks the publish summary:\n%s", errb.String())
	}
	for range states {
		f, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m, err := stomptest.ParseMetricOutput(string(f.Body))
		if err != nil {
			t.Fatal(err)
		}
		if want, ok := states[m["metricName"]]; !ok || m["metricStatus"] != want || m["siteName"] != "T2_LOCAL_Testbed" ||
			m["serviceFlavour"] != "WEBDAV" || m["serviceURI"] != "localhost:18443" {
			t.Errorf("message %v does not match the run's results %v", m, states)
		}
		delete(states, m["metricName"])
	}
}

// TestRunPublishRefusedLogin: a broker that refuses the login changes
// nothing in the run's output and exit code; stderr says why, and the
// results wait in the spool.
func TestRunPublishRefusedLogin(t *testing.T) {
	env := testbedenv.Setenv(t, "GRIDPROBE_WEBDAV_URL", "GRIDPROBE_STOMP_URL")
	testbedenv.BrokerLock(t, env, false)
	wrong := filepath.Join(t.TempDir(), "broker-credentials")
	if err := os.WriteFile(wrong, []byte("gridprobe:not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := publishConfig(t, env, testQueue(), wrong)
	cfg2 := strings.Replace(readFile(t, cfg), "flush_timeout: 20s", "flush_timeout: 2s", 1)
	if err := os.WriteFile(cfg, []byte(cfg2), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"run", "-c", cfg, "--service", "webdav", "--check", "1connection", "--format", "nagios", "--publish"}, &out, &errb)
	if code != 0 || !strings.HasPrefix(out.String(), "OK - ") {
		t.Errorf("exit %d, output %q", code, out.String())
	}
	for _, want := range []string{"the broker refused the login", "reason=auth", "published 0 results", "messages not yet acknowledged by the broker stay in"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), "not-the-password") {
		t.Error("the password is on stderr")
	}
}

func TestRunPublishNotConfigured(t *testing.T) {
	cfg := writeConfig(t, "vo: testvo\nsites:\n  - name: T2_A\n    services:\n      - {type: webdav, url: \"https://127.0.0.1:1\"}\n")
	var out, errb bytes.Buffer
	if code := run([]string{"run", "-c", cfg, "--publish"}, &out, &errb); code != 3 || !strings.Contains(errb.String(), "has no publish: section") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
