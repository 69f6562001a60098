package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/registry"
	"github.com/gridprobe/gridprobe/probes/storage"
	"github.com/gridprobe/gridprobe/probes/xrootd"
)

// ErrNoTestbed is wrapped by LoadTestbed when the testbed is down.
var ErrNoTestbed = errors.New("testbed unreachable")

// Testbed is the running local testbed (testbed/up.sh): its client
// environment from testbed/env.
type Testbed struct {
	Root string            // repository root
	Env  map[string]string // GRIDPROBE_* and X509_* variables
}

// FindRoot is the repository root (the directory holding testbed/env).
func FindRoot() (string, error) { return testbedenv.RepoRoot(), nil }

// testbedEndpoints are the endpoints the fault suite needs.
var testbedEndpoints = []string{"GRIDPROBE_WEBDAV_URL", "GRIDPROBE_XROOTD_URL", "GRIDPROBE_ISSUER"}

// LoadTestbed reads the testbed environment (internal/testbedenv) and
// checks the WebDAV, XRootD and issuer endpoints answer.
func LoadTestbed(root string) (*Testbed, error) {
	env, err := testbedenv.Read(testbedEndpoints...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoTestbed, err)
	}
	return &Testbed{Root: root, Env: env}, nil
}

// TestTestbed is the testbed for a test, through internal/testbedenv: the
// test fails when it is down, unless GRIDPROBE_NO_TESTBED=1 (then it is
// skipped, saying so).
func TestTestbed(t testing.TB) *Testbed {
	t.Helper()
	return &Testbed{Root: testbedenv.RepoRoot(), Env: testbedenv.Load(t, testbedEndpoints...)}
}

// WebDAVAddr is host:port of the testbed's https endpoint.
func (tb *Testbed) WebDAVAddr() string {
	return strings.TrimPrefix(tb.Env["GRIDPROBE_WEBDAV_URL"], "https://")
}

// XRootDAddr is host:port of the testbed's roots:// endpoint.
func (tb *Testbed) XRootDAddr() string {
	return strings.TrimPrefix(tb.Env["GRIDPROBE_XROOTD_URL"], "roots://")
}

// Curl runs curl with the testbed proxy and CA directory (never a token).
func (tb *Testbed) Curl(ctx context.Context, args ...string) (string, error) {
	base := []string{"-sS", "--max-time", "20", "--capath", tb.Env["X509_CERT_DIR"], "--cert", tb.Env["X509_USER_PROXY"], "--key", tb.Env["X509_USER_PROXY"]}
	out, err := exec.CommandContext(ctx, "curl", append(base, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("curl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// MkdirWebDAV creates dir (and parents one by one) on the testbed with the
// proxy; existing directories are fine.
func (tb *Testbed) MkdirWebDAV(ctx context.Context, dir string) error {
	parts := strings.Split(strings.Trim(dir, "/"), "/")
	p := ""
	for _, e := range parts {
		p += "/" + e
		out, err := tb.Curl(ctx, "-o", "/dev/null", "-w", "%{http_code}", "-X", "MKCOL", tb.Env["GRIDPROBE_WEBDAV_URL"]+p)
		if err != nil {
			return err
		}
		if out != "201" && out != "405" {
			return fmt.Errorf("MKCOL %s: HTTP %s", p, out)
		}
	}
	return nil
}

// MkdirLeaf creates dir, whose parent exists, with one MKCOL.
func (tb *Testbed) MkdirLeaf(ctx context.Context, dir string) error {
	out, err := tb.Curl(ctx, "-o", "/dev/null", "-w", "%{http_code}", "-X", "MKCOL", tb.Env["GRIDPROBE_WEBDAV_URL"]+dir)
	if err != nil {
		return err
	}
	if out != "201" && out != "405" {
		return fmt.Errorf("MKCOL %s: HTTP %s", dir, out)
	}
	return nil
}

// ListWebDAV returns the raw PROPFIND Depth:1 answer for dir.
func (tb *Testbed) ListWebDAV(ctx context.Context, dir string) (string, error) {
	return tb.Curl(ctx, "-X", "PROPFIND", "-H", "Depth: 1", tb.Env["GRIDPROBE_WEBDAV_URL"]+dir+"/")
}

// ListXRootD lists dir with xrdfs and the testbed proxy.
func (tb *Testbed) ListXRootD(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "xrdfs", tb.Env["GRIDPROBE_XROOTD_URL"], "ls", dir)
	env := append(os.Environ(), "X509_USER_PROXY="+tb.Env["X509_USER_PROXY"], "X509_CERT_DIR="+tb.Env["X509_CERT_DIR"],
		"XrdSecPROTOCOL=gsi", "BEARER_TOKEN=", "BEARER_TOKEN_FILE=/nonexistent")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	for try := 0; err != nil && try < 2; try++ { // xrdfs sometimes fails its TLS set-up under load
		time.Sleep(500 * time.Millisecond)
		cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
		cmd.Env = env
		out, err = cmd.CombinedOutput()
	}
	if err != nil {
		return string(out), fmt.Errorf("xrdfs ls %s: %w: %s", dir, err, out)
	}
	return string(out), nil
}

// ServerLogOffset is the current size of the testbed XRootD log, so
// AuditDeletes can read only what a round added.
func (tb *Testbed) ServerLogOffset() int64 {
	fi, err := os.Stat(tb.Env["GRIDPROBE_XROOTD_LOG"])
	if err != nil {
		return 0
	}
	return fi.Size()
}

// AuditDeletes returns the paths of every delete the testbed server
// audited (granted or denied) since offset.
func (tb *Testbed) AuditDeletes(offset int64) ([]string, error) {
	f, err := os.Open(tb.Env["GRIDPROBE_XROOTD_LOG"])
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return nil, err
	}
	b, err := readAllLimit(f, 256<<20)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "acc_Audit:") {
			continue
		}
		if i := strings.Index(line, " delete /"); i >= 0 {
			out = append(out, strings.TrimSpace(line[i+len(" delete "):]))
		}
	}
	return out, nil
}

func readAllLimit(f *os.File, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, max))
	if err != nil {
		return nil, fmt.Errorf("reading server log: %w", err)
	}
	return b, nil
}

// OpenStore opens the testbed endpoint of a storage type (webdav, xrootd)
// with the testbed proxy, through the protocol's registered transport.
func (tb *Testbed) OpenStore(ctx context.Context, typ string) (storage.Store, func(), error) {
	raw := tb.Env["GRIDPROBE_WEBDAV_URL"]
	if typ == xrootd.Type {
		raw = tb.Env["GRIDPROBE_XROOTD_URL"]
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	sv := &config.Service{Type: typ, URL: u, RawURL: raw}
	creds := probe.NewCredentials(config.Credentials{X509: config.X509{Proxy: tb.Env["X509_USER_PROXY"], CADir: tb.Env["X509_CERT_DIR"]}}, nil)
	return registry.OpenStore(ctx, probe.Target{Service: sv, Site: &config.Site{}, Config: &config.Config{}, Creds: creds})
}
