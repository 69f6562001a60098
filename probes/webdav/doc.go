// Package webdav is gridprobe's WebDAV/HTTPS storage probe: the ETF check
// list of a storage element's https endpoint (connection, TLS, VOMS proxy
// acceptance, read, access refusals, write, directory operations,
// macaroons, and the same with WLCG bearer tokens), each check a function
// that speaks HTTP itself and returns one Nagios outcome with a detail line,
// performance data and shell lines that reproduce it.
//
// New builds the engine.Service for one configured webdav endpoint.
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
//
// Safety: everything a check writes lies in the run's scratch area
// (probe.Scratch), a cleanup is registered before each object is created,
// and every delete goes through probe.Scratch.Delete.
package webdav
