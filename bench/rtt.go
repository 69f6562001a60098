package bench

import (
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// Minimal round trips of the check lists (P2): the floor a check's wall
// time is held against. It is the probe's own operation list with no waste,
// not an idealised protocol minimum that would need other checks:
//
//   - The operations are those the check's code performs when it passes
//     (the storage rules in probes/storage over the WebDAV and XRootD
//     stores, probes/webdav/checks.go, probes/xrootd/checks.go,
//     xrd/ops.go), in catalogue order, with the
//     service's pooled connections and sessions as an earlier check of the
//     same service leaves them (a site's services run side by side, each
//     service's checks one after another).
//   - A request waits for an earlier answer when it needs data from it (a
//     file handle, a macaroon) or when the code sends it only after looking
//     at that answer (it returns early on a failure): 1 RTT each.
//   - Requests the code sends whatever the earlier answers were (each
//     attempt of a list of refusals, the kXR_close after a read or write)
//     are independent: XRootD multiplexes requests on one session by
//     stream id, so a group of them costs 1 RTT; HTTP/1.1 carries one
//     request at a time per connection, so over HTTP they overlap only
//     where each needs a connection of its own anyway (another credential,
//     or the server closed the previous one).
//   - A connection or session is opened when first needed: TCP 1 RTT, a
//     full TLS 1.3 handshake 1 RTT (no 0-RTT; the first request or
//     kXR_login travels with the client's Finished), an XRootD bring-up
//     (below) before its first request. Pooled ones are free. A
//     connection the server closed must be reopened: XrdHttp (XRootD
//     5.5.3, the testbed SE) answers every non-2xx status (403, 404, 405)
//     with "Connection: close", so the request after a refusal or a 404 on
//     the same client pays TCP + TLS again.
//   - Requests the check does not need (a repeated mkdir, a stat the open
//     already answers, a session closed and built again) are not counted:
//     they are waste to remove, and P2's ratio shows them.
//
// The per-check comments list the counted operations; "a ∥ b" overlap,
// [w: …] names waste the probe has today that is not counted.
// TestCountsAgainstTestbed (rtt_test.go) holds every count against the
// round trips the latency link saw the probe wait for.
const (
	rtTCP      = 1 // connect (SYN, SYN-ACK)
	rtTLS13    = 1 // full TLS 1.3 handshake (no 0-RTT)
	rtXrdHello = 1 // XRootD handshake + kXR_protocol, sent together
	rtLogin    = 1 // kXR_login (after the client's TLS Finished)
	rtZTN      = 1 // kXR_auth with the token
	rtGSI      = 2 // kXR_auth certreq, then cert (GSI is two exchanges)
	rtReq      = 1 // one request and its answer

	// a new root:// session over TLS, logged in
	rtXrdZTN = rtTCP + rtXrdHello + rtTLS13 + rtLogin + rtZTN // 5
	rtXrdGSI = rtTCP + rtXrdHello + rtTLS13 + rtLogin + rtGSI // 6
	// a small file (≤ one kXR_read or kXR_write) on a session: kXR_open,
	// then the read or write with the kXR_close in the same flight (the
	// close is sent whatever the read or write answered)
	rtXrdFile = 2
	// a new HTTPS connection (HTTP/1.1 keep-alive after that)
	rtHTTPS = rtTCP + rtTLS13 // 2
)

// MinRoundTrips is the minimal count per protocol and check id, plus each
// service's cleanups (cleanupID). A check not listed is not counted (P2
// then reports it).
var MinRoundTrips = map[string]map[string]int{
	"xrootd": {
		// every address in parallel
		"1connection": rtTCP,
		// a session offering the proxy and a storage.read:<ref> token (the
		// testbed logs in with ztn); kXR_query config; the session stays
		// pooled for 14tkn-read
		"3version": rtXrdZTN + rtReq,
		// proxy session; open (kXR_retstat gives the size); read ∥ close;
		// server checksum; the ranged read: open; read ∥ close [w: the
		// ranged read's close waits for its read]
		"4crt-read": rtXrdGSI + rtXrdFile + rtReq + rtXrdFile,
		// foreign-proxy session, stat (the file exists); open foreign file ∥
		// open via ".." (refused), on the pooled proxy session
		"5crt-contain": rtXrdGSI + rtReq + rtReq,
		// stat with the pooled proxy session; then side by side: open with
		// the pooled foreign session ∥ a session for the proxy without VOMS
		// and its open (both refused)
		"6crt-access": rtReq + max(rtReq, rtXrdGSI+rtReq),
		// mkdir -p scratch; write the file (kXR_new, POSC); stat; read back;
		// checksum; rm; stat (gone)
		"7crt-write": rtReq + rtXrdFile + rtReq + rtXrdFile + rtReq + rtReq + rtReq,
		// mkdir; write a file in it; dirlist; rm; rmdir; stat (gone)
		//
		"8crt-directory": rtReq + rtXrdFile + rtReq + rtReq + rtReq + rtReq,
		// (the storage.read:<ref> session of 3version); open; read ∥ close;
		// checksum; the ranged read: open; read ∥ close
		"14tkn-read": rtXrdFile + rtReq + rtXrdFile,
		// stat with the pooled foreign session; storage.read:/ session; open
		// foreign ∥ open via ".." (refused)
		"15tkn-contain": rtReq + rtXrdZTN + rtReq,
		// create:<scratch> session; mkdir; write a, then ab; read:<dir>
		// session; stat a, then ab; create:<dir> session; overwrite a ∥ rm a
		// (refused); read:a session; read a; then side by side: open ab on
		// the read:a session (refused) ∥ stat <ref> (pooled read:<ref>
		// session) then open <ref> (refused) ∥ a session with another
		// audience and its open (refused)
		//
		"16tkn-access": rtXrdZTN + rtReq + 2*rtXrdFile + rtXrdZTN + 2*rtReq + rtXrdZTN + rtReq +
			rtXrdZTN + rtXrdFile + max(rtReq, 2*rtReq, rtXrdZTN+rtReq),
		// (create:<scratch> pooled) read:<file> and modify:<file> sessions;
		// write; stat; read back; checksum; rm; stat (gone)
		//
		"17tkn-write": 2*rtXrdZTN + rtXrdFile + rtReq + rtXrdFile + rtReq + rtReq + rtReq,
		// read:<dir> and modify:<dir> sessions; mkdir; write a file in it;
		// dirlist; rm; rmdir; stat (gone)
		"18tkn-directory": 2*rtXrdZTN + rtReq + rtXrdFile + rtReq + rtReq + rtReq + rtReq,
		// service end: 16tkn-access leaves a, ab and its dir, removed with a
		// modify:<scratch> token first (a new session): rm ab ∥ rm a, rmdir;
		// then the scratch dir with the pooled proxy session
		cleanupID: rtXrdZTN + rtReq + rtReq + rtReq,
	},
	"webdav": {
		"1connection": rtTCP,
		// a new TLS connection, chain and host name checked
		"2ssl": rtHTTPS,
		// proxy connection; OPTIONS (DAV headers); PROPFIND depth 0
		"3crt_extension": rtHTTPS + 2*rtReq,
		// GET; HEAD with Want-Digest; ranged GET
		"4crt-read": 3 * rtReq,
		// PROPFIND depth 0 with the proxy (the file exists); then side by
		// side: foreign-proxy connection + GET ∥ no-VOMS connection + GET
		// (both refused)
		"6crt-access": rtReq + max(rtHTTPS+rtReq, rtHTTPS+rtReq),
		// MKCOL scratch; PUT; PROPFIND; GET; HEAD with Want-Digest;
		// DELETE; PROPFIND (gone: 404, which closes the proxy connection)
		"7crt-write": 7 * rtReq,
		// proxy connection again (the 404); MKCOL; PUT inside; PROPFIND
		// depth 1; DELETE file; DELETE dir; PROPFIND (gone: 404, closes)
		"8crt-directory": rtHTTPS + 6*rtReq,
		// proxy connection again (the 404); POST macaroon request; a
		// connection without client certificate; GET, HEAD, ranged GET
		// with the macaroon; PUT with it (refused, closes the connection)
		"10macaroon": rtHTTPS + rtReq + rtHTTPS + 3*rtReq + rtReq,
		// bearer connection again (the refused PUT); GET, HEAD, ranged GET
		"14tkn-read": rtHTTPS + 3*rtReq,
		// MKCOL dir; PUT a, then ab; PROPFIND a, then ab; overwrite PUT a ∥
		// a new connection + DELETE a (refused); a new connection + GET a;
		// GET ab ∥ new connection + PROPFIND <ref> (exists) + GET <ref> ∥
		// new connection + GET a with another audience (refused)
		"16tkn-access": 5*rtReq + max(rtReq, rtHTTPS+rtReq) + rtHTTPS + rtReq + max(rtReq, rtHTTPS+2*rtReq, rtHTTPS+rtReq),
		// bearer connection again (the refusals); PUT; PROPFIND; GET; HEAD
		// with Want-Digest; DELETE; PROPFIND (gone: 404, closes)
		"17tkn-write": rtHTTPS + 6*rtReq,
		// bearer connection again (the 404); MKCOL; PUT; PROPFIND depth 1;
		// DELETE file; DELETE dir; PROPFIND (gone: 404, closes)
		"18tkn-directory": rtHTTPS + 6*rtReq,
		// service end: DELETE ab, a, their dir (modify token, pooled bearer
		// connection); DELETE the scratch dir (proxy)
		cleanupID: 3*rtReq + rtReq,
	},
}

// cleanupID keys the service-end cleanups in MinRoundTrips.
const cleanupID = "cleanup"

// Floor is the round-trip floor of one round's results.
type Floor struct {
	RoundTrips int            // minimal round trips of the counted checks
	Uncounted  []string       // protocol/check ids with no count
	PerService map[string]int // protocol → round trips, cleanups included
	Cleanups   map[string]int // protocol → the cleanups' share of PerService
}

// ChecksOnly is a protocol's round trips without its services' cleanups:
// the floor of the summed check durations, which exclude cleanups.
func (f Floor) ChecksOnly(protocol string) int {
	return f.PerService[protocol] - f.Cleanups[protocol]
}

// FloorOf adds up the minimal round trips of the checks in rs (summaries
// excluded), plus each service's cleanups.
func FloorOf(rs []engine.Result) Floor {
	f := Floor{PerService: map[string]int{}, Cleanups: map[string]int{}}
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
			f.Cleanups[r.Protocol] += counts[cleanupID]
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
