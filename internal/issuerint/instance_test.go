package issuerint

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/testbedenv"
)

// Ports reserved for these tests' issuer instances.
const (
	OutagePort = 18544
	AgentPort  = 18545
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// issuerBinary builds testbed/issuer of this tree once per test binary:
// the shared testbed may run an older build.
func issuerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gridprobe-issuerint-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "gridprobe-issuer")
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			goBin = "go"
		}
		cmd := exec.Command(goBin, "build", "-o", builtBin, "./testbed/issuer")
		cmd.Dir = testbedenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./testbed/issuer: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// instance is a second testbed issuer: the shared issuer's identity, keys
// and clients, listening on its own port and advertising its endpoints
// there (--public-url), so tokens it issues are the ones the testbed's SE
// trusts, while the shared issuer keeps running.
type instance struct {
	t      *testing.T
	bin    string
	args   []string
	port   int
	URL    string // where it is reached
	log    string
	cmd    *exec.Cmd
	waited chan struct{}
}

func startInstance(t *testing.T, env map[string]string, port int) *instance {
	t.Helper()
	tb := env["GRIDPROBE_TESTBED"]
	in := &instance{t: t, bin: issuerBinary(t), port: port, URL: fmt.Sprintf("https://localhost:%d", port),
		log: filepath.Join(t.TempDir(), "issuer.log")}
	in.args = []string{"serve", "--keys", filepath.Join(tb, "issuer", "keys"), "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--url", env["GRIDPROBE_ISSUER"], "--public-url", in.URL,
		"--tls-cert", filepath.Join(tb, "host", "hostcert.pem"), "--tls-key", filepath.Join(tb, "host", "hostkey.pem"),
		"--clients", filepath.Join(tb, "issuer", "clients.json")}
	in.start()
	t.Cleanup(in.stop)
	return in
}

func (in *instance) start() {
	in.t.Helper()
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", in.port), time.Second); err == nil {
		c.Close()
		in.t.Fatalf("port %d is in use by another process (reserved for this test's issuer instance)", in.port)
	}
	logf, err := os.OpenFile(in.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		in.t.Fatal(err)
	}
	in.cmd = exec.Command(in.bin, in.args...)
	in.cmd.Stdout, in.cmd.Stderr = logf, logf
	if err := in.cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	in.waited = make(chan struct{})
	go func() { in.cmd.Wait(); logf.Close(); close(in.waited) }()
	in.waitListening(true)
}

// stop ends the instance (SIGTERM, then its own graceful shutdown) and
// waits until its port refuses connections.
func (in *instance) stop() {
	if in.cmd == nil {
		return
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.waited:
	case <-time.After(10 * time.Second):
		in.cmd.Process.Kill()
		<-in.waited
	}
	in.cmd = nil
	in.waitListening(false)
}

// waitListening waits until the port accepts (or refuses) connections.
func (in *instance) waitListening(up bool) {
	in.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", in.port), time.Second)
		if err == nil {
			c.Close()
		}
		if (err == nil) == up {
			return
		}
		if up && in.exited() {
			in.t.Fatalf("issuer instance on %d exited: %s", in.port, in.logTail())
		}
		select {
		case <-ctx.Done():
			in.t.Fatalf("issuer instance on %d: still %v after 10s: %s", in.port, map[bool]string{true: "not listening", false: "listening"}[up], in.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (in *instance) exited() bool {
	select {
	case <-in.waited:
		return true
	default:
		return false
	}
}

func (in *instance) logTail() string {
	b, _ := os.ReadFile(in.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

// logged counts the instance's log lines containing s.
func (in *instance) logged(s string) int {
	b, _ := os.ReadFile(in.log)
	return strings.Count(string(b), s)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}
