// Package webdav is gridprobe's WebDAV/HTTPS probe: the storage rulebook
// (probes/storage: read, access refusals, write, directory operations, with
// the VOMS proxy and with WLCG bearer tokens) over HTTPS, plus the
// WebDAV-only checks (1connection, 2ssl, 3crt_extension, 10macaroon).
//
// What this package adds to the rules is the transport (transport.go,
// store.go): storage.Store over one HTTP client per TLS identity, its errors
// classified (401/403 a denial, 404 a missing object, MKCOL's 405 an
// existing one, 501 unsupported), and reproduce lines with curl
// (reproduce.go); for the rulebook's third-party-copy rules it is a
// storage.Copier driving HTTP-TPC through probes/httptpc (tpc.go).
//
// The WebDAV requests are written with net/http rather than with
// github.com/studio-b12/gowebdav (v0.13.0), because what this probe must
// report is exactly what that client hides: it has no context (a hung
// endpoint must cost at most the check's timeout), it drops error bodies
// (XrdHttp puts the only reason for a 403 in the body), it treats DELETE of
// a missing object as success, and its PROPFIND parser ignores XML errors, so
// a malformed multistatus reads as an empty listing (a false OK; shown by
// TestGowebdavAcceptsMalformedMultistatus). The few WebDAV verbs used here
// (PROPFIND, MKCOL, PUT, DELETE) and a strict multistatus parser are small.
package webdav
