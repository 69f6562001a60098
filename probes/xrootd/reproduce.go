package xrootd

import (
	"fmt"
	"strings"

	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage"
)

// Reproduce lines use the XRootD command-line clients (xrdfs, xrdcp) and
// reference credentials only through the environment an admin already has:
// X509_CERT_DIR and X509_USER_PROXY (GSI), GRIDPROBE_FOREIGN_PROXY /
// GRIDPROBE_NOVOMS_PROXY for the access checks, and BEARER_TOKEN_FILE for
// tokens — a comment line before each group names the scopes and audience
// the token in that file needs. XrdSecPROTOCOL pins the security protocol as
// the probe does (gsi for crt checks, ztn for tkn checks).

// secPrefix is the environment prefix of a client line for a credential.
func secPrefix(role storage.Role, token bool) string {
	switch {
	case token:
		return "XrdSecPROTOCOL=ztn "
	case role == storage.Foreign:
		return `X509_USER_PROXY="$GRIDPROBE_FOREIGN_PROXY" XrdSecPROTOCOL=gsi `
	case role == storage.NoVOMS:
		return `X509_USER_PROXY="$GRIDPROBE_NOVOMS_PROXY" XrdSecPROTOCOL=gsi `
	}
	return "XrdSecPROTOCOL=gsi "
}

// xrdfs is one xrdfs line against the endpoint.
func (t *transport) xrdfs(prefix string, args ...string) string {
	return prefix + probe.Command(append([]string{"xrdfs", t.url}, args...)...)
}

// xrdcp is one xrdcp line (-f: overwrite the target, --nopbar).
func xrdcp(prefix string, args ...string) string {
	return prefix + probe.Command(append([]string{"xrdcp", "-f", "--nopbar"}, args...)...)
}

// fileURL is the root:// URL of an absolute path on the endpoint.
func (t *transport) fileURL(p string) string { return t.url + "/" + p }

// denied wraps a client line so that it succeeds only when the server
// refuses explicitly (kXR_NotAuthorized; with login, also a refused
// login), printing the client's answer.
func denied(line string, login bool) string {
	pats := `*'[3010]'*|*'permission denied'*|*'is disallowed'*`
	if login {
		pats += `|*'Auth failed'*|*'[3030]'*`
	}
	return `out=$(` + line + ` 2>&1 | tr -d '\000'); echo "$out"; case "$out" in ` + pats + `) echo 'refused, as required';; *) false;; esac`
}

func comment(format string, a ...any) string {
	return "# " + strings.ReplaceAll(fmt.Sprintf(format, a...), "\n", " ")
}

// tokenLine names the token the next lines need. xrdcp stats the target
// before writing, which needs storage.read there too (the probe's own
// write needs storage.create only).
func tokenLine(op storage.Op) string {
	scopes, note := op.Scopes, ""
	if op.ForWrite {
		for _, sc := range strings.Fields(op.Scopes) {
			if p, ok := strings.CutPrefix(sc, "storage.create:"); ok {
				scopes += " storage.read:" + p
			}
		}
		note = " (xrdcp stats the target before writing, so it needs storage.read there too; the probe wrote with storage.create alone)"
	}
	return fmt.Sprintf("# needs a token with scope %q and audience %s in $BEARER_TOKEN_FILE%s", scopes, op.Aud, note)
}

// Line renders a rulebook operation with xrdfs or xrdcp.
func (t *transport) Line(op storage.Op) string {
	pre := secPrefix(op.As, op.Token)
	var line string
	switch op.Kind {
	case storage.OpToken:
		return tokenLine(op)
	case storage.OpStat:
		line = t.xrdfs(pre, "stat", op.Path)
	case storage.OpGet:
		line = xrdcp(pre, t.fileURL(op.Path), op.Local)
	case storage.OpGetRange:
		return comment("no xrdfs/xrdcp command reads a byte range: the probe read %d B at %d of %s with kXR_read and compared them with the full read", op.N, op.Off, op.Path)
	case storage.OpChecksum:
		line = t.xrdfs(pre, "query", "checksum", op.Path)
	case storage.OpPut:
		line = xrdcp(pre, op.Local, t.fileURL(op.Path))
	case storage.OpMkdir:
		args := []string{"mkdir"}
		if op.Parents {
			args = append(args, "-p")
		}
		line = t.xrdfs(pre, append(args, op.Path)...)
	case storage.OpList:
		return t.xrdfs(pre, "ls", op.Path) + " | grep -F " + probe.Quote(op.Name)
	case storage.OpDelete:
		line = t.xrdfs(pre, "rm", op.Path)
	case storage.OpRmdir:
		line = t.xrdfs(pre, "rmdir", op.Path)
	}
	switch {
	case op.Refused:
		return denied(line, op.LoginRefusal)
	case op.MayFail:
		return line + " || true"
	}
	return line
}

func (s *svc) reproVersion() []string {
	pre := secPrefix(storage.Own, false)
	return []string{
		s.tr.xrdfs(pre, "query", "config", "version"),
		s.tr.xrdfs(pre, "query", "config", "role"),
	}
}

func (s *svc) reproFederation() []string {
	ref := s.t.Service.ReadFile.Path
	fed := strings.TrimSuffix(s.t.Service.Federation, "/")
	names := "XrdSecGSISRVNAMES=" + probe.Quote(s.u.Hostname()) + " "
	pre := secPrefix(storage.Own, false)
	return []string{
		comment("the redirector may send you to an address the data server's GSI certificate does not name: XrdSecGSISRVNAMES=%s accepts this site's certificate", s.u.Hostname()),
		names + pre + probe.Command("xrdfs", fed, "locate", ref),
		names + xrdcp(pre, fed+"/"+ref, "gridprobe-federation.dat"),
	}
}
