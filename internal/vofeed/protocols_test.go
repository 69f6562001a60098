package vofeed

// The feed's flavours map onto the registered service types: the tests link
// every protocol probe, as the probe binary does.
import _ "github.com/gridprobe/gridprobe/probes/all"
