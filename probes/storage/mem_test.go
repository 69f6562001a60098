package storage

import (
	"bytes"
	"context"
	"fmt"
	"hash/adler32"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage/wlcgtest"
)

// Unit tests of the rules over an in-memory store: the rules' logic and
// words, whatever the protocol. The protocols' own behaviour is proven
// against the real testbed in their packages.

// who is the credential of one request to memFS.
type who struct {
	role   Role
	claims cred.Claims // of a token
	token  bool
}

// memFS is an in-memory storage endpoint. deny, when set, may refuse a
// request (a non-nil error) before it is served.
type memFS struct {
	mu       sync.Mutex
	files    map[string][]byte
	dirs     map[string]bool
	deletes  []string
	deny     func(op OpKind, p string, w who, exists bool) error
	checksum func(p string, data []byte) (string, error)
}

func newMemFS() *memFS {
	fs := &memFS{files: map[string][]byte{}, dirs: map[string]bool{"/": true, "/testvo": true, "/testvo/gridprobe": true, "/othervo": true}}
	fs.files["/testvo/ref"] = []byte(refContent)
	fs.files["/othervo/ref"] = []byte("other VO's data\n")
	return fs
}

const refContent = "gridprobe reference content for unit tests, long enough for a ranged read\n"

func denied(p string) error { return deniedWith(p, 403) }

func deniedWith(p string, code int) error {
	st := fmt.Sprintf("%d %s", code, http.StatusText(code))
	return &Error{Kind: Denied, Status: st, HTTPStatus: code, Text: st + ": " + p + "; permission denied"}
}

func notFound(p string) error {
	return &Error{Kind: NotFound, Status: "404 Not Found", Text: "404 Not Found: " + p}
}

func (m *memFS) check(op OpKind, p string, w who) error {
	if m.deny == nil {
		return nil
	}
	_, f := m.files[p]
	return m.deny(op, p, w, f || m.dirs[p])
}

// memStore is one credential's view of memFS.
type memStore struct {
	fs *memFS
	w  who
}

func (s memStore) Stat(_ context.Context, p string) (Info, error) {
	m := s.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(OpStat, p, s.w); err != nil {
		return Info{}, err
	}
	if d, ok := m.files[p]; ok {
		return Info{Path: p, Name: path.Base(p), Size: int64(len(d))}, nil
	}
	if m.dirs[p] {
		return Info{Path: p, Name: path.Base(p), IsDir: true}, nil
	}
	return Info{}, notFound(p)
}

func (s memStore) Read(_ context.Context, p string, w io.Writer) (ReadInfo, error) {
	m := s.fs
	m.mu.Lock()
	if err := m.check(OpGet, p, s.w); err != nil {
		m.mu.Unlock()
		return ReadInfo{}, err
	}
	d, ok := m.files[p]
	m.mu.Unlock()
	if !ok {
		return ReadInfo{}, notFound(p)
	}
	n, err := w.Write(d)
	return ReadInfo{Bytes: int64(n), From: "mem:1"}, err
}

func (s memStore) ReadRange(_ context.Context, p string, off, n int64) ([]byte, error) {
	m := s.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(OpGetRange, p, s.w); err != nil {
		return nil, err
	}
	d, ok := m.files[p]
	if !ok {
		return nil, notFound(p)
	}
	return bytes.Clone(d[off : off+n]), nil
}

func (s memStore) Write(_ context.Context, p string, data []byte, _ WriteMode) error {
	m := s.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(OpPut, p, s.w); err != nil {
		return err
	}
	if !m.dirs[path.Dir(p)] {
		return notFound(path.Dir(p))
	}
	m.files[p] = bytes.Clone(data)
	return nil
}

func (s memStore) remove(op OpKind, p string) error {
	m := s.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(op, p, s.w); err != nil {
		return err
	}
	m.deletes = append(m.deletes, p)
	if _, ok := m.files[p]; ok && op == OpDelete {
		delete(m.files, p)
		return nil
	}
	if m.dirs[p] && op == OpRmdir {
		for f := range m.files {
			if path.Dir(f) == p {
				return &Error{Kind: Other, Text: "409 Conflict: not empty"}
			}
		}
		delete(m.dirs, p)
		return nil
	}
	return notFound(p)
}

func (s memStore) Delete(_ context.Context, p string) error { return s.remove(OpDelete, p) }
func (s memStore) Rmdir(_ context.Context, p string) error  { return s.remove(OpRmdir, p) }

func (s memStore) Mkdir(_ context.Context, p string, _ bool) error {
	m := s.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(OpMkdir, p, s.w); err != nil {
		return err
	}
	if m.dirs[p] {
		return &Error{Kind: Exists, Text: "405 Method Not Allowed"}
	}
	m.dirs[p] = true
	return nil
}

func (s memStore) List(_ context.Context, p string) ([]Info, error) {
	m := s.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(OpList, p, s.w); err != nil {
		return nil, err
	}
	if !m.dirs[p] {
		return nil, notFound(p)
	}
	var out []Info
	for f, d := range m.files {
		if path.Dir(f) == p {
			out = append(out, Info{Path: f, Name: path.Base(f), Size: int64(len(d))})
		}
	}
	for d := range m.dirs {
		if path.Dir(d) == p && d != p {
			out = append(out, Info{Path: d, Name: path.Base(d), IsDir: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func (s memStore) Checksum(_ context.Context, p, alg string) (string, error) {
	m := s.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(OpChecksum, p, s.w); err != nil {
		return "", err
	}
	d, ok := m.files[p]
	if !ok {
		return "", notFound(p)
	}
	if m.checksum != nil {
		return m.checksum(p, d)
	}
	return fmt.Sprintf("%08x", adler32.Checksum(d)), nil
}

// memTransport opens memStores.
type memTransport struct{ fs *memFS }

func (t memTransport) Proxy(_ context.Context, role Role, _ *cred.Proxy) (Store, error) {
	return memStore{fs: t.fs, w: who{role: role}}, nil
}

func (t memTransport) Token(_ context.Context, tok *cred.Token) (Store, error) {
	return memStore{fs: t.fs, w: who{token: true, claims: tok.Claims()}}, nil
}

func (t memTransport) Line(op Op) string         { return fmt.Sprintf("op %d %s", op.Kind, op.Path) }
func (t memTransport) LateWrites() time.Duration { return 0 }

// fakeTokens are tokens of the model issuer (wlcgtest): narrowed, shaped
// as the testbed issuer shapes them; broad: one token for every request.
type fakeTokens = *wlcgtest.Issuer

func narrowTokens() fakeTokens { return &wlcgtest.Issuer{} }
func broadTokens() fakeTokens  { return &wlcgtest.Issuer{Broad: true} }

// policy is the model of a server following the WLCG profile (wlcgtest)
// for the memFS layout: the issuer's base /testvo; the group /testvo may
// do everything in /testvo/gridprobe; break violates rules.
func policy(aud string, broken ...string) wlcgtest.Policy {
	p := wlcgtest.Policy{Audience: aud, Base: "/testvo", GroupArea: map[string]string{"/testvo": "/testvo/gridprobe"}, Break: map[string]bool{}}
	for _, b := range broken {
		p.Break[b] = true
	}
	return p
}

// modelOp is the model's name of a request.
func modelOp(op OpKind, exists bool) wlcgtest.Op {
	switch op {
	case OpGet, OpGetRange:
		return wlcgtest.Read
	case OpList:
		return wlcgtest.List
	case OpPut:
		if exists {
			return wlcgtest.Over
		}
		return wlcgtest.Write
	case OpDelete, OpRmdir:
		return wlcgtest.Delete
	case OpMkdir:
		return wlcgtest.Mkdir
	}
	return wlcgtest.Stat
}

// wlcg is a server that follows the WLCG profile (wlcgtest's model, with
// broken rules violated) for tokens; proxies may do everything except a
// foreign or VOMS-less one reading /testvo, and the VO's reading /othervo.
func wlcg(aud string, broken ...string) func(op OpKind, p string, w who, exists bool) error {
	return wlcgPolicy(policy(aud, broken...))
}

// wlcgPolicy is wlcg with the model's policy given.
func wlcgPolicy(pol wlcgtest.Policy) func(op OpKind, p string, w who, exists bool) error {
	return func(op OpKind, p string, w who, exists bool) error {
		if !w.token {
			if w.role != Own && strings.HasPrefix(p, "/testvo") {
				return denied(p)
			}
			if w.role == Own && strings.HasPrefix(path.Clean(p), "/othervo") {
				return denied(p)
			}
			return nil
		}
		if code := pol.Decide(wlcgtest.Request{Op: modelOp(op, exists), Path: path.Clean(p), Claims: w.claims}); code != 0 {
			return deniedWith(p, code)
		}
		return nil
	}
}

// testBook is a rulebook over memFS.
func testBook(t *testing.T, fs *memFS, tokens cred.Source) *Book {
	t.Helper()
	u, _ := url.Parse("mem://se.example:1")
	sv := &config.Service{Type: "mem", URL: u, RawURL: u.String(), Name: "org.testvo.SE-Mem", VO: "testvo",
		ScopeBase: "/testvo", WriteDir: "/testvo/gridprobe", ForeignFile: "/othervo/ref", Timeout: 10 * time.Second,
		ReadFile: config.FileRef{Path: "/testvo/ref", Adler32: fmt.Sprintf("%08x", adler32.Checksum([]byte(refContent))), Size: int64(len(refContent))}}
	creds := &probe.Credentials{Tokens: tokens, ProxyPath: "own.pem", ForeignProxyPath: "foreign.pem", NoVOMSProxyPath: "novoms.pem"}
	for _, p := range []string{"own.pem", "foreign.pem", "novoms.pem"} {
		creds.UseProxy(p, &cred.Proxy{Path: p, Subject: "/CN=" + p})
	}
	target := probe.Target{Config: &config.Config{}, Site: &config.Site{Name: "T_UNIT"}, Service: sv, RunID: engine.NewRunID(), Creds: creds}
	return NewBook(target, memTransport{fs})
}

// run runs the selected rules (with the book's gate skipped) and returns
// the results by check id.
func run(t *testing.T, b *Book, ids ...string) map[string]engine.Result {
	t.Helper()
	sv := &engine.Service{Name: "org.testvo.SE-Mem", Protocol: "mem", Timeout: 10 * time.Second, Checks: b.Checks("0gate")}
	sv = engine.Skip(sv, []string{"0gate"})
	sv, err := engine.Select(sv, ids)
	if err != nil {
		t.Fatal(err)
	}
	r := engine.Runner{RunID: b.t.RunID}
	out := map[string]engine.Result{}
	for _, x := range r.Run(context.Background(), []*engine.Site{{Name: "T_UNIT", Services: []*engine.Service{sv}}}) {
		out[x.Check] = x
		t.Logf("%s %s %s", x.Check, x.State, x.Detail)
	}
	return out
}

func want(t *testing.T, res engine.Result, st engine.State, substr ...string) {
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

// assertClean: nothing left in the scratch area, no delete outside it.
func assertClean(t *testing.T, b *Book, fs *memFS) {
	t.Helper()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for f := range fs.files {
		if strings.HasPrefix(f, "/testvo/gridprobe/") {
			t.Errorf("left behind: %s", f)
		}
	}
	for d := range fs.dirs {
		if strings.HasPrefix(d, "/testvo/gridprobe/") {
			t.Errorf("left behind: %s/", d)
		}
	}
	for _, d := range fs.deletes {
		if !b.scratch.Contains(d) {
			t.Errorf("deleted outside the scratch area: %s", d)
		}
	}
}
