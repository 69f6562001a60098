package xrd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Ping sends kXR_ping to the endpoint.
func (s *Session) Ping(ctx context.Context) error {
	_, err := s.first.roundTrip(ctx, reqPing, [16]byte{}, nil, 0)
	if err != nil {
		return fmt.Errorf("ping %s: %w", s.first.addr, err)
	}
	return nil
}

// Stat returns the kXR_stat information of path.
func (s *Session) Stat(ctx context.Context, path string) (StatInfo, error) {
	f, _, err := s.do(ctx, request{op: "stat " + path, reqID: reqStat, path: path, maxBody: 1 << 16})
	if err != nil {
		return StatInfo{}, err
	}
	st, err := parseStat(string(f.body))
	if err != nil {
		return StatInfo{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return st, nil
}

// Mkdir creates a directory with the given permission bits; parents
// creates missing intermediate directories (kXR_mkdirpath, "mkdir -p").
// An existing directory with the same mode is not an error (server rule).
func (s *Session) Mkdir(ctx context.Context, path string, mode os.FileMode, parents bool) error {
	var body [16]byte
	if parents {
		body[0] = mkdirPath
	}
	binary.BigEndian.PutUint16(body[14:], uint16(mode.Perm()))
	_, _, err := s.do(ctx, request{op: "mkdir " + path, reqID: reqMkdir, body: body, path: path, maxBody: 1 << 16})
	return err
}

// Rm removes a file.
func (s *Session) Rm(ctx context.Context, path string) error {
	_, _, err := s.do(ctx, request{op: "rm " + path, reqID: reqRm, path: path, maxBody: 1 << 16})
	return err
}

// Rmdir removes an empty directory.
func (s *Session) Rmdir(ctx context.Context, path string) error {
	_, _, err := s.do(ctx, request{op: "rmdir " + path, reqID: reqRmdir, path: path, maxBody: 1 << 16})
	return err
}

// Dirlist lists a directory (without "." and ".."); withStat asks for the
// stat information of every entry (kXR_dstat).
func (s *Session) Dirlist(ctx context.Context, path string, withStat bool) ([]DirEntry, error) {
	var body [16]byte
	if withStat {
		body[15] = dirlistDstat
	}
	f, _, err := s.do(ctx, request{op: "dirlist " + path, reqID: reqDirlist, body: body, path: path})
	if err != nil {
		return nil, err
	}
	ents, err := parseDirlist(f.body, withStat)
	if err != nil {
		return nil, fmt.Errorf("dirlist %s: %w", path, err)
	}
	return ents, nil
}

// Checksum is a kXR_Qcksum answer.
type Checksum struct {
	Type  string // e.g. "adler32"
	Value string // lower-case hex as sent by the server
}

func (c Checksum) String() string { return c.Type + ":" + c.Value }

// Checksum asks the server for the checksum of path. alg selects the
// algorithm through "?cks.type=" (honoured only by servers with several
// algorithms or chkcgi); "" asks for the server's default. A server without
// checksums answers kXR_Unsupported (IsUnsupported).
func (s *Session) Checksum(ctx context.Context, path, alg string) (Checksum, error) {
	arg := path
	if alg != "" {
		arg = appendCGI(path, "cks.type="+alg)
	}
	var body [16]byte
	binary.BigEndian.PutUint16(body[0:], queryChecksum)
	f, _, err := s.do(ctx, request{op: "checksum " + path, reqID: reqQuery, body: body, path: arg, maxBody: 1 << 16})
	if err != nil {
		return Checksum{}, err
	}
	typ, val, ok := strings.Cut(strings.TrimSpace(cstring(f.body)), " ")
	if !ok || typ == "" || val == "" {
		return Checksum{}, fmt.Errorf("checksum %s: %w", path, protoErrf("answer %q is not \"<alg> <value>\"", clip(cstring(f.body))))
	}
	return Checksum{Type: typ, Value: strings.TrimSpace(val)}, nil
}

// QueryConfig asks kXR_Qconfig for keys ("version", "role", "sitename",
// "chksum", "tpc", ...). The server echoes keys it does not know or that are
// not set; those are left out of the map.
func (s *Session) QueryConfig(ctx context.Context, keys ...string) (map[string]string, error) {
	if len(keys) == 0 {
		return map[string]string{}, nil
	}
	var body [16]byte
	binary.BigEndian.PutUint16(body[0:], queryConfig)
	arg := strings.Join(keys, " ")
	f, c, err := s.do(ctx, request{op: "query config", reqID: reqQuery, body: body, path: arg, maxBody: 1 << 20})
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(cstring(f.body), "\n"), "\n")
	if len(lines) != len(keys) {
		return nil, fmt.Errorf("query config at %s: %w", c.addr, protoErrf("%d answer lines for %d keys", len(lines), len(keys)))
	}
	out := make(map[string]string, len(keys))
	for i, k := range keys {
		v := strings.TrimSpace(lines[i])
		if v != k {
			out[k] = v
		}
	}
	return out, nil
}

// Version returns the server's software version (query config "version",
// e.g. "v5.5.3").
func (s *Session) Version(ctx context.Context) (string, error) {
	m, err := s.QueryConfig(ctx, "version")
	if err != nil {
		return "", err
	}
	v, ok := m["version"]
	if !ok {
		return "", fmt.Errorf("query config version at %s: server did not report a version", s.first.addr)
	}
	return v, nil
}

// LocateOptions tune Locate.
type LocateOptions struct {
	Refresh  bool // kXR_refresh: drop cached information (costs a kXR_wait on a redirector)
	NoWait   bool // kXR_nowait: answer from what is known now
	PrefName bool // kXR_prefname: prefer host names to addresses
}

// Locate asks where path is (a redirector answers with its data servers, a
// data server with itself). path may be "*" or "*<path>".
func (s *Session) Locate(ctx context.Context, path string, o LocateOptions) ([]Location, error) {
	var opt uint16
	if o.Refresh {
		opt |= locateRefresh
	}
	if o.NoWait {
		opt |= locateNoWait
	}
	if o.PrefName {
		opt |= locatePrefName
	}
	var body [16]byte
	binary.BigEndian.PutUint16(body[0:], opt)
	f, _, err := s.do(ctx, request{op: "locate " + path, reqID: reqLocate, body: body, path: path, maxBody: 1 << 20})
	if err != nil {
		return nil, err
	}
	locs, err := parseLocate(f.body)
	if err != nil {
		return nil, fmt.Errorf("locate %s: %w", path, err)
	}
	return locs, nil
}

// OpenFlag are kXR_open options.
type OpenFlag uint16

// Open options (XProtocol.hh kXR_open options).
const (
	OpenRead    OpenFlag = openRead    // kXR_open_read
	OpenUpdate  OpenFlag = openUpdate  // kXR_open_updt (read/write)
	OpenNew     OpenFlag = openNew     // kXR_new: create, 3018 if it exists
	OpenDelete  OpenFlag = openDelete  // kXR_delete: create or truncate
	OpenForce   OpenFlag = openForce   // kXR_force
	OpenMkpath  OpenFlag = openMkpath  // kXR_mkpath: create parent directories
	OpenPOSC    OpenFlag = openPOSC    // kXR_posc: persist on successful close
	OpenRetstat OpenFlag = openRetstat // kXR_retstat: return stat information
	OpenRefresh OpenFlag = openRefresh // kXR_refresh
)

// File is an open file handle on the server that finally served the open
// (after redirects). Its methods use that server's connection.
type File struct {
	c      *conn
	fh     [4]byte
	path   string
	stat   *StatInfo
	closed bool
}

// Open opens path with the given options and creation mode.
func (s *Session) Open(ctx context.Context, path string, flags OpenFlag, mode os.FileMode) (*File, error) {
	var body [16]byte
	binary.BigEndian.PutUint16(body[0:], uint16(mode.Perm()))
	binary.BigEndian.PutUint16(body[2:], uint16(flags))
	f, c, err := s.do(ctx, request{op: "open " + path, reqID: reqOpen, body: body, path: path, maxBody: 1 << 16})
	if err != nil {
		return nil, err
	}
	fh, st, err := parseOpenReply(f.body, flags&OpenRetstat != 0)
	if err != nil {
		return nil, fmt.Errorf("open %s at %s: %w", path, c.addr, err)
	}
	return &File{c: c, fh: fh, path: path, stat: st}, nil
}

// Addr is the "host:port" of the server holding the open file (the last
// redirect target, or the endpoint itself).
func (f *File) Addr() string { return f.c.addr }

// ServerInfo describes the connection to the server holding the file.
func (f *File) ServerInfo() Info { return f.c.info }

// OpenStat is the stat information returned by the open (OpenRetstat), or nil.
func (f *File) OpenStat() *StatInfo { return f.stat }

// Stat asks kXR_stat for the open handle.
func (f *File) Stat(ctx context.Context) (StatInfo, error) {
	var body [16]byte
	copy(body[12:], f.fh[:])
	fr, err := f.c.roundTrip(ctx, reqStat, body, nil, 1<<16)
	if err != nil {
		return StatInfo{}, fmt.Errorf("stat open %s at %s: %w", f.path, f.c.addr, err)
	}
	if fr.status != statusOK {
		return StatInfo{}, fmt.Errorf("stat open %s at %s: unexpected %s", f.path, f.c.addr, statusName(fr.status))
	}
	st, err := parseStat(string(fr.body))
	if err != nil {
		return StatInfo{}, fmt.Errorf("stat open %s: %w", f.path, err)
	}
	return st, nil
}

// ReadTo reads n bytes at off and writes them to w as they arrive, through
// a small pooled buffer: the answer is never held whole. It sends one
// kXR_read when n <= MaxReadChunk, one per MaxReadChunk otherwise. It
// returns the number of bytes written to w; at end of file (the server
// answered fewer bytes than asked) it returns them with io.EOF, like
// ReadAt. If w fails, the rest of the answer is read and dropped, so the
// connection stays usable, and w's error is returned (wrapped).
func (f *File) ReadTo(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	return f.readTo(ctx, &readSink{w: w}, off, n)
}

// ReadAt reads len(p) bytes at off. At end of file it returns the bytes
// read and io.EOF, like io.ReaderAt. The data goes from the connection
// straight into p.
func (f *File) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := f.readTo(ctx, &readSink{p: p}, off, int64(len(p)))
	return int(n), err
}

// WriteAt writes p at off.
func (f *File) WriteAt(ctx context.Context, p []byte, off int64) error {
	for done := 0; done < len(p); {
		chunk := p[done:min(len(p), done+maxReadChunk)]
		var body [16]byte
		copy(body[0:], f.fh[:])
		binary.BigEndian.PutUint64(body[4:], uint64(off+int64(done)))
		fr, err := f.c.roundTrip(ctx, reqWrite, body, chunk, 1<<16)
		if err != nil {
			return fmt.Errorf("write %s at %s (offset %d): %w", f.path, f.c.addr, off+int64(done), err)
		}
		if fr.status != statusOK {
			return fmt.Errorf("write %s at %s: unexpected %s", f.path, f.c.addr, statusName(fr.status))
		}
		done += len(chunk)
	}
	return nil
}

// Close closes the handle. Closing twice is a no-op.
func (f *File) Close(ctx context.Context) error {
	if f.closed {
		return nil
	}
	f.closed = true
	var body [16]byte
	copy(body[0:], f.fh[:])
	fr, err := f.c.roundTrip(ctx, reqClose, body, nil, 1<<16)
	if err != nil {
		return fmt.Errorf("close %s at %s: %w", f.path, f.c.addr, err)
	}
	if fr.status != statusOK {
		return fmt.Errorf("close %s at %s: unexpected %s", f.path, f.c.addr, statusName(fr.status))
	}
	return nil
}

// ErrTooLarge is returned by ReadFile for a file above its size limit.
var ErrTooLarge = errors.New("file larger than the limit")

// ReadFile opens path for reading, reads it whole (at most max bytes) and
// closes it. It also returns where the file was served from.
func (s *Session) ReadFile(ctx context.Context, path string, max int64) (data []byte, servedBy string, err error) {
	var buf bytes.Buffer
	if _, servedBy, err = s.StreamFile(ctx, path, max, &buf); err != nil {
		return nil, servedBy, err
	}
	return buf.Bytes(), servedBy, nil
}

// StreamFile opens path for reading and passes its content to w as it
// comes off the connection, from offset 0 to the end of the file, then
// closes it: the caller holds a small copy buffer, never the file or a
// whole response frame. The size from the open (kXR_retstat) sizes the
// request one byte past the end, so a file of up to MaxReadChunk bytes is
// read with one kXR_read and the end of file shows in the same round trip.
// More than max bytes is an error wrapping ErrTooLarge. It returns the
// bytes read and the address of the server that served them.
func (s *Session) StreamFile(ctx context.Context, path string, max int64, w io.Writer) (n int64, servedBy string, err error) {
	f, err := s.Open(ctx, path, OpenRead|OpenRetstat, 0)
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
		if size > max {
			return 0, f.Addr(), fmt.Errorf("read %s: %d bytes: %w (%d)", path, size, ErrTooLarge, max)
		}
	}
	for {
		if n > max {
			return n, f.Addr(), fmt.Errorf("read %s: %w (%d)", path, ErrTooLarge, max)
		}
		want := max + 1 - n // one byte past the limit shows a file above it
		if size >= n {
			want = min(want, size-n+1) // +1: see the end of file in this round trip
		}
		k, rerr := f.ReadTo(ctx, w, n, want)
		n += k
		if errors.Is(rerr, io.EOF) {
			if n > max {
				return n, f.Addr(), fmt.Errorf("read %s: %w (%d)", path, ErrTooLarge, max)
			}
			return n, f.Addr(), nil
		}
		if rerr != nil {
			return n, f.Addr(), rerr
		}
	}
}

// WriteOptions tune WriteFile.
type WriteOptions struct {
	Mode      os.FileMode // default 0644
	Overwrite bool        // kXR_delete instead of kXR_new (which fails with 3018 on an existing file)
	MkPath    bool        // create parent directories
	POSC      bool        // persist on successful close
}

// WriteFile creates path with data and closes it. It returns where the file
// was written (after redirects).
func (s *Session) WriteFile(ctx context.Context, path string, data []byte, o WriteOptions) (writtenTo string, err error) {
	flags := OpenUpdate
	if o.Overwrite {
		flags |= OpenDelete
	} else {
		flags |= OpenNew
	}
	if o.MkPath {
		flags |= OpenMkpath
	}
	if o.POSC {
		flags |= OpenPOSC
	}
	mode := o.Mode
	if mode == 0 {
		mode = 0o644
	}
	f, err := s.Open(ctx, path, flags, mode)
	if err != nil {
		return "", err
	}
	if werr := f.WriteAt(ctx, data, 0); werr != nil {
		_ = f.Close(ctx)
		return f.Addr(), werr
	}
	return f.Addr(), f.Close(ctx)
}
