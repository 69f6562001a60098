package bench

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/tls"
	"fmt"
	"hash/adler32"
	"net"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// P3's CPU floor: what a site of the P3 check set must cost the probe's
// CPU whatever the code, from first principles — the TLS handshakes its
// checks need, times one handshake's measured cost, plus the bytes it must
// receive, decrypt and checksum, times the measured cost per byte of
// reading them from a socket, AES-GCM and adler32 — against which the
// probe's measured CPU per site is held. Receiving counts because a
// handshake's measured cost includes its own system calls: the bytes of a
// read cannot be decrypted before read(2) has copied them out of the
// kernel.
//
// Every unit cost is measured in this process, with the CPU time the
// process used (getrusage), not wall time, so other load on the machine
// does not inflate it: a handshake is the probe's own TLS configuration
// (cred.CAStore.TLSConfig: TLS ≥ 1.2, Go's default key exchange offering
// X25519MLKEM768 and X25519, the CA directory with CRLs verifying the
// server) against the testbed SE itself, so the server picks the curve and
// cipher it picks for the probe; it includes the TCP connect and close, as
// every handshake of a check does. AES-GCM opens 16 KiB records (TLS's
// largest) with the key size of the negotiated suite; adler32 is
// hash/adler32 over 16 KiB writes, as the probe's reads arrive; receiving
// is 16 KiB reads from a loopback TCP socket kept full by a writer on
// another thread, timed with the reading thread's own CPU clock.

// UnitCosts are the measured costs of the floor's operations.
type UnitCosts struct {
	Handshake time.Duration // client CPU of connect + TLS handshake + close
	// Version, Cipher and Curve are what the testbed negotiated.
	Version, Cipher, Curve string
	ReceivePerMiB          time.Duration // read(2) from a TCP socket
	DecryptPerMiB          time.Duration // AES-GCM open
	Adler32PerMiB          time.Duration
}

// String describes the costs for a note.
func (u UnitCosts) String() string {
	return fmt.Sprintf("a TLS handshake %.0f µs (%s, %s, %s; connect and close included), receiving %.0f µs/MiB, AES-GCM open %.0f µs/MiB, adler32 %.0f µs/MiB",
		us(u.Handshake), u.Version, u.Cipher, u.Curve, us(u.ReceivePerMiB), us(u.DecryptPerMiB), us(u.Adler32PerMiB))
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// ProcessCPU is the user+system CPU time this process used so far.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPer runs f n times and returns the process CPU per run.
func cpuPer(n int, f func() error) (time.Duration, error) {
	c0 := ProcessCPU()
	for i := 0; i < n; i++ {
		if err := f(); err != nil {
			return 0, err
		}
	}
	return (ProcessCPU() - c0) / time.Duration(n), nil
}

// MeasureUnitCosts measures the floor's unit costs: n handshakes with
// hostport (the testbed SE's https port, "localhost:18443") verified with
// the CA directory caDir, then the throughputs.
func MeasureUnitCosts(ctx context.Context, hostport, caDir string, n int) (UnitCosts, error) {
	ca, err := cred.LoadCAPool(caDir)
	if err != nil {
		return UnitCosts{}, err
	}
	var u UnitCosts
	var st tls.ConnectionState
	handshake := func() error {
		var d net.Dialer
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		c, err := d.DialContext(hctx, "tcp", hostport)
		if err != nil {
			return err
		}
		defer c.Close()
		tc := tls.Client(c, ca.TLSConfig(hostport, nil))
		if err := tc.HandshakeContext(hctx); err != nil {
			return fmt.Errorf("TLS handshake with %s: %w", hostport, err)
		}
		st = tc.ConnectionState()
		return nil
	}
	if err := handshake(); err != nil { // warm-up: CA pool, code paths
		return u, err
	}
	if u.Handshake, err = cpuPer(n, handshake); err != nil {
		return u, err
	}
	u.Version, u.Cipher, u.Curve = tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), st.CurveID.String()
	keyLen := 16
	switch st.CipherSuite {
	case tls.TLS_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:
		keyLen = 32
	case tls.TLS_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:
	default:
		return u, fmt.Errorf("negotiated %s: the floor measures AES-GCM suites only", u.Cipher)
	}
	if u.DecryptPerMiB, err = aesGCMOpenPerMiB(keyLen); err != nil {
		return u, err
	}
	u.Adler32PerMiB = adler32PerMiB()
	u.ReceivePerMiB, err = receivePerMiB()
	return u, err
}

// MeanCosts averages unit costs measured at several times (the negotiated
// parameters are the first's).
func MeanCosts(cs ...UnitCosts) UnitCosts {
	if len(cs) == 0 {
		return UnitCosts{}
	}
	m := cs[0]
	m.Handshake, m.ReceivePerMiB, m.DecryptPerMiB, m.Adler32PerMiB = 0, 0, 0, 0
	n := time.Duration(len(cs))
	for _, c := range cs {
		m.Handshake += c.Handshake / n
		m.ReceivePerMiB += c.ReceivePerMiB / n
		m.DecryptPerMiB += c.DecryptPerMiB / n
		m.Adler32PerMiB += c.Adler32PerMiB / n
	}
	return m
}

const (
	record     = 16 << 10 // TLS's largest record payload
	throughput = 256      // MiB per throughput measurement
)

// aesGCMOpenPerMiB is the CPU of opening (decrypting and authenticating)
// 1 MiB of 16 KiB records.
func aesGCMOpenPerMiB(keyLen int) (time.Duration, error) {
	block, err := aes.NewCipher(make([]byte, keyLen))
	if err != nil {
		return 0, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return 0, err
	}
	nonce := make([]byte, aead.NonceSize())
	ad := []byte{23, 3, 3, 0x40, 0x11} // a TLS 1.3 record header
	sealed := aead.Seal(nil, nonce, make([]byte, record), ad)
	out := make([]byte, 0, record)
	per, err := cpuPer(throughput*(1<<20)/record, func() error {
		_, err := aead.Open(out[:0], nonce, sealed, ad)
		return err
	})
	return per * (1 << 20) / record, err
}

// adler32PerMiB is the CPU of hash/adler32 over 1 MiB in 16 KiB writes.
func adler32PerMiB() time.Duration {
	h := adler32.New()
	buf := make([]byte, record)
	per, _ := cpuPer(throughput*(1<<20)/record, func() error {
		_, _ = h.Write(buf)
		return nil
	})
	return per * (1 << 20) / record
}

// checkWork is what one check must do at least: TLS handshakes (a
// connection it cannot share with an earlier check of its service) and
// full reads of the reference file (each also decrypts the 4 KiB ranged
// read probes/storage compares against it).
type checkWork struct{ handshakes, reads int }

// floorWork is the minimal work of each check of P3's light set, as the
// probe's checks are built: 2ssl verifies the certificate on a connection
// of its own, a WebDAV token read opens the token client's connection;
// XRootD's 3version brings up the session (TLS, ztn login) that 14tkn-read
// then reuses. 1connection only connects (no TLS).
var floorWork = map[string]map[string]checkWork{
	"webdav": {"1connection": {0, 0}, "2ssl": {1, 0}, "14tkn-read": {1, 1}},
	"xrootd": {"1connection": {0, 0}, "3version": {1, 0}, "14tkn-read": {0, 1}},
}

// rangedRead is the ranged read a full read is compared with.
const rangedRead = 4096

// SiteWork is what one site of a check set must do at least.
type SiteWork struct {
	Handshakes             int
	Decrypted, Checksummed int64 // bytes
	// Uncounted names the checks without a count ("protocol/check"): the
	// floor then says nothing.
	Uncounted []string
}

// WorkOf counts the minimal work of one site running checks (per
// protocol) on a reference file of refSize bytes.
func WorkOf(checks map[string][]string, refSize int64) SiteWork {
	var w SiteWork
	for proto, ids := range checks {
		for _, id := range ids {
			cw, ok := floorWork[proto][id]
			if !ok {
				w.Uncounted = append(w.Uncounted, proto+"/"+id)
				continue
			}
			w.Handshakes += cw.handshakes
			w.Decrypted += int64(cw.reads) * (refSize + rangedRead)
			w.Checksummed += int64(cw.reads) * refSize
		}
	}
	return w
}

// Floor is the CPU the work needs at the unit costs u.
func (w SiteWork) Floor(u UnitCosts) time.Duration {
	const mib = 1 << 20
	return time.Duration(w.Handshakes)*u.Handshake +
		time.Duration(float64(w.Decrypted)/mib*float64(u.ReceivePerMiB+u.DecryptPerMiB)) +
		time.Duration(float64(w.Checksummed)/mib*float64(u.Adler32PerMiB))
}

// receivePerMiB is the CPU of taking 1 MiB out of a loopback TCP socket in
// 16 KiB reads (read(2), Go's netpoller when the socket is empty), as the
// probe's TLS connections do. It is the reading thread's own CPU time
// (CLOCK_THREAD_CPUTIME_ID, the goroutine locked to its thread), so the
// writer feeding the socket from another thread is not counted.
func receivePerMiB() (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	const total = throughput << 20
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		for sent := 0; sent < total; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, record)
	t0 := threadCPU()
	for got := 0; got < total; {
		n, err := c.Read(buf)
		got += n
		if err != nil {
			return 0, fmt.Errorf("loopback read after %d B: %w", got, err)
		}
	}
	return (threadCPU() - t0) / throughput, nil
}

// threadCPU is the calling thread's CPU time.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID
	_, _, _ = syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}
