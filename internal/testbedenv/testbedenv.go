// Package testbedenv is the one way tests and tools reach the local testbed:
// its client environment (what `eval "$(testbed/env)"` sets), with a check
// that the endpoints needed answer. For a test (Load, Setenv), an unusable
// testbed fails the test, unless GRIDPROBE_NO_TESTBED=1 is set: then the
// test is skipped, saying why; it is never skipped silently. Tools such as
// cmd/faults use Read.
package testbedenv

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// OptOut is the variable that turns an unusable testbed into a skip.
const OptOut = "GRIDPROBE_NO_TESTBED"

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Load returns the testbed's GRIDPROBE_* and X509_* variables and dials
// the host:port of every URL variable named in need (e.g.
// "GRIDPROBE_WEBDAV_URL").
func Load(t testing.TB, need ...string) map[string]string {
	t.Helper()
	env, err := Read(need...)
	if err != nil {
		if os.Getenv(OptOut) == "1" {
			t.Skipf("%s=1: testbed not usable: %v", OptOut, err)
		}
		t.Fatalf("testbed not usable: %v (start it with make testbed-up, or set %s=1 to skip)", err, OptOut)
	}
	return env
}

// Setenv is Load plus t.Setenv of every variable, for code that reads the
// environment itself.
func Setenv(t testing.TB, need ...string) map[string]string {
	t.Helper()
	env := Load(t, need...)
	for k, v := range env {
		t.Setenv(k, v)
	}
	return env
}

// Read returns the testbed's GRIDPROBE_* and X509_* variables and checks
// that the endpoints named in need answer (tools such as cmd/faults; tests
// use Load).
func Read(need ...string) (map[string]string, error) {
	env, err := read()
	if err == nil {
		err = reachable(env, need)
	}
	return env, err
}

func read() (map[string]string, error) {
	script := filepath.Join(RepoRoot(), "testbed", "env")
	out, err := exec.Command("bash", "-c", `set -e; e=$("$0"); eval "$e"; env -0`, script).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = strings.TrimSpace(string(ee.Stderr))
		}
		return nil, fmt.Errorf("testbed/env: %v %s", err, stderr)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && (strings.HasPrefix(k, "GRIDPROBE_") || strings.HasPrefix(k, "X509_")) {
			env[k] = v
		}
	}
	return env, nil
}

func reachable(env map[string]string, need []string) error {
	for _, k := range need {
		u, err := url.Parse(env[k])
		if err != nil || u.Host == "" {
			return fmt.Errorf("%s=%q is not an endpoint URL", k, env[k])
		}
		c, err := net.DialTimeout("tcp", u.Host, 3*time.Second)
		if err != nil {
			return fmt.Errorf("%s %s unreachable: %v", k, u, err)
		}
		c.Close()
	}
	return nil
}
