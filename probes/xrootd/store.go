package xrootd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gridprobe/gridprobe/probes/storage"
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
)

// maxRead bounds what a check reads.
const maxRead = 256 << 20

// store is storage.Store over one pooled root:// session.
type store struct {
	t    *transport
	key  string
	sess *xrd.Session
}

var _ storage.Store = (*store)(nil)

// classify turns an xrd error into a storage.Error: kXR_NotAuthorized
// Denied, kXR_NotFound NotFound, kXR_ItExists Exists, kXR_Unsupported
// Unsupported, kXR_AuthFailed at login LoginRefused, no answer NoAnswer.
func classify(op, p string, err error) error {
	if err == nil {
		return nil
	}
	if storage.IsCred(err) {
		return err
	}
	var se *xrd.ServerError
	var ae *xrd.AuthError
	var pe *xrd.ProtocolError
	k := storage.NoAnswer
	switch {
	case errors.As(err, &ae) && xrd.IsAuthFailed(err):
		k = storage.LoginRefused
	case xrd.IsNotAuthorized(err):
		k = storage.Denied
	case xrd.IsNotFound(err):
		k = storage.NotFound
	case xrd.IsExists(err):
		k = storage.Exists
	case xrd.IsUnsupported(err):
		k = storage.Unsupported
	case errors.As(err, &se), errors.As(err, &ae), errors.As(err, &pe):
		k = storage.Other
	}
	status := ""
	if errors.As(err, &se) {
		status = fmt.Sprintf("%s (%d)", xrd.ErrorName(se.Code), se.Code)
	}
	return &storage.Error{Op: op, Path: p, Kind: k, Status: status, Text: errText(err), Err: err}
}

// done classifies err and forgets the session after an error that is not
// a server answer (the connection may be broken).
func (s *store) done(op, p string, err error) error {
	if err == nil {
		return nil
	}
	var se *xrd.ServerError
	if !errors.As(err, &se) {
		s.t.forget(s.key, s.sess)
	}
	return classify(op, p, err)
}

func (s *store) Stat(ctx context.Context, p string) (storage.Info, error) {
	st, err := s.sess.Stat(ctx, p)
	if err != nil {
		return storage.Info{}, s.done("stat", p, err)
	}
	return storage.Info{Path: p, Name: p[strings.LastIndex(p, "/")+1:], Size: st.Size, IsDir: st.IsDir()}, nil
}

// Read streams p through the session (xrd.Session.StreamFile: the check
// holds a small copy buffer, never the file).
func (s *store) Read(ctx context.Context, p string, w io.Writer) (storage.ReadInfo, error) {
	dst := &storage.Sink{W: w}
	n, by, err := s.sess.StreamFile(ctx, p, maxRead, dst)
	ri := storage.ReadInfo{Bytes: n, From: by}
	if dst.Err != nil {
		return ri, dst.Err
	}
	return ri, s.done("read", p, err)
}

func (s *store) ReadRange(ctx context.Context, p string, off, n int64) ([]byte, error) {
	f, err := s.sess.Open(ctx, p, xrd.OpenRead, 0)
	if err != nil {
		return nil, s.done("open", p, err)
	}
	buf := make([]byte, n)
	got, err := f.ReadAt(ctx, buf, off)
	cerr := f.Close(ctx)
	if err != nil && !(errors.Is(err, io.EOF) && int64(got) == n) {
		return nil, s.done("read", p, err)
	}
	if cerr != nil {
		return nil, s.done("close", p, cerr)
	}
	if int64(got) != n {
		return nil, &storage.Error{Op: "read", Path: p, Text: fmt.Sprintf("kXR_read of %d B at %d returned %d B", n, off, got)}
	}
	return buf, nil
}

// Write creates p (kXR_new, persist on successful close) or replaces it
// (kXR_delete: truncate).
func (s *store) Write(ctx context.Context, p string, data []byte, mode storage.WriteMode) error {
	o := xrd.WriteOptions{POSC: mode == storage.New, Overwrite: mode == storage.Overwrite}
	_, err := s.sess.WriteFile(ctx, p, data, o)
	return s.done("write", p, err)
}

func (s *store) Delete(ctx context.Context, p string) error {
	return s.done("rm", p, s.sess.Rm(ctx, p))
}

func (s *store) Rmdir(ctx context.Context, p string) error {
	return s.done("rmdir", p, s.sess.Rmdir(ctx, p))
}

func (s *store) Mkdir(ctx context.Context, p string, parents bool) error {
	return s.done("mkdir", p, s.sess.Mkdir(ctx, p, 0o755, parents))
}

func (s *store) List(ctx context.Context, p string) ([]storage.Info, error) {
	ents, err := s.sess.Dirlist(ctx, p, true)
	if err != nil {
		return nil, s.done("dirlist", p, err)
	}
	out := make([]storage.Info, 0, len(ents))
	for _, e := range ents {
		i := storage.Info{Path: strings.TrimSuffix(p, "/") + "/" + e.Name, Name: e.Name, Size: -1}
		if e.Stat != nil {
			i.Size, i.IsDir = e.Stat.Size, e.Stat.IsDir()
		}
		out = append(out, i)
	}
	return out, nil
}

func (s *store) Checksum(ctx context.Context, p, alg string) (string, error) {
	cs, err := s.sess.Checksum(ctx, p, alg)
	if err != nil {
		return "", s.done("checksum", p, err)
	}
	if !strings.EqualFold(cs.Type, alg) {
		return "", &storage.Error{Op: "checksum", Path: p, Kind: storage.Unsupported, Text: fmt.Sprintf("the server's checksum is %s, not %s", cs, alg)}
	}
	return strings.ToLower(cs.Value), nil
}
