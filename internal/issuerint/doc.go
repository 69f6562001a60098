// Package issuerint holds the integration tests of the token issuer side
// against the real testbed: an issuer outage round (a second instance of
// the testbed issuer, stopped and started again) and a round of token
// checks driven by oidc-agent through the refresh-token source. It has no
// code of its own; the tests start their issuer instances on the ports
// reserved for them (18544, 18545) and never touch the shared issuer.
package issuerint
