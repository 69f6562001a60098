package xrd

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Real frames recorded against XRootD 5.5.3 (SESSION.md).
var realFrames = [][]byte{
	unhex("0000 0000 00000008 00000511 00000001"),              // handshake answer
	unhex("0000 0000 00000008 00000511 d7300001"),              // protocol answer, SE
	unhex("0000 0000 0000000e 00000511 d7300001 530000000200"), // with S section
	unhex("000a 0fa6 00000012 00000258 4a6f62207363686564756c65642e"),
	unhex("0000 0fa1 00000021 00001390 00000000 000a 0000 00000011 61646c65723332203963323734316266 00"),
	unhex("0002 0fa4 0000000d 000042c6 3132372e302e302e31"),
	unhex("0002 0fa5 00000004 00000005"),
	append(unhex("0003 0fa3 0000002d 00000bd6"), "token verification failed: token expired\x00"...),
	unhex("0004 0fa0 00000012 303132333435363738396162636465666768 0004 0000 00000000"),
}

func FuzzReadResponse(f *testing.F) {
	for _, b := range realFrames {
		f.Add(b)
	}
	f.Add(unhex("0000 0000 ffffffff"))
	f.Add(unhex("0000 0000 7fffffff 00"))
	f.Add(unhex("0000 00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for i := 0; i < 64; i++ {
			fr, err := readFrame(r, 1<<16)
			if err != nil {
				return
			}
			if len(fr.body) > 1<<16 {
				t.Fatalf("body of %d bytes beyond the limit", len(fr.body))
			}
			// Every body decoder must cope with whatever arrived.
			_, _ = parseServerError(fr.body)
			_, _, _ = parseWait(fr.body)
			_, _, _, _ = parseAttn(fr.body)
			_, _ = parseRedirect(fr.body)
			_, _ = parseProtocolReply(fr.body)
			_, _ = parseLoginReply(fr.body)
			_, _, _ = parseOpenReply(fr.body, true)
			_, _ = parseLocate(fr.body)
			_, _ = parseDirlist(fr.body, true)
			_, _ = parseDirlist(fr.body, false)
			_, _ = parseStat(string(fr.body))
		}
	})
}

func FuzzParseAttn(f *testing.F) {
	f.Add(unhex("00001390 00000000 000a 0000 00000011 61646c65723332203963323734316266 00"))
	f.Add(unhex("00001390 00000000 000a 0000 ffffffff"))
	f.Add(unhex("00001389"))
	f.Fuzz(func(t *testing.T, b []byte) {
		act, inner, ok, err := parseAttn(b)
		if ok && (err != nil || act != attnAsynResp || len(inner.body) != max(len(b)-16, 0)) {
			t.Fatalf("inconsistent asynresp: act %d body %d of %d, err %v", act, len(inner.body), len(b), err)
		}
	})
}

func FuzzParseRedirect(f *testing.F) {
	f.Add(unhex("000042c6 3132372e302e302e31"))
	f.Add(append(unhex("000042c7"), "localhost?tried=vm?tok"...))
	f.Add(append(unhex("ffffffff"), "https://h:443/x"...))
	f.Add(append(unhex("000042c7"), "[::127.0.0.1]"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRedirect(b)
		if err != nil {
			return
		}
		if r.url == "" {
			if r.port <= 0 || r.port > 65535 || r.host == "" {
				t.Fatalf("accepted redirect %+v", r)
			}
			if _, _, err := net.SplitHostPort(r.addr()); err != nil {
				t.Fatalf("addr %q: %v", r.addr(), err)
			}
		}
	})
}

func FuzzParseText(f *testing.F) {
	f.Add(statLine, "Sw[::127.0.0.1]:17094", ".\n0 0 0 0\nnew.txt\n"+strings.TrimSuffix(statLine, "\x00")+" [ adler32:1a2b ]\x00", "&P=ztn,0:4096:&P=gsi,v:10600,c:ssl,ca:fb12356f.0|f2bacaff.0")
	f.Fuzz(func(t *testing.T, stat, loc, dir, sec string) {
		if st, err := parseStat(stat); err == nil && st.Size < 0 {
			t.Fatalf("negative size accepted: %q", stat)
		}
		if ls, err := parseLocate([]byte(loc)); err == nil {
			for _, l := range ls {
				if _, _, err := net.SplitHostPort(l.Addr); err != nil {
					t.Fatalf("location %q not dialable: %v", l.Addr, err)
				}
			}
		}
		_, _ = parseDirlist([]byte(dir), true)
		for _, e := range parseSecList(sec) {
			if e.name == "" {
				t.Fatalf("empty protocol name from %q", sec)
			}
		}
	})
}

// memConn is a net.Conn whose peer is a fixed byte stream.
type memConn struct {
	r io.Reader
}

func (m *memConn) Read(p []byte) (int, error)       { return m.r.Read(p) }
func (m *memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzSession feeds an arbitrary server byte stream to the whole bring-up
// and a few requests: errors are fine, panics and hangs are not.
func FuzzSession(f *testing.F) {
	up := bytes.Join([][]byte{realFrames[0], unhex("0000 0000 00000008 00000511 00000001"),
		unhex("0001 0000 00000010 00000000000000000000000000000000")}, nil)
	f.Add(append(append([]byte{}, up...), unhex("0002 0000 00000000")...))
	f.Add(append(append([]byte{}, up...), bytes.Join(realFrames[3:5], nil)...))
	f.Add(append(append([]byte{}, up...), unhex("0002 0fa0 00000003 616263 0002 0000 00000001 64")...))
	auth := bytes.Join([][]byte{realFrames[0], unhex("0000 0000 00000008 00000511 00000001"),
		unhex("0001 0000 00000016 00000000000000000000000000000000"), []byte("&P=aaa,")}, nil)
	f.Add(append(auth, unhex("0002 0fa2 00000001 78 0003 0000 00000000")...))
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		opts := &Options{MaxFrame: 1 << 16, Auth: func() []secproto.Authenticator {
			return []secproto.Authenticator{&fakeAuth{name: "aaa"}}
		}}
		c := &conn{nc: &memConn{r: bytes.NewReader(b)}, addr: "fuzz:1094", host: "fuzz", maxFrame: 1 << 16}
		if err := c.bringUp(ctx, connConfig{opts: opts}); err != nil {
			return
		}
		s := &Session{opts: *opts, first: c, peers: map[string]*conn{}}
		_, _ = s.Stat(ctx, "/a")
		_, _ = s.Checksum(ctx, "/a", "")
		_, _ = s.Dirlist(ctx, "/a", true)
		_, _, _ = s.ReadFile(ctx, "/a", 1<<10)
	})
}
