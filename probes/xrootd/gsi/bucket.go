package gsi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Step numbers (kXGC_* client steps, kXGS_* server steps).
const (
	stepCertReq   = 1000 // kXGC_certreq
	stepCert      = 1001 // kXGC_cert
	stepSigPxy    = 1002 // kXGC_sigpxy
	stepSrvCert   = 2001 // kXGS_cert
	stepSrvPxyReq = 2002 // kXGS_pxyreq
)

// Bucket types (kXRS_*).
const (
	bktNone       = 0
	bktInactive   = 1
	bktCryptoMod  = 3000
	bktMain       = 3001
	bktPuk        = 3004
	bktCipher     = 3005
	bktRtag       = 3006
	bktSignedRtag = 3007
	bktUser       = 3008
	bktMessage    = 3011
	bktVersion    = 3014
	bktClntOpts   = 3019
	bktX509       = 3022
	bktIssuerHash = 3023
	bktX509Req    = 3024
	bktCipherAlg  = 3025
	bktMdAlg      = 3026
)

// maxBufferLen bounds what the parser accepts (a real kXGC_cert is ~6 KiB).
const maxBufferLen = 1 << 20

// bucket is one typed, length-prefixed item of an XrdSutBuffer.
type bucket struct {
	typ  int32
	data []byte
}

// sutBuffer is a serialized XrdSutBuffer: protocol name, step, buckets.
type sutBuffer struct {
	proto   string
	step    int32
	buckets []bucket
}

func newBuffer(step int32) *sutBuffer { return &sutBuffer{proto: protocolName, step: step} }

// get returns the data of the first bucket of the given type.
func (b *sutBuffer) get(typ int32) ([]byte, bool) {
	for _, k := range b.buckets {
		if k.typ == typ {
			return k.data, true
		}
	}
	return nil, false
}

// getInt returns the int32 content of a 4-byte bucket.
func (b *sutBuffer) getInt(typ int32) (int32, bool) {
	d, ok := b.get(typ)
	if !ok || len(d) != 4 {
		return 0, false
	}
	return int32(binary.BigEndian.Uint32(d)), true
}

func (b *sutBuffer) add(typ int32, data []byte) {
	b.buckets = append(b.buckets, bucket{typ: typ, data: data})
}

func (b *sutBuffer) addString(typ int32, s string) { b.add(typ, []byte(s)) }

func (b *sutBuffer) addInt(typ int32, v int32) {
	var d [4]byte
	binary.BigEndian.PutUint32(d[:], uint32(v))
	b.add(typ, d[:])
}

// marshal serializes the buffer: name NUL, step, (type, len, data)*, 0.
// Inactive buckets are never serialized.
func (b *sutBuffer) marshal() []byte {
	n := len(b.proto) + 1 + 4 + 4
	for _, k := range b.buckets {
		n += 8 + len(k.data)
	}
	out := make([]byte, 0, n)
	out = append(out, b.proto...)
	out = append(out, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(b.step))
	for _, k := range b.buckets {
		if k.typ == bktInactive || k.typ == bktNone {
			continue
		}
		out = binary.BigEndian.AppendUint32(out, uint32(k.typ))
		out = binary.BigEndian.AppendUint32(out, uint32(len(k.data)))
		out = append(out, k.data...)
	}
	return binary.BigEndian.AppendUint32(out, bktNone)
}

var errShortBuffer = errors.New("truncated buffer")

// parseBuffer decodes a serialized XrdSutBuffer. Inactive buckets are
// dropped, unknown types kept; bytes after the terminator are ignored, and
// the end of data is accepted as a terminator.
func parseBuffer(data []byte) (*sutBuffer, error) {
	if len(data) > maxBufferLen {
		return nil, fmt.Errorf("buffer of %d bytes exceeds %d", len(data), maxBufferLen)
	}
	nul := -1
	for i := 0; i < len(data) && i < 16; i++ {
		if data[i] == 0 {
			nul = i
			break
		}
	}
	if nul <= 0 {
		return nil, errors.New("no NUL-terminated protocol name")
	}
	b := &sutBuffer{proto: string(data[:nul])}
	rest := data[nul+1:]
	if len(rest) < 4 {
		return nil, fmt.Errorf("step: %w", errShortBuffer)
	}
	b.step = int32(binary.BigEndian.Uint32(rest))
	rest = rest[4:]
	for len(rest) > 0 {
		if len(rest) < 4 {
			return nil, fmt.Errorf("bucket type: %w", errShortBuffer)
		}
		typ := int32(binary.BigEndian.Uint32(rest))
		rest = rest[4:]
		if typ == bktNone {
			break
		}
		if len(rest) < 4 {
			return nil, fmt.Errorf("bucket %d length: %w", typ, errShortBuffer)
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return nil, fmt.Errorf("bucket %d: length %d beyond %d remaining bytes", typ, n, len(rest))
		}
		if typ != bktInactive {
			b.buckets = append(b.buckets, bucket{typ: typ, data: rest[:n:n]})
		}
		rest = rest[n:]
	}
	return b, nil
}

// stepName names a step for messages.
func stepName(step int32) string {
	switch step {
	case stepCertReq:
		return "kXGC_certreq"
	case stepCert:
		return "kXGC_cert"
	case stepSigPxy:
		return "kXGC_sigpxy"
	case 2000:
		return "kXGS_init"
	case stepSrvCert:
		return "kXGS_cert"
	case stepSrvPxyReq:
		return "kXGS_pxyreq"
	}
	return fmt.Sprintf("step %d", step)
}
