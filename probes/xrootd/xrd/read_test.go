package xrd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// readReq is a kXR_read as the fake server saw it.
type readReq struct {
	sid  uint16
	off  int64
	rlen int
}

// readFake is an in-process server whose kXR_read answers come from
// answer (called with the request and how many reads came before it);
// every other request gets an empty kXR_ok (open: handle 7).
func readFake(t *testing.T, answer func(fc *fakeConn, r readReq, nth int)) (*File, *Session, func() []readReq) {
	t.Helper()
	var mu sync.Mutex
	var reads []readReq
	fs := newFake(t, func(fc *fakeConn) {
		if !fc.up() {
			return
		}
		for {
			r, ok := fc.read()
			if !ok {
				return
			}
			switch r.id {
			case reqOpen:
				fc.send(r.sid, statusOK, []byte{0, 0, 0, 7})
			case reqRead:
				rr := readReq{sid: r.sid, off: int64(binary.BigEndian.Uint64(r.body[4:])), rlen: int(binary.BigEndian.Uint32(r.body[12:]))}
				if r.body[3] != 7 {
					fc.sendErr(r.sid, ErrFileNotOpen, "bad handle")
					continue
				}
				mu.Lock()
				nth := len(reads)
				reads = append(reads, rr)
				mu.Unlock()
				answer(fc, rr, nth)
			default:
				fc.send(r.sid, statusOK, nil)
			}
		}
	})
	s := dialFake(t, fs, Options{})
	f, err := s.Open(fctx(t, 2*time.Second), "/f", OpenRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f, s, func() []readReq {
		mu.Lock()
		defer mu.Unlock()
		return append([]readReq(nil), reads...)
	}
}

// testData is n bytes that differ at every offset modulo 251.
func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// sendData answers r from data in kXR_oksofar frames of frame bytes and a
// final kXR_ok (empty when the data ends on a frame boundary).
func sendData(fc *fakeConn, r readReq, data []byte, frame int) {
	d := data[min(int(r.off), len(data)):]
	d = d[:min(len(d), r.rlen)]
	for len(d) > frame {
		fc.send(r.sid, statusOKSoFar, d[:frame])
		d = d[frame:]
	}
	fc.send(r.sid, statusOK, d)
}

// recorder keeps what is written and the largest single write.
type recorder struct {
	bytes.Buffer
	writes, largest int
}

func (w *recorder) Write(p []byte) (int, error) {
	w.writes++
	w.largest = max(w.largest, len(p))
	return w.Buffer.Write(p)
}

func TestReadToStreamsOkSoFar(t *testing.T) {
	data := testData(300 << 10)
	firstSeen := make(chan struct{})
	f, _, reads := readFake(t, func(fc *fakeConn, r readReq, _ int) {
		// The first frame alone; the rest only once the client's writer
		// has seen it: a client that held the answer until kXR_ok would
		// never get it.
		fc.send(r.sid, statusOKSoFar, data[:100<<10])
		select {
		case <-firstSeen:
		case <-time.After(5 * time.Second):
			fc.c.Close()
			return
		}
		sendData(fc, readReq{sid: r.sid, off: 100 << 10, rlen: r.rlen - 100<<10}, data, 70<<10)
	})
	var w recorder
	var once sync.Once
	spy := writerFunc(func(p []byte) (int, error) {
		n, err := w.Write(p)
		if w.Len() >= 100<<10 {
			once.Do(func() { close(firstSeen) })
		}
		return n, err
	})
	var traced []string
	ctx := WithTrace(fctx(t, 5*time.Second), &Trace{Read: func(_ string, off int64, rlen int) { traced = append(traced, fmt.Sprint(off, "+", rlen)) }})
	n, err := f.ReadTo(ctx, spy, 0, int64(len(data)))
	if err != nil || n != int64(len(data)) || !bytes.Equal(w.Bytes(), data) {
		t.Fatalf("ReadTo: %d bytes (equal %v), %v", n, bytes.Equal(w.Bytes(), data), err)
	}
	if w.largest > copyBufSize {
		t.Errorf("a write of %d bytes: the data did not go through the %d-byte buffer", w.largest, copyBufSize)
	}
	if rs := reads(); len(rs) != 1 || rs[0] != (readReq{sid: rs[0].sid, off: 0, rlen: len(data)}) {
		t.Errorf("kXR_reads sent %+v, want one of %d bytes at 0", rs, len(data))
	}
	if strings.Join(traced, " ") != fmt.Sprint("0+", len(data)) {
		t.Errorf("trace %v", traced)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestReadToShortIsEOF(t *testing.T) {
	data := testData(1000)
	f, s, reads := readFake(t, func(fc *fakeConn, r readReq, _ int) { sendData(fc, r, data, 300) })
	ctx := fctx(t, 5*time.Second)
	var w bytes.Buffer
	n, err := f.ReadTo(ctx, &w, 100, 5000)
	if !errors.Is(err, io.EOF) || n != 900 || !bytes.Equal(w.Bytes(), data[100:]) {
		t.Errorf("ReadTo past the end: %d bytes, %v", n, err)
	}
	// Exactly to the end: no EOF yet (the server cannot tell).
	w.Reset()
	if n, err := f.ReadTo(ctx, &w, 0, 1000); err != nil || n != 1000 {
		t.Errorf("ReadTo of the whole file: %d, %v", n, err)
	}
	// At the end: nothing and EOF.
	if n, err := f.ReadTo(ctx, io.Discard, 1000, 10); !errors.Is(err, io.EOF) || n != 0 {
		t.Errorf("ReadTo at the end: %d, %v", n, err)
	}
	// ReadAt goes the same way, straight into p.
	p := make([]byte, 600)
	if n, err := f.ReadAt(ctx, p, 700); !errors.Is(err, io.EOF) || n != 300 || !bytes.Equal(p[:n], data[700:]) {
		t.Errorf("ReadAt past the end: %d, %v", n, err)
	}
	if n, err := f.ReadTo(ctx, io.Discard, 0, 0); n != 0 || err != nil {
		t.Errorf("ReadTo of 0 bytes: %d, %v", n, err)
	}
	if len(reads()) != 4 {
		t.Errorf("%d kXR_reads, want 4 (none for 0 bytes)", len(reads()))
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping after the reads: %v", err)
	}
}

func TestReadToSplitsAtMaxReadChunk(t *testing.T) {
	data := testData(MaxReadChunk + 10)
	f, _, reads := readFake(t, func(fc *fakeConn, r readReq, _ int) { sendData(fc, r, data, 1<<20) })
	h := adler32.New()
	n, err := f.ReadTo(fctx(t, 10*time.Second), h, 0, int64(len(data))+1)
	if !errors.Is(err, io.EOF) || n != int64(len(data)) || h.Sum32() != adler32.Checksum(data) {
		t.Errorf("ReadTo: %d, %v", n, err)
	}
	rs := reads()
	if len(rs) != 2 || rs[0].off != 0 || rs[0].rlen != MaxReadChunk || rs[1].off != MaxReadChunk || rs[1].rlen != 11 {
		t.Errorf("kXR_reads %+v, want 8 MiB at 0 and 11 bytes at 8 MiB", rs)
	}
}

func TestReadToLongerThanAsked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(fc *fakeConn, r readReq)
	}{
		{"one frame", func(fc *fakeConn, r readReq) { fc.send(r.sid, statusOK, make([]byte, r.rlen+1)) }},
		{"oksofar frames", func(fc *fakeConn, r readReq) {
			fc.send(r.sid, statusOKSoFar, make([]byte, r.rlen-1))
			fc.send(r.sid, statusOKSoFar, make([]byte, 2))
			fc.send(r.sid, statusOK, nil)
		}},
		{"asynresp", func(fc *fakeConn, r readReq) {
			fc.send(r.sid, statusWaitResp, u32(10))
			fc.send(0, statusAttn, asynresp(r.sid, statusOK, make([]byte, r.rlen+1)))
		}},
		{"huge announced", func(fc *fakeConn, r readReq) {
			b := []byte{byte(r.sid >> 8), byte(r.sid), 0, 0, 0x01, 0, 0, 0}
			_, _ = fc.c.Write(b)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, s, _ := readFake(t, func(fc *fakeConn, r readReq, _ int) { tc.answer(fc, r) })
			var w bytes.Buffer
			_, err := f.ReadTo(fctx(t, 2*time.Second), &w, 0, 1000)
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("answer longer than asked: %v, want a ProtocolError", err)
			}
			if w.Len() > 1000 {
				t.Errorf("%d bytes written for 1000 asked", w.Len())
			}
			if err := s.Ping(fctx(t, time.Second)); err == nil || !strings.Contains(err.Error(), "connection unusable") {
				t.Errorf("ping after a protocol error: %v", err)
			}
		})
	}
}

func TestReadToServerErrorMidRead(t *testing.T) {
	data := testData(5000)
	f, s, _ := readFake(t, func(fc *fakeConn, r readReq, nth int) {
		if nth > 0 {
			sendData(fc, r, data, 1<<20)
			return
		}
		fc.send(r.sid, statusOKSoFar, data[:2000])
		fc.sendErr(r.sid, ErrIOError, "disk went away")
	})
	ctx := fctx(t, 2*time.Second)
	var w bytes.Buffer
	n, err := f.ReadTo(ctx, &w, 0, 5000)
	var se *ServerError
	if !errors.As(err, &se) || se.Code != ErrIOError || !strings.Contains(err.Error(), "disk went away") {
		t.Fatalf("kXR_error mid-read: %v", err)
	}
	if n != 2000 || !bytes.Equal(w.Bytes(), data[:2000]) {
		t.Errorf("%d bytes before the error, want the 2000 sent", n)
	}
	// The answer ended with kXR_error: the connection is in step.
	w.Reset()
	if n, err := f.ReadTo(ctx, &w, 0, 5000); err != nil || n != 5000 || !bytes.Equal(w.Bytes(), data) {
		t.Errorf("read after kXR_error: %d, %v", n, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping after kXR_error: %v", err)
	}
}

func TestReadToWait(t *testing.T) {
	data := testData(3000)
	f, _, reads := readFake(t, func(fc *fakeConn, r readReq, nth int) {
		switch nth {
		case 0: // wait before any data
			fc.send(r.sid, statusWait, append(u32(0), "busy"...))
		case 1: // some data, then wait
			fc.send(r.sid, statusOKSoFar, data[r.off:r.off+1000])
			fc.send(r.sid, statusWait, u32(0))
		case 3, 4: // a second read: waits through waitresp + asynresp
			fc.send(r.sid, statusWaitResp, u32(10))
			fc.send(0, statusAttn, u32(5001, 0)) // obsolete action: ignored
			d := data[r.off : r.off+int64(r.rlen)]
			if nth == 3 {
				fc.send(0, statusAttn, asynresp(r.sid, statusOKSoFar, d[:100]))
				fc.send(0, statusAttn, asynresp(r.sid, statusOK, d[100:]))
			} else {
				fc.send(0, statusAttn, asynresp(r.sid, statusError, append(u32(uint32(ErrNotFound)), "gone\x00"...)))
			}
		default:
			sendData(fc, r, data, 700)
		}
	})
	var waits []string
	ctx := WithTrace(fctx(t, 5*time.Second), &Trace{Wait: func(_ string, d time.Duration, m string) { waits = append(waits, d.String()+" "+m) }})
	var w bytes.Buffer
	n, err := f.ReadTo(ctx, &w, 0, 3000)
	if err != nil || n != 3000 || !bytes.Equal(w.Bytes(), data) {
		t.Fatalf("read through two kXR_waits: %d bytes (equal %v), %v", n, bytes.Equal(w.Bytes(), data), err)
	}
	rs := reads()
	want := []readReq{{off: 0, rlen: 3000}, {off: 0, rlen: 3000}, {off: 1000, rlen: 2000}}
	for i := range rs {
		rs[i].sid = 0
	}
	if fmt.Sprint(rs) != fmt.Sprint(want) {
		t.Errorf("kXR_reads %v, want %v (a resend asks for what has not arrived)", rs, want)
	}
	if len(waits) != 2 || waits[0] != "0s busy" {
		t.Errorf("trace waits %v", waits)
	}
	w.Reset()
	if n, err := f.ReadTo(ctx, &w, 500, 1000); err != nil || n != 1000 || !bytes.Equal(w.Bytes(), data[500:1500]) {
		t.Errorf("read through kXR_waitresp + kXR_asynresp: %d, %v", n, err)
	}
	if _, err := f.ReadTo(ctx, &w, 0, 10); !IsNotFound(err) {
		t.Errorf("kXR_error in an kXR_asynresp: %v", err)
	}
}

func asynresp(sid, status uint16, body []byte) []byte {
	b := u32(attnAsynResp, 0)
	b = binary.BigEndian.AppendUint16(b, sid)
	b = binary.BigEndian.AppendUint16(b, status)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

// failAfter accepts limit bytes, then fails.
type failAfter struct {
	limit int
	got   bytes.Buffer
	calls int
}

var errWriter = errors.New("writer failed")

func (w *failAfter) Write(p []byte) (int, error) {
	w.calls++
	if room := w.limit - w.got.Len(); len(p) > room {
		w.got.Write(p[:room])
		return room, errWriter
	}
	return w.got.Write(p)
}

// TestReadToWriterError: a writer failing mid-frame gets its error back
// and the rest of the answer is read and dropped, so the connection stays
// in step (the next answers are the right ones).
func TestReadToWriterError(t *testing.T) {
	data := testData(200 << 10)
	f, s, reads := readFake(t, func(fc *fakeConn, r readReq, _ int) { sendData(fc, r, data, 50<<10) })
	ctx := fctx(t, 5*time.Second)
	w := &failAfter{limit: 40<<10 + 5}
	n, err := f.ReadTo(ctx, w, 0, int64(len(data)))
	if !errors.Is(err, errWriter) || n != int64(w.limit) || !bytes.Equal(w.got.Bytes(), data[:w.limit]) {
		t.Fatalf("writer error: %d bytes, %v", n, err)
	}
	if want := w.limit/copyBufSize + 1; w.calls != want {
		t.Errorf("writer called %d times, want %d (nothing after its failure)", w.calls, want)
	}
	// A writer accepting less without an error is a short write.
	short := writerFunc(func(p []byte) (int, error) { return len(p) - 1, nil })
	if _, err := f.ReadTo(ctx, short, 0, 100); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("short write: %v", err)
	}
	// In step: the next read gets exactly its own data.
	var got bytes.Buffer
	if n, err := f.ReadTo(ctx, &got, 1000, 3000); err != nil || n != 3000 || !bytes.Equal(got.Bytes(), data[1000:4000]) {
		t.Errorf("read after the writer error: %d, %v", n, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping after the writer error: %v", err)
	}
	if len(reads()) != 3 {
		t.Errorf("%d kXR_reads, want 3", len(reads()))
	}
}

func TestReadToBrokenAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(fc *fakeConn, r readReq)
		want   func(error) bool
	}{
		{"wrong stream id", func(fc *fakeConn, r readReq) { fc.send(r.sid+1, statusOK, nil) },
			func(err error) bool { var pe *ProtocolError; return errors.As(err, &pe) }},
		{"eof mid body", func(fc *fakeConn, r readReq) {
			b := []byte{byte(r.sid >> 8), byte(r.sid), 0, 0, 0, 0, 0x03, 0xe8}
			_, _ = fc.c.Write(append(b, make([]byte, 300)...))
			fc.c.Close()
		}, func(err error) bool {
			return errors.Is(err, io.ErrUnexpectedEOF) && strings.Contains(err.Error(), "(300 of 1000 bytes)")
		}},
		{"redirect", func(fc *fakeConn, r readReq) { fc.send(r.sid, statusRedirect, append(u32(1094), "elsewhere"...)) },
			func(err error) bool { return strings.Contains(err.Error(), "unexpected kXR_redirect") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, s, _ := readFake(t, func(fc *fakeConn, r readReq, _ int) { tc.answer(fc, r) })
			_, err := f.ReadTo(fctx(t, 2*time.Second), io.Discard, 0, 1000)
			if err == nil || !tc.want(err) {
				t.Fatalf("err %v", err)
			}
			perr := s.Ping(fctx(t, time.Second))
			if tc.name == "redirect" && perr != nil {
				t.Errorf("ping after a redirect answer (in step): %v", perr)
			} else if tc.name != "redirect" && perr == nil {
				t.Errorf("connection still used after %s", tc.name)
			}
		})
	}
}

func TestReadToCancel(t *testing.T) {
	f, s, _ := readFake(t, func(fc *fakeConn, r readReq, _ int) {
		fc.send(r.sid, statusOKSoFar, make([]byte, 100))
		// then nothing
	})
	ctx, cancel := context.WithCancel(context.Background())
	var n int
	w := writerFunc(func(p []byte) (int, error) { n += len(p); cancel(); return len(p), nil })
	start := time.Now()
	_, err := f.ReadTo(ctx, w, 0, 1000)
	if !errors.Is(err, context.Canceled) || n != 100 || time.Since(start) > 2*time.Second {
		t.Errorf("cancelled mid-read: %v (%d bytes) after %s", err, n, time.Since(start))
	}
	if err := s.Ping(fctx(t, time.Second)); err == nil {
		t.Errorf("connection still used after a cancelled read")
	}
}

// TestReadToAllocations bounds what a streaming 1 MiB read allocates: the
// data goes through the pooled buffer, no frame body is allocated.
func TestReadToAllocations(t *testing.T) {
	const size = 1 << 20
	data := testData(size)
	fs := fileServer(t, data, size) // one kXR_ok frame
	s := dialFake(t, fs, Options{})
	ctx := fctx(t, 10*time.Second)
	f, err := s.Open(ctx, "/f", OpenRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	const runs = 20
	var before, after runtime.MemStats
	if _, err := f.ReadTo(ctx, io.Discard, 0, size+1); !errors.Is(err, io.EOF) { // warm the pool
		t.Fatal(err)
	}
	runtime.ReadMemStats(&before)
	for range runs {
		if n, err := f.ReadTo(ctx, io.Discard, 0, size+1); !errors.Is(err, io.EOF) || n != size {
			t.Fatal(n, err)
		}
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / runs
	t.Logf("ReadTo of 1 MiB: %d bytes allocated per read", per)
	if per > 64<<10 {
		t.Errorf("ReadTo of 1 MiB allocates %d bytes per read, want under 64 KiB", per)
	}
}

// FuzzReadTo feeds an arbitrary server byte stream to a streaming read:
// errors are fine; panics, hangs, more bytes than asked, or success with
// fewer bytes than asked without io.EOF are not.
func FuzzReadTo(f *testing.F) {
	f.Add([]byte("\x00\x01\x00\x00\x00\x00\x00\x03abc"), uint16(10), uint8(0))
	f.Add([]byte("\x00\x01\x0f\xa0\x00\x00\x00\x02ab\x00\x01\x00\x00\x00\x00\x00\x01c"), uint16(3), uint8(2))
	f.Add([]byte("\x00\x01\x0f\xa5\x00\x00\x00\x04\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x02ab"), uint16(2), uint8(0))
	f.Add(append([]byte("\x00\x01\x0f\xa6\x00\x00\x00\x04\x00\x00\x00\x05\x00\x00\x0f\xa1\x00\x00\x00\x16"), asynresp(1, statusOK, []byte("abcdef"))...), uint16(6), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, rlen uint16, failAt uint8) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c := &conn{nc: &memConn{r: bytes.NewReader(b)}, addr: "fuzz:1094", host: "fuzz", maxFrame: 1 << 16}
		file := &File{c: c, path: "/a"}
		var w io.Writer = io.Discard
		written := 0
		w = writerFunc(func(p []byte) (int, error) {
			if failAt > 0 && written+len(p) > int(failAt) {
				return 0, errWriter
			}
			written += len(p)
			return len(p), nil
		})
		n, err := file.ReadTo(ctx, w, 0, int64(rlen))
		if n != int64(written) || n > int64(rlen) {
			t.Fatalf("ReadTo returned %d, writer got %d, asked %d", n, written, rlen)
		}
		if err == nil && n != int64(rlen) {
			t.Fatalf("ReadTo: %d of %d bytes and no error", n, rlen)
		}
		p := make([]byte, rlen)
		c2 := &conn{nc: &memConn{r: bytes.NewReader(b)}, addr: "fuzz:1094", host: "fuzz", maxFrame: 1 << 16}
		k, err := (&File{c: c2, path: "/a"}).ReadAt(ctx, p, 0)
		if k > len(p) || (err == nil && k != len(p)) {
			t.Fatalf("ReadAt: %d of %d bytes, %v", k, len(p), err)
		}
	})
}
