package xrd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	requestHeaderLen  = 24
	responseHeaderLen = 8
	// defaultMaxFrame bounds the body length a peer may announce in one
	// response frame. The largest legitimate frames are read replies, which
	// this package requests in chunks of at most maxReadChunk.
	defaultMaxFrame = 64 << 20
	// maxReadChunk is the largest rlen sent in one kXR_read.
	maxReadChunk = 8 << 20
)

// frame is one response message: header fields and body.
type frame struct {
	sid    uint16
	status uint16
	body   []byte
}

// encodeRequest builds one request message: sid, request id, the 16-byte
// request body and the payload, with dlen = len(payload).
func encodeRequest(sid, reqID uint16, body [16]byte, payload []byte) []byte {
	b := make([]byte, requestHeaderLen+len(payload))
	binary.BigEndian.PutUint16(b[0:], sid)
	binary.BigEndian.PutUint16(b[2:], reqID)
	copy(b[4:20], body[:])
	binary.BigEndian.PutUint32(b[20:], uint32(len(payload)))
	copy(b[24:], payload)
	return b
}

// readFrame reads one response message. It never allocates more than max
// bytes for the body and turns every short read into an error: io.EOF only
// when the peer closed cleanly between frames.
func readFrame(r io.Reader, max int) (frame, error) {
	var hdr [responseHeaderLen]byte
	f, dlen, err := readHeader(r, &hdr, max)
	if err != nil || dlen == 0 {
		return f, err
	}
	f.body = make([]byte, dlen)
	if err := readBody(r, f.body, f.status); err != nil {
		return frame{}, err
	}
	return f, nil
}

// readHeader reads one response header into hdr (the caller's, so that a
// read loop need not allocate one per frame) and returns the frame without
// its body and the announced body length, checked against 0..max.
func readHeader(r io.Reader, hdr *[responseHeaderLen]byte, max int) (frame, int, error) {
	n, err := io.ReadFull(r, hdr[:])
	if err != nil {
		if errors.Is(err, io.EOF) && n == 0 {
			return frame{}, 0, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return frame{}, 0, fmt.Errorf("connection closed in the middle of a response header (%d of 8 bytes): %w", n, io.ErrUnexpectedEOF)
		}
		return frame{}, 0, err
	}
	f := frame{
		sid:    binary.BigEndian.Uint16(hdr[0:]),
		status: binary.BigEndian.Uint16(hdr[2:]),
	}
	dlen := int32(binary.BigEndian.Uint32(hdr[4:]))
	if dlen < 0 || int64(dlen) > int64(max) {
		return frame{}, 0, protoErrf("response body length %d out of range (max %d), status %d", dlen, max, f.status)
	}
	return f, int(dlen), nil
}

// readBody fills b with the body of a frame of the given status.
func readBody(r io.Reader, b []byte, status uint16) error {
	n, err := io.ReadFull(r, b)
	return bodyErr(err, status, n, len(b))
}

// bodyErr describes a failure after n of the dlen body bytes of a frame.
func bodyErr(err error, status uint16, n, dlen int) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("connection closed in the middle of a %s response body (%d of %d bytes): %w", statusName(status), n, dlen, io.ErrUnexpectedEOF)
	}
	return err
}

// cstring returns b up to its first NUL.
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// parseServerError decodes a kXR_error body: int32 code + NUL-terminated text.
func parseServerError(b []byte) (*ServerError, error) {
	if len(b) < 4 {
		return nil, protoErrf("kXR_error body of %d bytes, want at least 4", len(b))
	}
	return &ServerError{
		Code:    int32(binary.BigEndian.Uint32(b)),
		Message: strings.TrimRight(cstring(b[4:]), "\n"),
	}, nil
}

// parseWait decodes kXR_wait and kXR_waitresp bodies: int32 seconds and an
// optional message without NUL.
func parseWait(b []byte) (time.Duration, string, error) {
	if len(b) < 4 {
		return 0, "", protoErrf("wait body of %d bytes, want at least 4", len(b))
	}
	secs := int32(binary.BigEndian.Uint32(b))
	if secs < 0 {
		secs = 0
	}
	return time.Duration(secs) * time.Second, cstring(b[4:]), nil
}

// parseAttn decodes a kXR_attn body. For kXR_asynresp it returns the
// embedded response frame and ok=true; other action numbers give ok=false.
func parseAttn(b []byte) (actnum int32, inner frame, ok bool, err error) {
	if len(b) < 4 {
		return 0, frame{}, false, protoErrf("kXR_attn body of %d bytes, want at least 4", len(b))
	}
	actnum = int32(binary.BigEndian.Uint32(b))
	if actnum != attnAsynResp {
		return actnum, frame{}, false, nil
	}
	if len(b) < 16 {
		return actnum, frame{}, false, protoErrf("kXR_asynresp body of %d bytes, want at least 16", len(b))
	}
	inner.sid = binary.BigEndian.Uint16(b[8:])
	inner.status = binary.BigEndian.Uint16(b[10:])
	dlen := int32(binary.BigEndian.Uint32(b[12:]))
	if dlen < 0 || int(dlen) != len(b)-16 {
		return actnum, frame{}, false, protoErrf("kXR_asynresp embedded length %d does not match the %d bytes carried", dlen, len(b)-16)
	}
	if dlen > 0 {
		inner.body = b[16:]
	}
	return actnum, inner, true, nil
}

// redirectTarget is a decoded kXR_redirect body.
type redirectTarget struct {
	host   string // host name or IP (no brackets)
	port   int    // > 0, or 0 when the server gave a URL
	url    string // set when port <= 0: the host field holds a URL
	opaque string // CGI to append to the path
	token  string // login token for the next kXR_login (never printed)
}

func (t redirectTarget) addr() string {
	if t.url != "" {
		return t.url
	}
	return net.JoinHostPort(t.host, strconv.Itoa(t.port))
}

// parseRedirect decodes int32 port + "host[?opaque[?token]]".
func parseRedirect(b []byte) (redirectTarget, error) {
	if len(b) < 5 {
		return redirectTarget{}, protoErrf("kXR_redirect body of %d bytes, want at least 5", len(b))
	}
	port := int32(binary.BigEndian.Uint32(b))
	rest := cstring(b[4:])
	var t redirectTarget
	if port <= 0 {
		// port -1 or flags (~port): the host field may carry a full URL.
		t.url = rest
		if strings.Contains(rest, "://") {
			return t, nil
		}
		return redirectTarget{}, protoErrf("kXR_redirect without port (%d) and without a URL", port)
	}
	if port > 65535 {
		return redirectTarget{}, protoErrf("kXR_redirect port %d out of range", port)
	}
	t.port = int(port)
	host, tail, _ := strings.Cut(rest, "?")
	t.opaque, t.token, _ = strings.Cut(tail, "?")
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if !validHost(host) {
		return redirectTarget{}, protoErrf("kXR_redirect to an invalid host %q", clip(host))
	}
	t.host = mapIPv4Compat(host)
	return t, nil
}

// validHost accepts host names and IP literals (no brackets).
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '.', r == '-', r == '_', r == ':', r == '%':
		default:
			return false
		}
	}
	return true
}

// mapIPv4Compat turns the deprecated IPv4-compatible IPv6 form "::a.b.c.d",
// which XRootD uses in locate answers, into "a.b.c.d" (Go would dial it as
// an IPv6 address and fail).
func mapIPv4Compat(host string) string {
	if strings.HasPrefix(host, "::") && strings.Count(host, ".") == 3 && !strings.HasPrefix(host, "::ffff:") {
		if ip := net.ParseIP(host[2:]); ip != nil && ip.To4() != nil {
			return host[2:]
		}
	}
	return host
}

// SecRequirements is the "S" section of the kXR_protocol response: the
// request-signing requirements of the server.
type SecRequirements struct {
	Level     int  // 0 none .. 4 pedantic
	Force     bool // kXR_secOFrce: sign even with a key-less protocol (this client cannot)
	Overrides int  // number of per-request overrides
}

// protocolReply is the decoded kXR_protocol response.
type protocolReply struct {
	pval  uint32
	flags ServerFlags
	bind  string           // "B" section: bind interfaces
	sec   *SecRequirements // "S" section
}

// parseProtocolReply decodes pval, flags and the optional "B" and "S"
// trailers, checking their tags and lengths.
func parseProtocolReply(b []byte) (protocolReply, error) {
	var r protocolReply
	if len(b) < 4 {
		return r, protoErrf("kXR_protocol reply of %d bytes, want at least 4", len(b))
	}
	r.pval = binary.BigEndian.Uint32(b)
	if len(b) < 8 {
		return r, nil // pre-2.9 servers send pval only
	}
	r.flags = ServerFlags(binary.BigEndian.Uint32(b[4:]))
	rest := b[8:]
	if len(rest) >= 4 && rest[0] == 'B' {
		n := int(binary.BigEndian.Uint16(rest[2:]))
		if 4+n > len(rest) {
			return r, protoErrf("kXR_protocol B section of %d bytes, only %d present", n, len(rest)-4)
		}
		r.bind = cstring(rest[4 : 4+n])
		rest = rest[4+n:]
	}
	if len(rest) >= 6 && rest[0] == 'S' {
		sec := &SecRequirements{
			Force:     rest[3]&0x02 != 0,
			Level:     int(rest[4]),
			Overrides: int(rest[5]),
		}
		if 6+2*sec.Overrides > len(rest) {
			return r, protoErrf("kXR_protocol S section announces %d overrides, only %d bytes present", sec.Overrides, len(rest)-6)
		}
		r.sec = sec
	}
	return r, nil
}

// loginReply is the decoded kXR_login response.
type loginReply struct {
	sessID [16]byte
	sec    string // "&P=ztn,0:4096:&P=gsi,..." or ""
}

// parseLoginReply decodes the 16-byte session id and the security list.
// This client always sends capver version 5, so the session id is present.
func parseLoginReply(b []byte) (loginReply, error) {
	var r loginReply
	if len(b) < 16 {
		return r, protoErrf("kXR_login reply of %d bytes, want at least the 16-byte session id", len(b))
	}
	copy(r.sessID[:], b)
	r.sec = strings.TrimRight(cstring(b[16:]), " \n")
	return r, nil
}

// secEntry is one "&P=<name>,<params>" item of the login security list.
type secEntry struct {
	name   string
	params string
}

// parseSecList splits the security list in the server's order.
func parseSecList(s string) []secEntry {
	var out []secEntry
	for _, item := range strings.Split(s, "&P=") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, params, _ := strings.Cut(item, ",")
		if name == "" {
			continue
		}
		out = append(out, secEntry{name: name, params: params})
	}
	return out
}

// StatFlags are the kXR_stat flag bits.
type StatFlags uint32

// Stat flag bits.
const (
	StatXset     StatFlags = 1
	StatIsDir    StatFlags = 2
	StatOther    StatFlags = 4
	StatOffline  StatFlags = 8
	StatReadable StatFlags = 16
	StatWritable StatFlags = 32
	StatPOSCPend StatFlags = 64
	StatBkpExist StatFlags = 128
)

// StatInfo is a decoded kXR_stat answer. Servers before 5.x send only the
// first four fields; the others are then zero.
type StatInfo struct {
	ID      uint64 // st_dev<<32 | st_ino
	Size    int64
	Flags   StatFlags
	ModTime time.Time
	ChTime  time.Time
	AccTime time.Time
	Mode    os.FileMode // permission bits (and sticky/setuid/setgid) as sent by the server
	Owner   string
	Group   string
	// Checksum is set by Dirlist with checksums ("adler32:<hex>").
	Checksum string
}

// IsDir reports the isDir flag.
func (s StatInfo) IsDir() bool { return s.Flags&StatIsDir != 0 }

// parseStat decodes "<id> <size> <flags> <mtime> [<ctime> <atime> <mode> <owner> <group>]".
func parseStat(line string) (StatInfo, error) {
	var s StatInfo
	line = strings.TrimSpace(cstring([]byte(line)))
	f := strings.Fields(line)
	if len(f) < 4 {
		return s, protoErrf("stat line %q has %d fields, want at least 4", clip(line), len(f))
	}
	var err error
	if s.ID, err = strconv.ParseUint(f[0], 10, 64); err != nil {
		return s, protoErrf("stat id %q: %v", clip(f[0]), err)
	}
	if s.Size, err = strconv.ParseInt(f[1], 10, 64); err != nil || s.Size < 0 {
		return s, protoErrf("stat size %q invalid", clip(f[1]))
	}
	fl, err := strconv.ParseUint(f[2], 10, 32)
	if err != nil {
		return s, protoErrf("stat flags %q: %v", clip(f[2]), err)
	}
	s.Flags = StatFlags(fl)
	ts := func(v string) (time.Time, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, protoErrf("stat time %q: %v", clip(v), err)
		}
		return time.Unix(n, 0), nil
	}
	if s.ModTime, err = ts(f[3]); err != nil {
		return s, err
	}
	if len(f) >= 9 {
		if s.ChTime, err = ts(f[4]); err != nil {
			return s, err
		}
		if s.AccTime, err = ts(f[5]); err != nil {
			return s, err
		}
		m, err := strconv.ParseUint(f[6], 8, 32)
		if err != nil {
			return s, protoErrf("stat mode %q: %v", clip(f[6]), err)
		}
		s.Mode = unixMode(uint32(m))
		s.Owner, s.Group = f[7], f[8]
	}
	// dirlist with checksums appends "[ adler32:<hex> ]".
	if i := strings.Index(line, "[ "); i >= 0 {
		if j := strings.Index(line[i:], " ]"); j > 0 {
			s.Checksum = strings.TrimSpace(line[i+2 : i+j])
		}
	}
	return s, nil
}

func unixMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	if m&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if m&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	return mode
}

// clip shortens peer-provided text quoted in errors.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// DirEntry is one kXR_dirlist entry. Stat is set when the listing was
// requested with stat information.
type DirEntry struct {
	Name string
	Stat *StatInfo
}

// parseDirlist decodes a (concatenated) kXR_dirlist answer.
func parseDirlist(b []byte, withStat bool) ([]DirEntry, error) {
	text := cstring(b)
	if text == "" {
		return nil, nil
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if !withStat {
		out := make([]DirEntry, 0, len(lines))
		for _, l := range lines {
			if l != "" {
				out = append(out, DirEntry{Name: l})
			}
		}
		return out, nil
	}
	// dstat: ".\n0 0 0 0\n" marker, then name/stat line pairs.
	if len(lines) >= 2 && lines[0] == "." && strings.TrimSpace(lines[1]) == "0 0 0 0" {
		lines = lines[2:]
	} else {
		return nil, protoErrf("kXR_dirlist with kXR_dstat: answer lacks the \".\\n0 0 0 0\" marker")
	}
	if len(lines)%2 != 0 {
		return nil, protoErrf("kXR_dirlist with kXR_dstat: odd number of lines (%d)", len(lines))
	}
	out := make([]DirEntry, 0, len(lines)/2)
	for i := 0; i < len(lines); i += 2 {
		st, err := parseStat(lines[i+1])
		if err != nil {
			return nil, fmt.Errorf("dirlist entry %q: %w", clip(lines[i]), err)
		}
		out = append(out, DirEntry{Name: lines[i], Stat: &st})
	}
	return out, nil
}

// Location is one kXR_locate answer entry.
type Location struct {
	// Type: 'S' server online, 's' server pending, 'M' manager online,
	// 'm' manager pending.
	Type byte
	// Access: 'r' read, 'w' read/write.
	Access byte
	// Addr is "host:port", with XRootD's "[::a.b.c.d]" form mapped to
	// "a.b.c.d" so that it can be dialed.
	Addr string
}

// IsManager reports a manager entry ('M' or 'm').
func (l Location) IsManager() bool { return l.Type == 'M' || l.Type == 'm' }

// Online reports an online entry ('S' or 'M').
func (l Location) Online() bool { return l.Type == 'S' || l.Type == 'M' }

// Writable reports read/write access.
func (l Location) Writable() bool { return l.Access == 'w' }

func (l Location) String() string { return string([]byte{l.Type, l.Access}) + l.Addr }

// parseLocate decodes "XYaddr XYaddr ...".
func parseLocate(b []byte) ([]Location, error) {
	var out []Location
	for _, e := range strings.Fields(cstring(b)) {
		if len(e) < 3 || !strings.ContainsRune("SsMm", rune(e[0])) || (e[1] != 'r' && e[1] != 'w') {
			return nil, protoErrf("kXR_locate entry %q malformed", clip(e))
		}
		host, port, err := net.SplitHostPort(e[2:])
		if err != nil {
			return nil, protoErrf("kXR_locate entry %q: %v", clip(e), err)
		}
		out = append(out, Location{Type: e[0], Access: e[1], Addr: net.JoinHostPort(mapIPv4Compat(host), port)})
	}
	return out, nil
}

// parseOpenReply decodes fhandle[4] [cpsize[4] cptype[4] stat line].
func parseOpenReply(b []byte, retstat bool) ([4]byte, *StatInfo, error) {
	var fh [4]byte
	if len(b) < 4 {
		return fh, nil, protoErrf("kXR_open reply of %d bytes, want at least 4", len(b))
	}
	copy(fh[:], b)
	if !retstat || len(b) <= 12 {
		return fh, nil, nil
	}
	st, err := parseStat(string(b[12:]))
	if err != nil {
		return fh, nil, fmt.Errorf("kXR_open retstat: %w", err)
	}
	return fh, &st, nil
}
