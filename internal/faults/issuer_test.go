package faults

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestIssuerSuite runs the issuer part of the suite small: every issuer
// fault against the issuer service, and a hung and a dead issuer with
// three testbed sites.
func TestIssuerSuite(t *testing.T) {
	tb := testbed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log *os.File
	if testing.Verbose() {
		log = os.Stderr
	}
	f, err := RunIssuerSuite(ctx, tb, IssuerOptions{Sites: 3, Timeout: 2 * time.Second, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Problems {
		t.Error(p)
	}
	for _, x := range f.Failures() {
		t.Error(x)
	}
	if f.FaultKinds != 10 || f.Rounds != 2 || f.ChecksExpected < 20 {
		t.Errorf("figures %+v: not every part ran", f)
	}
	for _, d := range f.Durations {
		t.Log(d)
	}
	if len(f.Outages) != 2 || f.Outages[0].Kind != "hung" || f.Outages[1].Kind != "dead" {
		t.Fatalf("outage rounds %+v", f.Outages)
	}
	for _, r := range f.Outages {
		if r.Sites != 3 || r.Took <= 0 || r.Working <= 0 || r.Limit != r.IssuerTimeout+r.Working+5*time.Second {
			t.Errorf("outage round %+v", r)
		}
	}
}
