package webdav

import (
	"bytes"
	"context"
	"fmt"
	"hash/adler32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/studio-b12/gowebdav"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage"
	"github.com/gridprobe/gridprobe/probes/storage/wlcgtest"
)

// Unit tests: edge cases and fault injection with in-process servers. The
// real behaviour is proven against the testbed in integration_test.go.

const xrdMultistatus = `<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:ns1="http://apache.org/dav/props/" xmlns:ns0="DAV:">
<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/" xmlns:lp3="LCGDM:">
<D:href>/testvo/</D:href>
<D:propstat><D:prop>
<lp1:getcontentlength>4096</lp1:getcontentlength>
<lp1:resourcetype><D:collection/></lp1:resourcetype>
</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
</D:response>
<D:response xmlns:lp1="DAV:">
<D:href>/testvo/reference.dat</D:href>
<D:propstat><D:prop>
<lp1:getcontentlength>1048576</lp1:getcontentlength>
<lp1:resourcetype/>
</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
</D:response>
</D:multistatus>`

func TestParseMultistatusXrdHttp(t *testing.T) {
	es, err := parseMultistatus([]byte(xrdMultistatus))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Path != "/testvo" || !es[0].IsDir || es[1].Path != "/testvo/reference.dat" || es[1].IsDir || es[1].Size != 1048576 {
		t.Fatalf("entries = %+v", es)
	}
}

func TestParseMultistatusRefusesMalformed(t *testing.T) {
	cases := map[string]string{
		"truncated":       xrdMultistatus[:len(xrdMultistatus)/2],
		"not xml":         "<html><body>Internal error</body></html>",
		"empty":           "",
		"wrong root":      `<D:propfind xmlns:D="DAV:"/>`,
		"two hrefs":       `<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href><D:href>/b</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response></D:multistatus>`,
		"bad status":      `<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href><D:propstat><D:prop/><D:status>fine</D:status></D:propstat></D:response></D:multistatus>`,
		"bad length":      `<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href><D:propstat><D:prop><D:getcontentlength>-3</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`,
		"unclosed inside": `<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href>`,
	}
	for name, body := range cases {
		if es, err := parseMultistatus([]byte(body)); err == nil {
			t.Errorf("%s: accepted, entries %+v", name, es)
		}
	}
}

// TestGowebdavAcceptsMalformedMultistatus shows why the probe parses
// multistatus itself: gowebdav v0.13.0 reads a truncated 207 answer as an
// empty listing without an error.
func TestGowebdavAcceptsMalformedMultistatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMultiStatus)
		io.WriteString(w, `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/dir/</D:hr`)
	}))
	defer srv.Close()
	c := gowebdav.NewClient(srv.URL, "", "")
	files, err := c.ReadDir("/dir/")
	if err != nil {
		t.Skipf("gowebdav now reports malformed XML (%v): the doc comment of package webdav can be revised", err)
	}
	if len(files) != 0 {
		t.Fatalf("files = %v", files)
	}
	if _, err := parseMultistatus([]byte(`<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/dir/</D:hr`)); err == nil {
		t.Fatal("our parser accepted it too")
	}
}

func TestDigestAndCommonDir(t *testing.T) {
	if d, ok := digestOf([]string{"md5=bcU7NA==, ADLER32=6DC53B34"}, "adler32"); !ok || d != "6dc53b34" {
		t.Errorf("digest = %q %v", d, ok)
	}
	if _, ok := digestOf([]string{"md5=x"}, "adler32"); ok {
		t.Error("md5 taken for adler32")
	}
	if got := commonDir("/testvo/reference.dat", "/testvo/gridprobe/gp-x"); got != "/testvo" {
		t.Errorf("commonDir = %q", got)
	}
	if got := commonDir("/a/ref", "/b/scratch"); got != "/" {
		t.Errorf("commonDir = %q", got)
	}
}

// memDAV is a tiny in-memory WebDAV server. deny, when set, may refuse a
// request (return a status) before it is served.
type memDAV struct {
	mu      sync.Mutex
	files   map[string][]byte
	dirs    map[string]bool
	deletes []string
	deny    func(r *http.Request, tok string) int
	// digest overrides the Digest header; ignoreRange serves 200 to ranges;
	// propfind overrides every PROPFIND answer body.
	digest      string
	ignoreRange bool
	propfind    string
}

func newMemDAV() *memDAV {
	return &memDAV{files: map[string][]byte{}, dirs: map[string]bool{"/": true, "/testvo": true, "/testvo/gridprobe": true}}
}

func (m *memDAV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := path.Clean(r.URL.Path)
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if m.deny != nil {
		if code := m.deny(r, tok); code != 0 {
			http.Error(w, "Unable to do it; permission denied", code)
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("DAV", "1")
	case http.MethodGet, http.MethodHead:
		data, ok := m.files[p]
		if !ok {
			http.Error(w, "no such file", http.StatusNotFound)
			return
		}
		w.Header().Set("Digest", "adler32="+fmt.Sprintf("%08x", adler32.Checksum(data)))
		if m.digest != "" {
			w.Header().Set("Digest", m.digest)
		}
		if rg := r.Header.Get("Range"); rg != "" && !m.ignoreRange {
			var a, b int
			fmt.Sscanf(rg, "bytes=%d-%d", &a, &b)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, len(data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[a : b+1])
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if r.Method == http.MethodGet {
			w.Write(data)
		}
	case http.MethodPut:
		m.files[p] = body
		m.dirs[path.Dir(p)] = true
		w.WriteHeader(http.StatusCreated)
	case "MKCOL":
		if m.dirs[p] {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		m.dirs[p] = true
		w.WriteHeader(http.StatusCreated)
	case http.MethodDelete:
		m.deletes = append(m.deletes, p)
		if _, ok := m.files[p]; ok {
			delete(m.files, p)
			return
		}
		if m.dirs[p] {
			delete(m.dirs, p)
			return
		}
		http.Error(w, "no such file", http.StatusNotFound)
	case "PROPFIND":
		if m.propfind != "" {
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, m.propfind)
			return
		}
		var b strings.Builder
		b.WriteString(`<D:multistatus xmlns:D="DAV:">`)
		add := func(q string, dir bool, size int) {
			rt := "<D:resourcetype/>"
			if dir {
				rt = "<D:resourcetype><D:collection/></D:resourcetype>"
			}
			fmt.Fprintf(&b, `<D:response><D:href>%s</D:href><D:propstat><D:prop>%s<D:getcontentlength>%d</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`, q, rt, size)
		}
		switch data, isFile := m.files[p]; {
		case isFile:
			add(p, false, len(data))
		case m.dirs[p]:
			add(p, true, 0)
			if r.Header.Get("Depth") == "1" {
				for f, d := range m.files {
					if path.Dir(f) == p {
						add(f, false, len(d))
					}
				}
			}
		default:
			http.Error(w, "no such file", http.StatusNotFound)
			return
		}
		b.WriteString(`</D:multistatus>`)
		w.WriteHeader(http.StatusMultiStatus)
		io.WriteString(w, b.String())
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// claimsOf reads the claims of a token of the model issuer (zero for
// none: the proxy).
func claimsOf(tok string) cred.Claims {
	if tok == "" {
		return cred.Claims{}
	}
	t, err := cred.NewToken(tok, "request")
	if err != nil {
		return cred.Claims{}
	}
	return t.Claims()
}

const refContent = "gridprobe reference content for unit tests\n"

// unitSvc is a svc whose clients all talk to srv (a TLS httptest server).
func unitSvc(t *testing.T, dav *memDAV) (*svc, *httptest.Server) {
	t.Helper()
	srv := httptest.NewTLSServer(dav)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	dav.files["/testvo/ref"] = []byte(refContent)
	sv := &config.Service{Type: Type, URL: u, RawURL: srv.URL, Name: "org.testvo.SE-WebDAV", VO: "testvo",
		ScopeBase: "/testvo", WriteDir: "/testvo/gridprobe", Timeout: 10 * time.Second,
		ReadFile: config.FileRef{Path: "/testvo/ref", Adler32: fmt.Sprintf("%08x", adler32.Checksum([]byte(refContent))), Size: int64(len(refContent))}}
	creds := &probe.Credentials{Tokens: &wlcgtest.Issuer{}, ProxyPath: "own.pem", ForeignProxyPath: "foreign.pem", NoVOMSProxyPath: "novoms.pem"}
	for _, p := range []string{"own.pem", "foreign.pem", "novoms.pem"} {
		creds.UseProxy(p, &cred.Proxy{Path: p, Subject: "/CN=" + p})
	}
	target := probe.Target{Config: &config.Config{}, Site: &config.Site{Name: "T_UNIT"}, Service: sv, RunID: engine.NewRunID(), Creds: creds}
	s, err := newSvc(target)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{storage.Own.String(), storage.Foreign.String(), storage.NoVOMS.String(), bearerKind} {
		s.tr.clients[k] = &client{base: srv.URL, host: u.Host, hc: srv.Client(), who: k}
	}
	return s, srv
}

// scratchOf is the run's scratch area of a unit service.
func scratchOf(t *testing.T, s *svc) probe.Scratch {
	t.Helper()
	sc, err := s.t.Scratch()
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// runChecks runs the selected checks (with prerequisites) of s, skipping
// connection and TLS (the test server's CA is not a grid CA directory).
func runChecks(t *testing.T, s *svc, ids ...string) map[string]engine.Result {
	t.Helper()
	sv := engine.Skip(s.service(), []string{IDConnection, IDSSL})
	sv, err := engine.Select(sv, ids)
	if err != nil {
		t.Fatal(err)
	}
	r := engine.Runner{RunID: s.t.RunID}
	out := map[string]engine.Result{}
	for _, x := range r.Run(context.Background(), []*engine.Site{{Name: "T_UNIT", Services: []*engine.Service{sv}}}) {
		out[x.Check] = x
		t.Logf("%s %s %s", x.Check, x.State, x.Detail)
	}
	return out
}

func assertResult(t *testing.T, res engine.Result, st engine.State, substr ...string) {
	t.Helper()
	if res.State != st {
		t.Errorf("%s: state %s, want %s (%s)", res.Check, res.State, st, res.Detail)
	}
	for _, s := range substr {
		if !strings.Contains(res.Detail, s) {
			t.Errorf("%s: detail %q lacks %q", res.Check, res.Detail, s)
		}
	}
}

func TestCrtAccess404IsNotADenial(t *testing.T) {
	dav := newMemDAV()
	// Every GET answers 404 (the file "hides"), HEAD shows it exists.
	dav.deny = func(r *http.Request, _ string) int {
		if r.Method == http.MethodGet {
			return http.StatusNotFound
		}
		return 0
	}
	s, _ := unitSvc(t, dav)
	res := runChecks(t, s, storage.IDCrtAccess)[storage.IDCrtAccess]
	assertResult(t, res, engine.Unknown, "404", "not an explicit denial")
}

func TestCrtAccessUnknownWhenFileMissing(t *testing.T) {
	dav := newMemDAV()
	dav.deny = func(r *http.Request, _ string) int { return http.StatusNotFound }
	s, _ := unitSvc(t, dav)
	res := runChecks(t, s, storage.IDCrtAccess)[storage.IDCrtAccess]
	assertResult(t, res, engine.Unknown, "would prove nothing")
}

func TestCrtAccessAllowedIsCritical(t *testing.T) {
	s, _ := unitSvc(t, newMemDAV())
	res := runChecks(t, s, storage.IDCrtAccess)[storage.IDCrtAccess]
	assertResult(t, res, engine.Critical, "2 of 2 refusals not enforced", "reading /testvo/ref: read it")
}

func TestCrtWriteMalformedStatIsCriticalAndCleansUp(t *testing.T) {
	dav := newMemDAV()
	dav.propfind = `<D:multistatus xmlns:D="DAV:"><D:response><D:href>/x</D:hr`
	s, _ := unitSvc(t, dav)
	res := runChecks(t, s, storage.IDCrtWrite)[storage.IDCrtWrite]
	assertResult(t, res, engine.Critical, "malformed multistatus")
	sc := scratchOf(t, s)
	dav.mu.Lock()
	defer dav.mu.Unlock()
	for f := range dav.files {
		if strings.HasPrefix(f, sc.Dir()) {
			t.Errorf("left behind: %s", f)
		}
	}
	if dav.dirs[sc.Dir()] {
		t.Errorf("scratch dir left behind")
	}
	for _, d := range dav.deletes {
		if !sc.Contains(d) {
			t.Errorf("deleted outside the scratch area: %s", d)
		}
	}
}

func TestReadFindings(t *testing.T) {
	cases := []struct {
		name   string
		set    func(*memDAV)
		state  engine.State
		substr string
	}{
		{"ok", func(*memDAV) {}, engine.OK, "matches sites.yaml and the server's"},
		{"server digest wrong", func(m *memDAV) { m.digest = "adler32=00000001" }, engine.Critical, "server adler32 of /testvo/ref is 00000001"},
		{"no server digest", func(m *memDAV) { m.digest = "md5=x" }, engine.OK, "the server gives no adler32"},
		{"range ignored", func(m *memDAV) { m.ignoreRange = true }, engine.Warning, "server ignored Range"},
		{"content differs", func(m *memDAV) { m.files["/testvo/ref"] = []byte(strings.ToUpper(refContent)) }, engine.Critical, "sites.yaml says"},
		{"refused", func(m *memDAV) { m.deny = func(*http.Request, string) int { return 403 } }, engine.Critical, "403 Forbidden: Unable to do it; permission denied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dav := newMemDAV()
			s, _ := unitSvc(t, dav)
			c.set(dav)
			res := runChecks(t, s, storage.IDCrtRead, storage.IDTknRead)
			assertResult(t, res[storage.IDCrtRead], c.state, c.substr)
			if c.name == "refused" {
				// A token refused whatever it is: the diagnosis says so first.
				assertResult(t, res[storage.IDTknRead], c.state, "site: the SE accepted none of 13 tokens", "; read /testvo/ref with the token storage.read:/ref failed: 403 Forbidden")
				return
			}
			assertResult(t, res[storage.IDTknRead], c.state, c.substr)
		})
	}
}

// TestTknAccessPermissiveServer: a server that allows everything breaks
// every refusal, and the detail names them.
func TestTknAccessPermissiveServer(t *testing.T) {
	s, _ := unitSvc(t, newMemDAV())
	res := runChecks(t, s, storage.IDTknAccess)[storage.IDTknAccess]
	assertResult(t, res, engine.Critical, "satisfies WLCG profile none (expected 1.0)",
		"create-no-overwrite 1.0 (storage.create:.../16tkn-access overwriting .../a: wrote it)")
	fails := 0
	for _, r := range res.Rules {
		if r.Verdict == engine.VerdictFail {
			fails++
		}
	}
	if fails != len(storage.RefusalNames()) {
		t.Errorf("%d rules broken, want every refusal's", fails)
	}
}

// wlcgDeny is a server that follows the WLCG profile (wlcgtest's model)
// on memDAV for tokens, the proxy may do everything; 404 for a read of the
// sibling .../ab turns on siblingNotFound.
func wlcgDeny(m *memDAV, aud string, siblingNotFound bool) func(r *http.Request, tok string) int {
	pol := wlcgtest.Policy{Audience: aud, Base: "/testvo", GroupArea: map[string]string{"/testvo": "/testvo/gridprobe"}}
	return func(r *http.Request, tok string) int {
		if tok == "" {
			return 0 // the proxy may do everything
		}
		p := path.Clean(r.URL.Path)
		if siblingNotFound && strings.HasSuffix(p, "/ab") && r.Method == http.MethodGet {
			return http.StatusNotFound
		}
		_, exists := m.files[p]
		op := wlcgtest.Stat
		switch r.Method {
		case http.MethodGet:
			op = wlcgtest.Read
		case "PROPFIND":
			if r.Header.Get("Depth") == "1" {
				op = wlcgtest.List
			}
		case http.MethodPut:
			op = wlcgtest.Write
			if exists {
				op = wlcgtest.Over
			}
		case http.MethodDelete:
			op = wlcgtest.Delete
		case "MKCOL":
			op = wlcgtest.Mkdir
		}
		return pol.Decide(wlcgtest.Request{Op: op, Path: p, Claims: claimsOf(tok)})
	}
}

func TestTknChecksOnAConformingServer(t *testing.T) {
	dav := newMemDAV()
	s, _ := unitSvc(t, dav)
	dav.deny = wlcgDeny(dav, s.book.Audience(), false)
	res := runChecks(t, s, storage.IDTknRead, storage.IDTknAccess, storage.IDTknWrite, storage.IDTknDirectory)
	assertResult(t, res[storage.IDTknAccess], engine.OK, "satisfies WLCG profile 1.2 (expected 1.0)", "rules tested hold on existing objects")
	assertResult(t, res[storage.IDTknRead], engine.OK)
	assertResult(t, res[storage.IDTknWrite], engine.OK)
	assertResult(t, res[storage.IDTknDirectory], engine.OK)
	assertResult(t, res[engine.SummaryID], engine.OK)
	dav.mu.Lock()
	defer dav.mu.Unlock()
	var left []string
	for f := range dav.files {
		if strings.HasPrefix(f, "/testvo/gridprobe/") {
			left = append(left, f)
		}
	}
	for d := range dav.dirs {
		if strings.HasPrefix(d, "/testvo/gridprobe/") {
			left = append(left, d+"/")
		}
	}
	sort.Strings(left)
	if len(left) > 0 {
		t.Errorf("scratch area not empty: %v", left)
	}
}

func TestTknAccessSibling404IsNotOK(t *testing.T) {
	dav := newMemDAV()
	s, _ := unitSvc(t, dav)
	dav.deny = wlcgDeny(dav, s.book.Audience(), true)
	res := runChecks(t, s, storage.IDTknAccess)[storage.IDTknAccess]
	assertResult(t, res, engine.Unknown, "path-elements-read 1.0 (storage.read:.../a reading .../ab: 404")
}

func TestTknDirectoryListingRefusedIsWarning(t *testing.T) {
	dav := newMemDAV()
	s, _ := unitSvc(t, dav)
	conform := wlcgDeny(dav, s.book.Audience(), false)
	dav.deny = func(r *http.Request, tok string) int {
		if r.Method == "PROPFIND" && r.Header.Get("Depth") == "1" && tok != "" {
			return http.StatusForbidden
		}
		return conform(r, tok)
	}
	res := runChecks(t, s, storage.IDTknDirectory)[storage.IDTknDirectory]
	assertResult(t, res, engine.Warning, "listing refused", "403 Forbidden", "does not define listing")
}

func TestServerTextIsOneRedactedLine(t *testing.T) {
	got := serverText([]byte("<html><body><h1>Forbidden</h1>\n<p>no\taccess</p></body></html>"))
	if got != "Forbidden no access" {
		t.Errorf("serverText = %q", got)
	}
	long := serverText(bytes.Repeat([]byte("x"), 500))
	if len(long) > 140 {
		t.Errorf("len = %d", len(long))
	}
}

func TestReproduceLinesNeverInlineCredentials(t *testing.T) {
	dav := newMemDAV()
	s, _ := unitSvc(t, dav)
	dav.deny = wlcgDeny(dav, s.book.Audience(), false)
	for id, res := range runChecks(t, s, storage.IDCrtRead, storage.IDCrtWrite, storage.IDCrtDirectory, storage.IDCrtAccess, storage.IDTknRead, storage.IDTknAccess, storage.IDTknWrite, storage.IDTknDirectory) {
		if id == engine.SummaryID {
			continue
		}
		if len(res.Reproduce) == 0 {
			t.Errorf("%s: no reproduce lines", id)
		}
		for _, l := range res.Reproduce {
			if strings.Contains(l, "eyJ") || strings.Contains(l, "Bearer ey") {
				t.Errorf("%s: token inline: %s", id, l)
			}
			if strings.Contains(l, "curl") && !strings.Contains(l, `--capath "$X509_CERT_DIR"`) {
				t.Errorf("%s: curl without the CA dir: %s", id, l)
			}
		}
	}
}
