// Package xrootd is gridprobe's XRootD probe: the storage rulebook
// (probes/storage: 4crt-read … 8crt-directory, 14tkn-read …
// 18tkn-directory) over root:// / roots://, plus the XRootD-only checks
// (1connection, 3version, 9federation), built on the project's own session
// layer (xrd) with the GSI (gsi) and WLCG-token (ztn) authenticators.
//
// What this package adds to the rules is the transport (transport.go,
// store.go): storage.Store over one pooled session per credential, its
// errors classified (kXR_NotAuthorized 3010 is a denial, kXR_AuthFailed 3030
// at login a refused login, kXR_NotFound a missing object), and reproduce
// lines with xrdfs and xrdcp (reproduce.go). root:// third-party copy is
// not driven natively: the rulebook's TPC checks report what is missing and
// print xrdcp --tpc lines (tpc.go).
//
// Credential separation: a proxy's store authenticates with GSI only and a
// token's with ztn only, so a fallback to the other protocol can never make
// a check pass; a session accepted without the credential is refused.
// Sessions are pooled per credential (and per token scope set) for one
// round and closed by Service.Close; a session that saw a transport error is
// dropped and the next check dials afresh.
package xrootd
