package serve_test

import (
	"context"
	"fmt"
	"github.com/gridprobe/gridprobe/probes/storage"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/serve"
	"github.com/gridprobe/gridprobe/internal/serve/servetest"
)

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium (apt-get install -y --no-install-recommends chromium)")
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// TestStatusPageInChromium loads the status page of a probe serving the
// testbed in headless Chromium and checks that the rendered matrix shows
// every check of every service with its state; it writes the screenshot
// used by the README (docs/status-page.png).
func TestStatusPageInChromium(t *testing.T) {
	servetest.Testbed(t)
	bin := chromium(t)
	s := servetest.Start(t, serve.Options{})
	s.WaitRounds(t, 3*time.Minute)
	entries := s.Snapshot()
	if len(entries) == 0 {
		t.Fatal("no results after the first rounds")
	}

	dom := string(runChromium(t, bin, "--dump-dom", "--virtual-time-budget=5000", s.URL+"/"))
	rows := map[string]string{}
	for _, part := range strings.Split(dom, "<tr ")[1:] {
		end := strings.Index(part, "</tr>")
		if end < 0 {
			continue
		}
		var site, service string
		fmt.Sscanf(strings.NewReplacer(`data-site="`, "", `" data-service="`, " ", `">`, " ").Replace(part[:strings.Index(part, ">")+1]), "%s %s", &site, &service)
		rows[site+" "+service] += part[:end] // a CE has two rows: its own checks and its WN checks
	}
	for _, e := range entries {
		row, ok := rows[e.Site+" "+e.Service]
		if !ok {
			t.Errorf("no row for %s %s in the rendered page", e.Site, e.Service)
			continue
		}
		want := fmt.Sprintf(`data-check="%s" data-credential="%s" data-state="%s"`, e.Check, e.Credential, e.State)
		if !strings.Contains(row, want) {
			t.Errorf("row %s %s lacks the cell %s", e.Site, e.Service, want)
		}
	}
	t.Logf("rendered %d rows, %d checks", len(rows), len(entries))
	// The TPC checks of sites.yaml's partner are ordinary checks on the page.
	tpc := 0
	for _, e := range entries {
		if r, _ := storage.TPCRule(e.Check); r != "" {
			tpc++
		}
	}
	if tpc != len(storage.TPCIDs()) {
		t.Errorf("%d TPC checks on the page, want %d (one per rule with the testbed's partner)", tpc, len(storage.TPCIDs()))
	}

	tmp := filepath.Join(t.TempDir(), "shot.png")
	runChromium(t, bin, "--screenshot="+tmp, "--window-size=1500,900", "--hide-scrollbars", s.URL+"/")
	png, err := os.ReadFile(tmp)
	if err != nil || len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot: %v (%d bytes)", err, len(png))
	}
	// The README's screenshot is refreshed on request only, so a test run
	// leaves the work tree as it found it.
	if os.Getenv("GRIDPROBE_UPDATE_SCREENSHOT") == "1" {
		shot := filepath.Join(servetest.RepoRoot(), "docs", "status-page.png")
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", shot)
	}
}
