package xrootd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
)

// streamRead opens p for reading and passes its content to w as it comes
// off the connection, from offset 0 to the end of the file; the check holds
// the session layer's small copy buffer, never the file or a whole
// response frame (with a thousand sites probed at once, whole frames were
// most of the probe's memory). The size from the open (kXR_retstat) sizes
// the request one byte past the end, so a file of up to xrd.MaxReadChunk
// bytes (the 1 MiB reference file, the write checks' payload) is read with
// one kXR_read and the end of file shows in the same round trip. More than
// limit bytes is an error wrapping xrd.ErrTooLarge. It returns the bytes
// read and the address of the server that served them.
func streamRead(ctx context.Context, sess *xrd.Session, p string, limit int64, w io.Writer) (n int64, servedBy string, err error) {
	f, err := sess.Open(ctx, p, xrd.OpenRead|xrd.OpenRetstat, 0)
	if err != nil {
		return 0, "", err
	}
	defer func() {
		if cerr := f.Close(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}()
	size := int64(-1)
	if st := f.OpenStat(); st != nil {
		size = st.Size
		if size > limit {
			return 0, f.Addr(), fmt.Errorf("read %s: %d bytes: %w (%d)", p, size, xrd.ErrTooLarge, limit)
		}
	}
	for {
		if n > limit {
			return n, f.Addr(), fmt.Errorf("read %s: %w (%d)", p, xrd.ErrTooLarge, limit)
		}
		want := limit + 1 - n // one byte past the limit shows a file above it
		if size >= n {
			want = min(want, size-n+1) // +1: see the end of file in this round trip
		}
		k, rerr := f.ReadTo(ctx, w, n, want)
		n += k
		if errors.Is(rerr, io.EOF) {
			if n > limit {
				return n, f.Addr(), fmt.Errorf("read %s: %w (%d)", p, xrd.ErrTooLarge, limit)
			}
			return n, f.Addr(), nil
		}
		if rerr != nil {
			return n, f.Addr(), rerr
		}
	}
}

// StreamRead is streamRead on c's session, bounded by maxRead.
func (c *conn) StreamRead(ctx context.Context, p string, w io.Writer) (int64, string, error) {
	n, by, err := streamRead(ctx, c.sess, p, maxRead, w)
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
