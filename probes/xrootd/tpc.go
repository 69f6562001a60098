package xrootd

import (
	"fmt"

	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage"
)

// root:// third-party copy. The probe's XRootD client (probes/xrootd/xrd)
// does not drive XRootD TPC, so the rulebook's TPC checks report UNKNOWN
// with exactly what is missing (storage.NoCopier), and their reproduce
// lines run the copy with the reference client, xrdcp, as it works against
// the testbed (testbed/partner/NOTES.md): the destination pulls, the client
// delegates (--tpc delegate only), logs in to the destination with ztn and
// hands the source token to the source in the source URL's authz.

var _ storage.NoCopier = (*transport)(nil)

// Peer opens the transport of a partner endpoint with the same credentials
// (no connection until a request).
func (t *transport) Peer(pt probe.Target) (storage.Transport, func(), error) {
	if pt.Service == nil || pt.Service.URL == nil {
		return nil, nil, fmt.Errorf("xrootd: a TPC partner needs a url")
	}
	switch pt.Service.URL.Scheme {
	case "root", "roots":
	default:
		return nil, nil, fmt.Errorf("xrootd: a TPC partner needs a root:// or roots:// URL")
	}
	u := *pt.Service.URL
	u.Path, u.RawPath, u.RawQuery, u.Fragment, u.User = "", "", "", "", nil
	tr := newTransport(&u, pt.Creds)
	return tr, tr.close, nil
}

// TPCMissing says what the probe would need to run a root:// TPC check.
func (t *transport) TPCMissing(proxy bool) string {
	if proxy {
		return "not run: root:// TPC with a proxy needs GSI delegation in the probe's XRootD client (answer -dlgpxy:request with a " +
			"SHA-256-signed proxy), kXR_open of the destination with tpc.* CGI and kXR_sync; not implemented (reproduce: xrdcp)"
	}
	return "not run: root:// TPC needs, in the probe's XRootD client, kXR_open of the destination with tpc.src, tpc.lfn, tpc.scgi " +
		"(the source token) and tpc.dlgon, and kXR_sync to start and await the copy; not implemented (reproduce: xrdcp)"
}

// sourcesFile keeps the source URL with its token for xrdcp -I (0600; the
// token is never on a command line).
const sourcesFile = "gridprobe-tpc-sources.txt"

// CopyLines renders a copy as an xrdcp third-party copy. XRootD TPC is
// always a pull by the destination, whatever the rule's direction.
func (t *transport) CopyLines(r storage.CopyRepro) []string {
	src, dst := rootURL(r.Source), rootURL(r.Destination)
	var lines []string
	args := []string{"xrdcp", "--tpc", "delegate", "only", "--nopbar"}
	if r.Overwrite {
		args = append(args, "-f")
	}
	prefix := "XrdSecPROTOCOL=gsi "
	if r.Proxy {
		lines = append(lines, comment("%s with the proxy (root:// TPC is a pull by the destination; the client delegates the proxy)", r.Mode))
		args = append(args, src, dst)
	} else {
		lines = append(lines,
			comment("needs in $%s a token with scope %q (plus storage.read on the directory before XRootD 5.6.9: xrdcp stats the target) and audience %s (destination: xrdcp logs in there)",
				storage.EnvDstTokenFile, r.DestinationScopes, r.DestinationAudience),
			comment("needs in $%s a token with scope %q and audience %s (source: passed to it in the source URL's authz)",
				storage.EnvSrcTokenFile, r.SourceScopes, r.SourceAudience),
			// The format names authz apart from the "?", so that no redactor takes the line for a credential.
			`(umask 077; printf '%s?%s=Bearer%%20%s\n' `+probe.Quote(src)+` authz "$(cat "$`+storage.EnvSrcTokenFile+`")" > `+sourcesFile+")")
		prefix = `BEARER_TOKEN_FILE="$` + storage.EnvDstTokenFile + `" XrdSecPROTOCOL=ztn `
		args = append(args, "-I", sourcesFile, dst)
	}
	line := prefix + probe.Command(args...)
	if r.Expect != storage.ExpectSuccess {
		line = denied(line, false)
	}
	return append(lines, line)
}

// rootURL is the root:// URL of a location (host, then the absolute path
// after a second slash).
func rootURL(l storage.Location) string {
	if l.Base == nil {
		return l.Path
	}
	u := *l.Base
	u.Path, u.RawPath, u.RawQuery, u.Fragment, u.User = "", "", "", "", nil
	return u.String() + "/" + l.Path
}
