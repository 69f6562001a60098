package webdav

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// runConnection is the shared 1connection check (every address).
func (s *svc) runConnection(ctx context.Context, _ *engine.Env) engine.Outcome {
	return probe.Connection(ctx, s.u, nil)
}

// runSSL is the shared 2ssl check.
func (s *svc) runSSL(ctx context.Context, _ *engine.Env) engine.Outcome {
	ca, err := s.t.Creds.CA()
	if err != nil {
		return engine.Unknownf("cannot load the CA directory: %v", err)
	}
	return probe.TLS(ctx, s.u, ca, s.t.CertExpiryWarning())
}

// runCrtExtension: the VOMS proxy is accepted and the endpoint speaks
// WebDAV: OPTIONS announces a DAV class, PROPFIND on the VO area answers
// 207 with a collection.
func (s *svc) runCrtExtension(ctx context.Context, _ *engine.Env) engine.Outcome {
	u := s.urlOf(s.voArea)
	repro := []string{
		curl(proxyAuth, "-X", "OPTIONS", "-i", u),
		curl(proxyAuth, "-X", "PROPFIND", "-H", "Depth: 0", u),
	}
	o := s.crtExtension(ctx)
	o.Reproduce = repro
	return o
}

func (s *svc) crtExtension(ctx context.Context) engine.Outcome {
	c, p, err := s.client(kindProxy)
	if err != nil {
		return engine.Unknownf("cannot use the proxy: %v", err)
	}
	if p == nil {
		return engine.Unknownf("no proxy loaded")
	}
	if len(p.VOMS) == 0 {
		return engine.Unknownf("the configured proxy has no VOMS attributes, so VOMS acceptance cannot be tested (%s)", p.Summary())
	}
	vo := ""
	if p.VO() != s.t.Service.VO {
		vo = fmt.Sprintf(" (proxy VO %s, service VO %s)", p.VO(), s.t.Service.VO)
	}
	resp, _, err := c.call(ctx, http.MethodOptions, s.voArea, nil, nil, nil, 200, 204)
	if err != nil {
		return engine.Critf("OPTIONS %s with the VOMS proxy%s: %v", s.voArea, vo, err)
	}
	dav := strings.Join(resp.Header.Values("DAV"), ", ")
	if !davClass1(dav) {
		return engine.Critf("OPTIONS %s: no WebDAV class 1 in the DAV header (%q): not a WebDAV endpoint", s.voArea, dav)
	}
	entries, err := c.propfind(ctx, s.voArea, nil, "0")
	if err != nil {
		return engine.Critf("PROPFIND %s with the VOMS proxy%s: %v", s.voArea, vo, err)
	}
	e, ok := find(entries, s.voArea)
	if !ok && len(entries) == 1 {
		e, ok = entries[0], true
	}
	if !ok || !e.IsDir {
		return engine.Critf("PROPFIND %s answered 207 but does not describe it as a collection", s.voArea)
	}
	return engine.Okf("VOMS proxy accepted%s: OPTIONS %s DAV: %s; PROPFIND 207 collection; %s", vo, s.voArea, dav, p.Summary())
}

func davClass1(h string) bool {
	for _, f := range strings.Split(h, ",") {
		if strings.TrimSpace(f) == "1" {
			return true
		}
	}
	return false
}

// runCrtRead: GET the reference file with the proxy, verify it.
func (s *svc) runCrtRead(ctx context.Context, _ *engine.Env) engine.Outcome {
	ref := s.t.Service.ReadFile
	if ref.Path == "" {
		return engine.Unknownf("no read_file configured")
	}
	c, p, err := s.client(kindProxy)
	if err != nil {
		return engine.Unknownf("cannot use the proxy: %v", err)
	}
	rep, err := verifyRead(ctx, c, nil, ref)
	who := "proxy"
	if p != nil && p.VO() != "" {
		who = "proxy of VO " + p.VO()
	}
	o := readOutcome(who, ref, rep, err)
	o.Reproduce = s.reproRead(proxyAuth, "gridprobe-reference.dat", rep)
	return o
}

// runCrtAccess: proxies that must not read the reference file (another
// VO's, one without VOMS attributes) are refused explicitly, on a file the
// probe's own proxy shows to exist.
func (s *svc) runCrtAccess(ctx context.Context, _ *engine.Env) engine.Outcome {
	ref := s.t.Service.ReadFile
	if ref.Path == "" {
		return engine.Unknownf("no read_file configured")
	}
	u := s.urlOf(ref.Path)
	repro := []string{
		comment("%s must exist for the probe's own proxy ...", ref.Path),
		curl(proxyAuth, "-I", u),
		comment("... and be refused (401/403) to a proxy of another VO (GRIDPROBE_FOREIGN_PROXY)"),
		curlDenied(certAuth(envForeign), u),
	}
	if s.t.Creds.NoVOMSProxyPath != "" {
		repro = append(repro, comment("... and to a proxy without VOMS attributes (GRIDPROBE_NOVOMS_PROXY)"), curlDenied(certAuth(envNoVOMS), u))
	}
	o := s.crtAccess(ctx, ref.Path)
	o.Reproduce = repro
	return o
}

func (s *svc) crtAccess(ctx context.Context, ref string) engine.Outcome {
	own, _, err := s.client(kindProxy)
	if err != nil {
		return engine.Unknownf("cannot use the probe's own proxy to show %s exists: %v", ref, err)
	}
	if _, _, err := own.call(ctx, http.MethodHead, ref, nil, nil, nil, 200); err != nil {
		return engine.Unknownf("cannot show that %s exists with the probe's own proxy (%v): a refusal to other proxies would prove nothing", ref, err)
	}
	kinds := []string{kindForeign}
	if s.t.Creds.NoVOMSProxyPath != "" {
		kinds = append(kinds, kindNoVOMS)
	}
	var refused, broken []string
	for _, k := range kinds {
		c, p, err := s.client(k)
		if err != nil {
			return engine.Unknownf("cannot use the %s: %v", k, err)
		}
		who := k
		if p != nil && p.VO() != "" {
			who = fmt.Sprintf("%s of VO %s", k, p.VO())
		}
		verdict, ok := expectDenied(ctx, c, nil, http.MethodGet, ref, nil)
		if ok {
			refused = append(refused, fmt.Sprintf("%s: %s", who, verdict))
		} else {
			broken = append(broken, fmt.Sprintf("%s could read %s: %s", who, ref, verdict))
		}
	}
	if len(broken) > 0 {
		return engine.Critf("%s", strings.Join(broken, "; "))
	}
	return engine.Okf("%s refused as required: %s", ref, strings.Join(refused, "; "))
}

// expectDenied sends a request that must be refused and says what
// happened: ok only for 401/403. A 404 is not a denial (the caller has
// shown the object exists).
func expectDenied(ctx context.Context, c *client, tok *cred.Token, method, p string, body []byte) (string, bool) {
	resp, err := c.do(ctx, method, p, tok, nil, body)
	if err != nil {
		return fmt.Sprintf("no answer: %v", err), false
	}
	defer resp.Body.Close()
	he := newHTTPError(method, p, resp)
	switch {
	case he.Denied():
		return he.Error(), true
	case resp.StatusCode == http.StatusNotFound:
		return "answered " + he.Error() + " for an object that exists: not an explicit denial", false
	case resp.StatusCode < 300:
		return "answered " + resp.Status + " (allowed)", false
	default:
		return "answered " + he.Error() + " instead of a denial", false
	}
}

const payloadSize = 64 << 10

// payload is the content a write check uploads: a header naming the run
// and check, then random bytes.
func payload(env *engine.Env) []byte {
	b := make([]byte, payloadSize)
	_, _ = rand.Read(b)
	copy(b, fmt.Sprintf("gridprobe %s %s\n", env.RunID, env.Check))
	return b
}

// runCrtWrite: PUT a new file into the scratch area, stat it, read it back,
// compare, delete it, check it is gone.
func (s *svc) runCrtWrite(ctx context.Context, env *engine.Env) engine.Outcome {
	sc, bad := s.needScratch()
	if bad != nil {
		return *bad
	}
	p := sc.Path(IDCrtWrite + ".dat")
	u := s.urlOf(p)
	local := "gridprobe-write.dat"
	repro := []string{
		payloadLine(local, payloadSize),
		curl(proxyAuth, "-X", "MKCOL", s.urlOf(sc.Dir())) + " || true",
		curl(proxyAuth, "-T", local, u),
		curl(proxyAuth, "-X", "PROPFIND", "-H", "Depth: 0", u),
		curl(proxyAuth, "-o", local+".back", u),
		probe.Command("cmp", local, local+".back"),
		curl(proxyAuth, "-X", "DELETE", u),
		curl(proxyAuth, "-X", "DELETE", s.urlOf(sc.Dir())),
	}
	c, _, err := s.client(kindProxy)
	if err != nil {
		return withRepro(engine.Unknownf("cannot use the proxy: %v", err), repro)
	}
	o := s.writeCycle(ctx, env, writeCreds{c: c, label: "proxy"}, p)
	return withRepro(o, repro)
}

func withRepro(o engine.Outcome, r []string) engine.Outcome {
	o.Reproduce = r
	return o
}

// writeCreds are the credentials of each step of a write cycle: a client and
// per-step tokens (nil tokens for the proxy).
type writeCreds struct {
	c                 *client
	create, rd, del   *cred.Token
	label             string // "proxy", "token"
	createWhy, delWhy string // the WLCG rule a failure breaks, for tokens
	tokenFirst        bool
}

// writeCycle is the body of 7crt-write and 17tkn-write.
func (s *svc) writeCycle(ctx context.Context, env *engine.Env, w writeCreds, p string) engine.Outcome {
	if err := s.mkScratch(ctx, env, w.c, w.create); err != nil {
		return failed(w.label, "scratch-directory MKCOL", s.scratch.Dir(), w.createWhy, err)
	}
	data := payload(env)
	s.cleanup(env, p, w.tokenFirst)
	t0 := time.Now()
	if _, _, err := w.c.call(ctx, http.MethodPut, p, w.create, nil, data, 200, 201, 204); err != nil {
		return failed(w.label, "upload", p, w.createWhy, err)
	}
	put := time.Since(t0)
	entries, err := w.c.propfind(ctx, p, w.rd, "0")
	if err != nil {
		return failed(w.label, "stat after upload", p, "", err)
	}
	if e, ok := find(entries, p); !ok || e.IsDir || e.Size != int64(len(data)) {
		return engine.Critf("stat of %s after upload: %s, want a file of %d bytes", p, describe(entries, p), len(data))
	}
	t1 := time.Now()
	_, got, err := w.c.call(ctx, http.MethodGet, p, w.rd, nil, nil, 200)
	if err != nil {
		return failed(w.label, "read-back", p, "", err)
	}
	get := time.Since(t1)
	if !bytes.Equal(got, data) {
		return engine.Critf("read-back of %s returned %d bytes that differ from the %d uploaded", p, len(got), len(data))
	}
	if err := s.deleteNow(ctx, p, w.c.checkDelete(w.del)); err != nil {
		return failed(w.label, "delete", p, w.delWhy, err)
	}
	if err := gone(ctx, w.c, w.rd, p); err != nil {
		return engine.Critf("%v", err)
	}
	o := engine.Okf("%s wrote %s (%d bytes, %.2fs), stat and read back match (%.2fs), deleted", w.label, p, len(data), put.Seconds(), get.Seconds())
	o.Perf = []engine.Perf{
		{Label: "write_time", Value: put.Seconds(), Unit: "s"},
		{Label: "read_time", Value: get.Seconds(), Unit: "s"},
		{Label: "bytes", Value: float64(len(data)), Unit: "B"},
	}
	return o
}

// gone checks that p no longer exists (PROPFIND answers 404).
func gone(ctx context.Context, c *client, tok *cred.Token, p string) error {
	_, err := c.propfind(ctx, p, tok, "0")
	if he, ok := asHTTP(err); ok && he.Code == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot confirm %s is gone after DELETE: %v", p, err)
	}
	return fmt.Errorf("%s still exists after DELETE succeeded", p)
}

func describe(entries []entry, p string) string {
	e, ok := find(entries, p)
	switch {
	case !ok:
		return fmt.Sprintf("not in the PROPFIND answer (%d entries)", len(entries))
	case e.IsDir:
		return "a collection"
	default:
		return fmt.Sprintf("a file of %d bytes", e.Size)
	}
}

// runCrtDirectory: MKCOL, PUT inside, PROPFIND depth 1 lists it, delete
// file and collection.
func (s *svc) runCrtDirectory(ctx context.Context, env *engine.Env) engine.Outcome {
	sc, bad := s.needScratch()
	if bad != nil {
		return *bad
	}
	dir := sc.Path(IDCrtDirectory)
	file := sc.Path(IDCrtDirectory, "file.dat")
	local := "gridprobe-dir-file.dat"
	repro := []string{
		payloadLine(local, payloadSize),
		curl(proxyAuth, "-X", "MKCOL", s.urlOf(sc.Dir())) + " || true",
		curl(proxyAuth, "-X", "MKCOL", s.urlOf(dir)),
		curl(proxyAuth, "-T", local, s.urlOf(file)),
		curl(proxyAuth, "-X", "PROPFIND", "-H", "Depth: 1", s.urlOf(dir)) + " | grep -F " + probe.Quote(file),
		curl(proxyAuth, "-X", "DELETE", s.urlOf(file)),
		curl(proxyAuth, "-X", "DELETE", s.urlOf(dir)),
		curl(proxyAuth, "-X", "DELETE", s.urlOf(sc.Dir())),
	}
	c, _, err := s.client(kindProxy)
	if err != nil {
		return withRepro(engine.Unknownf("cannot use the proxy: %v", err), repro)
	}
	return withRepro(s.dirCycle(ctx, env, dirCreds{c: c, label: "proxy"}, dir, file), repro)
}

// dirCreds are the credentials of each step of a directory cycle.
type dirCreds struct {
	c                 *client
	create, list, del *cred.Token
	label             string
	tokenFirst        bool
	createWhy, delWhy string
	// listInformational: a refused listing is WARNING (tokens: the WLCG
	// profile does not define listing).
	listInformational bool
}

func (s *svc) dirCycle(ctx context.Context, env *engine.Env, d dirCreds, dir, file string) engine.Outcome {
	if err := s.mkScratch(ctx, env, d.c, d.create); err != nil {
		return failed(d.label, "scratch-directory MKCOL", s.scratch.Dir(), d.createWhy, err)
	}
	s.cleanup(env, dir, d.tokenFirst)
	if _, _, err := d.c.call(ctx, "MKCOL", dir, d.create, nil, nil, 201); err != nil {
		return failed(d.label, "MKCOL", dir, d.createWhy, err)
	}
	data := payload(env)
	s.cleanup(env, file, d.tokenFirst)
	if _, _, err := d.c.call(ctx, http.MethodPut, file, d.create, nil, data, 200, 201, 204); err != nil {
		return failed(d.label, "upload into the new collection", file, d.createWhy, err)
	}
	var listWarn string
	entries, err := d.c.propfind(ctx, dir, d.list, "1")
	switch {
	case err != nil:
		he, denied := asHTTP(err)
		if d.listInformational && denied && he.Denied() {
			listWarn = fmt.Sprintf("listing refused, informational as the WLCG profile does not define listing: %v", err)
			break
		}
		return failed(d.label, "PROPFIND depth 1", dir, "", err)
	default:
		if e, ok := find(entries, file); !ok || e.IsDir || e.Size != int64(len(data)) {
			msg := fmt.Sprintf("PROPFIND depth 1 of %s: %s is %s, want a file of %d bytes", dir, path.Base(file), describe(entries, file), len(data))
			if d.listInformational {
				listWarn = msg
				break
			}
			return engine.Critf("%s", msg)
		}
	}
	if err := s.deleteNow(ctx, file, d.c.checkDelete(d.del)); err != nil {
		return failed(d.label, "delete", file, d.delWhy, err)
	}
	if err := s.deleteNow(ctx, dir, d.c.checkDelete(d.del)); err != nil {
		return failed(d.label, "delete of the collection", dir, d.delWhy, err)
	}
	if listWarn != "" {
		return engine.Warnf("%s; %s created %s with a file and removed both", listWarn, d.label, dir)
	}
	return engine.Okf("%s created collection %s, uploaded a file, listed it (%d entries), removed both", d.label, dir, len(entries))
}

// runMacaroon: obtain a read-only macaroon with the proxy, read the
// reference file with it, and see a write with it refused.
func (s *svc) runMacaroon(ctx context.Context, env *engine.Env) engine.Outcome {
	ref := s.t.Service.ReadFile
	if ref.Path == "" {
		return engine.Unknownf("no read_file configured")
	}
	sc, bad := s.needScratch()
	if bad != nil {
		return *bad
	}
	target := commonDir(ref.Path, sc.Dir())
	wp := sc.Path(IDMacaroon + "-write.dat")
	local := "gridprobe-macaroon-write.dat"
	repro := []string{
		"(umask 077; " + curl(proxyAuth, "-X", "POST", "-H", "Content-Type: application/macaroon-request", "-d", macaroonRequest, s.urlOf(target)) +
			` | sed -n 's/.*"macaroon" *: *"\([^"]*\)".*/\1/p' > ` + macaroonTxt + ")",
		curl(macAuth, "-o", "gridprobe-reference.dat", s.urlOf(ref.Path)),
		payloadLine(local, 1024),
		curl(proxyAuth, "-X", "MKCOL", s.urlOf(sc.Dir())) + " || true",
		comment("a write with the read-only macaroon must be refused (401/403)"),
		curlDenied(macAuth, "-T", local, s.urlOf(wp)),
		curl(proxyAuth, "-X", "DELETE", s.urlOf(sc.Dir())),
	}
	o := s.macaroon(ctx, env, target, wp)
	return withRepro(o, repro)
}

const (
	macaroonActivities = "DOWNLOAD,READ_METADATA"
	macaroonValidity   = "PT10M"
	macaroonRequest    = `{"caveats":["activity:` + macaroonActivities + `"],"validity":"` + macaroonValidity + `"}`
)

func (s *svc) macaroon(ctx context.Context, env *engine.Env, target, wp string) engine.Outcome {
	ref := s.t.Service.ReadFile
	c, _, err := s.client(kindProxy)
	if err != nil {
		return engine.Unknownf("cannot use the proxy: %v", err)
	}
	bc, _, err := s.client(kindBearer)
	if err != nil {
		return engine.Unknownf("cannot set up a client: %v", err)
	}
	_, body, err := c.call(ctx, http.MethodPost, target, nil,
		map[string]string{"Content-Type": "application/macaroon-request"}, []byte(macaroonRequest), 200)
	if err != nil {
		return engine.Critf("macaroon request (POST %s, application/macaroon-request) with the proxy failed: %v", target, err)
	}
	var answer struct {
		Macaroon  string `json:"macaroon"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Macaroon == "" {
		cred.RegisterSecret(string(body))
		return engine.Critf("macaroon request to %s answered 200 without a macaroon in a JSON body (%d bytes)", target, len(body))
	}
	mac, err := cred.NewToken(answer.Macaroon, "macaroon from "+s.urlOf(target))
	if err != nil {
		return engine.Critf("macaroon from %s is unusable: %v", target, err)
	}
	rep, err := verifyRead(ctx, bc, mac, ref)
	if err != nil {
		return engine.Critf("macaroon (activity:%s) for %s obtained, but reading with it failed: %v", macaroonActivities, target, err)
	}
	// The write must be refused by the macaroon's activity caveat, inside
	// its path and in a directory that exists.
	if err := s.ensureScratch(ctx, env, c, nil); err != nil {
		return engine.Unknownf("macaroon read OK, but the write test needs the scratch directory: %v", err)
	}
	s.cleanup(env, wp, false)
	verdict, ok := expectDenied(ctx, bc, mac, http.MethodPut, wp, []byte("gridprobe macaroon write test\n"))
	if !ok {
		return engine.Critf("read-only macaroon (activity:%s) could write %s: %s", macaroonActivities, wp, verdict)
	}
	// Refused: nothing to delete (a DELETE of a missing object is a 404,
	// after which XrdHttp closes the connection). Should a server have
	// made something anyway, the service-end sweep of the scratch
	// directory removes it.
	s.deleted.Set(wp, true)
	o := engine.Okf("macaroon (activity:%s, %ds) for %s obtained with the proxy; read %s (%d bytes, adler32 %08x); write refused: %s",
		macaroonActivities, answer.ExpiresIn, target, ref.Path, rep.bytes, rep.adler, verdict)
	o.Perf = []engine.Perf{{Label: "read_bytes", Value: float64(rep.bytes), Unit: "B"}, {Label: "read_time", Value: rep.took.Seconds(), Unit: "s"}}
	return o
}

// commonDir is the deepest directory containing both paths.
func commonDir(a, b string) string {
	ea := strings.Split(strings.Trim(path.Dir(a), "/"), "/")
	eb := strings.Split(strings.Trim(b, "/"), "/")
	var out []string
	for i := 0; i < len(ea) && i < len(eb) && ea[i] == eb[i] && ea[i] != ""; i++ {
		out = append(out, ea[i])
	}
	return "/" + strings.Join(out, "/")
}

// failed words a failed step: "<who> <step> failed (<rule>): <status>:
// <server text>", naming the path only when the server's text does not.
func failed(who, step, p, why string, err error) engine.Outcome {
	where := ""
	if !strings.Contains(err.Error(), p) {
		where = " of " + p
	}
	return engine.Critf("%s %s%s failed%s: %v", who, step, where, why, err)
}
