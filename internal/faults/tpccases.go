package faults

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/storage"
	"github.com/gridprobe/gridprobe/probes/webdav"
)

// Third-party-copy faults: a partner that does not answer (the site's TPC
// checks are UNKNOWN, the partner's fault, and only the first waits for
// it), and a site whose COPY hangs, breaks its stream, never sends the
// final line or sends garbage (CRITICAL, the site's, within the check's
// deadline). Nothing may be left on either side.

// partnerYAML is one tpc_partners entry named name at url, with the
// testbed partner SE's reference file and write directory.
func (b *caseBuilder) partnerYAML(name, url string) string {
	env := b.h.TB.Env
	return fmt.Sprintf(`        tpc_partners:
          - {name: %s, url: "%s", scope_base: /testvo, write_dir: %s, read_file: {path: %s, adler32: "%s", size: "%s"}}
`, name, url, env["GRIDPROBE_PARTNER_WRITE_DIR"], env["GRIDPROBE_PARTNER_REF_PATH"], env["GRIDPROBE_PARTNER_REF_ADLER32"], env["GRIDPROBE_PARTNER_REF_SIZE"])
}

// tpcIDs are the TPC check ids with one partner.
func tpcIDs(partner string) []string {
	var out []string
	for _, id := range storage.TPCIDs() {
		out = append(out, storage.TPCCheckID(id, partner))
	}
	return out
}

// tpcPartnerDown: the testbed WebDAV endpoint with a partner that accepts
// connections and never answers.
func (b *caseBuilder) tpcPartnerDown() (*Case, error) {
	hole, err := Blackhole()
	if err != nil {
		return nil, err
	}
	b.h.onClose(func() { hole.Close() })
	wd, err := b.writeDir()
	if err != nil {
		return nil, err
	}
	c := &Case{Fault: b.fault, Type: webdav.Type, URL: b.h.TB.Env["GRIDPROBE_WEBDAV_URL"], WriteDir: wd,
		Leftovers: listsRun(wd, b.h.TB.ListWebDAV), Partners: b.partnerYAML("hole", "https://"+localhost(hole.Addr()))}
	c.Expect = []Expect{want("2ssl", engine.OK), want(engine.SummaryID, engine.Critical)}
	for i, id := range tpcIDs("hole") {
		words := []string{"partner hole (" + localhost(hole.Addr()) + ") failed, not the site"}
		if i > 0 {
			words = append(words, "not tried again")
		}
		c.Expect = append(c.Expect, want(id, engine.Unknown, words...))
	}
	return c, nil
}

// tpcSiteFault: a site (FakeTPC) whose COPY misbehaves, with the testbed's
// partner SE as its partner; every copy rule is CRITICAL with words.
func (b *caseBuilder) tpcSiteFault(fault TPCFault, words string) (*Case, error) {
	now := time.Now()
	cert, err := b.h.ca.ServerCert([]string{"localhost", "127.0.0.1"}, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	f := NewFakeTPC(fault, fakeSiteFiles(b.h.refData))
	f.MkdirAll("/testvo/gridprobe")
	s, err := TLSServer(cert, f)
	x := b.bad(webdav.Type, s, err)
	if x.err != nil {
		return nil, x.err
	}
	c := x.c
	c.FakeRef = true
	partner := b.h.TB.Env["GRIDPROBE_PARTNER_WEBDAV_URL"]
	c.Partners = b.partnerYAML("partner", partner)
	c.Expect = []Expect{want("2ssl", engine.OK), want(engine.SummaryID, engine.Critical),
		// The fake serves its files to any token: the partner's pull with a token for another path gets it.
		want("21tkn-tpc-access-partner", engine.Critical, "src token for another path: the site served its file")}
	for _, id := range tpcIDs("partner")[:4] {
		c.Expect = append(c.Expect, want(id, engine.Critical, "failed at the site", words))
	}
	p := config.Partner{Name: "partner", RawURL: partner}
	c.Leftovers = func(ctx context.Context, scratchID string) ([]string, error) {
		left := f.Under("/testvo/gridprobe")
		pid, err := storage.PartnerRunID(scratchID, p)
		if err != nil {
			return nil, err
		}
		out, err := b.h.TB.Curl(ctx, "-X", "PROPFIND", "-H", "Depth: 1", partner+b.h.TB.Env["GRIDPROBE_PARTNER_WRITE_DIR"]+"/")
		if err != nil {
			return nil, fmt.Errorf("listing the partner's write_dir: %v: %s", err, out)
		}
		if strings.Contains(out, pid) {
			left = append(left, partner+"/…/"+pid)
		}
		return left, nil
	}
	c.ForeignDeletes = func(scratchID string) []string {
		var out []string
		inside := regexp.MustCompile(`^/testvo/gridprobe/` + regexp.QuoteMeta(scratchID) + `(/|$)`)
		for _, p := range f.Deletes() {
			if !inside.MatchString(p) {
				out = append(out, p)
			}
		}
		return out
	}
	return c, nil
}
