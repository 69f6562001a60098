package storage

import (
	"bytes"
	"context"
	"fmt"
	"hash/adler32"
	"strconv"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// Server checksums, the same on every protocol: a server adler32 that
// differs from the content is CRITICAL (transfers verify it); a server
// without adler32 is noted, not failed (the WLCG profile does not require
// one); a checksum query that fails otherwise is a WARNING (the data path
// works, the checksum does not).

// readReport is what a verified read of the reference file found.
type readReport struct {
	bytes    int64
	adler    uint32
	from     string
	took     time.Duration
	server   string // the server's adler32, "" for none
	noServer string // why there is none
	rangeOff int64
	rangeLen int64
	warning  string // a non-fatal finding
}

// rangeOf is the byte range a verified read checks: 4 KiB at a third of
// the file.
func rangeOf(size int64) (off, n int64) {
	if size <= 1 {
		return 0, 0
	}
	off = size / 3
	return off, min(4096, size-off)
}

// verifyRead reads the reference file with st and checks it: the size and
// adler32 sites.yaml gives, the server's adler32, and a ranged read against
// the same bytes of the full read. A CRITICAL finding is the error.
func (b *Book) verifyRead(ctx context.Context, st Store, ref config.FileRef) (readReport, error) {
	var rep readReport
	h := adler32.New()
	win := &window{}
	start := time.Now()
	if ref.Size >= 0 {
		win.off, win.n = rangeOf(ref.Size)
		ri, err := st.Read(ctx, ref.Path, multi{h, win})
		rep.bytes, rep.from = ri.Bytes, ri.From
		if err != nil {
			return rep, err
		}
	} else {
		var buf bytes.Buffer
		ri, err := st.Read(ctx, ref.Path, multi{h, &buf})
		rep.bytes, rep.from = ri.Bytes, ri.From
		if err != nil {
			return rep, err
		}
		win.off, win.n = rangeOf(int64(buf.Len()))
		_, _ = win.Write(buf.Bytes())
	}
	rep.took, rep.adler = time.Since(start), h.Sum32()
	if err := checkContent(ref, rep); err != nil {
		return rep, err
	}
	if err := b.serverChecksum(ctx, st, ref.Path, rep.adler, &rep); err != nil {
		return rep, err
	}
	rep.rangeOff, rep.rangeLen = win.off, win.n
	if rep.rangeLen == 0 {
		return rep, nil
	}
	got, err := st.ReadRange(ctx, ref.Path, rep.rangeOff, rep.rangeLen)
	switch {
	case Is(err, Unsupported):
		rep.warning = joinNote(rep.warning, err.Error())
		rep.rangeLen = 0
	case err != nil:
		return rep, fmt.Errorf("ranged read of %d B at %d: %w", rep.rangeLen, rep.rangeOff, err)
	case !bytes.Equal(got, win.buf.Bytes()):
		return rep, fmt.Errorf("ranged read of %d B at %d returned %d B that differ from the full read", rep.rangeLen, rep.rangeOff, len(got))
	}
	return rep, nil
}

// errContent marks a read whose content is wrong (not a failed request).
type errContent struct{ msg string }

func (e *errContent) Error() string { return e.msg }

// checkContent compares a full read with sites.yaml.
func checkContent(ref config.FileRef, rep readReport) error {
	if ref.Size >= 0 && rep.bytes != ref.Size {
		return &errContent{fmt.Sprintf("read %d B of %s, sites.yaml says %d", rep.bytes, ref.Path, ref.Size)}
	}
	if ref.Adler32 == "" {
		return nil
	}
	want, err := strconv.ParseUint(ref.Adler32, 16, 32)
	if err != nil {
		return &errContent{fmt.Sprintf("sites.yaml adler32 %q is not hex", ref.Adler32)}
	}
	if uint32(want) != rep.adler {
		return &errContent{fmt.Sprintf("%s has adler32 %08x, sites.yaml says %s (content differs)", ref.Path, rep.adler, ref.Adler32)}
	}
	return nil
}

// serverChecksum asks the server's adler32 of p and compares it with want
// (compared as numbers: some servers drop leading zeros).
func (b *Book) serverChecksum(ctx context.Context, st Store, p string, want uint32, rep *readReport) error {
	cs, err := st.Checksum(ctx, p, "adler32")
	switch {
	case Is(err, Unsupported):
		rep.noServer = "the server gives no adler32 (" + b.errText(err) + ")"
		return nil
	case err != nil:
		rep.warning = joinNote(rep.warning, "server checksum query failed: "+b.errText(err))
		return nil
	}
	v, perr := strconv.ParseUint(strings.TrimSpace(cs), 16, 32)
	if perr != nil || uint32(v) != want {
		return &errContent{fmt.Sprintf("server adler32 of %s is %s, the content has %08x", b.rel(p), cs, want)}
	}
	rep.server = cs
	return nil
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// readOutcome words a verified read.
func (b *Book) readOutcome(who string, ref config.FileRef, rep readReport, err error) engine.Outcome {
	perf := []engine.Perf{
		{Label: "read_bytes", Value: float64(rep.bytes), Unit: "B"},
		{Label: "read_time", Value: rep.took.Seconds(), Unit: "s"},
	}
	if err != nil {
		var o engine.Outcome
		if _, content := err.(*errContent); content {
			o = engine.Critf("%s", err)
		} else {
			o = b.failure("read "+ref.Path, who, "", err)
		}
		o.Perf = perf
		return o
	}
	o := engine.Okf("%s", b.readSummary(who, ref, rep))
	if rep.warning != "" {
		o = engine.Warnf("%s; but %s", o.Detail, rep.warning)
	}
	o.Perf = perf
	return o
}

func (b *Book) readSummary(who string, ref config.FileRef, rep readReport) string {
	var matches []string
	if ref.Adler32 != "" {
		matches = append(matches, "sites.yaml")
	}
	if rep.server != "" {
		matches = append(matches, "the server's")
	}
	sum := fmt.Sprintf("adler32 %08x", rep.adler)
	if len(matches) > 0 {
		sum += " matches " + strings.Join(matches, " and ")
	}
	if rep.noServer != "" {
		sum += "; " + rep.noServer
	}
	rng := ""
	if rep.rangeLen > 0 {
		rng = fmt.Sprintf("; ranged read of %d B at %d matches", rep.rangeLen, rep.rangeOff)
	}
	rate := ""
	if rep.took > 0 {
		rate = fmt.Sprintf("; %.1f MB/s", float64(rep.bytes)/rep.took.Seconds()/1e6)
	}
	from := ""
	if rep.from != "" {
		from = " from " + rep.from
	}
	return fmt.Sprintf("%s read %s%s: %d B, %s%s%s", who, ref.Path, from, rep.bytes, sum, rng, rate)
}

// crtRead (4crt-read): the reference file with the VO proxy.
func (b *Book) crtRead(ctx context.Context, _ *engine.Env) engine.Outcome {
	ref := b.t.Service.ReadFile
	if ref.Path == "" {
		return engine.Unknownf("no read_file configured")
	}
	st, p, err := b.Proxy(ctx, Own)
	who := proxyWho(Own, p)
	if err != nil {
		return b.failure("read "+ref.Path, who, "", err)
	}
	rep, err := b.verifyRead(ctx, st, ref)
	o := b.readOutcome(who, ref, rep, err)
	if o.State == engine.Critical && p != nil {
		o.Detail += " (" + p.Summary() + ")"
	}
	return o
}

// tknRead (14tkn-read): the reference file with storage.read:<file> and the
// endpoint as audience.
func (b *Book) tknRead(ctx context.Context, _ *engine.Env) engine.Outcome {
	ref := b.t.Service.ReadFile
	if ref.Path == "" {
		return engine.Unknownf("no read_file configured")
	}
	sc := Read(ref.Path)
	st, tok, err := b.TokenStore(ctx, b.aud, sc)
	who := b.tokenWho(tok, sc)
	dc := diagCase{what: "read " + ref.Path, scopes: []Scope{sc}, aud: b.aud, tok: tok, op: Op{Kind: OpGet, Path: ref.Path},
		again: func(ctx context.Context, st Store) error { return readSome(ctx, st, ref.Path) }}
	if err != nil {
		dc.err = err
		return b.withDiagnosis(ctx, b.tokenFailure(b.failure("read "+ref.Path, who, "", err), tok), dc)
	}
	rep, err := b.verifyRead(ctx, st, ref)
	o := b.tokenFailure(b.readOutcome(who, ref, rep, err), tok)
	if err != nil {
		dc.err = err
		o = b.withDiagnosis(ctx, o, dc)
	}
	return o
}

// tokenFailure names the token in a CRITICAL outcome.
func (b *Book) tokenFailure(o engine.Outcome, tok *cred.Token) engine.Outcome {
	if tok != nil && o.State == engine.Critical {
		o.Detail += " (" + b.shorten(tokenDesc(tok)) + ")"
	}
	return o
}

// window keeps the bytes [off, off+n) of what is written through it.
type window struct {
	off, n, pos int64
	buf         bytes.Buffer
}

func (w *window) Write(p []byte) (int, error) {
	start, end := w.pos, w.pos+int64(len(p))
	w.pos = end
	lo, hi := max(start, w.off), min(end, w.off+w.n)
	if lo < hi {
		w.buf.Write(p[lo-start : hi-start])
	}
	return len(p), nil
}

// multi writes to every writer (they never fail).
type multi []interface{ Write([]byte) (int, error) }

func (m multi) Write(p []byte) (int, error) {
	for _, w := range m {
		_, _ = w.Write(p)
	}
	return len(p), nil
}
