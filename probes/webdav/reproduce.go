package webdav

import (
	"fmt"
	"strings"

	"github.com/gridprobe/gridprobe/probes/probe"
)

// Reproduce lines reference credentials only through the environment an
// admin already has: X509_CERT_DIR, X509_USER_PROXY, BEARER_TOKEN_FILE (and,
// for the access checks, GRIDPROBE_FOREIGN_PROXY / GRIDPROBE_NOVOMS_PROXY).
const (
	envCADir    = "$X509_CERT_DIR"
	envProxy    = "$X509_USER_PROXY"
	envForeign  = "$GRIDPROBE_FOREIGN_PROXY"
	envNoVOMS   = "$GRIDPROBE_NOVOMS_PROXY"
	bearerWord  = `Authorization: Bearer $(cat "$BEARER_TOKEN_FILE")`
	answerFile  = "gridprobe-answer.txt"
	macaroonTxt = "gridprobe-macaroon.txt"
)

// auth is how a curl line authenticates.
type auth []string

func certAuth(envVar string) auth { return auth{"--cert", envVar, "--key", envVar} }

var (
	proxyAuth = certAuth(envProxy)
	tokenAuth = auth{"-H", bearerWord}
	macAuth   = auth{"-H", `Authorization: Bearer $(cat ` + macaroonTxt + `)`}
)

// curl is one curl line: --fail-with-body so a refusal exits non-zero and
// shows the server's message.
func curl(a auth, args ...string) string {
	words := []string{"curl", "-sS", "--fail-with-body", "--capath", envCADir}
	words = append(words, a...)
	words = append(words, args...)
	return probe.Command(words...)
}

// curlDenied is a line that succeeds only when the server refuses (401 or
// 403), printing the status and the server's message.
func curlDenied(a auth, args ...string) string {
	words := []string{"curl", "-sS", "--capath", envCADir}
	words = append(words, a...)
	words = append(words, "-o", answerFile, "-w", "%{http_code}")
	words = append(words, args...)
	return "code=$(" + probe.Command(words...) + `); echo "HTTP $code $(head -c 200 ` + answerFile + `)"; [ "$code" = 403 ] || [ "$code" = 401 ]`
}

// tokenNeed is the comment that says which token the following lines need.
func tokenNeed(scopes, aud string) string {
	return fmt.Sprintf("# needs a token with scope %q and audience %s in $BEARER_TOKEN_FILE", scopes, aud)
}

// reproRead downloads the reference file and checks size, checksum and a
// range, as verifyRead does.
func (s *svc) reproRead(a auth, local string, rep readReport) []string {
	ref := s.t.Service.ReadFile
	u := s.urlOf(ref.Path)
	lines := []string{
		curl(a, "-D", "-", "-o", local, u),
		curl(a, "-I", "-H", "Want-Digest: adler32", u),
	}
	if ref.Size >= 0 {
		lines = append(lines, fmt.Sprintf(`test "$(stat -c %%s %s)" = %d`, probe.Quote(local), ref.Size))
	}
	if ref.Adler32 != "" {
		lines = append(lines, fmt.Sprintf(`test "$(xrdadler32 %s | cut -d' ' -f1)" = %s`, probe.Quote(local), probe.Quote(ref.Adler32)))
	}
	if rep.rangeLen > 0 {
		last := rep.rangeOff + rep.rangeLen - 1
		lines = append(lines, curl(a, "-r", fmt.Sprintf("%d-%d", rep.rangeOff, last), u)+
			fmt.Sprintf(" | cmp - <(tail -c +%d %s | head -c %d)", rep.rangeOff+1, probe.Quote(local), rep.rangeLen))
	}
	return lines
}

func (s *svc) urlOf(p string) string {
	u := *s.u
	u.Path, u.RawPath, u.RawQuery, u.Fragment = p, "", "", ""
	return u.String()
}

// payloadLine makes the local file an upload check sends.
func payloadLine(local string, size int) string {
	return fmt.Sprintf("head -c %d /dev/urandom > %s", size, probe.Quote(local))
}

func comment(format string, a ...any) string {
	return "# " + strings.ReplaceAll(fmt.Sprintf(format, a...), "\n", " ")
}
