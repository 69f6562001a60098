package xrootd

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/adler32"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/xrootd/gsi"
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
)

// WLCG Common JWT Profile rules the token checks name when a server breaks
// them (the same wording as the WebDAV probe).
const (
	ruleCreate       = "WLCG profile: storage.create allows creating new files and directories"
	ruleModifyDelete = "WLCG profile: storage.modify includes deleting"
	rulePathElements = "WLCG profile: a scope path covers itself and what is below it, matched by whole path elements"
	ruleOtherPath    = "WLCG profile: a token grants only the paths of its scopes"
	ruleAudience     = "WLCG profile: a token whose aud does not name the endpoint must be rejected"
	ruleCreateOnly   = "WLCG profile: storage.create must not modify existing data"
	ruleRead         = "WLCG profile: storage.read allows reading"
	ruleBasePath     = "WLCG profile: scope paths are relative to the VO's base path; nothing outside it may be granted"
)

// errText renders an error for a detail, adding the GSI failure class
// (client side or from the server's kXR_AuthFailed text) when there is one.
func errText(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if c := gsi.ErrorClass(err); c != "" {
		return msg + " [gsi: " + c + "]"
	}
	var se *xrd.ServerError
	if errors.As(err, &se) && se.Code == xrd.ErrAuthFailed && strings.Contains(se.Message, "Secgsi") {
		if c := gsi.ClassifyServerError(se.Message); c != gsi.ClassUnknown && c != "" {
			return msg + " [gsi: " + c + "]"
		}
	}
	return msg
}

// failure turns an error of the probe's own credential into an outcome:
// local set-up problems are UNKNOWN, everything the endpoint did (or did
// not do in time) is CRITICAL.
func failure(format string, err error, a ...any) engine.Outcome {
	var ce *credError
	if errors.As(err, &ce) {
		return engine.Unknownf(format, append(a, errText(err))...)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return engine.Critf(format, append(a, "timed out: "+errText(err))...)
	}
	return engine.Critf(format, append(a, errText(err))...)
}

// isLoginRefusal reports a kXR_AuthFailed answer to the login itself.
func isLoginRefusal(err error) bool {
	var ae *xrd.AuthError
	return errors.As(err, &ae) && xrd.IsAuthFailed(err)
}

// verdict of an attempt that must be refused.
type verdict int

const (
	vDenied       verdict = iota // explicit denial: passes
	vAllowed                     // the attempt succeeded: a violation
	vInconclusive                // anything else: proves nothing
)

// judge classifies err of an attempt that must be refused. loginDenies
// says whether a kXR_AuthFailed at login is the denial (an identity the
// server must refuse), rather than a failure to test.
func judge(err error, loginDenies bool) (verdict, string) {
	switch {
	case err == nil:
		return vAllowed, "allowed"
	case xrd.IsNotAuthorized(err):
		return vDenied, short(err)
	case loginDenies && isLoginRefusal(err):
		return vDenied, "login refused: " + short(err)
	case xrd.IsNotFound(err):
		return vInconclusive, short(err) + " (a missing-file answer for a file that exists proves nothing)"
	default:
		return vInconclusive, errText(err)
	}
}

// short is the server's code and text, or the error.
func short(err error) string {
	var se *xrd.ServerError
	if errors.As(err, &se) {
		return se.Error()
	}
	return err.Error()
}

// tally collects the results of a negative check's attempts.
type tally struct {
	ok, broken, unsure []string
}

func (t *tally) add(name string, v verdict, text, rule string) {
	switch v {
	case vDenied:
		t.ok = append(t.ok, fmt.Sprintf("%s (%s)", name, firstWords(text)))
	case vAllowed:
		t.broken = append(t.broken, fmt.Sprintf("%s: %s (%s)", name, text, rule))
	default:
		t.unsure = append(t.unsure, fmt.Sprintf("%s: %s", name, text))
	}
}

// firstWords keeps the kXR code of a denial ("kXR_NotAuthorized (3010)").
func firstWords(s string) string {
	if i := strings.Index(s, "):"); i > 0 {
		return s[:i+1]
	}
	return s
}

// outcome: any violation is CRITICAL; otherwise anything untested is
// UNKNOWN; otherwise OK.
func (t *tally) outcome(what string) engine.Outcome {
	n := len(t.ok) + len(t.broken) + len(t.unsure)
	switch {
	case len(t.broken) > 0:
		return engine.Critf("%d of %d refusals not enforced: %s", len(t.broken), n, strings.Join(append(t.broken, t.unsure...), "; "))
	case len(t.unsure) > 0:
		return engine.Unknownf("%d of %d refusals could not be shown (no explicit denial): %s", len(t.unsure), n, strings.Join(t.unsure, "; "))
	case n == 0:
		return engine.Unknownf("nothing tested")
	}
	return engine.Okf("%s: all %d refusals enforced on existing files: %s", what, n, strings.Join(t.ok, ", "))
}

// verifyRead stats and reads the reference file with c and checks size,
// adler32 (computed here, and the server's checksum), as 4crt-read and
// 14tkn-read do.
func (s *svc) verifyRead(ctx context.Context, c *conn) engine.Outcome {
	ref := s.t.Service.ReadFile
	st, err := c.Stat(ctx, ref.Path)
	if err != nil {
		return failure("stat %s with the %s failed: %s", err, ref.Path, c.who)
	}
	start := time.Now()
	h := adler32.New()
	n, servedBy, err := c.StreamRead(ctx, ref.Path, h)
	took := time.Since(start)
	if err != nil {
		return failure("reading %s with the %s failed: %s", err, ref.Path, c.who)
	}
	sum := fmt.Sprintf("%08x", h.Sum32())
	switch {
	case n != st.Size:
		return engine.Critf("read %d bytes of %s but stat says %d", n, ref.Path, st.Size)
	case ref.Size >= 0 && n != ref.Size:
		return engine.Critf("%s has %d bytes, configured size is %d", ref.Path, n, ref.Size)
	case ref.Adler32 != "" && !strings.EqualFold(sum, ref.Adler32):
		return engine.Critf("%s read with adler32 %s, configured %s (content differs)", ref.Path, sum, ref.Adler32)
	}
	server := s.serverChecksum(ctx, c, ref.Path, sum)
	if server.State != engine.OK {
		return server
	}
	o := engine.Okf("read %s with the %s from %s: %d B, adler32 %s%s; %s; in %.3fs",
		ref.Path, c.who, servedBy, n, sum, map[bool]string{true: " (as configured)", false: ""}[ref.Adler32 != ""],
		server.Detail, took.Seconds())
	o.Perf = []engine.Perf{{Label: "read_time", Value: took.Seconds(), Unit: "s"}, {Label: "size", Value: float64(n), Unit: "B"}}
	return o
}

// serverChecksum asks the server's adler32 of p and compares it with want.
// A server without checksums is noted, not failed.
func (s *svc) serverChecksum(ctx context.Context, c *conn, p, want string) engine.Outcome {
	cs, err := c.Checksum(ctx, p)
	switch {
	case xrd.IsUnsupported(err):
		return engine.Okf("server checksums not configured (%s)", short(err))
	case err != nil:
		return failure("checksum query for %s with the %s failed: %s", err, p, c.who)
	case !strings.EqualFold(cs.Type, "adler32"):
		return engine.Okf("server checksum is %s, not adler32", cs)
	case !strings.EqualFold(strings.TrimLeft(cs.Value, "0"), strings.TrimLeft(want, "0")):
		return engine.Critf("server adler32 of %s is %s, content read has %s", p, cs.Value, want)
	}
	return engine.Okf("server adler32 agrees")
}

// payload is the content a write check uploads: a header naming the run and
// the check, then random bytes.
func payload(env *engine.Env, size int) []byte {
	b := make([]byte, size)
	_, _ = rand.Read(b)
	copy(b, fmt.Sprintf("gridprobe %s %s\n", env.RunID, env.Check))
	return b
}

// payloadSize is what write checks upload.
const payloadSize = 256 << 10

// cycleCreds are the sessions of a write or directory cycle.
type cycleCreds struct {
	create, read, del *conn
	tokenFirst        bool
	// createWhy/delWhy name the rule a refusal breaks (tokens).
	createWhy, delWhy string
	// listInformational: a refused listing is a WARNING (the token profile
	// does not define listing).
	listInformational bool
}

// writeCycle: create p (kXR_new, POSC), stat and read it back, compare,
// server checksum, delete, confirm it is gone.
func (s *svc) writeCycle(ctx context.Context, env *engine.Env, w cycleCreds, p string) engine.Outcome {
	if err := s.ensureScratch(ctx, env, w.create); err != nil {
		return failure("%s", err)
	}
	data := payload(env, payloadSize)
	sum := fmt.Sprintf("%08x", adler32.Checksum(data))
	s.cleanup(env, p, false, w.tokenFirst)
	start := time.Now()
	if _, err := w.create.WriteFile(ctx, p, data, xrd.WriteOptions{POSC: true}); err != nil {
		return failure("creating %s with the %s failed: %s"+w.createWhy, err, p, w.create.who)
	}
	wrote := time.Since(start)
	st, err := w.read.Stat(ctx, p)
	if err != nil {
		return failure("stat of the new file %s with the %s failed: %s", err, p, w.read.who)
	}
	if st.Size != int64(len(data)) {
		return engine.Critf("wrote %d bytes to %s, stat says %d", len(data), p, st.Size)
	}
	back := &sameContent{want: data}
	if _, _, err := w.read.StreamRead(ctx, p, back); err != nil {
		return failure("reading back %s with the %s failed: %s", err, p, w.read.who)
	}
	if !back.equal() {
		return engine.Critf("read back %d bytes of %s that differ from the %d written", back.n, p, len(data))
	}
	server := s.serverChecksum(ctx, w.read, p, sum)
	if server.State != engine.OK {
		return server
	}
	if err := s.deleteNow(ctx, p, func(ctx context.Context, p string) error { return w.del.Rm(ctx, p) }); err != nil {
		return failure("deleting %s with the %s failed: %s"+w.delWhy, err, p, w.del.who)
	}
	if _, err := w.read.Stat(ctx, p); !xrd.IsNotFound(err) {
		if err == nil {
			return engine.Critf("%s still exists after a successful delete", p)
		}
		return failure("stat after deleting %s: %s (want kXR_NotFound)", err, p)
	}
	o := engine.Okf("created, read back and deleted %s (%d B in %.3fs, adler32 %s, %s) with %s",
		s.rel(p), len(data), wrote.Seconds(), sum, server.Detail, w.whom())
	o.Perf = []engine.Perf{{Label: "write_time", Value: wrote.Seconds(), Unit: "s"}, {Label: "size", Value: float64(len(data)), Unit: "B"}}
	return o
}

// dirCycle: mkdir dir, create a file in it, list it, remove file and dir,
// confirm the dir is gone.
func (s *svc) dirCycle(ctx context.Context, env *engine.Env, d cycleCreds, dir, file string) engine.Outcome {
	if err := s.ensureScratch(ctx, env, d.create); err != nil {
		return failure("%s", err)
	}
	s.cleanup(env, dir, true, d.tokenFirst)
	if err := d.create.Mkdir(ctx, dir, false); err != nil {
		return failure("mkdir %s with the %s failed: %s"+d.createWhy, err, dir, d.create.who)
	}
	s.cleanup(env, file, false, d.tokenFirst)
	if _, err := d.create.WriteFile(ctx, file, []byte("gridprobe "+env.RunID+"\n"), xrd.WriteOptions{}); err != nil {
		return failure("creating %s in the new directory with the %s failed: %s"+d.createWhy, err, file, d.create.who)
	}
	name := file[strings.LastIndex(file, "/")+1:]
	var note string
	ents, err := d.read.Dirlist(ctx, dir)
	switch {
	case err != nil && d.listInformational && xrd.IsNotAuthorized(err):
		note = fmt.Sprintf("listing refused with the %s: %s (the WLCG profile does not define listing)", d.read.who, short(err))
	case err != nil:
		return failure("listing %s with the %s failed: %s", err, dir, d.read.who)
	default:
		found := false
		for _, e := range ents {
			if e.Name == name {
				found = true
			}
		}
		if !found {
			return engine.Critf("listing of %s with the %s does not show %s (%d entries)", dir, d.read.who, name, len(ents))
		}
	}
	del := func(dir bool) func(ctx context.Context, p string) error {
		return func(ctx context.Context, p string) error {
			if dir {
				return d.del.Rmdir(ctx, p)
			}
			return d.del.Rm(ctx, p)
		}
	}
	if err := s.deleteNow(ctx, file, del(false)); err != nil {
		return failure("deleting %s with the %s failed: %s"+d.delWhy, err, file, d.del.who)
	}
	if err := s.deleteNow(ctx, dir, del(true)); err != nil {
		return failure("rmdir %s with the %s failed: %s"+d.delWhy, err, dir, d.del.who)
	}
	if _, err := d.read.Stat(ctx, dir); err == nil {
		return engine.Critf("%s still exists after a successful rmdir", dir)
	}
	if note != "" {
		return engine.Warnf("created %s and a file in it, removed both; %s; with %s", s.rel(dir), note, d.whom())
	}
	return engine.Okf("created %s and a file in it, listed it, removed both, with %s", s.rel(dir), d.whom())
}

// rel names a scratch path by its place in the scratch dir.
func (s *svc) rel(p string) string {
	if s.scratchErr == nil && strings.HasPrefix(p, s.scratch.Dir()+"/") {
		return "<scratch>/" + strings.TrimPrefix(p, s.scratch.Dir()+"/")
	}
	return p
}

// whom names the credentials of a cycle, once when they are the same.
func (w cycleCreds) whom() string {
	if w.create == w.read && w.read == w.del {
		return "the " + w.create.who
	}
	var ws []string
	for _, c := range []*conn{w.create, w.read, w.del} {
		ws = append(ws, strings.TrimPrefix(c.who, "token "))
	}
	return "tokens " + strings.Join(ws, ", ")
}

// withRepro attaches reproduce lines.
func withRepro(o engine.Outcome, r []string) engine.Outcome {
	o.Reproduce = r
	return o
}
