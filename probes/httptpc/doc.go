// Package httptpc drives an HTTP third-party copy (HTTP-TPC) the way FTS
// and gfal2 do: it asks one storage element (the active side) to copy a file
// to or from another (the passive side) and follows the copy to its end.
//
//   - pull: COPY <destination> with Source: <source>; the destination fetches;
//   - push: COPY <source> with Destination: <destination>; the source sends.
//
// The active side is authenticated with Authorization: Bearer (a token) or
// with the TLS client certificate of the Client (an X.509 proxy). The
// passive side's credential travels as TransferHeaderAuthorization: Bearer
// (a token, or a macaroon obtained from the passive side with the proxy, see
// RequestMacaroon), with Credential: none, which is what the active side
// forwards as Authorization. The header goes out with exactly that casing:
// XRootD before 5.7 matches header names case-sensitively and Go would send
// the canonical "Transferheaderauthorization".
//
// The answer is a stream: 201 (XRootD 5.x) or 202 (6.x) only says the copy
// started; performance markers follow every few seconds and the last line,
// success:, failure: or aborted:, is the verdict. Copy reads the stream
// incrementally with bounded line length and total size, ends at the
// context's deadline, follows 307 redirects by re-issuing the COPY, and
// returns errors (*Error) that classify the outcome: denied, not found,
// exists, transport, timeout, remote failure (with the remote status and
// message) and protocol (a stream that is not HTTP-TPC).
//
// It is written by hand: no Go library speaks HTTP-TPC (gfal2 and davix
// are C++), and the storage rules need the markers, the remote status and
// a hard deadline, which a generic WebDAV client does not give. Tokens and
// macaroons appear only in request headers; every text taken from a server
// goes through cred.Redact.
package httptpc
