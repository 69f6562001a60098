// Command matrix runs every probe (WebDAV and XRootD, ARC-CE and
// HTCondor-CE; crt and tkn) against every server release that
// testbed/matrix/up.sh started (plus the testbed's own bookworm SE, bookworm
// ARC-CE and trixie HTCondor-CE), and prints one version matrix per product,
// the non-OK cells with the probe's detail, and the known-issues table
// generated from the run and testbed/matrix/annotations.yaml. With -o it
// also writes all of that, with the date and the machine, to a Markdown file.
//
// It uses the same plan and engine as `probe run`; only the sites.yaml is
// generated (one site per product and release, same VO, paths and
// credentials). The HTCondor client tools are the same for every column
// (GRIDPROBE_CONDOR_ROOT, testbed/ce's trixie chroot): only the server
// release differs.
//
// Usage (from the repository root, after testbed/up.sh and testbed/matrix/up.sh):
//
//	eval "$(testbed/env)" && go run ./testbed/matrix/cmd/matrix [-o testbed/matrix/RESULTS.md]
//
// Exit code: 0, or 1 when a non-OK cell has no annotation (the table says
// UNEXPLAINED), 3 on a usage or set-up error.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/round"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
	"github.com/gridprobe/gridprobe/probes/ce"
	"github.com/gridprobe/gridprobe/testbed/matrix"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tb := os.Getenv("GRIDPROBE_TESTBED")
	if tb == "" {
		tb = "/tmp/gridprobe-testbed"
	}
	relFile := fs.String("releases", filepath.Join(tb, "matrix", "releases.tsv"), "releases file written by testbed/matrix/up.sh")
	annFile := fs.String("annotations", "testbed/matrix/annotations.yaml", "annotations file")
	out := fs.String("o", "", "also write the results as Markdown to this file")
	timeout := fs.Duration("timeout", 30*time.Second, "per-check timeout")
	showYAML := fs.Bool("print-config", false, "print the generated sites.yaml and exit")
	withCE := fs.Bool("ce", true, "include the compute-element columns (ARC-CE, HTCondor-CE: job round trips, ~1 min)")
	mint := fs.String("mint", "", "mint tokens with this gridprobe-issuer binary and the testbed's keys instead of asking the running issuer\n(to test the servers with tokens a running issuer of an older build cannot make: version and group requests)")
	if err := fs.Parse(args); err != nil {
		return 3
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "matrix: "+format+"\n", a...)
		return 3
	}

	releases, err := readReleases(*relFile)
	if err != nil {
		return fail("%v (run testbed/matrix/up.sh)", err)
	}
	if !*withCE {
		releases = slices.DeleteFunc(releases, func(r release) bool { return r.Product != matrix.ProductXRootD })
	}
	hasCondor := slices.ContainsFunc(releases, func(r release) bool { return r.Product == matrix.ProductHTCondor })
	if hasCondor && os.Getenv(ce.CondorRootEnv) == "" {
		return fail("%s is not set: eval \"$(testbed/env)\" first (testbed/ce/env sets it)", ce.CondorRootEnv)
	}
	// The expired token up.sh minted for every CE of the matrix (16tkn-access).
	if f := filepath.Join(filepath.Dir(*relFile), "tokens", "ce-expired.jwt"); fileExists(f) {
		os.Setenv(ce.ExpiredTokenEnv, f)
	}
	af, err := matrix.LoadAnnotations(*annFile)
	if err != nil {
		return fail("%v", err)
	}
	for _, v := range []string{"X509_USER_PROXY", "GRIDPROBE_ISSUER", "GRIDPROBE_REF_ADLER32"} {
		if os.Getenv(v) == "" {
			return fail("%s is not set: eval \"$(testbed/env)\" first", v)
		}
	}
	yml := sitesYAML(releases, *timeout)
	if *showYAML {
		fmt.Fprint(stdout, yml)
		return 0
	}
	cfg, err := config.Parse("matrix.yaml (generated)", []byte(yml))
	if err != nil {
		return fail("generated config: %v", err)
	}
	opts := round.Options{}
	if *mint != "" {
		dir, err := os.MkdirTemp("", "gridprobe-matrix-tokens-")
		if err != nil {
			return fail("%v", err)
		}
		defer os.RemoveAll(dir)
		opts.Tokens = &testbedenv.Mint{Bin: *mint, Keys: filepath.Join(tb, "issuer", "keys"), Dir: dir}
	}
	rd, err := round.Build(cfg, opts)
	if err != nil {
		return fail("plan: %v", err)
	}
	defer rd.Close()
	if rd.TokenErr != nil {
		fmt.Fprintf(stderr, "matrix: tokens: %v\n", cred.Redact(rd.TokenErr.Error()))
	}
	start := time.Now()
	results := rd.Runner(len(rd.Sites), nil).Run(ctx, rd.Sites)
	took := time.Since(start)

	var ms []*matrix.Matrix
	for _, p := range []string{matrix.ProductXRootD, matrix.ProductARC, matrix.ProductHTCondor} {
		var cols []matrix.Release
		for _, r := range releases {
			if r.Product == p {
				cols = append(cols, r.Release)
			}
		}
		if len(cols) > 0 {
			ms = append(ms, matrix.New(cols, results))
		}
	}
	issues, stale := matrix.ExplainAll(ms, af.Annotations)
	var b strings.Builder
	note := ""
	if *mint != "" {
		note = "Tokens were minted with the testbed's keys by `gridprobe-issuer mint` built from this tree (`-mint`), shaped as its token endpoint shapes them (version and group requests honoured)."
	}
	writeReport(&b, ms, issues, af.Annotations, stale, af.Findings, start, took, note)
	fmt.Fprint(stdout, b.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
			return fail("write %s: %v", *out, err)
		}
		fmt.Fprintf(stderr, "matrix: wrote %s\n", *out)
	}
	if n := len(matrix.Unexplained(issues)) + len(matrix.UnexplainedRules(matrix.ExplainRules(ms, af.Annotations))); n > 0 {
		fmt.Fprintf(stderr, "matrix: %d non-OK cell(s) without an annotation: establish the cause by hand and add them to %s\n", n, *annFile)
		return 1
	}
	return 0
}

// readReleases reads up.sh's releases.tsv: product, release, version,
// start-up ms, URL, second URL (xrootd: https; "-" for the CEs).
func readReleases(path string) ([]release, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("releases: %w", err)
	}
	defer f.Close()
	var rs []release
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fl := strings.Split(line, "\t")
		if len(fl) != 6 {
			return nil, fmt.Errorf("%s:%d: want 6 tab-separated fields, got %d (re-run testbed/matrix/up.sh)", path, n, len(fl))
		}
		r := release{Release: matrix.Release{Product: fl[0], Name: fl[1], Version: fl[2], StartupMS: fl[3]}, url: fl[4], url2: fl[5]}
		switch r.Product {
		case matrix.ProductXRootD:
			r.Site = "T2_LOCAL_" + r.Name
		case matrix.ProductARC:
			r.Site = "T2_LOCAL_ARC_" + r.Name
		case matrix.ProductHTCondor:
			r.Site = "T2_LOCAL_HTCondor_" + r.Name
		default:
			return nil, fmt.Errorf("%s:%d: unknown product %q", path, n, r.Product)
		}
		rs = append(rs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("releases: %w", err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("releases: %s lists no release", path)
	}
	return rs, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

type release struct {
	matrix.Release
	url, url2 string
}

// sitesYAML is the generated sites.yaml: one site per product and release.
// Storage: the same WebDAV and XRootD services as the main testbed (no
// federation: only bookworm has a redirector); the audience is each
// endpoint's own URL, which every release's scitokens.cfg lists. Each
// protocol writes below its own directory (up.sh makes them): a site's
// services run side by side and both protocols reach the same server. CEs: the
// same services as testbed/ce's in sites.yaml (ARC queue grid).
func sitesYAML(rs []release, timeout time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# generated by testbed/matrix/cmd/matrix: one site per product and server release
vo: testvo
prefix: org.testvo
defaults: {timeout: %s, budget: 10m, concurrency: %d}
credentials:
  x509:
    proxy: ${X509_USER_PROXY}
    foreign_proxy: ${GRIDPROBE_FOREIGN_PROXY}
    novoms_proxy: ${GRIDPROBE_NOVOMS_PROXY}
    ca_dir: ${X509_CERT_DIR}
    voms_dir: ${X509_VOMS_DIR}
  token:
    issuer: ${GRIDPROBE_ISSUER}
    client_id: ${GRIDPROBE_CLIENT_ID}
    client_secret_file: ${GRIDPROBE_CLIENT_SECRET_FILE}
    ca_file: ${GRIDPROBE_ISSUER_CA}
sites:
`, timeout, len(rs))
	for _, r := range rs {
		fmt.Fprintf(&b, "  - name: %s\n    services:\n", r.Site)
		switch r.Product {
		case matrix.ProductARC:
			fmt.Fprintf(&b, "      - type: arc-ce\n        url: %s\n        queue: grid\n", r.url)
			continue
		case matrix.ProductHTCondor:
			fmt.Fprintf(&b, "      - type: htcondor-ce\n        url: %s\n", r.url)
			continue
		}
		for _, s := range []struct{ typ, url string }{{"webdav", r.url2}, {"xrootd", r.url}} {
			fmt.Fprintf(&b, `      - type: %s
        url: %s
        audience: %s
        scope_base: /testvo
        read_file:
          path: /testvo/reference.dat
          adler32: ${GRIDPROBE_REF_ADLER32}
          size: ${GRIDPROBE_REF_SIZE}
        write_dir: /testvo/gridprobe/matrix-%s
        foreign_file: /othervo/reference.dat
`, s.typ, s.url, s.url, s.typ)
			if s.typ == "webdav" {
				b.WriteString(tpcPartners(rs, r))
			}
		}
	}
	return b.String()
}

// tpcPartners are the HTTP-TPC partners of a release's WebDAV service:
// every storage release, named by its release, so that the TPC rows of the
// matrix name the partner's release and the columns the site's (both
// directions of every pair: pull and push). The site's own release is the
// testbed's partner SE for bookworm (a second 5.5.3) and the server itself
// for the others (a copy within one release).
func tpcPartners(rs []release, site release) string {
	var b strings.Builder
	b.WriteString("        tpc_partners:\n")
	for _, p := range rs {
		if p.Product != matrix.ProductXRootD {
			continue
		}
		u, adler, size := p.url2, "${GRIDPROBE_REF_ADLER32}", "${GRIDPROBE_REF_SIZE}"
		if p.Name == "bookworm" && site.Name == "bookworm" {
			if os.Getenv("GRIDPROBE_PARTNER_WEBDAV_URL") == "" {
				continue
			}
			u, adler, size = "${GRIDPROBE_PARTNER_WEBDAV_URL}", "${GRIDPROBE_PARTNER_REF_ADLER32}", "${GRIDPROBE_PARTNER_REF_SIZE}"
		}
		fmt.Fprintf(&b, "          - {name: %s, url: \"%s\", scope_base: /testvo, write_dir: /testvo/gridprobe, read_file: {path: /testvo/reference.dat, adler32: \"%s\", size: \"%s\"}}\n",
			p.Name, u, adler, size)
	}
	return b.String()
}

func writeReport(b *strings.Builder, ms []*matrix.Matrix, issues []matrix.Issue, anns []*matrix.Annotation, stale []string, findings []*matrix.Finding, start time.Time, took time.Duration, tokensNote string) {
	host, _ := os.Hostname()
	deb, _ := os.ReadFile("/etc/debian_version")
	fmt.Fprintf(b, "## Server version matrix\n\nRun %s on %s (Debian %s, %d CPUs, %s/%s, %s); the round took %s.\n\n",
		start.UTC().Format("2006-01-02 15:04 MST"), host, strings.TrimSpace(string(deb)), runtime.NumCPU(),
		runtime.GOOS, runtime.GOARCH, runtime.Version(), took.Round(100*time.Millisecond))
	if tokensNote != "" {
		fmt.Fprintf(b, "%s\n\n", tokensNote)
	}
	b.WriteString("| product | release | package | version | start-up |\n|---|---|---|---|---|\n")
	for _, m := range ms {
		for _, r := range m.Releases {
			title, pkg := matrix.ProductTitle(r.Product)
			su := r.StartupMS + " ms"
			if r.StartupMS == "-" || r.StartupMS == "" {
				su = "testbed (testbed/up.sh, testbed/ce/up.sh)"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", title, r.Name, pkg, r.Version, su)
		}
	}
	for _, m := range ms {
		title, _ := matrix.ProductTitle(m.Releases[0].Product)
		fmt.Fprintf(b, "\n### %s\n\n", title)
		_ = m.WriteTable(b)
	}
	b.WriteString("\n### Non-OK cells (probe detail)\n\n")
	none := true
	for _, m := range ms {
		if len(m.NonOK()) > 0 {
			none = false
			_ = m.WriteNonOK(b)
		}
	}
	if none {
		b.WriteString("Every check is OK against every release.\n")
	}
	b.WriteString("\n### Known issues (generated from this run + testbed/matrix/annotations.yaml)\n\n")
	b.WriteString("UNKNOWN cells after a failed prerequisite, the 99summary rows and checks explained rule by rule (16tkn-access: see Rule issues) follow from other rows and are not repeated.\n\n")
	_ = matrix.WriteKnownIssues(b, issues)
	if len(stale) > 0 {
		fmt.Fprintf(b, "\nAnnotations that matched no cell in this run (fixed, or not reached): %s.\n", strings.Join(stale, ", "))
	}
	ruleIssues := matrix.ExplainRules(ms, anns)
	if len(ruleIssues) > 0 {
		b.WriteString("\n### WLCG token profile rules per release (16tkn-access; (i): a newer version than expected, informational)\n\n")
		for _, m := range ms {
			_ = m.WriteRuleTable(b)
		}
		b.WriteString("\n### Rule issues (generated from this run + testbed/matrix/annotations.yaml)\n\n")
		_ = matrix.WriteRuleIssues(b, ruleIssues)
	}
	b.WriteString("\n### How each issue was confirmed by hand\n\n")
	_ = matrix.WriteReproduce(b, issues)
	_ = matrix.WriteRuleReproduce(b, ruleIssues)
	if len(findings) > 0 {
		b.WriteString("### Found by hand, not covered by a check (from testbed/matrix/annotations.yaml)\n\n")
		_ = matrix.WriteFindings(b, findings)
	}
}
