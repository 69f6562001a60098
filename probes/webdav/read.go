package webdav

import (
	"bytes"
	"context"
	"fmt"
	"hash/adler32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// copyBufs are the buffers a read copies the body through: io.Copy would
// allocate 32 KiB per read, a thousand of them at once in a large round.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// readReport is what a verified read of the reference file found.
type readReport struct {
	bytes        int64
	adler        uint32
	serverDigest string // the server's adler32 (RFC 3230 Digest), "" if none
	took         time.Duration
	rangeOff     int64
	rangeLen     int64
	warning      string // a non-fatal finding (Range ignored)
}

// readFailure is a CRITICAL finding of a verified read; denied marks an
// explicit refusal.
type readFailure struct {
	msg    string
	denied bool
}

func (f *readFailure) Error() string { return f.msg }

// verifyRead GETs the reference file with tok (nil: the client's own
// credential), checks size and checksum against sites.yaml, asks the
// server's adler32 (HEAD with Want-Digest) and compares it with the content,
// and checks that a ranged GET returns the same bytes as the full read.
//
// Want-Digest is not sent on the GET: XRootD 5.5.3 answers an unauthorized
// GET carrying it with 500 "failed to calculate checksum" instead of 403,
// which would hide a refusal (KNOWN_ISSUES.md).
func verifyRead(ctx context.Context, c *client, tok *cred.Token, ref config.FileRef) (readReport, error) {
	var rep readReport
	start := time.Now()
	resp, err := c.do(ctx, http.MethodGet, ref.Path, tok, nil, nil)
	if err != nil {
		return rep, &readFailure{msg: fmt.Sprintf("GET %s: %v", ref.Path, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		he := newHTTPError(http.MethodGet, ref.Path, resp)
		return rep, &readFailure{msg: fmt.Sprintf("GET %s: %v", ref.Path, he), denied: he.Denied()}
	}
	size := ref.Size
	if size < 0 {
		size = resp.ContentLength
	}
	if size > 1 {
		rep.rangeOff = size / 3
		rep.rangeLen = min(4096, size-rep.rangeOff)
	}
	h := adler32.New()
	win := &window{off: rep.rangeOff, n: rep.rangeLen}
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(h, win), resp.Body, *buf)
	copyBufs.Put(buf)
	rep.bytes, rep.adler, rep.took = n, h.Sum32(), time.Since(start)
	if err != nil {
		return rep, &readFailure{msg: fmt.Sprintf("GET %s: read failed after %d bytes: %v", ref.Path, n, unwrapURLError(err))}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return rep, &readFailure{msg: fmt.Sprintf("GET %s: got %d bytes of Content-Length %d", ref.Path, n, resp.ContentLength)}
	}
	if ref.Size >= 0 && n != ref.Size {
		return rep, &readFailure{msg: fmt.Sprintf("GET %s: size %d bytes, sites.yaml says %d", ref.Path, n, ref.Size)}
	}
	if ref.Adler32 != "" {
		want, err := strconv.ParseUint(ref.Adler32, 16, 32)
		if err != nil {
			return rep, &readFailure{msg: fmt.Sprintf("sites.yaml adler32 %q is not hex", ref.Adler32)}
		}
		if uint32(want) != rep.adler {
			return rep, &readFailure{msg: fmt.Sprintf("GET %s: content adler32 %08x, sites.yaml says %s", ref.Path, rep.adler, ref.Adler32)}
		}
	}
	hresp, _, err := c.call(ctx, http.MethodHead, ref.Path, tok, map[string]string{"Want-Digest": "adler32"}, nil, 200)
	switch {
	case err != nil:
		rep.warning = fmt.Sprintf("HEAD with Want-Digest: adler32 failed (%v)", err)
	default:
		if d, ok := digestAdler32(hresp.Header.Values("Digest")); ok {
			rep.serverDigest = d
		}
	}
	if d := rep.serverDigest; d != "" {
		v, err := strconv.ParseUint(d, 16, 32)
		if err != nil || uint32(v) != rep.adler {
			return rep, &readFailure{msg: fmt.Sprintf("GET %s: server Digest adler32=%s but the content has %08x", ref.Path, d, rep.adler)}
		}
	}
	if rep.rangeLen == 0 {
		return rep, nil
	}
	return rep, verifyRange(ctx, c, tok, ref.Path, win.buf.Bytes(), &rep)
}

// verifyRange GETs bytes [rangeOff, rangeOff+rangeLen) and compares them
// with want (the same bytes of the full read).
func verifyRange(ctx context.Context, c *client, tok *cred.Token, p string, want []byte, rep *readReport) error {
	last := rep.rangeOff + rep.rangeLen - 1
	resp, err := c.do(ctx, http.MethodGet, p, tok, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", rep.rangeOff, last)}, nil)
	if err != nil {
		return &readFailure{msg: fmt.Sprintf("ranged GET %s: %v", p, err)}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK:
		rep.warning = joinWarn(rep.warning, fmt.Sprintf("server ignored Range bytes=%d-%d (answered 200 with the whole file)", rep.rangeOff, last))
		return nil
	default:
		he := newHTTPError(http.MethodGet, p, resp)
		return &readFailure{msg: fmt.Sprintf("ranged GET %s bytes=%d-%d: %v", p, rep.rangeOff, last, he), denied: he.Denied()}
	}
	got, err := io.ReadAll(io.LimitReader(resp.Body, rep.rangeLen+1))
	if err != nil {
		return &readFailure{msg: fmt.Sprintf("ranged GET %s: %v", p, unwrapURLError(err))}
	}
	if cr := resp.Header.Get("Content-Range"); !strings.HasPrefix(cr, fmt.Sprintf("bytes %d-%d/", rep.rangeOff, last)) {
		return &readFailure{msg: fmt.Sprintf("ranged GET %s bytes=%d-%d: Content-Range %q", p, rep.rangeOff, last, cr)}
	}
	if !bytes.Equal(got, want) {
		return &readFailure{msg: fmt.Sprintf("ranged GET %s bytes=%d-%d returned %d bytes that differ from the full read", p, rep.rangeOff, last, len(got))}
	}
	return nil
}

func joinWarn(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
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

// digestAdler32 finds the adler32 value in RFC 3230 Digest headers
// ("adler32=6dc53b34", possibly among other algorithms).
func digestAdler32(values []string) (string, bool) {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			alg, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && strings.EqualFold(alg, "adler32") {
				return strings.ToLower(strings.TrimSpace(val)), true
			}
		}
	}
	return "", false
}

// readOutcome words a verified read: OK (or WARNING for an ignored Range)
// with the figures, or CRITICAL with what failed.
func readOutcome(who string, ref config.FileRef, rep readReport, err error) engine.Outcome {
	perf := []engine.Perf{
		{Label: "read_bytes", Value: float64(rep.bytes), Unit: "B"},
		{Label: "read_time", Value: rep.took.Seconds(), Unit: "s"},
	}
	if err != nil {
		o := engine.Critf("%s", err)
		o.Perf = perf
		return o
	}
	sum := fmt.Sprintf("adler32 %08x", rep.adler)
	var checked []string
	if ref.Adler32 != "" {
		checked = append(checked, "sites.yaml")
	}
	if rep.serverDigest != "" {
		checked = append(checked, "server Digest")
	}
	if len(checked) > 0 {
		sum += " matches " + strings.Join(checked, " and ")
	} else {
		sum += " (nothing to compare with: no adler32 in sites.yaml, no Digest from the server)"
	}
	rate := ""
	if rep.took > 0 {
		rate = fmt.Sprintf(", %.1f MB/s", float64(rep.bytes)/rep.took.Seconds()/1e6)
	}
	rng := ""
	if rep.rangeLen > 0 && !strings.Contains(rep.warning, "Range") {
		rng = fmt.Sprintf("; ranged read of %d bytes at %d matches", rep.rangeLen, rep.rangeOff)
	}
	o := engine.Okf("%s read %s: %d bytes, %s%s%s", who, ref.Path, rep.bytes, sum, rng, rate)
	if rep.warning != "" {
		o = engine.Warnf("%s read %s: %d bytes, %s, but %s", who, ref.Path, rep.bytes, sum, rep.warning)
	}
	o.Perf = perf
	return o
}
