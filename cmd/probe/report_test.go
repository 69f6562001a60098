package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReportAR backfills a real Prometheus (promtool tsdb
// create-blocks-from openmetrics) with ten hours of the A/R rules' :up
// samples and checks `probe report --ar` against numbers worked out by
// hand:
//
//	T2_A: 600 minutes, 450 up and 150 down → availability 75 %;
//	      reliability: 90 of the down minutes were a scheduled downtime (no
//	      sample) → 450 / 510 = 88.24 %.
//	T2_B: results only for the first 300 minutes, all up → 100 %, 5 h known.
func TestReportAR(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (Debian package prometheus): %v", err)
	}
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not found (Debian package prometheus): %v", err)
	}
	dir := t.TempDir()
	base := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)
	var om bytes.Buffer
	series := func(name, labels string, value func(i int) (float64, bool), n int) {
		fmt.Fprintf(&om, "# TYPE %s gauge\n", name)
		for i := range n {
			if v, ok := value(i); ok {
				// Samples half-way through each minute: inside the window
				// whether its start is inclusive (Prometheus 2) or not (3).
				fmt.Fprintf(&om, "%s{%s} %g %d\n", name, labels, v, base.Add(time.Duration(i)*time.Minute+30*time.Second).Unix())
			}
		}
	}
	upA := func(i int) (float64, bool) { return b2f(i < 450), true }
	relA := func(i int) (float64, bool) { return b2f(i < 450), i < 450 || i >= 540 }
	upB := func(i int) (float64, bool) { return 1, i < 300 }
	series("gridprobe:site_availability:up", `site="T2_A",vo="testvo"`, upA, 600)
	series("gridprobe:site_reliability:up", `site="T2_A",vo="testvo"`, relA, 600)
	series("gridprobe:site_availability:up", `site="T2_B",vo="testvo"`, upB, 600)
	series("gridprobe:site_reliability:up", `site="T2_B",vo="testvo"`, upB, 600)
	series("gridprobe:service_availability:up", `site="T2_A",service="org.testvo.SE-WebDAV",protocol="webdav",vo="testvo"`, upA, 600)
	series("gridprobe:service_reliability:up", `site="T2_A",service="org.testvo.SE-WebDAV",protocol="webdav",vo="testvo"`, relA, 600)
	om.WriteString("# EOF\n")
	omFile := filepath.Join(dir, "ar.om")
	if err := os.WriteFile(omFile, om.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", omFile, data).CombinedOutput(); err != nil {
		t.Fatalf("promtool tsdb create-blocks-from: %v\n%s", err, out)
	}
	promURL := startPrometheus(t, promBin, dir, data)

	from, to := base.Format(time.RFC3339), base.Add(600*time.Minute).Format(time.RFC3339)
	var out, errb bytes.Buffer
	if code := run([]string{"report", "--ar", "--prometheus", promURL, "--from", from, "--to", to, "--format", "csv"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := "site,vo,availability %,reliability %,known h,known h (excl. downtime)\n" +
		"T2_A,testvo,75.00,88.24,10.0,8.5\n" +
		"T2_B,testvo,100.00,100.00,5.0,5.0\n"
	if out.String() != want {
		t.Errorf("csv:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	if code := run([]string{"report", "--ar", "--prometheus", promURL, "--from", from, "--to", to, "--services", "--site", "T2_A"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, w := range []string{"Availability and reliability of services", "org.testvo.SE-WebDAV", "webdav", "75.00", "88.24"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, out.String())
		}
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"report", "--ar", "--prometheus", promURL, "--from", to, "--to", from}, &out, &errb); code != 3 || !strings.Contains(errb.String(), "is not after --from") {
		t.Errorf("reversed window: exit %d, %s", code, errb.String())
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// startPrometheus runs a real Prometheus on data, on a free loopback port,
// until the test ends, and returns its URL once it is ready.
func startPrometheus(t *testing.T, bin, dir, data string) string {
	t.Helper()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global: {scrape_interval: 1m}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+data, "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Fatalf("prometheus not ready after 30 s:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
