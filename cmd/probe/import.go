package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/vofeed"
)

// cmdImport runs `probe import`: it reads the experiment's VO feed and/or
// a CRIC query and writes a sites.yaml whose services take their paths from
// the templates of the base file.
func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("import", stderr)
	feedSrc := fs.String("vofeed", "", "the ETF VO feed XML: a file or an https URL")
	cricSrc := fs.String("cric", "", "a CRIC ?json site or service query: a file or an https URL")
	basePath := fs.String("base", "", "sites.yaml without sites (vo, credentials, defaults.templates) to write on top (default: a skeleton)")
	out := fs.String("o", "", "write here instead of stdout")
	caDir := fs.String("ca-dir", "", "grid CA directory for https sources (default: the base's credentials.x509.ca_dir, $X509_CERT_DIR, /etc/grid-security/certificates)")
	var f vofeed.Filter
	fs.Var((*listFlag)(&f.Groups), "group", "keep sites with this group: a feed group name (Tier-2) or tier=2, country=US, federation=X (repeatable)")
	fs.StringVar(&f.Production, "production", "true", "true: production services only; false: only the others; any")
	fs.Var((*listFlag)(&f.Flavours), "flavour", "keep only this flavour (WEBDAV, XROOTD, ARC-CE, HTCONDOR-CE) or type (repeatable)")
	if stop, code := parseFlags(fs, args); stop {
		return code
	}
	if *feedSrc == "" && *cricSrc == "" {
		fmt.Fprintln(stderr, "probe import: give --vofeed, --cric or both")
		return 3
	}
	if p := f.Production; p != "true" && p != "false" && p != "any" {
		fmt.Fprintf(stderr, "probe import: --production %q: true, false or any\n", p)
		return 3
	}
	text, err := importSites(ctx, importOptions{feed: *feedSrc, cric: *cricSrc, base: *basePath, caDir: *caDir, filter: f}, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "probe import: %v\n", err)
		return 1
	}
	if *out == "" {
		_, err = stdout.Write(text)
	} else {
		err = os.WriteFile(*out, text, 0o644)
	}
	if err != nil {
		fmt.Fprintf(stderr, "probe import: %v\n", err)
		return 1
	}
	return 0
}

type importOptions struct {
	feed, cric, base, caDir string
	filter                  vofeed.Filter
}

// importSites reads the sources and returns the sites.yaml text, after
// checking that it parses (with the environment) to the selected sites.
func importSites(ctx context.Context, o importOptions, report io.Writer) ([]byte, error) {
	baseText, baseName := []byte(nil), "base"
	var base *config.Config
	var err error
	if o.base != "" {
		if baseText, err = os.ReadFile(o.base); err != nil {
			return nil, err
		}
		if base, err = config.ParseBase(o.base, baseText, os.LookupEnv); err != nil {
			return nil, err
		}
		if len(base.Sites) > 0 {
			return nil, fmt.Errorf("%s has sites: probe import writes them (hand-written sites go next to sites_from: instead)", o.base)
		}
		baseName = o.base
		if o.caDir == "" {
			o.caDir = base.Credentials.X509.CADir
		}
	}
	vo := ""
	if base != nil {
		vo = base.VO
	}
	feed, cric, problems, err := readSources(ctx, o, vo)
	if err != nil {
		return nil, err
	}
	if base == nil {
		if feed != nil && feed.VO != "" {
			vo = feed.VO
		}
		baseText = skeleton(vo)
		if base, err = config.ParseBase(baseName, baseText, os.LookupEnv); err != nil {
			return nil, fmt.Errorf("the skeleton for VO %q: %w", vo, err)
		}
	}
	sel, more := vofeed.Select(feed, cric, o.filter, base)
	problems = append(problems, more...)
	merged, more := vofeed.Merge(base, sel) // each site validated, with the feed's positions
	problems = append(problems, more...)
	keepValid(sel, merged)
	vofeed.Report(report, nil, sel, problems)
	if len(sel.Sites) == 0 {
		return nil, fmt.Errorf("%w (filters: production %s, groups %v, flavours %v)", vofeed.ErrNoSites,
			o.filter.Production, o.filter.Groups, o.filter.Flavours)
	}
	var b bytes.Buffer
	header(&b, sel, o, len(problems))
	b.Write(bytes.TrimRight(baseText, "\n"))
	b.WriteString("\n\n")
	if err := vofeed.WriteSites(&b, sel); err != nil {
		return nil, err
	}
	c, err := config.Parse("the written sites.yaml", b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("the written sites.yaml does not validate: %w", err)
	}
	if len(c.Sites) != len(sel.Sites) {
		return nil, fmt.Errorf("the written sites.yaml has %d sites, not %d", len(c.Sites), len(sel.Sites))
	}
	fmt.Fprintf(report, "probe import: %d sites, %d services from %s\n", len(sel.Sites), sel.Services, strings.Join(sel.Sources, " and "))
	return b.Bytes(), nil
}

func readSources(ctx context.Context, o importOptions, vo string) (*vofeed.Feed, *vofeed.CRIC, []vofeed.Problem, error) {
	var feed *vofeed.Feed
	var cric *vofeed.CRIC
	var problems []vofeed.Problem
	if o.feed != "" {
		data, err := vofeed.Fetch(ctx, o.feed, "", o.caDir)
		if err != nil {
			return nil, nil, nil, err
		}
		f, probs, err := vofeed.ParseXML(sourceName(o.feed), bytes.NewReader(data))
		if err != nil {
			return nil, nil, nil, err
		}
		feed, problems = f, probs
		if vo == "" {
			vo = f.VO
		}
	}
	if o.cric != "" {
		data, err := vofeed.Fetch(ctx, o.cric, "", o.caDir)
		if err != nil {
			return nil, nil, nil, err
		}
		c, probs, err := vofeed.ParseCRIC(sourceName(o.cric), data, vo)
		if err != nil {
			return nil, nil, nil, err
		}
		cric, problems = c, append(problems, probs...)
	}
	return feed, cric, problems, nil
}

func sourceName(src string) string {
	if vofeed.IsURL(src) {
		return vofeed.SafeURL(src)
	}
	return src
}

// keepValid drops the sites Merge left out (their problems are reported).
func keepValid(sel *vofeed.Selection, merged *config.Config) {
	valid := map[string]bool{}
	for _, s := range merged.Sites {
		valid[s.Name] = true
	}
	kept, services := sel.Sites[:0], 0
	for _, s := range sel.Sites {
		if valid[s.Name] {
			kept = append(kept, s)
			services += len(s.Services)
		}
	}
	sel.Sites, sel.Services = kept, services
}

func header(b *bytes.Buffer, sel *vofeed.Selection, o importOptions, problems int) {
	fmt.Fprintf(b, "# Written by `probe import` on %s from\n", time.Now().UTC().Format("2006-01-02 15:04Z"))
	if o.feed != "" {
		upd := ""
		if !sel.LastUpdate.IsZero() {
			upd = ", last_update " + sel.LastUpdate.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(b, "#   vofeed %s (VO %s%s)\n", sourceName(o.feed), sel.VO, upd)
	}
	if o.cric != "" {
		fmt.Fprintf(b, "#   cric   %s\n", sourceName(o.cric))
	}
	skipped := 0
	for _, s := range sel.Skipped {
		skipped += s.Count
	}
	fmt.Fprintf(b, "# with production %s", o.filter.Production)
	if len(o.filter.Groups) > 0 {
		fmt.Fprintf(b, ", groups %s", strings.Join(o.filter.Groups, ", "))
	}
	if len(o.filter.Flavours) > 0 {
		fmt.Fprintf(b, ", flavours %s", strings.Join(o.filter.Flavours, ", "))
	}
	fmt.Fprintf(b, ": %d sites, %d services; %d entries skipped, %d problems (listed on stderr).\n", len(sel.Sites),
		sel.Services, skipped, problems)
	fmt.Fprintln(b, "# The services take what they need from defaults.templates; re-run the import when the feed changes,")
	fmt.Fprintln(b, "# or let probe serve follow the feed with sites_from: (README: Deploying for a whole VO).")
	fmt.Fprintln(b)
}

// skeleton is the base written when --base is not given: the VO and the
// templates to fill in, commented out (without them the read, write and
// access checks say UNKNOWN: no reference file configured).
func skeleton(vo string) []byte {
	if vo == "" {
		vo = "cms"
	}
	return []byte(strings.ReplaceAll(`vo: @VO@
defaults:
  timeout: 60s
  budget: 10m
  concurrency: 20
  # Templates give every service of a type the values it does not set itself. Placeholders:
  # $(site), $(vo), $(host), $(endpoint) (the feed's host:port), $(path) (the feed's se_resource path).
  # ${VAR} is the environment, as everywhere in sites.yaml.
  # templates:
  #   webdav:
  #     scope_base: /
  #     read_file: {path: "$(path)/store/test/gridprobe/reference.dat", adler32: "01234567", size: 1048576}
  #     write_dir: $(path)/store/temp/gridprobe
  #     foreign_file: /othervo/reference.dat
  #   xrootd:
  #     url: root://$(endpoint)              # roots:// where the doors speak TLS
  #     federation: root://xrootd-redirector.example.org:1094
  #   arc-ce:
  #     url: https://$(endpoint)/arex
credentials:
  x509: {}      # X509_USER_PROXY, X509_CERT_DIR, X509_VOMS_DIR
  # token: {issuer: https://…, client_id: …, client_secret_file: /etc/gridprobe/client-secret}
`, "@VO@", vo))
}
