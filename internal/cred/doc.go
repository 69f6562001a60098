// Package cred holds the probe's credentials and keeps them out of output.
//
// X.509: where the proxy and the CA/VOMS directories are (the grid's
// environment variables and defaults), loading a proxy with its VOMS
// attributes (parsed by the hand-written subpackage voms), and a CA store
// built from a hashed grid CA directory with its CRLs that verifies servers.
//
// Tokens: WLCG bearer-token discovery, an explicit token file, and two
// sources that ask an OAuth2 issuer for one cached token per (scopes,
// audience): client credentials, and a refresh token from a file (what
// oidc-agent, htgettoken and credmon hold). They authenticate as the issuer
// advertises (client_secret_basic with RFC 6749 §2.3.1 encoding, falling
// back once to client_secret_post on invalid_client; private_key_jwt), and
// a check's deadline is paused while it waits for them. Claims are read
// without verification (the server verifies; the probe only reports), and
// WLCG scope coverage rules.
//
// Blame: errors that mean the issuer (a central service) failed match
// ErrIssuer (IsCentral); the probe's own problems never do. A Round view
// of a source fails a round's further requests fast once the issuer has
// failed in it (breaker.go).
//
// Redaction: every token and secret the package reads is registered with one
// process-wide registry; Redact and RedactWriter are what every output path
// of the probe runs its text through. Token values print as "[token …]" in
// every fmt verb, JSON and slog.
package cred
