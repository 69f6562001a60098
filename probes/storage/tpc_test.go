package storage

import (
	"context"
	"fmt"
	"hash/adler32"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// Unit tests of the TPC rules over two in-memory endpoints (the site and
// its partner) whose copier moves files between them the way HTTP-TPC
// does: the active side checks its own credential, then reads or writes
// the passive side with the credential it was given. The real copies run
// against the testbed in probes/webdav.

const partnerContent = "the partner's reference file, a little different\n"

// tpcNet is the set of in-memory endpoints by host.
type tpcNet struct {
	mu    sync.Mutex
	hosts map[string]*memFS
	// copies counts Copy calls; hook, when set, may fail one first.
	copies int
	hook   func(req CopyRequest) error
}

// tpcTransport is memTransport that copies.
type tpcTransport struct {
	memTransport
	net  *tpcNet
	host string
}

func (t tpcTransport) URL(p string) string { return "mem://" + t.host + p }

func (t tpcTransport) Peer(pt probe.Target) (Transport, func(), error) {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	fs, ok := t.net.hosts[pt.Service.URL.Host]
	if !ok {
		return nil, nil, fmt.Errorf("no endpoint %s", pt.Service.URL.Host)
	}
	return tpcTransport{memTransport{fs}, t.net, pt.Service.URL.Host}, func() {}, nil
}

func (t tpcTransport) CopyLines(r CopyRepro) []string {
	return []string{fmt.Sprintf("copy %s %s%s -> %s%s src %q dst %q expect %d", r.Mode, r.Source.Base.Host, r.Source.Path,
		r.Destination.Base.Host, r.Destination.Path, r.SourceScopes, r.DestinationScopes, r.Expect)}
}

// where splits a mem:// URL into its endpoint and path.
func (n *tpcNet) where(u string) (*memFS, string) {
	p, _ := url.Parse(u)
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.hosts[p.Host], p.Path
}

func (t tpcTransport) Copy(ctx context.Context, req CopyRequest) (CopyResult, error) {
	n := t.net
	n.mu.Lock()
	n.copies++
	hook := n.hook
	n.mu.Unlock()
	if hook != nil {
		if err := hook(req); err != nil {
			return CopyResult{}, err
		}
	}
	src, sp := n.where(req.Source)
	dst, dp := n.where(req.Destination)
	active, passive := memStore{fs: dst, w: whoOf(req.ActiveToken)}, memStore{fs: src, w: whoOf(req.PassiveToken)}
	if req.Mode == Push {
		active, passive = memStore{fs: src, w: whoOf(req.ActiveToken)}, memStore{fs: dst, w: whoOf(req.PassiveToken)}
	}
	if req.Proxy != nil {
		active.w, passive.w = who{role: Own}, who{role: Own}
	}
	activeErr := func(err error) error {
		return &CopyError{Side: ActiveSide, Err: &Error{Kind: KindOf(err), Status: StatusOf(err), Text: "COPY: " + err.Error()}}
	}
	passiveErr := func(err error) error {
		return &CopyError{Side: PassiveSide, Remote: 403, Err: &Error{Kind: KindOf(err), Status: "remote 403", Text: "failure: Remote side failed with status code 403: " + err.Error()}}
	}
	var data []byte
	var err error
	if req.Mode == Pull {
		// The active destination checks it may create (or overwrite), then fetches.
		if err := dst.copyCheck(dp, active.w, req.Overwrite); err != nil {
			return CopyResult{}, activeErr(err)
		}
		data, err = readAll(ctx, passive, sp)
		if err != nil {
			return CopyResult{}, passiveErr(err)
		}
		dst.put(dp, data)
	} else {
		if data, err = readAll(ctx, active, sp); err != nil {
			return CopyResult{}, activeErr(err)
		}
		if err := passive.Write(ctx, dp, data, New); err != nil {
			return CopyResult{}, passiveErr(err)
		}
	}
	return CopyResult{Status: 201, Markers: 1, Bytes: int64(len(data)), Took: time.Millisecond}, nil
}

func readAll(ctx context.Context, st memStore, p string) ([]byte, error) {
	var b strings.Builder
	_, err := st.Read(ctx, p, &b)
	return []byte(b.String()), err
}

// copyCheck is what a destination checks before a pulled file is written:
// a new file needs the right to create it, an existing one to modify it.
func (m *memFS) copyCheck(p string, w who, overwrite bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, exists := m.files[p]; exists && !overwrite {
		return &Error{Kind: Exists, Status: "412 Precondition Failed", Text: "412 exists"}
	}
	return m.check(OpPut, p, w)
}

func (m *memFS) put(p string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[p] = data
}

func whoOf(tok *cred.Token) who {
	if tok == nil {
		return who{}
	}
	return who{token: true, claims: tok.Claims()}
}

// tpcBed is a site (memFS at se.example:1) with one partner (memFS at
// partner.example:2, its own audience and reference file).
type tpcBed struct {
	site, partner *memFS
	net           *tpcNet
	b             *Book
}

const partnerAud = "mem://partner.example:2"

func newTPCBed(t *testing.T, tokens cred.Source) *tpcBed {
	t.Helper()
	site, partner := newMemFS(), newMemFS()
	partner.files["/testvo/ref"] = []byte(partnerContent)
	n := &tpcNet{hosts: map[string]*memFS{"se.example:1": site, "partner.example:2": partner}}
	b := testBook(t, site, tokens)
	pu, _ := url.Parse(partnerAud)
	b.t.Service.TPCPartners = []config.Partner{{Name: "ref", URL: pu, RawURL: partnerAud, ScopeBase: "/testvo", Audience: partnerAud,
		WriteDir: "/testvo/gridprobe", ReadFile: config.FileRef{Path: "/testvo/ref", Size: int64(len(partnerContent)),
			Adler32: fmt.Sprintf("%08x", adler32.Checksum([]byte(partnerContent)))}}}
	b.tr = tpcTransport{memTransport{site}, n, "se.example:1"}
	site.deny, partner.deny = wlcg(b.Audience()), wlcg(partnerAud)
	return &tpcBed{site: site, partner: partner, net: n, b: b}
}

// tpcIDs are the TPC check ids with the partner "ref".
func tpcIDs() []string {
	var out []string
	for _, id := range TPCIDs() {
		out = append(out, TPCCheckID(id, "ref"))
	}
	return out
}

// assertBothClean: nothing left on either side; no delete outside a
// scratch area.
func (tb *tpcBed) assertBothClean(t *testing.T) {
	t.Helper()
	assertClean(t, tb.b, tb.site)
	tb.partner.mu.Lock()
	defer tb.partner.mu.Unlock()
	for f := range tb.partner.files {
		if strings.HasPrefix(f, "/testvo/gridprobe/") {
			t.Errorf("left behind at the partner: %s", f)
		}
	}
	for d := range tb.partner.dirs {
		if strings.HasPrefix(d, "/testvo/gridprobe/") {
			t.Errorf("left behind at the partner: %s/", d)
		}
	}
	for _, d := range tb.partner.deletes {
		if !strings.HasPrefix(d, "/testvo/gridprobe/gp-") {
			t.Errorf("deleted outside a scratch area at the partner: %s", d)
		}
	}
}

// TestTPCConforming: two endpoints that follow the profile: every TPC
// check is OK, the copies have the source's content, nothing is left.
func TestTPCConforming(t *testing.T) {
	tb := newTPCBed(t, narrowTokens())
	res := run(t, tb.b, tpcIDs()...)
	for _, id := range tpcIDs() {
		want(t, res[id], engine.OK)
	}
	want(t, res["11crt-tpc-pull-ref"], engine.OK, "pull of ref's /testvo/ref to <scratch>/11crt-tpc-pull-ref.dat", fmt.Sprintf("%d B", len(partnerContent)), "macaroon")
	want(t, res["20tkn-tpc-push-ref"], engine.OK, "push of /testvo/ref to ref's <scratch>/20tkn-tpc-push-ref.dat",
		"tokens: src storage.read:/ref, dst storage.create:<scratch>")
	want(t, res["21tkn-tpc-access-ref"], engine.OK, "all 3 refusals enforced", "(403 Forbidden)", "(remote 403)")
	tb.assertBothClean(t)
}

// TestTPCPartnerDown: a partner that does not answer is the partner's
// fault: every TPC check UNKNOWN naming it, nothing copied, nothing left.
func TestTPCPartnerDown(t *testing.T) {
	tb := newTPCBed(t, narrowTokens())
	tb.partner.deny = func(OpKind, string, who, bool) error {
		return &Error{Kind: NoAnswer, Text: "dial tcp partner.example:2: connection refused"}
	}
	res := run(t, tb.b, tpcIDs()...)
	for _, id := range tpcIDs() {
		want(t, res[id], engine.Unknown, "partner ref (partner.example:2) failed, not the site", "connection refused")
		if res[id].Party != engine.PartyCentral {
			t.Errorf("%s: party %q, want the partner's (central)", id, res[id].Party)
		}
	}
	if tb.net.copies != 0 {
		t.Errorf("%d copies asked of a site whose partner is down", tb.net.copies)
	}
	tb.assertBothClean(t)
}

// TestTPCPassiveSideFails: the partner's side of the transfer fails (as
// the site reports it): UNKNOWN, the partner's; the site's side failing is
// the site's CRITICAL.
func TestTPCPassiveSideFails(t *testing.T) {
	for _, c := range []struct {
		name  string
		err   *CopyError
		state engine.State
		words string
	}{
		{"passive", &CopyError{Side: PassiveSide, Remote: 500, Err: &Error{Kind: Other, Text: "failure: Remote side failed with status code 500"}},
			engine.Unknown, "failed its side of the pull, not the site"},
		{"credential", &CopyError{Side: PassiveSide, Stage: StageCredential, Err: &Error{Kind: Denied, Text: "macaroon request: 403"}},
			engine.Unknown, "failed, not the site: its credential for the copy"},
		{"active timeout", &CopyError{Side: ActiveSide, Err: &Error{Kind: NoAnswer, Text: "no final line within the deadline"}},
			engine.Critical, "failed at the site: no final line within the deadline"},
		{"unsupported", &CopyError{Side: ActiveSide, Err: &Error{Kind: Unsupported, Text: "405 Method Not Allowed"}},
			engine.Critical, "the site does not do third-party copy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := newTPCBed(t, narrowTokens())
			tb.net.hook = func(CopyRequest) error { return c.err }
			res := run(t, tb.b, "11crt-tpc-pull-ref", "19tkn-tpc-pull-ref")
			want(t, res["11crt-tpc-pull-ref"], c.state, c.words)
			want(t, res["19tkn-tpc-pull-ref"], c.state, c.words)
			tb.assertBothClean(t)
		})
	}
}

// TestTPCPermissiveSite: a site that lets every token do everything
// breaks all three refusals; the partner still follows the profile.
func TestTPCPermissiveSite(t *testing.T) {
	tb := newTPCBed(t, narrowTokens())
	tb.site.deny = nil
	res := run(t, tb.b, "21tkn-tpc-access-ref")["21tkn-tpc-access-ref"]
	want(t, res, engine.Critical, "3 of 3 refusals not enforced",
		"read-only dst token: the site wrote the copy ("+ruleReadOnly+")",
		"create-only dst token over a file: the site replaced the file")
	tb.assertBothClean(t)
}

// TestTPCRefusedByPartnerProvesNothing: when the partner refuses what the
// site should have, the refusal proves nothing about the site.
func TestTPCRefusedByPartnerProvesNothing(t *testing.T) {
	tb := newTPCBed(t, narrowTokens())
	tb.net.hook = func(req CopyRequest) error {
		if strings.Contains(req.Destination, "read-only") {
			return &CopyError{Side: PassiveSide, Remote: 403, Err: &Error{Kind: Denied, Status: "remote 403", Text: "remote 403"}}
		}
		return nil
	}
	res := run(t, tb.b, "21tkn-tpc-access-ref")["21tkn-tpc-access-ref"]
	want(t, res, engine.Unknown, "read-only dst token: partner ref (partner.example:2) answered, not the site")
}

// TestTPCNoCopier: a protocol without native TPC says what is missing.
func TestTPCNoCopier(t *testing.T) {
	tb := newTPCBed(t, narrowTokens())
	tb.b.tr = memTransport{tb.site}
	res := run(t, tb.b, tpcIDs()...)
	for _, id := range tpcIDs() {
		want(t, res[id], engine.Unknown, "cannot drive third-party copies over mem")
	}
}

// TestTPCCatalogue: each rule once per partner, in ETF order; without
// drops a rule for every partner.
func TestTPCCatalogue(t *testing.T) {
	tb := newTPCBed(t, narrowTokens())
	second := tb.b.t.Service.TPCPartners[0]
	second.Name = "other"
	tb.b.t.Service.TPCPartners = append(tb.b.t.Service.TPCPartners, second)
	var ids []string
	for _, c := range Catalogue(tb.b.Checks("2ssl", IDCrtContain, IDTknContain, IDCrtTPCPush)) {
		if r, _ := TPCRule(c.ID); r != "" {
			ids = append(ids, c.ID)
		}
	}
	got := strings.Join(ids, " ")
	if got != "11crt-tpc-pull-ref 11crt-tpc-pull-other 19tkn-tpc-pull-ref 19tkn-tpc-pull-other 20tkn-tpc-push-ref 20tkn-tpc-push-other 21tkn-tpc-access-ref 21tkn-tpc-access-other" {
		t.Errorf("TPC catalogue %s", got)
	}
	if r, p := TPCRule("19tkn-tpc-pull-ref"); r != IDTknTPCPull || p != "ref" {
		t.Errorf("TPCRule: %q %q", r, p)
	}
}

// TestTPCReproduce: the lines copy between the two ends with the scopes
// each token needs, expect the refusals, and clean up both sides.
func TestTPCReproduce(t *testing.T) {
	tb := newTPCBed(t, narrowTokens())
	res := run(t, tb.b, "19tkn-tpc-pull-ref", "21tkn-tpc-access-ref", "12crt-tpc-push-ref")
	pull := strings.Join(res["19tkn-tpc-pull-ref"].Reproduce, "\n")
	scratch := tb.b.scratch.Dir()
	for _, w := range []string{
		`(BEARER_TOKEN_FILE="$DST_TOKEN_FILE"; op 6 ` + scratch + ")",
		fmt.Sprintf(`copy pull partner.example:2/testvo/ref -> se.example:1%s/19tkn-tpc-pull-ref.dat src "storage.read:/ref" dst "storage.create:%s" expect 0`,
			scratch, strings.TrimPrefix(scratch, "/testvo")),
		"op 4 " + scratch + "/19tkn-tpc-pull-ref.dat | grep -qi",
		"op 8 " + scratch + "/19tkn-tpc-pull-ref.dat",
	} {
		if !strings.Contains(pull, w) {
			t.Errorf("19tkn-tpc-pull lines lack %q:\n%s", w, pull)
		}
	}
	access := strings.Join(res["21tkn-tpc-access-ref"].Reproduce, "\n")
	for _, w := range []string{"expect 1", "expect 2", `dst "storage.read:` + strings.TrimPrefix(scratch, "/testvo") + `"`} {
		if !strings.Contains(access, w) {
			t.Errorf("21tkn-tpc-access lines lack %q:\n%s", w, access)
		}
	}
	push := strings.Join(res["12crt-tpc-push-ref"].Reproduce, "\n")
	if !strings.Contains(push, "copy push se.example:1/testvo/ref -> partner.example:2/testvo/gridprobe/gp-") {
		t.Errorf("12crt-tpc-push lines:\n%s", push)
	}
	for _, r := range res {
		for _, l := range r.Reproduce {
			if strings.Contains(l, "eyJ") {
				t.Errorf("%s: a token in a reproduce line: %s", r.Check, l)
			}
		}
	}
}

// TestTPCRefusedAsServerError: a refusal the site answers with a server
// error saying permission denied (XRootD 6.2.0) is WARNING: refused, but
// signalled wrongly.
func TestTPCRefusedAsServerError(t *testing.T) {
	tb := newTPCBed(t, narrowTokens())
	tb.net.hook = func(req CopyRequest) error {
		if strings.Contains(req.Destination, "existing") {
			return &CopyError{Side: ActiveSide, RefusedAsServerError: true,
				Err: &Error{Kind: Other, Status: "500 Internal Server Error", Text: "HTTP 500: failure: Unable to create x; permission denied"}}
		}
		return nil
	}
	res := run(t, tb.b, "21tkn-tpc-access-ref")["21tkn-tpc-access-ref"]
	want(t, res, engine.Warning, "refused with a server error instead of 401/403", "create-only dst token over a file (500 Internal Server Error)",
		"all 2 refusals enforced")
	tb.assertBothClean(t)
}

// TestTPCPartnerHangsOnce: a partner that does not answer costs one
// check's time; the later checks with it fail fast.
func TestTPCPartnerHangsOnce(t *testing.T) {
	tb := newTPCBed(t, narrowTokens())
	var calls int
	tb.partner.deny = func(OpKind, string, who, bool) error {
		calls++
		return &Error{Kind: NoAnswer, Text: "timeout: no answer"}
	}
	res := run(t, tb.b, tpcIDs()...)
	for _, id := range tpcIDs()[1:] {
		want(t, res[id], engine.Unknown, "did not answer an earlier check of this round", "not tried again")
	}
	if calls != 1 {
		t.Errorf("the partner was asked %d times, want once", calls)
	}
}
