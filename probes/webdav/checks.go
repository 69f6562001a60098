package webdav

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/storage"
)

// proxyClient is the client of the VO proxy.
func (s *svc) proxyClient() (*client, *cred.Proxy, error) {
	p, err := s.t.Creds.Proxy()
	if err != nil {
		return nil, nil, err
	}
	c, err := s.tr.client(storage.Own.String(), &p.Cert)
	return c, p, err
}

// runCrtExtension: the VOMS proxy is accepted and the endpoint speaks
// WebDAV: OPTIONS announces a DAV class, PROPFIND on the VO area answers
// 207 with a collection.
func (s *svc) runCrtExtension(ctx context.Context, _ *engine.Env) engine.Outcome {
	u := s.tr.urlOf(s.book.VOArea())
	o := s.crtExtension(ctx)
	o.Reproduce = []string{
		curl(proxyAuth, "-X", "OPTIONS", "-i", u),
		curl(proxyAuth, "-X", "PROPFIND", "-H", "Depth: 0", u),
	}
	return o
}

func (s *svc) crtExtension(ctx context.Context) engine.Outcome {
	area := s.book.VOArea()
	c, p, err := s.proxyClient()
	if err != nil {
		return engine.Unknownf("cannot use the proxy: %v", err)
	}
	if len(p.VOMS) == 0 {
		return engine.Unknownf("the configured proxy has no VOMS attributes, so VOMS acceptance cannot be tested (%s)", p.Summary())
	}
	vo := ""
	if p.VO() != s.t.Service.VO {
		vo = fmt.Sprintf(" (proxy VO %s, service VO %s)", p.VO(), s.t.Service.VO)
	}
	resp, _, err := c.call(ctx, http.MethodOptions, area, nil, nil, nil, 200, 204)
	if err != nil {
		return engine.Critf("OPTIONS %s with the VOMS proxy%s: %v", area, vo, err)
	}
	dav := strings.Join(resp.Header.Values("DAV"), ", ")
	if !davClass1(dav) {
		return engine.Critf("OPTIONS %s: no WebDAV class 1 in the DAV header (%q): not a WebDAV endpoint", area, dav)
	}
	entries, err := c.propfind(ctx, area, nil, "0")
	if err != nil {
		return engine.Critf("PROPFIND %s with the VOMS proxy%s: %v", area, vo, err)
	}
	e, ok := find(entries, area)
	if !ok && len(entries) == 1 {
		e, ok = entries[0], true
	}
	if !ok || !e.IsDir {
		return engine.Critf("PROPFIND %s answered 207 but does not describe it as a collection", area)
	}
	return engine.Okf("VOMS proxy accepted%s: OPTIONS %s DAV: %s; PROPFIND 207 collection; %s", vo, area, dav, p.Summary())
}

func davClass1(h string) bool {
	for _, f := range strings.Split(h, ",") {
		if strings.TrimSpace(f) == "1" {
			return true
		}
	}
	return false
}

const (
	macaroonActivities = "DOWNLOAD,READ_METADATA"
	macaroonValidity   = "PT10M"
	macaroonRequest    = `{"caveats":["activity:` + macaroonActivities + `"],"validity":"` + macaroonValidity + `"}`
)

// runMacaroon: obtain a read-only macaroon with the proxy, read the
// reference file with it, and see a write with it refused.
func (s *svc) runMacaroon(ctx context.Context, env *engine.Env) engine.Outcome {
	ref := s.t.Service.ReadFile
	if ref.Path == "" {
		return engine.Unknownf("no read_file configured")
	}
	wp, err := s.book.ScratchPath(IDMacaroon + "-write.dat")
	if err != nil {
		return engine.Unknownf("no scratch area: %v", err)
	}
	scratch := path.Dir(wp)
	target := commonDir(ref.Path, scratch)
	local := "gridprobe-macaroon-write.dat"
	o := s.macaroon(ctx, env, target, wp)
	o.Reproduce = []string{
		"(umask 077; " + curl(proxyAuth, "-X", "POST", "-H", "Content-Type: application/macaroon-request", "-d", macaroonRequest, s.tr.urlOf(target)) +
			` | sed -n 's/.*"macaroon" *: *"\([^"]*\)".*/\1/p' > ` + macaroonTxt + ")",
		curl(macAuth, "-o", "gridprobe-reference.dat", s.tr.urlOf(ref.Path)),
		fmt.Sprintf("head -c 1024 /dev/urandom > %s", local),
		curl(proxyAuth, "-X", "MKCOL", s.tr.urlOf(scratch)) + " || true",
		comment("a write with the read-only macaroon must be refused (401/403)"),
		curlDenied(macAuth, "-T", local, s.tr.urlOf(wp)),
		curl(proxyAuth, "-X", "DELETE", s.tr.urlOf(scratch)) + " || true",
	}
	return o
}

func (s *svc) macaroon(ctx context.Context, env *engine.Env, target, wp string) engine.Outcome {
	c, _, err := s.proxyClient()
	if err != nil {
		return engine.Unknownf("cannot use the proxy: %v", err)
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
	mac, err := cred.NewToken(answer.Macaroon, "macaroon from "+s.tr.urlOf(target))
	if err != nil {
		return engine.Critf("macaroon from %s is unusable: %v", target, err)
	}
	ms, err := s.tr.Token(ctx, mac)
	if err != nil {
		return engine.Unknownf("cannot set up a client: %v", err)
	}
	read, facts := s.book.ReadCheck(ctx, ms, "macaroon (activity:"+macaroonActivities+")")
	if read.State != engine.OK {
		return engine.Critf("macaroon for %s obtained, but reading with it failed: %s", target, read.Detail)
	}
	// The write must be refused by the macaroon's activity caveat, inside
	// its path and in a directory that exists. Should a server accept it,
	// the service-end sweep of the scratch area removes the file.
	if err := s.book.EnsureScratch(ctx, env, store{c: c}); err != nil {
		return engine.Unknownf("macaroon read OK, but the write test needs the scratch directory: %v", err)
	}
	werr := ms.Write(ctx, wp, []byte("gridprobe macaroon write test\n"), storage.New)
	refused, verdict := storage.Refused(werr, false)
	if !refused {
		if werr == nil {
			verdict = "allowed"
		}
		return engine.Critf("read-only macaroon (activity:%s) could write %s: %s", macaroonActivities, s.book.Rel(wp), verdict)
	}
	o := engine.Okf("macaroon (activity:%s, %ds) for %s obtained with the proxy; read %s (%d B, adler32 %s); write refused: %s",
		macaroonActivities, answer.ExpiresIn, target, s.t.Service.ReadFile.Path, facts.Bytes, facts.Adler32, s.book.Rel(verdict))
	o.Perf = read.Perf
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
