// Package cred holds the probe's credentials and keeps them out of output.
//
// X.509: where the proxy and the CA/VOMS directories are (the grid's
// environment variables and defaults), loading a proxy with its VOMS
// attributes (parsed by the hand-written subpackage voms), and a CA store
// built from a hashed grid CA directory with its CRLs that verifies servers.
//
// Tokens: WLCG bearer-token discovery, an explicit token file, and OAuth2
// client credentials against an issuer with one cached token per
// (scopes, audience); claims are read without verification (the server
// verifies; the probe only reports), and WLCG scope coverage rules.
//
// Redaction: every token and secret the package reads is registered with one
// process-wide registry; Redact and RedactWriter are what every output path
// of the probe runs its text through. Token values print as "[token …]" in
// every fmt verb, JSON and slog.
package cred
