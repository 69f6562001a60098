package xrootd

import (
	"fmt"
	"strings"

	"github.com/gridprobe/gridprobe/probes/probe"
)

// Reproduce lines use the XRootD command-line clients (xrdfs, xrdcp) and
// reference credentials only through the environment an admin already has:
// X509_CERT_DIR and X509_USER_PROXY (GSI), GRIDPROBE_FOREIGN_PROXY /
// GRIDPROBE_NOVOMS_PROXY for the access checks, and BEARER_TOKEN_FILE for
// tokens — a comment line before each group names the scopes and audience
// the token in that file needs. XrdSecPROTOCOL pins the security protocol as
// the probe does (gsi for crt checks, ztn for tkn checks).

// secPrefix is the environment prefix of a client line for a credential.
func secPrefix(kind string) string {
	switch kind {
	case kindForeign:
		return `X509_USER_PROXY="$GRIDPROBE_FOREIGN_PROXY" XrdSecPROTOCOL=gsi `
	case kindNoVOMS:
		return `X509_USER_PROXY="$GRIDPROBE_NOVOMS_PROXY" XrdSecPROTOCOL=gsi `
	case kindProxy:
		return "XrdSecPROTOCOL=gsi "
	default: // token
		return "XrdSecPROTOCOL=ztn "
	}
}

const kindToken = "token"

// xrdfs is one xrdfs line against the endpoint.
func (s *svc) xrdfs(kind string, args ...string) string {
	return secPrefix(kind) + probe.Command(append([]string{"xrdfs", s.url}, args...)...)
}

// xrdcp is one xrdcp line (-f: overwrite the local copy, --nopbar).
func xrdcp(kind string, args ...string) string {
	return secPrefix(kind) + probe.Command(append([]string{"xrdcp", "-f", "--nopbar"}, args...)...)
}

// fileURL is the root:// URL of an absolute path on the endpoint.
func (s *svc) fileURL(p string) string { return s.url + "/" + p }

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

// tokenNeed is the comment that says which token the following lines need.
func tokenNeed(scopes, aud string) string {
	return fmt.Sprintf("# needs a token with scope %q and audience %s in $BEARER_TOKEN_FILE", scopes, aud)
}

func comment(format string, a ...any) string {
	return "# " + strings.ReplaceAll(fmt.Sprintf(format, a...), "\n", " ")
}

// reproRead reads the reference file and checks size and adler32 locally
// and on the server.
func (s *svc) reproRead(kind, local string) []string {
	ref := s.t.Service.ReadFile
	lines := []string{
		s.xrdfs(kind, "stat", ref.Path),
		xrdcp(kind, s.fileURL(ref.Path), local),
	}
	if ref.Size >= 0 {
		lines = append(lines, fmt.Sprintf(`test "$(stat -c %%s %s)" = %d`, probe.Quote(local), ref.Size))
	}
	if ref.Adler32 != "" {
		lines = append(lines,
			fmt.Sprintf(`test "$(xrdadler32 %s | cut -d' ' -f1)" = %s`, probe.Quote(local), probe.Quote(ref.Adler32)),
			s.xrdfs(kind, "query", "checksum", ref.Path))
	}
	return lines
}

func (s *svc) reproVersion() []string {
	return []string{
		s.xrdfs(kindProxy, "query", "config", "version"),
		s.xrdfs(kindProxy, "query", "config", "role"),
	}
}

func (s *svc) reproCrtRead() []string { return s.reproRead(kindProxy, "gridprobe-reference.dat") }

func (s *svc) reproTknRead() []string {
	return append([]string{tokenNeed(s.scopeString(read(s.t.Service.ReadFile.Path)), s.aud)},
		s.reproRead(kindToken, "gridprobe-reference.dat")...)
}

func (s *svc) reproFederation() []string {
	ref := s.t.Service.ReadFile.Path
	fed := strings.TrimSuffix(s.t.Service.Federation, "/")
	return []string{
		comment("the redirector may send you to an address the data server's GSI certificate does not name: XrdSecGSISRVNAMES=%s accepts this site's certificate", s.u.Hostname()),
		"XrdSecGSISRVNAMES=" + probe.Quote(s.u.Hostname()) + " " + secPrefix(kindProxy) + probe.Command("xrdfs", fed, "locate", ref),
		"XrdSecGSISRVNAMES=" + probe.Quote(s.u.Hostname()) + " " + xrdcp(kindProxy, fed+"/"+ref, "gridprobe-federation.dat"),
	}
}

// reproWrite is the write cycle with the CLI clients; local is the payload
// file.
func (s *svc) reproWrite(kind, p, local string, tok *tokenScopes) []string {
	var lines []string
	lines = append(lines, fmt.Sprintf("head -c %d /dev/urandom > %s", payloadSize, probe.Quote(local)))
	if tok != nil {
		lines = append(lines, tokenNeed(tok.create, s.aud)+" (xrdcp also needs storage.read on the target: it stats before writing)")
	}
	lines = append(lines,
		s.xrdfs(kind, "mkdir", "-p", s.scratch.Dir()),
		xrdcp(kind, local, s.fileURL(p)))
	if tok != nil {
		lines = append(lines, tokenNeed(tok.read, s.aud))
	}
	lines = append(lines,
		s.xrdfs(kind, "stat", p),
		xrdcp(kind, s.fileURL(p), local+".back"),
		probe.Command("cmp", local, local+".back"),
		s.xrdfs(kind, "query", "checksum", p))
	if tok != nil {
		lines = append(lines, tokenNeed(tok.del, s.aud))
	}
	lines = append(lines, s.xrdfs(kind, "rm", p))
	if tok != nil {
		lines = append(lines, comment("remove the scratch directory with a token for %s (or the proxy)", s.scopeString(modify(s.scratch.Dir()))))
	}
	lines = append(lines, s.xrdfs(kind, "rmdir", s.scratch.Dir())+" || true")
	return lines
}

// tokenScopes are the scope strings of a token cycle, for comments.
type tokenScopes struct{ create, read, del string }

// reproDir is the directory cycle with xrdfs.
func (s *svc) reproDir(kind, dir, file string, tok *tokenScopes) []string {
	local := "gridprobe-dir-file.dat"
	lines := []string{probe.Command("printf", "gridprobe\\n") + " > " + local}
	if tok != nil {
		lines = append(lines, tokenNeed(tok.create, s.aud)+" (xrdcp also needs storage.read on the target)")
	}
	lines = append(lines,
		s.xrdfs(kind, "mkdir", "-p", dir),
		xrdcp(kind, local, s.fileURL(file)))
	if tok != nil {
		lines = append(lines, tokenNeed(tok.read, s.aud))
	}
	lines = append(lines, s.xrdfs(kind, "ls", dir))
	if tok != nil {
		lines = append(lines, tokenNeed(tok.del, s.aud))
	}
	lines = append(lines, s.xrdfs(kind, "rm", file), s.xrdfs(kind, "rmdir", dir), s.xrdfs(kind, "rmdir", s.scratch.Dir())+" || true")
	return lines
}
