package webdav

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/probes/storage"
)

// store is storage.Store over WebDAV: one client (TLS identity) and, for
// tokens and macaroons, the bearer token sent with every request.
type store struct {
	c   *client
	tok *cred.Token
}

var _ storage.Store = store{}

// classify turns a client error into a storage.Error: 401/403 Denied, 404
// NotFound, 501 Unsupported, no answer NoAnswer; MKCOL's 405 is Exists.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var he *HTTPError
	if errors.As(err, &he) {
		k := storage.Other
		switch {
		case he.Denied():
			k = storage.Denied
		case he.Code == http.StatusNotFound:
			k = storage.NotFound
		case he.Code == http.StatusNotImplemented:
			k = storage.Unsupported
		case he.Code == http.StatusMethodNotAllowed && he.Method == "MKCOL":
			k = storage.Exists
		}
		return &storage.Error{Op: he.Method, Path: he.Path, Kind: k, Status: he.Status, HTTPStatus: he.Code, Text: he.Error(), Err: err}
	}
	var ne *NetError
	if errors.As(err, &ne) {
		return &storage.Error{Op: ne.Method, Path: ne.Path, Kind: storage.NoAnswer, Text: fmt.Sprintf("%s %s: %v", ne.Method, ne.Path, ne.Err), Err: err}
	}
	return err
}

func (s store) Stat(ctx context.Context, p string) (storage.Info, error) {
	entries, err := s.c.propfind(ctx, p, s.tok, "0")
	if err != nil {
		return storage.Info{}, classify(err)
	}
	e, ok := find(entries, p)
	if !ok && len(entries) == 1 {
		e, ok = entries[0], true
	}
	if !ok {
		return storage.Info{}, &storage.Error{Op: "PROPFIND", Path: p, Text: fmt.Sprintf("PROPFIND %s answered 207 without describing it (%d entries)", p, len(entries))}
	}
	return info(e), nil
}

func info(e entry) storage.Info {
	return storage.Info{Path: e.Path, Name: path.Base(e.Path), Size: e.Size, IsDir: e.IsDir}
}

// maxDrain bounds what a read stopped early still takes off the connection.
const maxDrain = 8 << 20

// copyBufs are the buffers a read copies the body through: io.Copy would
// allocate 32 KiB per read, a thousand of them at once in a large round.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

func (s store) Read(ctx context.Context, p string, w io.Writer) (storage.ReadInfo, error) {
	ri := storage.ReadInfo{From: s.c.host}
	resp, err := s.c.do(ctx, http.MethodGet, p, s.tok, nil, nil)
	if err != nil {
		return ri, classify(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ri, classify(newHTTPError(http.MethodGet, p, resp))
	}
	dst := &storage.Sink{W: w}
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(dst, resp.Body, *buf)
	copyBufs.Put(buf)
	ri.Bytes = n
	switch {
	case dst.Err != nil:
		// The caller stopped early (a read that only had to show access):
		// finish the body rather than cut the connection while the server
		// still sends it — XrdHttp 5.5.3 can crash when a client goes away
		// mid-request (testbed/KNOWN_ISSUES.md 7) — and keep the connection.
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
		return ri, dst.Err
	case err != nil:
		return ri, &storage.Error{Op: "GET", Path: p, Kind: storage.NoAnswer, Text: fmt.Sprintf("GET %s: read failed after %d B: %v", p, n, unwrapURLError(err)), Err: err}
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return ri, &storage.Error{Op: "GET", Path: p, Text: fmt.Sprintf("GET %s: got %d B of Content-Length %d", p, n, resp.ContentLength)}
	}
	return ri, nil
}

func (s store) ReadRange(ctx context.Context, p string, off, n int64) ([]byte, error) {
	last := off + n - 1
	resp, err := s.c.do(ctx, http.MethodGet, p, s.tok, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", off, last)}, nil)
	if err != nil {
		return nil, classify(err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK:
		return nil, &storage.Error{Op: "GET", Path: p, Kind: storage.Unsupported,
			Text: fmt.Sprintf("the server ignored Range bytes=%d-%d (answered 200 with the whole file)", off, last)}
	default:
		return nil, classify(newHTTPError(http.MethodGet, p, resp))
	}
	if cr := resp.Header.Get("Content-Range"); !strings.HasPrefix(cr, fmt.Sprintf("bytes %d-%d/", off, last)) {
		return nil, &storage.Error{Op: "GET", Path: p, Text: fmt.Sprintf("ranged GET %s bytes=%d-%d: Content-Range %q", p, off, last, cr)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, n+1))
	if err != nil {
		return nil, &storage.Error{Op: "GET", Path: p, Kind: storage.NoAnswer, Text: fmt.Sprintf("ranged GET %s: %v", p, unwrapURLError(err)), Err: err}
	}
	return b, nil
}

// Write PUTs data (a PUT creates or replaces: the mode is the server's
// business).
func (s store) Write(ctx context.Context, p string, data []byte, _ storage.WriteMode) error {
	_, _, err := s.c.call(ctx, http.MethodPut, p, s.tok, nil, data, 200, 201, 204)
	return classify(err)
}

func (s store) Delete(ctx context.Context, p string) error {
	_, _, err := s.c.call(ctx, http.MethodDelete, p, s.tok, nil, nil, 200, 204)
	return classify(err)
}

func (s store) Rmdir(ctx context.Context, p string) error { return s.Delete(ctx, p) }

// Mkdir is MKCOL (one level: WebDAV makes no parents).
func (s store) Mkdir(ctx context.Context, p string, _ bool) error {
	_, _, err := s.c.call(ctx, "MKCOL", p, s.tok, nil, nil, 201)
	return classify(err)
}

func (s store) List(ctx context.Context, p string) ([]storage.Info, error) {
	entries, err := s.c.propfind(ctx, p, s.tok, "1")
	if err != nil {
		return nil, classify(err)
	}
	out := make([]storage.Info, 0, len(entries))
	for _, e := range entries {
		if e.Path != path.Clean(p) {
			out = append(out, info(e))
		}
	}
	return out, nil
}

// Checksum asks the RFC 3230 digest with HEAD and Want-Digest (never on a
// GET: XRootD 5.5.3 answers an unauthorized GET carrying it with 500 "failed
// to calculate checksum" instead of 403, which would hide a refusal).
func (s store) Checksum(ctx context.Context, p, alg string) (string, error) {
	resp, _, err := s.c.call(ctx, http.MethodHead, p, s.tok, map[string]string{"Want-Digest": alg}, nil, 200)
	if err != nil {
		return "", classify(err)
	}
	if d, ok := digestOf(resp.Header.Values("Digest"), alg); ok {
		return d, nil
	}
	return "", &storage.Error{Op: "HEAD", Path: p, Kind: storage.Unsupported, Text: "no Digest: " + alg + " in the answer to Want-Digest"}
}

// digestOf finds the value of alg in RFC 3230 Digest headers
// ("adler32=6dc53b34", possibly among other algorithms).
func digestOf(values []string, alg string) (string, bool) {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			a, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && strings.EqualFold(a, alg) {
				return strings.ToLower(strings.TrimSpace(val)), true
			}
		}
	}
	return "", false
}
