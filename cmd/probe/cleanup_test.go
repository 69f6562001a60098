package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
)

// TestCleanupRemovesOnlyOldRunDirs plants, over root:// with the proxy, an
// old run's scratch dir, a recent one and a directory that is not a run id
// below the testbed's write_dir; `probe cleanup --older-than 24h` removes
// only the old run's.
func TestCleanupRemovesOnlyOldRunDirs(t *testing.T) {
	env := testbedenv.Setenv(t, "GRIDPROBE_XROOTD_URL", "GRIDPROBE_WEBDAV_URL")
	root := strings.Replace(env["GRIDPROBE_XROOTD_URL"], "roots://", "root://", 1)
	old := "/testvo/gridprobe/gp-20200101T000000Z-" + strings.Repeat("0a", 6)
	recent := "/testvo/gridprobe/" + engine.NewRunID()
	notOurs := "/testvo/gridprobe/keep-" + filepath.Base(t.TempDir())
	xrdfs := func(args ...string) {
		t.Helper()
		cmd := exec.Command("xrdfs", append([]string{root}, args...)...)
		cmd.Env = append(os.Environ(), "XrdSecPROTOCOL=gsi")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("xrdfs %v: %v\n%s", args, err, out)
		}
	}
	for _, d := range []string{old + "/sub", recent, notOurs} {
		xrdfs("mkdir", "-p", d)
	}
	t.Cleanup(func() {
		exec.Command("xrdfs", root, "rmdir", notOurs).Run()
		exec.Command("xrdfs", root, "rmdir", recent).Run()
	})
	cfg := filepath.Join(testbedenv.RepoRoot(), "sites.yaml")
	var out, errb bytes.Buffer
	if code := run([]string{"cleanup", "-c", cfg}, &out, &errb); code != 0 {
		t.Fatalf("list: exit %d: %s %s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), old+"  age") || strings.Contains(out.String(), notOurs) {
		t.Fatalf("listing:\n%s", out.String())
	}
	out.Reset()
	if code := run([]string{"cleanup", "-c", cfg, "--site", "T2_LOCAL_Testbed", "--older-than", "24h"}, &out, &errb); code != 0 {
		t.Fatalf("clean: exit %d: %s %s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), old) || !strings.Contains(out.String(), "removed (2 objects)") ||
		!strings.Contains(out.String(), "kept (younger than 24h0m0s)") {
		t.Fatalf("clean output:\n%s", out.String())
	}
	stat := func(p string) error {
		cmd := exec.Command("xrdfs", root, "stat", p)
		cmd.Env = append(os.Environ(), "XrdSecPROTOCOL=gsi")
		return cmd.Run()
	}
	if stat(old) == nil {
		t.Errorf("%s still there", old)
	}
	if stat(recent) != nil || stat(notOurs) != nil {
		t.Errorf("cleanup removed a recent run or a directory that is not a run's")
	}
}
