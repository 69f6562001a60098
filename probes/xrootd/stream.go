package xrootd

import (
	"bytes"
	"context"
	"io"
)

// StreamRead streams p to w through c's session (xrd.Session.StreamFile:
// the check holds a small copy buffer, never the file; with a thousand
// sites probed at once whole files and frames were most of the probe's
// memory), bounded by maxRead.
func (c *conn) StreamRead(ctx context.Context, p string, w io.Writer) (int64, string, error) {
	n, by, err := c.sess.StreamFile(ctx, p, maxRead, w)
	return n, by, c.note(err)
}

// sameContent is an io.Writer that compares what is written to it with
// want, without keeping it.
type sameContent struct {
	want   []byte
	n      int
	differ bool
}

func (s *sameContent) Write(p []byte) (int, error) {
	end := s.n + len(p)
	if !s.differ && (end > len(s.want) || !bytes.Equal(s.want[s.n:end], p)) {
		s.differ = true
	}
	s.n = end
	return len(p), nil
}

// equal reports whether everything written equals want.
func (s *sameContent) equal() bool { return !s.differ && s.n == len(s.want) }
