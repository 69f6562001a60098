package xrd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
)

// fakeServer is an in-process XRootD server for framing edge cases. Each
// accepted connection runs script.
type fakeServer struct {
	t      testing.TB
	ln     net.Listener
	script func(fc *fakeConn)
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

type fakeConn struct {
	t  testing.TB
	c  net.Conn
	fs *fakeServer
}

type fakeReq struct {
	sid     uint16
	id      uint16
	body    [16]byte
	payload []byte
}

func newFake(t testing.TB, script func(fc *fakeConn)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeServer{t: t, ln: ln, script: script}
	fs.wg.Add(1)
	go func() {
		defer fs.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fs.mu.Lock()
			fs.conns = append(fs.conns, c)
			fs.mu.Unlock()
			fs.wg.Add(1)
			go func() {
				defer fs.wg.Done()
				defer c.Close()
				fs.script(&fakeConn{t: t, c: c, fs: fs})
			}()
		}
	}()
	t.Cleanup(fs.stop)
	return fs
}

func (fs *fakeServer) stop() {
	fs.ln.Close()
	fs.mu.Lock()
	for _, c := range fs.conns {
		c.Close()
	}
	fs.mu.Unlock()
	fs.wg.Wait()
}

func (fs *fakeServer) url() string { return "root://" + fs.ln.Addr().String() }

// handshake reads the 44-byte handshake+protocol and answers as a data
// server with the given flags; returns the kXR_protocol flags byte.
func (fc *fakeConn) handshake(flags ServerFlags) (byte, bool) {
	var b [44]byte
	if _, err := io.ReadFull(fc.c, b[:]); err != nil {
		return 0, false
	}
	fc.send(0, statusOK, u32(0x511, 1))
	fc.send(0, statusOK, u32(0x511, uint32(flags)))
	return b[28], true
}

// login reads kXR_login and answers with a session id and sec list.
func (fc *fakeConn) login(sec string) bool {
	r, ok := fc.read()
	if !ok || r.id != reqLogin {
		return false
	}
	fc.send(r.sid, statusOK, append(make([]byte, 16), sec...))
	return true
}

// up = handshake + login without authentication.
func (fc *fakeConn) up() bool {
	if _, ok := fc.handshake(FlagIsServer); !ok {
		return false
	}
	return fc.login("")
}

func (fc *fakeConn) read() (fakeReq, bool) {
	var h [24]byte
	if _, err := io.ReadFull(fc.c, h[:]); err != nil {
		return fakeReq{}, false
	}
	r := fakeReq{sid: binary.BigEndian.Uint16(h[0:]), id: binary.BigEndian.Uint16(h[2:])}
	copy(r.body[:], h[4:20])
	n := binary.BigEndian.Uint32(h[20:])
	r.payload = make([]byte, n)
	if _, err := io.ReadFull(fc.c, r.payload); err != nil {
		return fakeReq{}, false
	}
	return r, true
}

func (fc *fakeConn) send(sid, status uint16, body []byte) {
	b := make([]byte, 8+len(body))
	binary.BigEndian.PutUint16(b[0:], sid)
	binary.BigEndian.PutUint16(b[2:], status)
	binary.BigEndian.PutUint32(b[4:], uint32(len(body)))
	copy(b[8:], body)
	_, _ = fc.c.Write(b)
}

func (fc *fakeConn) sendErr(sid uint16, code int32, msg string) {
	fc.send(sid, statusError, append(u32(uint32(code)), msg+"\x00"...))
}

func u32(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

func fctx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func dialFake(t *testing.T, fs *fakeServer, opts Options) *Session {
	t.Helper()
	s, err := Dial(fctx(t, 5*time.Second), fs.url(), opts)
	if err != nil {
		t.Fatalf("dial fake: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

const statLine = "42 18 48 1795475748 1795476415 1795476162 0644 xrootd xrootd\x00"

func TestFakeBringUpRequestBytes(t *testing.T) {
	var mu sync.Mutex
	var got []byte
	var login fakeReq
	fs := newFake(t, func(fc *fakeConn) {
		mu.Lock()
		defer mu.Unlock()
		b := make([]byte, 44)
		if _, err := io.ReadFull(fc.c, b); err != nil {
			return
		}
		got = b
		fc.send(0, statusOK, u32(0x511, 1))
		fc.send(0, statusOK, append(u32(0x511, uint32(FlagIsServer|FlagSupPOSC)), 'S', 0, 0, 0, 2, 0))
		r, ok := fc.read()
		if !ok {
			return
		}
		login = r
		fc.send(r.sid, statusOK, make([]byte, 16))
		mu.Unlock()
		defer mu.Lock()
		for {
			r, ok := fc.read()
			if !ok {
				return
			}
			fc.send(r.sid, statusOK, nil)
		}
	})
	s := dialFake(t, fs, Options{})
	mu.Lock()
	defer mu.Unlock()
	want := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0x07, 0xdc,
		0, 0, 0x0b, 0xbe, 0, 0, 0x05, 0x11, 0x0b, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(got, want) {
		t.Errorf("handshake bytes\n got % x\nwant % x", got, want)
	}
	if login.id != reqLogin || login.body[14] != 0x85 || !strings.HasPrefix(string(login.payload), "&xrd.appname=gridprobe") {
		t.Errorf("login: id %d capver %#x cgi %q", login.id, login.body[14], login.payload)
	}
	i := s.Info()
	if !i.IsServer() || i.TLS || i.AuthProtocol != "" || i.Signing == nil || i.Signing.Level != 2 || i.Signing.Force {
		t.Errorf("info %+v signing %+v", i, i.Signing)
	}
	if err := s.Ping(fctx(t, time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestFakeRootsWithoutTLS(t *testing.T) {
	seen := make(chan byte, 1)
	fs := newFake(t, func(fc *fakeConn) {
		f, _ := fc.handshake(FlagIsServer)
		seen <- f
		_, _ = fc.read()
	})
	_, err := Dial(fctx(t, 5*time.Second), "roots://"+fs.ln.Addr().String(), Options{})
	if err == nil || !strings.Contains(err.Error(), "not configured for TLS") {
		t.Fatalf("roots:// to a server without TLS: %v", err)
	}
	if f := <-seen; f&protoWantTLS == 0 {
		t.Errorf("roots:// did not send kXR_wantTLS (flags %#x)", f)
	}
}

func TestFakeWaitResend(t *testing.T) {
	var mu sync.Mutex
	var bodies [][16]byte
	fs := newFake(t, func(fc *fakeConn) {
		if !fc.up() {
			return
		}
		for n := 0; ; n++ {
			r, ok := fc.read()
			if !ok {
				return
			}
			mu.Lock()
			bodies = append(bodies, r.body)
			mu.Unlock()
			switch {
			case r.id == reqLocate && n == 0:
				fc.send(r.sid, statusWait, append(u32(1), "try later"...))
			case r.id == reqLocate:
				fc.send(r.sid, statusOK, []byte("Sw[::127.0.0.1]:1094 Mr[::1]:1095\x00"))
			case r.id == reqStat:
				fc.send(r.sid, statusWait, u32(30))
			default:
				fc.send(r.sid, statusOK, nil)
			}
		}
	})
	s := dialFake(t, fs, Options{})
	var waits []string
	ctx := WithTrace(fctx(t, 5*time.Second), &Trace{Wait: func(a string, d time.Duration, m string) { waits = append(waits, d.String()+" "+m) }})
	start := time.Now()
	locs, err := s.Locate(ctx, "/f", LocateOptions{Refresh: true})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("resent after %s, before the 1 s wait", el)
	}
	if len(locs) != 2 || locs[0].Addr != "127.0.0.1:1094" || !locs[0].Writable() || !locs[1].IsManager() || locs[1].Addr != "[::1]:1095" {
		t.Errorf("locations %v", locs)
	}
	mu.Lock()
	if len(bodies) != 2 || binary.BigEndian.Uint16(bodies[0][0:])&locateRefresh == 0 || binary.BigEndian.Uint16(bodies[1][0:])&locateRefresh != 0 {
		t.Errorf("refresh bit not cleared on resend: %v", bodies)
	}
	mu.Unlock()
	if len(waits) != 1 || waits[0] != "1s try later" {
		t.Errorf("trace waits %v", waits)
	}
	// A wait longer than the deadline fails at once.
	start = time.Now()
	_, err = s.Stat(fctx(t, 2*time.Second), "/f")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "wait 30s") {
		t.Errorf("stat with a 30 s wait and a 2 s deadline: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("took %s; should fail without sleeping", time.Since(start))
	}
	// The connection stays usable after that.
	if err := s.Ping(fctx(t, time.Second)); err != nil {
		t.Errorf("ping after a refused wait: %v", err)
	}
}

func TestFakeWaitRespAttn(t *testing.T) {
	fs := newFake(t, func(fc *fakeConn) {
		if !fc.up() {
			return
		}
		for {
			r, ok := fc.read()
			if !ok {
				return
			}
			path := string(r.payload)
			fc.send(r.sid, statusWaitResp, append(u32(600), "Job scheduled."...))
			fc.send(0, statusAttn, u32(5001, 0)) // obsolete action: ignored
			inner := func(status uint16, body []byte) []byte {
				b := u32(attnAsynResp, 0)
				b = binary.BigEndian.AppendUint16(b, r.sid)
				b = binary.BigEndian.AppendUint16(b, status)
				b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
				return append(b, body...)
			}
			switch path {
			case "/ok":
				fc.send(0, statusAttn, inner(statusOK, []byte("adler32 9c2741bf\x00")))
			case "/err":
				fc.send(0, statusAttn, inner(statusError, append(u32(3011), "no such file\x00"...)))
			case "/badlen":
				b := inner(statusOK, []byte("adler32 1\x00"))
				binary.BigEndian.PutUint32(b[12:], 1000)
				fc.send(0, statusAttn, b)
			}
		}
	})
	s := dialFake(t, fs, Options{})
	ck, err := s.Checksum(fctx(t, 2*time.Second), "/ok", "")
	if err != nil || ck.String() != "adler32:9c2741bf" {
		t.Fatalf("checksum via attn: %v %v", ck, err)
	}
	_, err = s.Checksum(fctx(t, 2*time.Second), "/err", "")
	if !IsNotFound(err) {
		t.Errorf("error via attn: %v", err)
	}
	_, err = s.Checksum(fctx(t, 2*time.Second), "/badlen", "")
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Errorf("asynresp with a lying length: %v, want a ProtocolError", err)
	}
	if err := s.Ping(fctx(t, time.Second)); err == nil {
		t.Errorf("connection still used after a protocol error")
	}
}

func TestFakeOkSoFar(t *testing.T) {
	names := make([]string, 300)
	for i := range names {
		names[i] = strings.Repeat("n", 40) + string(rune('a'+i%26)) + strings.Repeat("x", i%7)
	}
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
			case reqDirlist:
				all := strings.Join(names, "\n")
				third := len(all) / 3
				fc.send(r.sid, statusOKSoFar, []byte(all[:third]))
				fc.send(r.sid, statusOKSoFar, []byte(all[third:2*third]))
				fc.send(r.sid, statusOKSoFar, []byte(all[2*third:]))
				fc.send(r.sid, statusOK, []byte("\x00"))
			case reqOpen:
				fc.send(r.sid, statusOK, append([]byte{0, 0, 0, 7}, append(make([]byte, 8), statLine...)...))
			case reqRead:
				if r.body[3] != 7 {
					fc.sendErr(r.sid, ErrFileNotOpen, "bad handle")
					continue
				}
				off := binary.BigEndian.Uint64(r.body[4:])
				data := []byte("0123456789abcdefgh")[min(off, 18):]
				rlen := binary.BigEndian.Uint32(r.body[12:])
				data = data[:min(len(data), int(rlen))]
				if len(data) > 4 {
					fc.send(r.sid, statusOKSoFar, data[:4])
					data = data[4:]
				}
				fc.send(r.sid, statusOKSoFar, data)
				fc.send(r.sid, statusOK, nil)
			case reqClose:
				fc.send(r.sid, statusOK, nil)
			case reqStat:
				// A lying server: more oksofar than the request allows.
				for i := 0; i < 40; i++ {
					fc.send(r.sid, statusOKSoFar, make([]byte, 4096))
				}
				fc.send(r.sid, statusOK, nil)
			}
		}
	})
	s := dialFake(t, fs, Options{})
	ents, err := s.Dirlist(fctx(t, 2*time.Second), "/d", false)
	if err != nil || len(ents) != len(names) || ents[299].Name != names[299] {
		t.Fatalf("dirlist: %d entries, %v", len(ents), err)
	}
	data, _, err := s.ReadFile(fctx(t, 2*time.Second), "/f", 100)
	if err != nil || string(data) != "0123456789abcdefgh" {
		t.Fatalf("read: %q %v", data, err)
	}
	_, err = s.Stat(fctx(t, 2*time.Second), "/f")
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Errorf("oversized oksofar stat: %v", err)
	}
}

func TestFakeRedirects(t *testing.T) {
	var b *fakeServer
	var mu sync.Mutex
	var gotPaths, gotLogin []string
	b = newFake(t, func(fc *fakeConn) {
		if _, ok := fc.handshake(FlagIsServer); !ok {
			return
		}
		r, ok := fc.read()
		if !ok {
			return
		}
		mu.Lock()
		gotLogin = append(gotLogin, string(r.payload))
		mu.Unlock()
		fc.send(r.sid, statusOK, make([]byte, 16))
		for {
			r, ok := fc.read()
			if !ok {
				return
			}
			mu.Lock()
			gotPaths = append(gotPaths, string(r.payload))
			mu.Unlock()
			fc.send(r.sid, statusOK, []byte(statLine))
		}
	})
	_, bport, _ := net.SplitHostPort(b.ln.Addr().String())
	var a *fakeServer
	a = newFake(t, func(fc *fakeConn) {
		if !fc.up() {
			return
		}
		_, aport, _ := net.SplitHostPort(a.ln.Addr().String())
		for {
			r, ok := fc.read()
			if !ok {
				return
			}
			p := string(r.payload)
			port := func(s string) []byte {
				var n uint32
				for _, c := range s {
					n = n*10 + uint32(c-'0')
				}
				return u32(n)
			}
			switch {
			case strings.HasPrefix(p, "/go"):
				fc.send(r.sid, statusRedirect, append(port(bport), "[::127.0.0.1]?tried=a?xrd.logintoken=secret"...))
			case strings.HasPrefix(p, "/loop"):
				fc.send(r.sid, statusRedirect, append(port(aport), "127.0.0.1"...))
			case strings.HasPrefix(p, "/url"):
				fc.send(r.sid, statusRedirect, append(u32(0xffffffff), "https://elsewhere.example:443/x"...))
			case strings.HasPrefix(p, "/bad"):
				fc.send(r.sid, statusRedirect, u32(1094))
			}
		}
	})
	s := dialFake(t, a, Options{})
	var hops []string
	ctx := WithTrace(fctx(t, 5*time.Second), &Trace{Redirect: func(f, to string) { hops = append(hops, f+">"+to) }})
	st, err := s.Stat(ctx, "/go?x=1")
	if err != nil || st.Size != 18 || st.Mode != 0o644 || st.Owner != "xrootd" {
		t.Fatalf("stat via redirect: %+v %v", st, err)
	}
	if _, err := s.Stat(ctx, "/go2"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(gotPaths) != 2 || gotPaths[0] != "/go?x=1&tried=a" || gotPaths[1] != "/go2?tried=a" {
		t.Errorf("paths at the target: %q", gotPaths)
	}
	if len(gotLogin) != 2 || !strings.HasSuffix(gotLogin[0], "&xrd.logintoken=secret") {
		t.Errorf("login CGI at the target: %q", gotLogin)
	}
	mu.Unlock()
	if len(hops) != 2 || !strings.HasSuffix(hops[0], ">127.0.0.1:"+bport) {
		t.Errorf("trace %v", hops)
	}
	var re *RedirectError
	if _, err := s.Stat(ctx, "/loop"); !errors.As(err, &re) || re.Reason != "loop" {
		t.Errorf("redirect loop: %v", err)
	}
	if _, err := s.Stat(ctx, "/url"); !errors.As(err, &re) || re.Target != "https://elsewhere.example:443/x" {
		t.Errorf("redirect to a URL: %v", err)
	}
	s.opts.MaxRedirects = -1
	if _, err := s.Stat(ctx, "/go"); !errors.As(err, &re) || !strings.Contains(re.Reason, "limit") {
		t.Errorf("redirect limit: %v", err)
	}
	var pe *ProtocolError
	if _, err := s.Stat(ctx, "/bad"); !errors.As(err, &pe) {
		t.Errorf("redirect without host: %v", err)
	}
	if strings.Contains(fmtErrs(err, re), "secret") {
		t.Errorf("login token leaked into an error")
	}
}

func fmtErrs(errs ...error) string {
	var b strings.Builder
	for _, e := range errs {
		if e != nil {
			b.WriteString(e.Error())
		}
	}
	return b.String()
}

func TestFakeBrokenServers(t *testing.T) {
	cases := []struct {
		name   string
		script func(fc *fakeConn)
		want   string
	}{
		{"eof before handshake", func(fc *fakeConn) {
			var b [44]byte
			_, _ = io.ReadFull(fc.c, b[:])
		}, "server closed the connection"},
		{"reset before handshake", func(fc *fakeConn) {
			_ = fc.c.(*net.TCPConn).SetLinger(0)
		}, "reset by peer"},
		{"garbage handshake", func(fc *fakeConn) {
			_, _ = fc.c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		}, "protocol error"},
		{"negative length", func(fc *fakeConn) {
			_, _ = fc.c.Write([]byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xf0})
		}, "out of range"},
		{"eof mid header", func(fc *fakeConn) {
			var b [44]byte
			_, _ = io.ReadFull(fc.c, b[:])
			_, _ = fc.c.Write([]byte{0, 0, 0})
		}, "middle of a response header"},
		{"eof mid login body", func(fc *fakeConn) {
			if _, ok := fc.handshake(FlagIsServer); !ok {
				return
			}
			r, _ := fc.read()
			b := []byte{byte(r.sid >> 8), byte(r.sid), 0, 0, 0, 0, 0, 100}
			_, _ = fc.c.Write(append(b, make([]byte, 10)...))
		}, "middle of a kXR_ok response body (10 of 100 bytes)"},
		{"short login", func(fc *fakeConn) {
			if _, ok := fc.handshake(FlagIsServer); !ok {
				return
			}
			r, _ := fc.read()
			fc.send(r.sid, statusOK, []byte("&P=ztn"))
		}, "want at least the 16-byte session id"},
		{"wrong stream id", func(fc *fakeConn) {
			if _, ok := fc.handshake(FlagIsServer); !ok {
				return
			}
			r, _ := fc.read()
			fc.send(r.sid+7, statusOK, make([]byte, 16))
		}, "while waiting for stream"},
		{"unknown status", func(fc *fakeConn) {
			if _, ok := fc.handshake(FlagIsServer); !ok {
				return
			}
			r, _ := fc.read()
			fc.send(r.sid, 4999, nil)
		}, "unexpected status 4999"},
		{"protocol refused", func(fc *fakeConn) {
			var b [44]byte
			_, _ = io.ReadFull(fc.c, b[:])
			fc.send(0, statusOK, u32(0x511, 1))
			fc.sendErr(0, ErrUnsupported, "nope")
		}, "kXR_Unsupported (3013): nope"},
		{"auth offered, none configured", func(fc *fakeConn) {
			if _, ok := fc.handshake(FlagIsServer); !ok {
				return
			}
			fc.login("&P=krb5,x&P=gsi,v:1")
			_, _ = fc.read()
		}, "server offers [krb5 gsi]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFake(t, tc.script)
			_, err := Dial(fctx(t, 3*time.Second), fs.url(), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestFakeMidSessionFailures(t *testing.T) {
	fs := newFake(t, func(fc *fakeConn) {
		if !fc.up() {
			return
		}
		for {
			r, ok := fc.read()
			if !ok {
				return
			}
			switch string(r.payload) {
			case "/hang":
				// never answer
			case "/half":
				b := []byte{byte(r.sid >> 8), byte(r.sid), 0, 0, 0, 0, 0, 60}
				_, _ = fc.c.Write(append(b, "42 18"...))
				return
			case "/3006":
				fc.sendErr(r.sid, ErrInvalidRequest, "Invalid request; user not authenticated")
				return
			default:
				fc.send(r.sid, statusOK, []byte(statLine))
			}
		}
	})
	// Cancel: returns promptly with context.Canceled, connection dropped.
	s := dialFake(t, fs, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := s.Stat(ctx, "/hang")
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Errorf("cancelled stat: %v after %s", err, time.Since(start))
	}
	if _, err := s.Stat(fctx(t, time.Second), "/ok"); err == nil || !strings.Contains(err.Error(), "connection unusable") {
		t.Errorf("stat after cancel: %v", err)
	}
	// Deadline.
	s = dialFake(t, fs, Options{})
	_, err = s.Stat(fctx(t, 200*time.Millisecond), "/hang")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stat past the deadline: %v", err)
	}
	// EOF in the middle of a body.
	s = dialFake(t, fs, Options{})
	if _, err := s.Stat(fctx(t, time.Second), "/half"); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("stat cut mid-frame: %v", err)
	}
	// 3006: the server closes; the session says so.
	s = dialFake(t, fs, Options{})
	if _, err := s.Stat(fctx(t, time.Second), "/3006"); !errors.Is(err, &ServerError{Code: ErrInvalidRequest}) {
		t.Errorf("3006: %v", err)
	}
	if err := s.Ping(fctx(t, time.Second)); err == nil || !strings.Contains(err.Error(), "kXR_InvalidRequest") {
		t.Errorf("ping after 3006: %v", err)
	}
}

// fakeAuth is a scripted secproto.Authenticator.
type fakeAuth struct {
	name   string
	rounds int
	seen   []string
}

func (a *fakeAuth) Protocol() string { return a.name }
func (a *fakeAuth) Start(_ context.Context, srv secproto.Server) ([]byte, error) {
	a.seen = append(a.seen, "start "+srv.Params)
	return []byte(a.name + "-0"), nil
}
func (a *fakeAuth) Continue(_ context.Context, data []byte) ([]byte, error) {
	a.seen = append(a.seen, "more "+string(data))
	return []byte(a.name + "-n"), nil
}

func TestFakeAuthNegotiation(t *testing.T) {
	var mu sync.Mutex
	var creds []string
	fs := newFake(t, func(fc *fakeConn) {
		if _, ok := fc.handshake(FlagIsServer); !ok {
			return
		}
		fc.login("&P=aaa,pa:1&P=bbb,pb:2&P=ccc,")
		more := 0
		for {
			r, ok := fc.read()
			if !ok {
				return
			}
			switch r.id {
			case reqAuth:
				typ := strings.TrimRight(string(r.body[12:16]), "\x00")
				mu.Lock()
				creds = append(creds, typ+":"+string(r.payload))
				mu.Unlock()
				switch {
				case typ == "aaa":
					fc.sendErr(r.sid, ErrAuthFailed, "token verification failed: token expired")
				case typ == "bbb" && more < 2:
					more++
					fc.send(r.sid, statusAuthMore, []byte("step"))
				case typ == "bbb":
					fc.send(r.sid, statusOK, nil)
				}
			default:
				fc.send(r.sid, statusOK, nil)
			}
		}
	})
	// The client lists bbb first; the server's order (aaa first) decides.
	var a, b *fakeAuth
	opts := Options{Auth: func() []secproto.Authenticator {
		a, b = &fakeAuth{name: "aaa"}, &fakeAuth{name: "bbb"}
		return []secproto.Authenticator{b, a}
	}}
	s := dialFake(t, fs, opts)
	if s.Info().AuthProtocol != "bbb" {
		t.Errorf("authenticated with %q", s.Info().AuthProtocol)
	}
	mu.Lock()
	want := []string{"aaa:aaa-0", "bbb:bbb-0", "bbb:bbb-n", "bbb:bbb-n"}
	if strings.Join(creds, " ") != strings.Join(want, " ") {
		t.Errorf("auth sequence %v, want %v", creds, want)
	}
	mu.Unlock()
	if strings.Join(b.seen, ",") != "start pb:2,more step,more step" {
		t.Errorf("bbb saw %v", b.seen)
	}
	// Only aaa: the error names protocol, code and the server's text.
	opts.Auth = func() []secproto.Authenticator { return []secproto.Authenticator{&fakeAuth{name: "aaa"}} }
	_, err := Dial(fctx(t, 3*time.Second), fs.url(), opts)
	if !IsAuthFailed(err) || !strings.HasSuffix(err.Error(), "auth aaa failed: kXR_AuthFailed (3030): token verification failed: token expired") {
		t.Errorf("auth failure: %v", err)
	}
}

func TestFakeNoGoroutineLeak(t *testing.T) {
	fs := newFake(t, func(fc *fakeConn) {
		if !fc.up() {
			return
		}
		for {
			r, ok := fc.read()
			if !ok {
				return
			}
			fc.send(r.sid, statusOK, nil)
		}
	})
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		s, err := Dial(fctx(t, 3*time.Second), fs.url(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Ping(fctx(t, time.Second))
		_ = s.Close()
	}
	// Server-side goroutines end when their connections close.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after 20 sessions closed, %d before", n, before)
	}
}
