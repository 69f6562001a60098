package faults

// The issuer part of the suite: the token issuer misbehaving. Fake
// in-process issuers (internal/issuerfake) play the issuer; the sites are
// the real testbed SE probed through internal/plan and the engine, as
// `probe run` does. It has its own runner and figures (IssuerFigures).

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/issuerfake"
	"github.com/gridprobe/gridprobe/internal/round"
	"github.com/gridprobe/gridprobe/probes/issuer"
)

// IssuerOptions choose what RunIssuerSuite runs.
type IssuerOptions struct {
	Sites   int           // testbed sites in each outage round (default 20)
	Timeout time.Duration // per check, and the token source's issuer timeout (default 5s)
	Log     io.Writer
}

// issuerFault is one misbehaviour of the issuer and what the issuer
// service must report for it (every failure the issuer's: party central).
type issuerFault struct {
	name   string
	fault  issuerfake.Fault
	delay  time.Duration
	expect []Expect
}

func issuerFaults(timeout time.Duration) []issuerFault {
	crit := func(check string, words ...string) []Expect {
		return []Expect{want(check, engine.Critical, words...), want(engine.SummaryID, engine.Critical)}
	}
	return []issuerFault{
		{"hang", issuerfake.Hang, 0, crit(issuer.IDDiscovery, "timeout")},
		{"slow, under the deadline", issuerfake.Slow, timeout / 2, []Expect{want(issuer.IDToken, engine.OK), want(engine.SummaryID, engine.OK)}},
		{"slow, over the deadline", issuerfake.Slow, timeout + time.Second, crit(issuer.IDToken, "timeout")},
		{"5xx", issuerfake.ServerError, 0, crit(issuer.IDDiscovery, "HTTP 503")},
		{"invalid JSON", issuerfake.InvalidJSON, 0, crit(issuer.IDToken, "without a token")},
		{"discovery names another issuer", issuerfake.WrongIssuer, 0, crit(issuer.IDDiscovery, "metadata names issuer")},
		{"JWKS without the token's kid", issuerfake.KidMissing, 0, crit(issuer.IDToken, "is not in the JWKS")},
		{"token without exp", issuerfake.NoExp, 0, crit(issuer.IDToken, "without exp")},
		{"token lifetime of days", issuerfake.LongLifetime, 0, crit(issuer.IDToken, "is over 6h")},
		{"token endpoint over http://", issuerfake.HTTPEndpoint, 0, crit(issuer.IDDiscovery, "is not an https URL")},
	}
}

// IssuerFigures are the issuer suite's numbers.
type IssuerFigures struct {
	FaultKinds     int
	ChecksExpected int // issuer-service expectations and site token checks judged
	ChecksCorrect  int
	Rounds         int // outage rounds (hung, dead issuer)
	RoundsInBudget int
	// SiteCriticals counts site WARNING/CRITICAL results an issuer outage
	// caused: not in the baseline round with a working issuer.
	SiteCriticals int
	Leftovers     int
	Durations     []string
	// Outages are the outage rounds' times, for make bench's table.
	Outages  []OutageRound
	Problems []string
}

// OutageRound is one round of sites with the issuer out: its wall time,
// the limit it is held to (one issuer timeout + the round with a working
// issuer + 5 s) and what that limit is made of.
type OutageRound struct {
	Kind                   string // "hung" or "dead"
	Sites                  int
	Took, Limit            time.Duration
	Working, IssuerTimeout time.Duration
}

// RunIssuerSuite runs every issuer fault against the issuer service, then
// a round of opt.Sites testbed sites with a hung and with a dead issuer.
func RunIssuerSuite(ctx context.Context, tb *Testbed, opt IssuerOptions) (*IssuerFigures, error) {
	if opt.Sites <= 0 {
		opt.Sites = 20
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Second
	}
	logf := func(format string, a ...any) {
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, "faults: "+format+"\n", a...)
		}
	}
	dir, err := os.MkdirTemp("", "gridprobe-issuer-faults-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	f := &IssuerFigures{}
	logf("issuer faults: %d misbehaviours against the issuer service", len(issuerFaults(opt.Timeout)))
	if err := runIssuerServiceFaults(ctx, dir, opt.Timeout, f); err != nil {
		return nil, err
	}
	o := &outage{tb: tb, dir: dir, opt: opt, f: f}
	if err := o.prepare(ctx); err != nil {
		return nil, err
	}
	logf("issuer outage: baseline round of %d sites with the testbed issuer", opt.Sites)
	if o.base, _, err = o.round(ctx, o.testbedToken(), tb.Env["GRIDPROBE_ISSUER"]); err != nil {
		return nil, err
	}
	for _, kind := range []string{"hung", "dead"} {
		logf("issuer outage: %d sites with a %s issuer", opt.Sites, kind)
		if err := o.run(ctx, kind); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// runIssuerServiceFaults runs one issuer service per fault, each against
// its own fake issuer with its own credentials, in one engine round.
func runIssuerServiceFaults(ctx context.Context, dir string, timeout time.Duration, f *IssuerFigures) error {
	faults := issuerFaults(timeout)
	var sites []*engine.Site
	for i, fc := range faults {
		d, err := os.MkdirTemp(dir, "fake-")
		if err != nil {
			return err
		}
		fi, err := issuerfake.Start(d, fc.fault, fc.delay)
		if err != nil {
			return err
		}
		defer fi.Close()
		site, err := issuerSite(fmt.Sprintf("T0_ISSUER_%02d", i), fi, timeout)
		if err != nil {
			return err
		}
		sites = append(sites, site)
	}
	res := (&engine.Runner{Concurrency: len(sites), RunID: engine.NewRunID(), Grace: time.Second}).Run(ctx, sites)
	bySite := map[string]map[string]engine.Result{}
	for _, r := range res {
		if bySite[r.Site] == nil {
			bySite[r.Site] = map[string]engine.Result{}
		}
		bySite[r.Site][r.Check] = r
	}
	f.FaultKinds = len(faults)
	for i, fc := range faults {
		got := bySite[sites[i].Name]
		for _, e := range fc.expect {
			f.ChecksExpected++
			r, ok := got[e.Check]
			msg := ""
			switch {
			case !ok:
				msg = e.Check + ": no result"
			case e.judge(r) != "":
				msg = e.judge(r)
			case r.State != engine.OK && r.Party != engine.PartyCentral:
				msg = fmt.Sprintf("%s: party %q, want central (%s)", e.Check, r.Party, r.Detail)
			}
			if msg != "" {
				f.Problems = append(f.Problems, fmt.Sprintf("issuer %s: %s", fc.name, msg))
				continue
			}
			f.ChecksCorrect++
		}
	}
	return nil
}

// issuerSite is a central site with one issuer service at fi, its token
// check using client credentials of fi.
func issuerSite(name string, fi *issuerfake.Server, timeout time.Duration) (*engine.Site, error) {
	yaml := fmt.Sprintf(`vo: testvo
prefix: org.testvo
defaults: {timeout: %s, budget: 2m}
credentials:
  token: {issuer: %q, client_id: %s, client_secret_file: %q, ca_file: %q}
sites:
  - name: %s
    services:
      - {type: issuer, url: %q}
`, timeout, fi.URL, issuerfake.ClientID, fi.SecretFile, fi.CAFile, name, fi.URL)
	cfg, err := config.Parse("issuer-faults.yaml", []byte(yaml))
	if err != nil {
		return nil, err
	}
	src, err := cred.NewClientCredentialsFrom(cred.IssuerConfig{Issuer: fi.URL, ClientID: issuerfake.ClientID,
		ClientSecretFile: fi.SecretFile, CAFile: fi.CAFile, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	cs := &cfg.Sites[0]
	rd, err := round.One(cfg, cs, &cs.Services[0], round.Options{Tokens: cred.NewRound(src)})
	if err != nil {
		return nil, err
	}
	return rd.Sites[0], nil
}

// deadIssuer is the URL of a port nothing listens on.
func deadIssuer() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return "https://" + localhost(addr), nil
}

// Table writes the issuer figures.
func (f *IssuerFigures) Table(w io.Writer) {
	fmt.Fprintf(w, "issuer fault kinds injected     %d\n", f.FaultKinds)
	fmt.Fprintf(w, "issuer checks right             %d / %d (issuer service verdicts, site token checks UNKNOWN for the issuer)\n", f.ChecksCorrect, f.ChecksExpected)
	fmt.Fprintf(w, "issuer outage: rounds in budget %d / %d\n", f.RoundsInBudget, f.Rounds)
	fmt.Fprintf(w, "site CRITICALs caused by the issuer  %d\n", f.SiteCriticals)
	fmt.Fprintf(w, "scratch areas left behind       %d\n", f.Leftovers)
	for _, d := range f.Durations {
		fmt.Fprintln(w, d)
	}
}

// Failures lists every issuer figure that is wrong.
func (f *IssuerFigures) Failures() []string {
	var out []string
	if f.ChecksCorrect != f.ChecksExpected {
		out = append(out, fmt.Sprintf("issuer: %d of %d checks reported wrongly", f.ChecksExpected-f.ChecksCorrect, f.ChecksExpected))
	}
	if f.Rounds == 0 || f.RoundsInBudget != f.Rounds {
		out = append(out, fmt.Sprintf("issuer outage: %d of %d rounds within budget", f.RoundsInBudget, f.Rounds))
	}
	if f.SiteCriticals != 0 {
		out = append(out, fmt.Sprintf("issuer outage: %d site CRITICAL/WARNING results caused by the issuer", f.SiteCriticals))
	}
	if f.Leftovers != 0 {
		out = append(out, fmt.Sprintf("issuer outage: %d scratch areas left behind", f.Leftovers))
	}
	return out
}
