package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sites.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	good := writeConfig(t, "vo: testvo\nsites:\n  - name: T2_A\n    services:\n      - {type: webdav, url: \"https://127.0.0.1:1\"}\n")
	var out, errb bytes.Buffer
	if code := run([]string{"validate", "-c", good}, &out, &errb); code != 0 {
		t.Fatalf("valid config: exit %d, stderr %s", code, errb.String())
	}
	bad := writeConfig(t, "vo: testvo\nsites:\n  - name: T2_A\n    services:\n      - type: webdav\n        url: https://127.0.0.1:1\n        tiemout: 5s\n")
	out.Reset()
	errb.Reset()
	if code := run([]string{"validate", "-c", bad}, &out, &errb); code != 1 {
		t.Fatalf("invalid config: exit %d", code)
	}
	if want := "sites.yaml:7:9: "; !strings.Contains(errb.String(), want) || !strings.Contains(errb.String(), `"timeout"`) {
		t.Fatalf("error %q lacks position %q or suggestion", errb.String(), want)
	}
}

// TestRunExitCodeFollowsWorstState runs a real round against a closed
// loopback port (CRITICAL) and an open one (OK).
func TestRunExitCodeFollowsWorstState(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	cfg := writeConfig(t, "vo: testvo\nsites:\n"+
		"  - name: T2_UP\n    services:\n      - {type: xrootd, url: \"root://"+ln.Addr().String()+"\"}\n"+
		"  - name: T2_DOWN\n    services:\n      - {type: xrootd, url: \"root://"+closedAddr+"\"}\n")
	t.Setenv("BEARER_TOKEN", "")
	t.Setenv("BEARER_TOKEN_FILE", "")
	var out, errb bytes.Buffer
	code := run([]string{"run", "-c", cfg, "--format", "json", "--check", "1connection"}, &out, &errb)
	if code != 2 {
		t.Fatalf("exit %d, want 2 (CRITICAL); stderr %s", code, errb.String())
	}
	states := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r struct{ Site, Check, State string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		states[r.Site+"/"+r.Check] = r.State
	}
	if states["T2_UP/1connection"] != "OK" || states["T2_DOWN/1connection"] != "CRITICAL" {
		t.Fatalf("states %v", states)
	}
	out.Reset()
	if code := run([]string{"run", "-c", cfg, "--site", "T2_UP", "--check", "1connection", "--format", "nagios"}, &out, &errb); code != 0 {
		t.Fatalf("T2_UP only: exit %d: %s", code, out.String())
	}
	if !strings.HasPrefix(out.String(), "OK - ") {
		t.Fatalf("nagios output %q", out.String())
	}
	if code := run([]string{"run", "-c", cfg, "--site", "T2_NOPE"}, &out, &errb); code != 3 || !strings.Contains(errb.String(), `no site "T2_NOPE"`) {
		t.Fatalf("unknown site: exit %d, stderr %q", code, errb.String())
	}
}

func TestUnknownCommandAndVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"frobnicate"}, &out, &errb); code != 3 || !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("exit %d %q", code, errb.String())
	}
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "gridprobe") {
		t.Fatalf("version: %d %q", code, out.String())
	}
}
