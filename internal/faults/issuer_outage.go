package faults

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/issuerfake"
	"github.com/gridprobe/gridprobe/internal/round"
)

// outage runs rounds of testbed sites (WebDAV and XRootD of the real SE,
// through plan and the engine) plus the issuer service, with the token
// issuer working (the baseline) or out.
type outage struct {
	tb       *Testbed
	dir      string
	opt      IssuerOptions
	f        *IssuerFigures
	wds      []string
	base     []engine.Result
	baseTook time.Duration
}

// tokenSpec is the issuer the round's tokens come from.
type tokenSpec struct{ issuer, secretFile, caFile string }

func (o *outage) testbedToken() tokenSpec {
	e := o.tb.Env
	return tokenSpec{e["GRIDPROBE_ISSUER"], e["GRIDPROBE_CLIENT_SECRET_FILE"], e["GRIDPROBE_ISSUER_CA"]}
}

// prepare makes each site's write_dir on the testbed.
func (o *outage) prepare(ctx context.Context) error {
	if err := o.tb.MkdirWebDAV(ctx, FaultsWriteRoot); err != nil {
		return fmt.Errorf("preparing %s: %w", FaultsWriteRoot, err)
	}
	for i := 0; i < o.opt.Sites; i++ {
		wd := fmt.Sprintf("%s/i%03d", FaultsWriteRoot, i)
		if err := o.tb.MkdirLeaf(ctx, wd); err != nil {
			return fmt.Errorf("preparing write_dir %s: %w", wd, err)
		}
		o.wds = append(o.wds, wd)
	}
	return nil
}

func (o *outage) yaml(tok tokenSpec, issuerURL string) string {
	e := o.tb.Env
	var b strings.Builder
	fmt.Fprintf(&b, `vo: testvo
prefix: org.testvo
defaults: {timeout: %s, budget: 2m}
credentials:
  x509: {proxy: %q, foreign_proxy: %q, novoms_proxy: %q, ca_dir: %q, voms_dir: %q}
  token: {issuer: %q, client_id: %s, client_secret_file: %q, ca_file: %q}
sites:
  - name: T0_CENTRAL
    services:
      - {type: issuer, url: %q}
`, o.opt.Timeout, e["X509_USER_PROXY"], e["GRIDPROBE_FOREIGN_PROXY"], e["GRIDPROBE_NOVOMS_PROXY"], e["X509_CERT_DIR"], e["X509_VOMS_DIR"],
		tok.issuer, e["GRIDPROBE_CLIENT_ID"], tok.secretFile, tok.caFile, issuerURL)
	for i, wd := range o.wds {
		fmt.Fprintf(&b, "  - name: T2_ISSUER_%03d\n    services:\n", i)
		for _, svc := range []struct{ typ, url string }{{"webdav", e["GRIDPROBE_WEBDAV_URL"]}, {"xrootd", e["GRIDPROBE_XROOTD_URL"]}} {
			fmt.Fprintf(&b, `      - type: %s
        url: %s
        scope_base: /testvo
        read_file: {path: /testvo/reference.dat, adler32: "%s", size: %s}
        write_dir: %s
        foreign_file: /othervo/reference.dat
`, svc.typ, svc.url, e["GRIDPROBE_REF_ADLER32"], e["GRIDPROBE_REF_SIZE"], wd)
		}
	}
	return b.String()
}

// round runs all sites at once with tokens from tok behind the round's
// breaker (a fresh source: a new `probe run`) and the issuer service at
// issuerURL. It returns the results, the run id and the wall time.
func (o *outage) round(ctx context.Context, tok tokenSpec, issuerURL string) ([]engine.Result, time.Duration, error) {
	cfg, err := config.Parse("issuer-outage.yaml", []byte(o.yaml(tok, issuerURL)))
	if err != nil {
		return nil, 0, fmt.Errorf("issuer outage config: %w", err)
	}
	src, err := cred.NewClientCredentialsFrom(cred.IssuerConfig{Issuer: tok.issuer, ClientID: cfg.Credentials.Token.ClientID,
		ClientSecretFile: tok.secretFile, CAFile: tok.caFile, Timeout: o.opt.Timeout})
	if err != nil {
		return nil, 0, err
	}
	defer src.Close()
	rd, err := round.Build(cfg, round.Options{Tokens: cred.NewRound(src)})
	if err != nil {
		return nil, 0, err
	}
	defer rd.Close()
	runID := rd.RunID
	runner := rd.Runner(len(rd.Sites), nil)
	runner.Grace, runner.CleanupTimeout = time.Second, 20*time.Second
	start := time.Now()
	res := runner.Run(ctx, rd.Sites)
	took := time.Since(start)
	if o.base == nil {
		o.baseTook = took
	}
	o.leftovers(ctx, runID)
	return res, took, nil
}

// leftovers counts write dirs still holding the round's scratch areas
// (service run ids share the round id's time prefix).
func (o *outage) leftovers(ctx context.Context, runID string) {
	prefix := runID[:len(runID)-12]
	for _, wd := range o.wds {
		out, err := o.tb.ListWebDAV(ctx, wd)
		if err != nil {
			o.f.Problems = append(o.f.Problems, fmt.Sprintf("issuer outage: listing %s: %v", wd, err))
			continue
		}
		if strings.Contains(out, prefix) {
			o.f.Leftovers++
			o.f.Problems = append(o.f.Problems, fmt.Sprintf("issuer outage: scratch area of %s left in %s", runID, wd))
		}
	}
}

// run is one outage round: a hung issuer (accepts, never answers) or a
// dead one (nothing listens).
func (o *outage) run(ctx context.Context, kind string) error {
	url := ""
	tok := tokenSpec{caFile: o.tb.Env["GRIDPROBE_ISSUER_CA"], secretFile: o.tb.Env["GRIDPROBE_CLIENT_SECRET_FILE"]}
	switch kind {
	case "hung":
		d, err := os.MkdirTemp(o.dir, "hung-")
		if err != nil {
			return err
		}
		fi, err := issuerfake.Start(d, issuerfake.Hang, 0)
		if err != nil {
			return err
		}
		defer fi.Close()
		url, tok.caFile, tok.secretFile = fi.URL, fi.CAFile, fi.SecretFile
	default:
		var err error
		if url, err = deadIssuer(); err != nil {
			return err
		}
	}
	tok.issuer = url
	res, took, err := o.round(ctx, tok, url)
	if err != nil {
		return err
	}
	o.judge(kind, url, res)
	limit := o.opt.Timeout + o.baseTook + 5*time.Second
	o.f.Rounds++
	if took <= limit {
		o.f.RoundsInBudget++
	} else {
		o.f.Problems = append(o.f.Problems, fmt.Sprintf("issuer outage: %s issuer round took %s, limit %s", kind, took.Round(time.Millisecond), limit))
	}
	o.f.Outages = append(o.f.Outages, OutageRound{Kind: kind, Sites: o.opt.Sites, Took: took, Limit: limit, Working: o.baseTook, IssuerTimeout: o.opt.Timeout})
	o.f.Durations = append(o.f.Durations, fmt.Sprintf("%s issuer: %d sites in %s (limit %s = one issuer timeout %s + the round with a working issuer %s + 5s)",
		kind, o.opt.Sites, took.Round(100*time.Millisecond), limit.Round(100*time.Millisecond), o.opt.Timeout, o.baseTook.Round(100*time.Millisecond)))
	return nil
}

// judge: the issuer service is the issuer's CRITICAL; every site token
// check is UNKNOWN, blamed on the central service and naming the issuer;
// every other site result is what the baseline round said, and a site
// WARNING or CRITICAL the baseline did not have is one the issuer caused.
func (o *outage) judge(kind, issuerURL string, res []engine.Result) {
	base := map[string]engine.Result{}
	for _, r := range o.base {
		base[r.Site+" "+r.Service+" "+r.Check] = r
	}
	bad := func(r engine.Result, why string) {
		o.f.Problems = append(o.f.Problems, fmt.Sprintf("issuer outage (%s issuer): %s %s %s: %s %s %q", kind, r.Site, r.Service, r.Check, r.State, r.Party, why+"; "+r.Detail))
	}
	for _, r := range res {
		was := base[r.Site+" "+r.Service+" "+r.Check]
		siteBad := (r.State == engine.Critical || r.State == engine.Warning) && r.Party == engine.PartySite
		switch {
		case r.Protocol == "issuer":
			if r.Check == engine.SummaryID {
				o.f.ChecksExpected++
				if r.State == engine.Critical && r.Party == engine.PartyCentral {
					o.f.ChecksCorrect++
				} else {
					bad(r, "want the issuer's CRITICAL")
				}
			}
		case r.Credential == engine.CredToken:
			o.f.ChecksExpected++
			if r.State == engine.Unknown && r.Party == engine.PartyCentral && strings.Contains(r.Detail, issuerURL) {
				o.f.ChecksCorrect++
			} else {
				bad(r, "want UNKNOWN for the central service naming "+issuerURL)
			}
			if siteBad || r.State == engine.Critical {
				o.f.SiteCriticals++
			}
		case siteBad && was.State != r.State:
			o.f.SiteCriticals++
			bad(r, fmt.Sprintf("the site's %s, but %s with a working issuer", r.State, was.State))
		case r.Check != engine.SummaryID && r.State != was.State:
			bad(r, fmt.Sprintf("changed from %s with a working issuer: not the issuer's business", was.State))
		}
	}
}
