package faults

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gridprobe/gridprobe/internal/publish"
	"github.com/gridprobe/gridprobe/internal/publish/stomptest"
)

// publishSurfaces extends the leak proof to published results: it runs
// `probe run --publish --debug` with the proof's token-file config twice
// against the testbed broker. The first run delivers; every message is
// read back with the independent STOMP consumer (stomptest) and searched.
// The second logs in with a wrong password, so its messages stay in the
// spool: the spool files and both runs' stderr are searched too.
func (h *Harness) publishSurfaces(ctx context.Context, lp *LeakProof, bin, cfgYAML string, env []string, dir string) error {
	e := h.TB.Env
	if e["GRIDPROBE_STOMP_URL"] == "" {
		return fmt.Errorf("publish leak proof: no broker in the testbed (testbed/broker/up.sh)")
	}
	unlock, err := lockBroker(e["GRIDPROBE_TESTBED"])
	if err != nil {
		return err
	}
	defer unlock()
	u, err := url.Parse(e["GRIDPROBE_STOMP_URL"])
	if err != nil {
		return fmt.Errorf("publish leak proof: %w", err)
	}
	login, pass, err := publish.ReadCredentials(e["GRIDPROBE_STOMP_CREDENTIALS"])
	if err != nil {
		return err
	}
	lp.Needles = append(lp.Needles, Needle{"broker password", pass})
	b := make([]byte, 6)
	rand.Read(b)
	dest := fmt.Sprintf("/queue/gridprobe.leakproof.%x", b)

	cctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	c, err := stomptest.Dial(cctx, u.Host, nil, login, pass)
	if err != nil {
		return fmt.Errorf("publish leak proof: %w", err)
	}
	defer c.Close()
	if err := c.Subscribe(dest); err != nil {
		return fmt.Errorf("publish leak proof: %w", err)
	}
	wrongCreds := filepath.Join(dir, "broker-wrong-credentials")
	if err := os.WriteFile(wrongCreds, []byte("gridprobe:leakproof-wrong-"+randomString(8)+"\n"), 0o600); err != nil {
		return err
	}
	good, n, err := h.publishRun(cctx, lp, bin, cfgYAML, env, dir, "good", dest, e["GRIDPROBE_STOMP_CREDENTIALS"])
	if err != nil {
		return err
	}
	var msgs strings.Builder
	for i := 0; i < n; i++ {
		f, err := c.Next(cctx)
		if err != nil {
			return fmt.Errorf("publish leak proof: %d of %d messages read back: %w", i, n, err)
		}
		fmt.Fprintf(&msgs, "%v\n%s\n", f.Header, f.Body)
	}
	lp.Surfaces = append(lp.Surfaces, Surface{fmt.Sprintf("published messages (%d, read back from the broker)", n), msgs.String()})
	if n == 0 || good != 0 {
		lp.Problems = append(lp.Problems, fmt.Sprintf("publish leak proof: %d results published, %d left in the spool", n, good))
	}
	left, _, err := h.publishRun(cctx, lp, bin, cfgYAML, env, dir, "refused", dest, wrongCreds)
	if err != nil {
		return err
	}
	spool, err := readSpool(filepath.Join(dir, "spool-refused"))
	if err != nil {
		return err
	}
	lp.Surfaces = append(lp.Surfaces, Surface{fmt.Sprintf("spool files of a refused login (%d)", left), spool})
	if left == 0 {
		lp.Problems = append(lp.Problems, "publish leak proof: the refused login left nothing in the spool to search")
	}
	return nil
}

// publishRun runs `probe run --publish --debug` with a publish: section; it
// returns how many messages stayed in the spool and how many were published.
func (h *Harness) publishRun(ctx context.Context, lp *LeakProof, bin, cfgYAML string, env []string, dir, name, dest, creds string) (left, published int, err error) {
	spool := filepath.Join(dir, "spool-"+name)
	cfg := filepath.Join(dir, "sites-publish-"+name+".yaml")
	yaml := cfgYAML + fmt.Sprintf("publish: {url: %s, destination: %q, credentials_file: %s, spool_dir: %s, flush_timeout: 30s}\n",
		h.TB.Env["GRIDPROBE_STOMP_URL"], dest, creds, spool)
	if name == "refused" {
		yaml = strings.Replace(yaml, "flush_timeout: 30s", "flush_timeout: 2s", 1)
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return 0, 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(rctx, bin, "run", "-c", cfg, "--format", "json", "--debug", "--reproduce", "--progress", "off", "--publish")
	cmd.Env = append(append([]string{}, env...), "XDG_RUNTIME_DIR="+dir)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			return 0, 0, fmt.Errorf("probe run --publish (%s): %w", name, err)
		}
	}
	lp.Surfaces = append(lp.Surfaces, Surface{"probe run --publish (" + name + ") stderr", stderr.String()})
	if _, err := fmt.Sscanf(after(stderr.String(), "probe run: published "), "%d", &published); err != nil {
		return 0, 0, fmt.Errorf("probe run --publish (%s): no publish summary on stderr:\n%s", name, stderr.String())
	}
	ents, _ := filepath.Glob(filepath.Join(spool, "*.msg"))
	return len(ents), published, nil
}

// after returns what follows the last occurrence of marker in s.
func after(s, marker string) string {
	if i := strings.LastIndex(s, marker); i >= 0 {
		return s[i+len(marker):]
	}
	return ""
}

func readSpool(dir string) (string, error) {
	ents, err := filepath.Glob(filepath.Join(dir, "*.msg"))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range ents {
		data, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("publish leak proof: %w", err)
		}
		b.Write(data)
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// lockBroker takes the broker's test lock shared (a test that restarts the
// broker takes it exclusively; see testbedenv.BrokerLock).
func lockBroker(tb string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(tb, "broker", "test.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("broker lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("broker lock: %w", err)
	}
	return func() { f.Close() }, nil
}
