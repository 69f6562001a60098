package bench

import (
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// Minimal round trips of the check lists (P2), derived from the operations
// each check performs (probes/xrootd/checks*.go, common.go and
// probes/webdav/checks*.go, read.go), assuming every connection a later
// check can reuse is reused, and nothing else saved: each dependent request
// waits for its answer. What a round trip costs:
const (
	rtTCP      = 1 // connect (SYN, SYN-ACK)
	rtTLS13    = 1 // full TLS 1.3 handshake (no 0-RTT)
	rtXrdHello = 1 // XRootD handshake + kXR_protocol, sent together
	rtLogin    = 1 // kXR_login
	rtZTN      = 1 // kXR_auth with the token
	rtGSI      = 2 // kXR_auth certreq, then cert (GSI is two exchanges)
	rtReq      = 1 // one request and its answer

	// a new root:// session over TLS, logged in
	rtXrdZTN = rtTCP + rtXrdHello + rtTLS13 + rtLogin + rtZTN // 5
	rtXrdGSI = rtTCP + rtXrdHello + rtTLS13 + rtLogin + rtGSI // 6
	// open + read (or write) + close of one small file (≤ one request)
	rtXrdFile = 3
	// a new HTTPS connection (HTTP/1.1 keep-alive after that)
	rtHTTPS = rtTCP + rtTLS13 // 2
)

// MinRoundTrips is the minimal count per protocol and check id. A check
// not listed is not counted (P2 then reports it).
var MinRoundTrips = map[string]map[string]int{
	"xrootd": {
		"1connection": rtTCP, // every address in parallel
		// ztn session (the token is preferred), one kXR_query config
		"3version": rtXrdZTN + rtReq,
		// proxy session; stat, read, server checksum
		"4crt-read": rtXrdGSI + rtReq + rtXrdFile + rtReq,
		// foreign-proxy session + stat (the file exists); two refused opens
		// with the pooled proxy session
		"5crt-contain": rtXrdGSI + rtReq + 2*rtReq,
		// stat with the proxy; foreign (pooled) refused open; a session for
		// the proxy without VOMS, refused open
		"6crt-access": rtReq + rtReq + rtXrdGSI + rtReq,
		// mkdir -p scratch, write, stat, read back, checksum, rm, stat
		"7crt-write": rtReq + rtXrdFile + rtReq + rtXrdFile + rtReq + rtReq + rtReq,
		// mkdir, write a file in it, dirlist, rm, rmdir, stat
		"8crt-directory": rtReq + rtXrdFile + rtReq + rtReq + rtReq + rtReq,
		// storage.read:<ref> session; stat, read, checksum
		"14tkn-read": rtXrdZTN + rtReq + rtXrdFile + rtReq,
		// stat with the pooled foreign proxy; storage.read:/ session; two
		// refused opens
		"15tkn-contain": rtReq + rtXrdZTN + 2*rtReq,
		// create:<scratch> session, mkdir, write a and ab; read:<dir>
		// session, 2 stats; create:<dir> session, refused overwrite and rm;
		// read:a session, read a, refused open of ab; stat ref (pooled
		// read:<ref> session), refused open of ref; other-audience session,
		// refused open
		"16tkn-access": rtXrdZTN + rtReq + 2*rtXrdFile + rtXrdZTN + 2*rtReq + rtXrdZTN + 2*rtReq +
			rtXrdZTN + rtXrdFile + rtReq + 2*rtReq + rtXrdZTN + rtReq,
		// read:<file> and modify:<file> sessions (create:<scratch> pooled);
		// write, stat, read back, checksum, rm, stat
		"17tkn-write": 2*rtXrdZTN + rtXrdFile + rtReq + rtXrdFile + rtReq + rtReq + rtReq,
		// read:<dir> and modify:<dir> sessions; mkdir, write, dirlist, rm,
		// rmdir, stat
		"18tkn-directory": 2*rtXrdZTN + rtReq + rtXrdFile + rtReq + rtReq + rtReq + rtReq,
		// service end: 16tkn-access leaves a, ab and its dir; then the
		// scratch dir — with the pooled proxy session
		cleanupID: 4 * rtReq,
	},
	"webdav": {
		"1connection": rtTCP,
		// a new TLS connection, chain and host name checked
		"2ssl": rtHTTPS,
		// proxy connection; OPTIONS (DAV headers), PROPFIND depth 0
		"3crt_extension": rtHTTPS + 2*rtReq,
		// HEAD with Want-Digest, GET
		"4crt-read": 2 * rtReq,
		// HEAD with the proxy; foreign-proxy connection + refused GET;
		// no-VOMS connection + refused GET
		"6crt-access": rtReq + 2*(rtHTTPS+rtReq),
		// MKCOL scratch, PUT, PROPFIND, GET, DELETE, PROPFIND (gone)
		"7crt-write": 6 * rtReq,
		// MKCOL, PUT inside, PROPFIND depth 1, DELETE file, DELETE dir,
		// PROPFIND (gone)
		"8crt-directory": 6 * rtReq,
		// POST macaroon request (proxy connection); a connection without
		// client certificate, GET with the macaroon
		"10macaroon": rtReq + rtHTTPS + rtReq,
		// HEAD, GET (bearer connection pooled)
		"14tkn-read": 2 * rtReq,
		// MKCOL, PUT a and ab, HEAD both, refused overwrite PUT and DELETE,
		// GET a, refused GET ab, HEAD ref, refused GET ref, refused GET
		// with another audience
		"16tkn-access": 13 * rtReq,
		// PUT, PROPFIND, GET, DELETE, PROPFIND (gone) (+ MKCOL scratch)
		"17tkn-write":     6 * rtReq,
		"18tkn-directory": 6 * rtReq,
		// a, ab, their dir, the scratch dir
		cleanupID: 4 * rtReq,
	},
}

// cleanupID keys the service-end cleanups in MinRoundTrips.
const cleanupID = "cleanup"

// Floor is the round-trip floor of one round's results.
type Floor struct {
	RoundTrips int            // minimal round trips of the counted checks
	Uncounted  []string       // protocol/check ids with no count
	PerService map[string]int // protocol → round trips
}

// FloorOf adds up the minimal round trips of the checks in rs (summaries
// excluded), plus each service's cleanups.
func FloorOf(rs []engine.Result) Floor {
	f := Floor{PerService: map[string]int{}}
	seen := map[string]bool{}
	for _, r := range rs {
		if r.Check == engine.SummaryID {
			continue
		}
		counts := MinRoundTrips[r.Protocol]
		n, ok := counts[r.Check]
		if !ok {
			f.Uncounted = append(f.Uncounted, r.Protocol+"/"+r.Check)
			continue
		}
		key := r.Site + "\x00" + r.Service
		if !seen[key] {
			seen[key] = true
			n += counts[cleanupID]
		}
		f.RoundTrips += n
		f.PerService[r.Protocol] += n
	}
	return f
}

// FloorTime is the floor's wall time at round-trip time rtt for one site
// whose services run side by side (the engine runs a site's services
// concurrently): the longest service's round trips.
func (f Floor) FloorTime(rtt time.Duration) time.Duration {
	return time.Duration(f.CriticalPath()) * rtt
}

// CriticalPath is the round trips of the longest service.
func (f Floor) CriticalPath() int {
	m := 0
	for _, n := range f.PerService {
		m = max(m, n)
	}
	return m
}
