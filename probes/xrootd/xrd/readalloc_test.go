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
	"sync"
	"testing"
	"time"
)

// fileServer is an in-process data server holding one file in memory. It
// answers kXR_open (handle 7, with a stat line), kXR_read (frames of at most
// frameMax bytes: kXR_oksofar, the last one kXR_ok) and kXR_close, and
// allocates nothing per request, so that the allocation counts of the
// benchmarks below are the client's.
func fileServer(t testing.TB, data []byte, frameMax int) *fakeServer {
	statBody := append([]byte{0, 0, 0, 7}, make([]byte, 8)...)
	statBody = append(statBody, fmt.Sprintf("42 %d 48 1795475748\x00", len(data))...)
	return newFake(t, func(fc *fakeConn) {
		if !fc.up() {
			return
		}
		var h [24]byte
		var out [8]byte
		send := func(sid, status uint16, body []byte) bool {
			binary.BigEndian.PutUint16(out[0:], sid)
			binary.BigEndian.PutUint16(out[2:], status)
			binary.BigEndian.PutUint32(out[4:], uint32(len(body)))
			if _, err := fc.c.Write(out[:]); err != nil {
				return false
			}
			_, err := fc.c.Write(body)
			return err == nil
		}
		for {
			if _, err := io.ReadFull(fc.c, h[:]); err != nil {
				return
			}
			sid, id := binary.BigEndian.Uint16(h[0:]), binary.BigEndian.Uint16(h[2:])
			if dlen := binary.BigEndian.Uint32(h[20:]); dlen > 0 {
				if _, err := io.CopyN(io.Discard, fc.c, int64(dlen)); err != nil {
					return
				}
			}
			switch id {
			case reqOpen:
				send(sid, statusOK, statBody)
			case reqRead:
				off := min(binary.BigEndian.Uint64(h[8:]), uint64(len(data)))
				rlen := binary.BigEndian.Uint32(h[16:])
				d := data[off:min(uint64(len(data)), off+uint64(rlen))]
				for len(d) > frameMax {
					if !send(sid, statusOKSoFar, d[:frameMax]) {
						return
					}
					d = d[frameMax:]
				}
				if !send(sid, statusOK, d) {
					return
				}
			default:
				send(sid, statusOK, nil)
			}
		}
	})
}

// readPatterns are the ways the probe has read a 1 MiB reference file.
var readPatterns = []struct {
	name string
	read func(ctx context.Context, f *File, size int, buf []byte) (uint32, error)
}{
	// The old streamRead: 256 KiB kXR_reads through ReadAt into a reused
	// 256 KiB buffer, hashed chunk by chunk.
	{"ReadAt-256KiB-chunks", func(ctx context.Context, f *File, size int, buf []byte) (uint32, error) {
		h := adler32.New()
		for n := 0; ; {
			want := min(256<<10, size-n+1)
			k, err := f.ReadAt(ctx, buf[:want], int64(n))
			h.Write(buf[:k])
			n += k
			if errors.Is(err, io.EOF) {
				return h.Sum32(), nil
			}
			if err != nil {
				return 0, err
			}
		}
	}},
	// The old Session.ReadFile: one ReadAt of size+1 into a fresh buffer.
	{"ReadAt-whole", func(ctx context.Context, f *File, size int, _ []byte) (uint32, error) {
		p := make([]byte, size+1)
		k, err := f.ReadAt(ctx, p, 0)
		if !errors.Is(err, io.EOF) {
			return 0, err
		}
		return adler32.Checksum(p[:k]), nil
	}},
	// The streaming read: one kXR_read of size+1, hashed as it arrives.
	{"ReadTo", func(ctx context.Context, f *File, size int, _ []byte) (uint32, error) {
		h := adler32.New()
		k, err := f.ReadTo(ctx, h, 0, int64(size)+1)
		if !errors.Is(err, io.EOF) || k != int64(size) {
			return 0, fmt.Errorf("ReadTo: %d bytes, %w", k, err)
		}
		return h.Sum32(), nil
	}},
}

// BenchmarkRead1MiB reads a 1 MiB file from the in-process server (one
// kXR_ok frame per kXR_read, as XRootD 5.5 sends a read of up to its
// buffer size) and reports the bytes allocated per file.
func BenchmarkRead1MiB(b *testing.B) {
	const size = 1 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	want := adler32.Checksum(data)
	fs := fileServer(b, data, 8<<20)
	s, err := Dial(benchCtx(b), fs.url(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	f, err := s.Open(benchCtx(b), "/f", OpenRead, 0)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 256<<10+1)
	for _, p := range readPatterns {
		b.Run(p.name, func(b *testing.B) {
			ctx := benchCtx(b)
			b.ReportAllocs()
			b.SetBytes(size)
			for b.Loop() {
				sum, err := p.read(ctx, f, size, buf)
				if err != nil || sum != want {
					b.Fatalf("adler32 %08x, want %08x: %v", sum, want, err)
				}
			}
		})
	}
}

func benchCtx(b testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

// BenchmarkInFlightReads reads a 1 MiB file on 200 sessions at once from a
// server that stops in the middle of every answer, and reports the heap
// held per read in flight (what a thousand concurrently probed sites cost).
func BenchmarkInFlightReads(b *testing.B) {
	const size, sessions = 1 << 20, 200
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	want := adler32.Checksum(data)
	for _, p := range readPatterns {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				release := make(chan struct{})
				halfSent := make(chan struct{}, sessions*8)
				fs := newFake(b, func(fc *fakeConn) {
					if !fc.up() {
						return
					}
					var out [8]byte
					for {
						r, ok := fc.read()
						if !ok {
							return
						}
						switch r.id {
						case reqRead:
							off := min(int(binary.BigEndian.Uint64(r.body[4:])), size)
							d := data[off:min(size, off+int(binary.BigEndian.Uint32(r.body[12:])))]
							binary.BigEndian.PutUint16(out[0:], r.sid)
							binary.BigEndian.PutUint16(out[2:], statusOK)
							binary.BigEndian.PutUint32(out[4:], uint32(len(d)))
							fc.c.Write(out[:])
							fc.c.Write(d[:len(d)/2])
							halfSent <- struct{}{}
							<-release
							fc.c.Write(d[len(d)/2:])
						case reqOpen:
							fc.send(r.sid, statusOK, []byte{0, 0, 0, 7})
						default:
							fc.send(r.sid, statusOK, nil)
						}
					}
				})
				files := make([]*File, sessions)
				for i := range files {
					s, err := Dial(benchCtx(b), fs.url(), Options{})
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					if files[i], err = s.Open(benchCtx(b), "/f", OpenRead, 0); err != nil {
						b.Fatal(err)
					}
				}
				var before, during runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				var wg sync.WaitGroup
				errs := make(chan error, sessions)
				for _, f := range files {
					wg.Add(1)
					go func() {
						defer wg.Done()
						buf := make([]byte, 256<<10+1)
						sum, err := p.read(benchCtx(b), f, size, buf)
						if err == nil && sum != want {
							err = fmt.Errorf("adler32 %08x, want %08x", sum, want)
						}
						errs <- err
					}()
				}
				for range sessions {
					<-halfSent
				}
				time.Sleep(200 * time.Millisecond) // the clients take in the half sent
				runtime.GC()
				runtime.ReadMemStats(&during)
				// Each read in flight: the first half-frame has been received.
				close(release)
				go func() {
					// Later requests of the chunked pattern: answer at once.
					for range halfSent {
					}
				}()
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				close(halfSent)
				b.ReportMetric(float64(int64(during.HeapInuse)-int64(before.HeapInuse))/sessions/1024, "KiB-heap/read-in-flight")
			}
		})
	}
}
