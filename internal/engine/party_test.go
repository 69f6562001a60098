package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/checkctx"
)

func out(o Outcome) func(context.Context, *Env) Outcome {
	return func(context.Context, *Env) Outcome { return o }
}

func TestDefaultParties(t *testing.T) {
	m := byCheck((&Runner{}).Run(context.Background(), []*Site{site("A",
		Check{ID: "1ok", Run: ok},
		Check{ID: "2crit", Run: crit},
		Check{ID: "3warn", Run: out(Warnf("slow"))},
		Check{ID: "4unknown", Run: out(Unknownf("no foreign_proxy configured"))},
		Check{ID: "5blamed-ok", Run: out(Okf("fine").Blame(PartyCentral))},
	)}))
	for id, want := range map[string]Party{"1ok": "", "2crit": PartySite, "3warn": PartySite, "4unknown": PartyProbe, "5blamed-ok": ""} {
		if got := m["A/"+id].Party; got != want {
			t.Errorf("%s party %q, want %q", id, got, want)
		}
	}
}

// A check skipped because its prerequisite failed for a central service
// carries that party; a site failure among its prerequisites wins.
func TestPrerequisiteParty(t *testing.T) {
	m := byCheck((&Runner{}).Run(context.Background(), []*Site{site("A",
		Check{ID: "1issuer", Run: out(Unknownf("issuer down").Blame(PartyCentral))},
		Check{ID: "2site", Run: crit},
		Check{ID: "3probe", Run: out(Unknownf("no proxy"))},
		Check{ID: "14tkn-read", Requires: []string{"1issuer"}, Run: ok},
		Check{ID: "15both", Requires: []string{"1issuer", "2site"}, Run: ok},
		Check{ID: "16probe-central", Requires: []string{"3probe", "1issuer"}, Run: ok},
	)}))
	for id, want := range map[string]Party{"14tkn-read": PartyCentral, "15both": PartySite, "16probe-central": PartyCentral} {
		r := m["A/"+id]
		if r.State != Unknown || r.Party != want {
			t.Errorf("%s = %s party %q, want UNKNOWN party %q (%s)", id, r.State, r.Party, want, r.Detail)
		}
	}
}

func TestSummaryOnlyCentralFailuresIsUnknown(t *testing.T) {
	res := (&Runner{}).Run(context.Background(), []*Site{site("A",
		Check{ID: "1connection", Run: ok},
		Check{ID: "4crt-read", Run: ok},
		Check{ID: "14tkn-read", Run: out(Unknownf("cannot get a token: issuer down").Blame(PartyCentral))},
		// Even a CRITICAL that a central service caused is not the site's.
		Check{ID: "9federation", Run: out(Critf("redirector refused").Blame(PartyCentral))},
		Check{ID: "5crt-contain", Run: out(Unknownf("no foreign_proxy configured"))},
	)})
	sum := res[len(res)-1]
	if sum.State != Unknown || sum.Party != PartyCentral {
		t.Fatalf("summary %s party %q, want UNKNOWN central: %s", sum.State, sum.Party, sum.Detail)
	}
	want := "3 of 5 checks not OK; not the site's fault: central service: 14tkn-read, 9federation; probe: 5crt-contain"
	if sum.Detail != want {
		t.Errorf("summary detail\n%q, want\n%q", sum.Detail, want)
	}
}

func TestSummarySiteFailureWithCentral(t *testing.T) {
	res := (&Runner{}).Run(context.Background(), []*Site{site("A",
		Check{ID: "4crt-read", Run: crit},
		Check{ID: "14tkn-read", Run: out(Unknownf("issuer down").Blame(PartyCentral))},
	)})
	sum := res[len(res)-1]
	if sum.State != Critical || sum.Party != PartySite {
		t.Fatalf("summary %s party %q: %s", sum.State, sum.Party, sum.Detail)
	}
	if want := "2 of 2 checks not OK; CRITICAL: 4crt-read; not the site's fault: central service: 14tkn-read"; sum.Detail != want {
		t.Errorf("summary detail %q, want %q", sum.Detail, want)
	}
	// A site WARNING with a central UNKNOWN: UNKNOWN (the service could not
	// be judged), blamed on the central service.
	res = (&Runner{}).Run(context.Background(), []*Site{site("A",
		Check{ID: "2ssl", Run: out(Warnf("certificate expires in 3 days"))},
		Check{ID: "14tkn-read", Run: out(Unknownf("issuer down").Blame(PartyCentral))},
	)})
	if sum := res[len(res)-1]; sum.State != Unknown || sum.Party != PartyCentral {
		t.Fatalf("summary %s party %q: %s", sum.State, sum.Party, sum.Detail)
	}
}

// The time a check spends waiting for a token (checkctx.Pause) is not
// part of its timeout.
func TestTokenWaitIsNotTheChecksTime(t *testing.T) {
	waitThenWork := func(ctx context.Context, _ *Env) Outcome {
		resume := checkctx.Pause(ctx)
		time.Sleep(150 * time.Millisecond) // the issuer being slow
		resume()
		select {
		case <-time.After(20 * time.Millisecond): // the site's work
			return Okf("read")
		case <-ctx.Done():
			return Critf("read: %v", ctx.Err())
		}
	}
	m := byCheck((&Runner{}).Run(context.Background(), []*Site{site("A",
		Check{ID: "14tkn-read", Timeout: 60 * time.Millisecond, Run: waitThenWork},
		Check{ID: "1hang", Timeout: 60 * time.Millisecond, Run: waitCtx},
	)}))
	if r := m["A/14tkn-read"]; r.State != OK {
		t.Errorf("14tkn-read = %s %q: a token wait used up the check's deadline", r.State, r.Detail)
	}
	if r := m["A/1hang"]; r.State != Critical || r.Party != PartySite {
		t.Errorf("a hung site is still the site's timeout: %s %q %q", r.State, r.Party, r.Detail)
	}
}

// An outcome blamed on a central service stays UNKNOWN even if the check
// ran out of time: it never becomes the site's "timeout after".
func TestCentralOutcomeSurvivesTimeout(t *testing.T) {
	m := byCheck((&Runner{}).Run(context.Background(), []*Site{site("A",
		Check{ID: "17tkn-write", Timeout: 30 * time.Millisecond, Run: func(ctx context.Context, _ *Env) Outcome {
			<-ctx.Done()
			return Unknownf("cannot get a storage.create token: issuer timed out").Blame(PartyCentral)
		}},
	)}))
	r := m["A/17tkn-write"]
	if r.State != Unknown || r.Party != PartyCentral || strings.Contains(r.Detail, "timeout after") {
		t.Fatalf("17tkn-write = %s %q %q", r.State, r.Party, r.Detail)
	}
}

func TestPartyInJSON(t *testing.T) {
	res := (&Runner{}).Run(context.Background(), []*Site{site("A",
		Check{ID: "1ok", Run: ok},
		Check{ID: "14tkn-read", Run: out(Unknownf("issuer down").Blame(PartyCentral))},
	)})
	b, err := json.Marshal(res[:2])
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Count(s, `"party"`) != 1 || !strings.Contains(s, `"party":"central"`) {
		t.Fatalf("JSON: want party only on the non-OK result: %s", s)
	}
}

// A central service's own row (the token issuer): its failures are its
// own (party central) and make its summary CRITICAL.
func TestCentralServiceRow(t *testing.T) {
	s := site("CENTRAL",
		Check{ID: "1connection", Run: crit},
		Check{ID: "3discovery", Requires: []string{"1connection"}, Run: ok},
		Check{ID: "5token", Run: out(Unknownf("no client credentials configured"))},
	)
	s.Services[0].Party = PartyCentral
	res := (&Runner{}).Run(context.Background(), []*Site{s})
	m := byCheck(res)
	if r := m["CENTRAL/1connection"]; r.Party != PartyCentral {
		t.Errorf("1connection party %q", r.Party)
	}
	if r := m["CENTRAL/3discovery"]; r.State != Unknown || r.Party != PartyCentral {
		t.Errorf("3discovery %s %q", r.State, r.Party)
	}
	sum := res[len(res)-1]
	want := "3 of 3 checks not OK; CRITICAL: 1connection; UNKNOWN: 3discovery; not the central service's fault: probe: 5token"
	if sum.State != Critical || sum.Party != PartyCentral || sum.Detail != want {
		t.Errorf("summary %s %q %q", sum.State, sum.Party, sum.Detail)
	}
}

// A check that says only UNKNOWN, after its token source noted that the
// issuer failed, is blamed on the central service without saying so.
func TestNotedCentralFailure(t *testing.T) {
	m := byCheck((&Runner{}).Run(context.Background(), []*Site{site("A",
		Check{ID: "14tkn-read", Run: func(ctx context.Context, _ *Env) Outcome {
			checkctx.NoteCentral(ctx, errors.New("issuer down"))
			return Unknownf("cannot get a storage.read token: issuer down")
		}},
		Check{ID: "16tkn-access", Timeout: -1, Run: func(ctx context.Context, _ *Env) Outcome {
			checkctx.NoteCentral(ctx, errors.New("issuer down"))
			return Unknownf("no token")
		}},
		Check{ID: "17tkn-write", Run: func(ctx context.Context, _ *Env) Outcome {
			checkctx.NoteCentral(ctx, errors.New("issuer down"))
			return Critf("accepted a forged token") // a site fault found anyway
		}},
	)}))
	for id, want := range map[string]Party{"14tkn-read": PartyCentral, "16tkn-access": PartyCentral, "17tkn-write": PartySite} {
		if got := m["A/"+id].Party; got != want {
			t.Errorf("%s party %q, want %q", id, got, want)
		}
	}
}

// Under a summary policy a critical check failing for the issuer is
// UNKNOWN in the summary, never the site's CRITICAL.
func TestPolicySummaryParty(t *testing.T) {
	s := site("A",
		Check{ID: "4crt-read", Run: ok},
		Check{ID: "14tkn-read", Run: out(Critf("issuer down").Blame(PartyCentral))},
		Check{ID: "16tkn-access", Run: crit},
	)
	s.Services[0].Summary = &SummaryPolicy{Commissioning: map[string]bool{"16tkn-access": true}, CommissioningCap: Warning}
	res := (&Runner{}).Run(context.Background(), []*Site{s})
	sum := res[len(res)-1]
	if sum.State != Unknown || sum.Party != PartyCentral || !strings.Contains(sum.Detail, "not the site's fault: central service: 14tkn-read") {
		t.Fatalf("summary %s %q %q", sum.State, sum.Party, sum.Detail)
	}
	if sum.RawState == nil || *sum.RawState != Critical {
		t.Errorf("raw state %v, want the raw worst CRITICAL", sum.RawState)
	}
}
