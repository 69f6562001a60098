package xrd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Streaming kXR_read. A read answer is the one response whose size the
// caller chooses (up to MaxReadChunk per request), so it does not go
// through readFrame, which holds a whole frame body in memory: readStream
// moves the data of kXR_oksofar/kXR_ok frames from the connection to the
// caller's writer through a pooled copyBufSize buffer, with the same rules
// as exchange (stream ids, kXR_wait, kXR_waitresp + kXR_attn, kXR_error,
// length bounds).

// MaxReadChunk is the most one kXR_read asks for; File.ReadTo and
// File.ReadAt split longer reads.
const MaxReadChunk = maxReadChunk

const (
	// copyBufSize is the buffer a streaming read holds while it runs: one
	// TLS record's plaintext, the most a tls.Conn Read returns at once.
	copyBufSize = 16 << 10
	// maxControlBody bounds the body of a non-data frame in a read answer
	// (kXR_error, kXR_wait, kXR_waitresp, kXR_redirect).
	maxControlBody = 64 << 10
)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// readSink is where the data of one read goes: w, or directly p for
// ReadAt. After w fails it drops the rest (err keeps the first failure).
type readSink struct {
	w   io.Writer
	p   []byte // non-nil: fill p instead of writing to w
	n   int64  // bytes accepted by w (or placed in p)
	err error  // first error of w
	buf []byte
}

func (s *readSink) write(b []byte) {
	if s.err != nil {
		return
	}
	k, err := s.w.Write(b)
	s.n += int64(k)
	if err == nil && k < len(b) {
		err = io.ErrShortWrite
	}
	s.err = err
}

// copyFrom moves dlen body bytes of a frame from src to the sink.
func (s *readSink) copyFrom(src io.Reader, dlen int, status uint16) error {
	if s.p != nil && s.err == nil {
		// ReadAt: straight into the caller's buffer (dlen fits: checked
		// against the length asked for).
		k, err := io.ReadFull(src, s.p[s.n:s.n+int64(dlen)])
		s.n += int64(k)
		return bodyErr(err, status, k, dlen)
	}
	for done := 0; done < dlen; {
		k, err := io.ReadFull(src, s.buf[:min(dlen-done, len(s.buf))])
		s.write(s.buf[:k])
		done += k
		if err != nil {
			return bodyErr(err, status, done, dlen)
		}
	}
	return nil
}

// readStream sends one kXR_read of rlen bytes at off on handle fh and
// passes the data of the answer to sink as it arrives. It returns the
// number of data bytes the server sent (sink.n counts those accepted).
//
// When the sink's writer fails, the rest of the answer is read and dropped
// and the writer's error is returned as an inSyncError: the answer is
// bounded by rlen (checked before each body is read), so finishing it costs
// at most rlen bytes of reading, whereas closing the connection would cost
// a new login and authentication (a GSI handshake) for the next request.
func (c *conn) readStream(ctx context.Context, fh [4]byte, off int64, rlen int, sink *readSink) (int, error) {
	tr := traceFrom(ctx)
	if err := c.sendRead(tr, fh, off, rlen, "send"); err != nil {
		return 0, err
	}
	got, waits := 0, 0
	for {
		f, dlen, src, ok, err := c.nextReadFrame(rlen - got)
		if err != nil {
			return sink.end(got, err)
		}
		if !ok {
			continue // obsolete attn actions: ignore
		}
		if f.sid != c.sid {
			return sink.end(got, protoErrf("%s for stream %d while waiting for stream %d", statusName(f.status), f.sid, c.sid))
		}
		if f.status != statusOK && f.status != statusOKSoFar {
			next, err := c.readControlFrame(ctx, tr, f, src, dlen, sink, &waits)
			switch next {
			case endAnswer:
				return sink.end(got, err)
			case resendRead:
				// Ask again for what has not arrived yet (data already
				// passed on cannot be taken back).
				if err := c.sendRead(tr, fh, off+int64(got), rlen-got, "resend"); err != nil {
					return sink.end(got, err)
				}
			}
			continue
		}
		if got+dlen > rlen {
			return sink.end(got, protoErrf("answer longer than %d bytes", rlen))
		}
		if err := sink.copyFrom(src, dlen, f.status); err != nil {
			return sink.end(got, err)
		}
		got += dlen
		if f.status == statusOK {
			return sink.end(got, nil)
		}
	}
}

// sendRead sends a kXR_read of rlen bytes at off on handle fh (reported to
// the trace); what ("send" or "resend") names the attempt in its error.
func (c *conn) sendRead(tr *Trace, fh [4]byte, off int64, rlen int, what string) error {
	var body [16]byte
	copy(body[0:], fh[:])
	binary.BigEndian.PutUint64(body[4:], uint64(off))
	binary.BigEndian.PutUint32(body[12:], uint32(rlen))
	if tr != nil && tr.Read != nil {
		tr.Read(c.addr, int64(binary.BigEndian.Uint64(body[4:])), int(binary.BigEndian.Uint32(body[12:])))
	}
	if _, err := c.nc.Write(encodeRequest(c.nextSID(), reqRead, body, nil)); err != nil {
		return fmt.Errorf("%s request %d: %w", what, reqRead, err)
	}
	return nil
}

// nextReadFrame reads the next frame header of a read answer, of which
// left data bytes are still expected. The body stays on the connection
// (src) except for a kXR_attn/kXR_asynresp, whose body is read (at most
// left+16+maxControlBody bytes) and whose embedded frame is returned with
// src reading from it. ok is false for an obsolete attn action, which the
// caller ignores.
func (c *conn) nextReadFrame(left int) (f frame, dlen int, src io.Reader, ok bool, err error) {
	f, dlen, err = readHeader(c.nc, &c.hdr, c.maxFrame)
	if err != nil {
		return frame{}, 0, nil, false, eofErr(err)
	}
	if f.sid != 0 || f.status != statusAttn {
		return f, dlen, c.nc, true, nil
	}
	b, err := readControl(c.nc, f, dlen, min(c.maxFrame, left+16+maxControlBody))
	if err != nil {
		return frame{}, 0, nil, false, err
	}
	_, inner, ok, err := parseAttn(b)
	if err != nil || !ok {
		return frame{}, 0, nil, false, err
	}
	return inner, len(inner.body), bytes.NewReader(inner.body), true, nil
}

// controlAction is what readStream does after a non-data frame.
type controlAction int

const (
	endAnswer   controlAction = iota // a final answer: end with the error (nil or not)
	resendRead                       // kXR_wait honoured: ask again for the rest
	keepReading                      // kXR_waitresp: the answer comes as kXR_attn/kXR_asynresp
)

// readControlFrame handles a frame of a read answer other than
// kXR_oksofar/kXR_ok: it reads its body from src (dlen bytes, at most
// maxControlBody) and says how the read goes on.
func (c *conn) readControlFrame(ctx context.Context, tr *Trace, f frame, src io.Reader, dlen int, sink *readSink, waits *int) (controlAction, error) {
	switch f.status {
	case statusError, statusWait, statusWaitResp, statusRedirect, statusAuthMore:
	default:
		return endAnswer, protoErrf("unexpected %s answer to request %d", statusName(f.status), reqRead)
	}
	b, err := readControl(src, f, dlen, maxControlBody)
	if err != nil {
		return endAnswer, err
	}
	switch f.status {
	case statusError:
		se, err := parseServerError(b)
		if err != nil {
			return endAnswer, err
		}
		return endAnswer, se
	case statusWait:
		if sink.err != nil {
			if _, _, err := parseWait(b); err != nil {
				return endAnswer, err
			}
			return endAnswer, nil // the writer is gone: no point asking again
		}
		if err := c.honourWait(ctx, tr, b, waits); err != nil {
			return endAnswer, err
		}
		return resendRead, nil
	case statusWaitResp:
		if err := c.noteWaitResp(tr, b); err != nil {
			return endAnswer, err
		}
		return keepReading, nil
	default: // statusRedirect, statusAuthMore
		// A final answer, so the connection stays in step.
		return endAnswer, &inSyncError{fmt.Errorf("unexpected %s", statusName(f.status))}
	}
}

// end ends a read answer of which got data bytes arrived, with err: the
// writer's failure, if any, comes first.
func (s *readSink) end(got int, err error) (int, error) {
	if s.err == nil {
		return got, err
	}
	if err == nil {
		return got, &inSyncError{s.err}
	}
	var is *inSyncError
	if errors.As(err, &is) {
		return got, &inSyncError{fmt.Errorf("%w (then: %w)", s.err, is.err)}
	}
	// A kXR_error keeps the connection as run decides; anything else
	// breaks it.
	return got, fmt.Errorf("%w (then, reading the rest of the answer: %w)", s.err, err)
}

// readControl reads the body of a non-data frame (at most max bytes).
func readControl(src io.Reader, f frame, dlen, max int) ([]byte, error) {
	if dlen > max {
		return nil, protoErrf("%s body of %d bytes in a read answer (max %d)", statusName(f.status), dlen, max)
	}
	b := make([]byte, dlen)
	if err := readBody(src, b, f.status); err != nil {
		return nil, err
	}
	return b, nil
}

// read runs one streaming kXR_read on c (see readStream).
func (c *conn) read(ctx context.Context, fh [4]byte, off int64, rlen int, sink *readSink) (int, error) {
	var got int
	err := c.run(ctx, func() error {
		var err error
		got, err = c.readStream(ctx, fh, off, rlen, sink)
		return err
	})
	return got, err
}

// readTo reads n bytes at off in kXR_reads of at most MaxReadChunk into
// sink. It stops with io.EOF at the first short answer.
func (f *File) readTo(ctx context.Context, sink *readSink, off, n int64) (int64, error) {
	if n < 0 {
		return 0, fmt.Errorf("read %s: negative length %d", f.path, n)
	}
	if sink.p == nil {
		bp := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bp)
		sink.buf = *bp
	}
	for done := int64(0); done < n; {
		want := int(min(n-done, MaxReadChunk))
		got, err := f.c.read(ctx, f.fh, off+done, want, sink)
		if err != nil {
			return sink.n, fmt.Errorf("read %s at %s (offset %d): %w", f.path, f.c.addr, off+done, err)
		}
		done += int64(got)
		if got < want {
			return sink.n, io.EOF
		}
	}
	return sink.n, nil
}
