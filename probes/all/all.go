// Package all links every protocol probe into a binary: importing it
// registers the service types gridprobe speaks (probes/registry). A new
// protocol is one import line here.
package all

import (
	_ "github.com/gridprobe/gridprobe/probes/ce"     // arc-ce, htcondor-ce
	_ "github.com/gridprobe/gridprobe/probes/issuer" // issuer (a VO's token issuer)
	_ "github.com/gridprobe/gridprobe/probes/webdav" // webdav
	_ "github.com/gridprobe/gridprobe/probes/xrootd" // xrootd
)
