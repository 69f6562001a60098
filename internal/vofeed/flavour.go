package vofeed

import (
	"strings"

	"github.com/gridprobe/gridprobe/internal/config"
)

// flavourInfo says what gridprobe does with a feed flavour: probe it as a
// service type, or skip it and why.
type flavourInfo struct {
	Type string // gridprobe service type; "" when skipped
	Skip string // why the flavour is not probed
}

// flavours maps feed flavours (upper case) to service types. Besides the
// four probed flavours it lists the other names VO feeds and CRIC use (from
// the CMS feed writer's type→flavour table, vofeed.py type2flavour), each
// with the reason it is skipped, so an import can say why rather than only
// that something was dropped.
var flavours = map[string]flavourInfo{
	"WEBDAV":                         {Type: config.TypeWebDAV},
	"XROOTD":                         {Type: config.TypeXRootD},
	"ARC-CE":                         {Type: config.TypeARCCE},
	"HTCONDOR-CE":                    {Type: config.TypeHTCondorCE},
	"XROOTD ORIGIN SERVER":           {Type: config.TypeXRootD},
	"XROOTD COMPONENT":               {Type: config.TypeXRootD},
	"ORG.OPENSCIENCEGRID.HTCONDORCE": {Type: config.TypeHTCondorCE},
	"XROOTD.REDIRECTOR":              {Skip: "a redirector, not a storage element (give it as federation: of an xrootd service)"},
	"EU.EGI.READONLY.XROOTD":         {Skip: "a read-only XRootD door: the write and directory checks would fail by design"},
	"WEBDAV.TAPE":                    {Skip: "a tape endpoint: reading the reference file may trigger a tape recall"},
	"WLCG.WEBDAV.TAPE":               {Skip: "a tape endpoint: reading the reference file may trigger a tape recall"},
	"SRM":                            {Skip: "SRM is not probed: it has no WLCG token profile (probe the site's WEBDAV endpoint)"},
	"SRMV2":                          {Skip: "SRM is not probed: it has no WLCG token profile (probe the site's WEBDAV endpoint)"},
	"GLOBUS-GRIDFTP":                 {Skip: "GridFTP is retired in WLCG"},
	"GRIDFTP":                        {Skip: "GridFTP is retired in WLCG"},
	"CREAM-CE":                       {Skip: "CREAM-CE is retired in WLCG"},
	"CE":                             {Skip: "a Globus GRAM / gLite CE: retired in WLCG"},
	"GLOBUS":                         {Skip: "a Globus GRAM CE: retired in WLCG"},
	"GLITE-CE":                       {Skip: "a gLite CE: retired in WLCG"},
	"PERFSONAR":                      {Skip: "a network measurement host, not a storage or compute service"},
	"NET.PERFSONAR.BANDWIDTH":        {Skip: "a network measurement host, not a storage or compute service"},
	"NET.PERFSONAR.LATENCY":          {Skip: "a network measurement host, not a storage or compute service"},
	"SQUID":                          {Skip: "an HTTP cache, not a storage or compute service"},
	"ORG.SQUID-CACHE.SQUID":          {Skip: "an HTTP cache, not a storage or compute service"},
	"SITE":                           {Skip: "a site-level placeholder, not a service"},
}

// Flavour says what a feed flavour becomes: a service type, or "" and the
// reason it is skipped.
func Flavour(f string) (typ, skip string) {
	info, ok := flavours[strings.ToUpper(strings.TrimSpace(f))]
	if !ok {
		return "", "unknown flavour: gridprobe probes WEBDAV, XROOTD, ARC-CE and HTCONDOR-CE"
	}
	return info.Type, info.Skip
}

// urlPatterns build a service URL from a feed entry when sites.yaml gives
// no url template for the type. $(endpoint) is the feed's endpoint
// ("host:port") or hostname. The A-REX REST interface lives below /arex.
var urlPatterns = map[string]string{
	config.TypeWebDAV:     "https://$(endpoint)",
	config.TypeXRootD:     "root://$(endpoint)",
	config.TypeARCCE:      "https://$(endpoint)/arex",
	config.TypeHTCondorCE: "condor://$(endpoint)",
}
