// Package probe holds what every protocol probe (webdav, xrootd, ce) shares:
// the service a check runs for (Target), the round's credentials, the run's
// guarded scratch area (the only place a probe writes and the one function
// it deletes through), 1connection and 2ssl, and shell quoting for
// reproduce lines.
package probe
