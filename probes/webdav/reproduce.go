package webdav

import (
	"fmt"

	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage"
)

// Reproduce lines are curl lines. They reference credentials only through
// the environment an admin already has: X509_CERT_DIR, X509_USER_PROXY,
// BEARER_TOKEN_FILE (and, for the access checks, GRIDPROBE_FOREIGN_PROXY /
// GRIDPROBE_NOVOMS_PROXY).
const (
	envCADir    = "$X509_CERT_DIR"
	bearerWord  = `Authorization: Bearer $(cat "$BEARER_TOKEN_FILE")`
	answerFile  = "gridprobe-answer.txt"
	macaroonTxt = "gridprobe-macaroon.txt"
)

// auth is how a curl line authenticates.
type auth []string

func certAuth(envVar string) auth { return auth{"--cert", envVar, "--key", envVar} }

var (
	proxyAuth = certAuth("$X509_USER_PROXY")
	tokenAuth = auth{"-H", bearerWord}
	macAuth   = auth{"-H", `Authorization: Bearer $(cat ` + macaroonTxt + `)`}
	roleAuth  = map[storage.Role]auth{
		storage.Own:     proxyAuth,
		storage.Foreign: certAuth("$GRIDPROBE_FOREIGN_PROXY"),
		storage.NoVOMS:  certAuth("$GRIDPROBE_NOVOMS_PROXY"),
	}
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

func comment(format string, a ...any) string { return "# " + fmt.Sprintf(format, a...) }

// Line renders a rulebook operation as a curl line.
func (t *transport) Line(op storage.Op) string {
	if op.Kind == storage.OpToken {
		return fmt.Sprintf("# needs a token with scope %q and audience %s in $BEARER_TOKEN_FILE", op.Scopes, op.Aud)
	}
	a := roleAuth[op.As]
	if op.Token {
		a = tokenAuth
	}
	u := t.urlOf(op.Path)
	var args []string
	switch op.Kind {
	case storage.OpStat:
		args = []string{"-X", "PROPFIND", "-H", "Depth: 0", u}
	case storage.OpGet:
		args = []string{"-o", op.Local, u}
	case storage.OpGetRange:
		return curl(a, "-r", fmt.Sprintf("%d-%d", op.Off, op.Off+op.N-1), u) +
			fmt.Sprintf(" | cmp - <(tail -c +%d %s | head -c %d)", op.Off+1, probe.Quote(op.Local), op.N)
	case storage.OpChecksum:
		args = []string{"-I", "-H", "Want-Digest: adler32", u}
	case storage.OpPut:
		args = []string{"-T", op.Local, u}
	case storage.OpMkdir:
		args = []string{"-X", "MKCOL", u}
	case storage.OpList:
		return curl(a, "-X", "PROPFIND", "-H", "Depth: 1", u) + " | grep -F " + probe.Quote(op.Name)
	case storage.OpDelete, storage.OpRmdir:
		args = []string{"-X", "DELETE", u}
	}
	switch {
	case op.Refused:
		if op.Kind == storage.OpGet {
			args = []string{u}
		}
		return curlDenied(a, args...)
	case op.MayFail:
		return curl(a, args...) + " || true"
	}
	return curl(a, args...)
}

// urlOf returns the URL of a storage path on the endpoint.
func (t *transport) urlOf(p string) string {
	u := *t.u
	u.Path, u.RawPath, u.RawQuery, u.Fragment = p, "", "", ""
	return u.String()
}
