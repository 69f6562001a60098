// Package probe holds what every protocol probe (webdav, xrootd, ce) shares:
// the run's guarded scratch area (the only place a probe writes and the one
// function it deletes through), shell quoting for reproduce lines, and the
// credentials a service's checks draw on.
package probe
