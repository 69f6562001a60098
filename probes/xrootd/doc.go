// Package xrootd is gridprobe's XRootD check catalogue: the ETF-numbered
// checks of one root:// / roots:// storage endpoint (1connection, 3version,
// 4crt-read … 8crt-directory, 9federation, 14tkn-read … 18tkn-directory),
// built on the project's own session layer (xrd) with the GSI (gsi) and
// WLCG-token (ztn) authenticators.
//
// Credential separation: crt checks authenticate with GSI only and tkn
// checks with ztn only, so a fallback to the other protocol can never make a
// check pass. Each token check asks the token source for the narrowest token
// it needs, with the service's audience (probe.Target.Audience: the
// configured `audience`, else scheme://host[:port] of the URL).
//
// Negative checks (contain, access) pass only on an explicit denial —
// kXR_NotAuthorized (3010), or kXR_AuthFailed (3030) at login where refusing
// the identity is the denial — of an object shown to exist with an allowed
// credential first; kXR_NotFound proves nothing.
//
// Sessions are pooled per credential (and per token scope set) for one
// round and closed by Service.Close; a session that saw a transport error is
// dropped and the next check dials afresh. Everything the checks write lies
// in the run's scratch area and is removed through probe.Scratch.Delete.
package xrootd
