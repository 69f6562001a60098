package vofeed

import (
	"strings"

	"github.com/gridprobe/gridprobe/internal/protocol"
)

// flavourInfo says what gridprobe does with a feed flavour: probe it as a
// service type, or skip it and why.
type flavourInfo struct {
	Type string // gridprobe service type; "" when skipped
	Skip string // why the flavour is not probed
}

// flavours lists the feed flavours (upper case) gridprobe does not probe:
// the other names VO feeds and CRIC use (from the CMS feed writer's
// type→flavour table, vofeed.py type2flavour), each with the reason it is
// skipped, so an import can say why rather than only that something was
// dropped. The probed flavours are in each protocol's registration
// (internal/protocol.Spec.Flavours).
var flavours = map[string]flavourInfo{
	"XROOTD.REDIRECTOR":       {Skip: "a redirector, not a storage element (give it as federation: of an xrootd service)"},
	"EU.EGI.READONLY.XROOTD":  {Skip: "a read-only XRootD door: the write and directory checks would fail by design"},
	"WEBDAV.TAPE":             {Skip: "a tape endpoint: reading the reference file may trigger a tape recall"},
	"WLCG.WEBDAV.TAPE":        {Skip: "a tape endpoint: reading the reference file may trigger a tape recall"},
	"SRM":                     {Skip: "SRM is not probed: it has no WLCG token profile (probe the site's WEBDAV endpoint)"},
	"SRMV2":                   {Skip: "SRM is not probed: it has no WLCG token profile (probe the site's WEBDAV endpoint)"},
	"GLOBUS-GRIDFTP":          {Skip: "GridFTP is retired in WLCG"},
	"GRIDFTP":                 {Skip: "GridFTP is retired in WLCG"},
	"CREAM-CE":                {Skip: "CREAM-CE is retired in WLCG"},
	"CE":                      {Skip: "a Globus GRAM / gLite CE: retired in WLCG"},
	"GLOBUS":                  {Skip: "a Globus GRAM CE: retired in WLCG"},
	"GLITE-CE":                {Skip: "a gLite CE: retired in WLCG"},
	"PERFSONAR":               {Skip: "a network measurement host, not a storage or compute service"},
	"NET.PERFSONAR.BANDWIDTH": {Skip: "a network measurement host, not a storage or compute service"},
	"NET.PERFSONAR.LATENCY":   {Skip: "a network measurement host, not a storage or compute service"},
	"SQUID":                   {Skip: "an HTTP cache, not a storage or compute service"},
	"ORG.SQUID-CACHE.SQUID":   {Skip: "an HTTP cache, not a storage or compute service"},
	"SITE":                    {Skip: "a site-level placeholder, not a service"},
}

// Flavour says what a feed flavour becomes: a service type, or "" and the
// reason it is skipped.
func Flavour(f string) (typ, skip string) {
	f = strings.ToUpper(strings.TrimSpace(f))
	if spec, ok := protocol.ForFlavour(f); ok {
		return spec.Type, ""
	}
	info, ok := flavours[f]
	if !ok {
		return "", "unknown flavour: gridprobe probes " + strings.Join(probedFlavours(), ", ")
	}
	return info.Type, info.Skip
}

// probedFlavours lists the flavours the registered types probe.
func probedFlavours() []string {
	var out []string
	for _, typ := range protocol.Types() {
		spec, _ := protocol.Lookup(typ)
		out = append(out, spec.Flavours...)
	}
	return out
}
