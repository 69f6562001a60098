package httptpc

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/probes/probe"
)

// Reproduce lines read credentials only from the environment: the proxy
// from $X509_USER_PROXY, the source side's token from the file named by
// $SRC_TOKEN_FILE and the destination side's from $DST_TOKEN_FILE.
const (
	EnvSrcTokenFile = "SRC_TOKEN_FILE"
	EnvDstTokenFile = "DST_TOKEN_FILE"
	// StreamFile is where the reproduce line keeps the COPY answer.
	StreamFile   = "gridprobe-tpc.txt"
	macaroonFile = "gridprobe-tpc-macaroon.txt"
)

// Repro describes a copy for its reproduce lines.
type Repro struct {
	Mode                Mode
	Source, Destination string
	Overwrite           Overwrite
	// Proxy: the active side is authenticated with $X509_USER_PROXY and the
	// passive side with a macaroon requested with it (as Copy's crt variant).
	Proxy bool
	// SourceScopes / DestinationScopes (and audiences) name the tokens the
	// lines expect in the files, for the comments of a token copy.
	SourceScopes, DestinationScopes     string
	SourceAudience, DestinationAudience string
	Timeout                             time.Duration // curl --max-time (0: none)
	// Expect is what makes the lines exit 0: success (default), or a
	// refusal by the active or the passive side.
	Expect Expect
}

// Expect is what the reproduce lines of a copy check for.
type Expect int

// Expectations of reproduce lines.
const (
	// ExpectSuccess: the final line is success:.
	ExpectSuccess Expect = iota
	// ExpectActiveRefusal: the active side refuses: 401/403, or a failure
	// line saying so that does not come from the passive side.
	ExpectActiveRefusal
	// ExpectRemoteRefusal: the failure line reports the passive side's
	// 401/403.
	ExpectRemoteRefusal
)

// verdictCheck is the shell test of the COPY answer for an expectation.
func (e Expect) verdictCheck() string {
	last := "tail -n 1 " + StreamFile
	switch e {
	case ExpectActiveRefusal:
		return `{ [ "$code" = 401 ] || [ "$code" = 403 ] || { ` + last + ` | grep -qiE '^failure:.*(permission denied|not authorized|unauthorized|forbidden)' && ! ` +
			last + ` | grep -qi 'remote side failed'; }; }`
	case ExpectRemoteRefusal:
		return last + ` | grep -qiE '^failure:.*remote side failed with status code 40[13]'`
	}
	return last + ` | grep -qi '^success:'`
}

// Lines returns shell lines that do the copy with curl and exit 0 only when
// its final line is "success:" (or, with Expect, when the copy is refused
// as expected). They print "HTTP <status>: <last line>".
func (r Repro) Lines() []string {
	var lines []string
	active, passive := r.Destination, r.Source
	activeEnv, passiveEnv := EnvDstTokenFile, EnvSrcTokenFile
	activeScopes, passiveScopes := r.DestinationScopes, r.SourceScopes
	activeAud, passiveAud := r.DestinationAudience, r.SourceAudience
	activities := SourceActivities
	if r.Mode == Push {
		active, passive = passive, active
		activeEnv, passiveEnv = passiveEnv, activeEnv
		activeScopes, passiveScopes = passiveScopes, activeScopes
		activeAud, passiveAud = passiveAud, activeAud
		activities = DestinationActivities
	}
	base := []string{"curl", "-sS", "--capath", "$X509_CERT_DIR"}
	var words []string
	if r.Proxy {
		cert := []string{"--cert", "$X509_USER_PROXY", "--key", "$X509_USER_PROXY"}
		lines = append(lines,
			fmt.Sprintf("# a macaroon from the passive side (%s) for %s, requested with the proxy", r.Mode.passiveRole(), strings.Join(activities, ",")),
			"(umask 077; "+probe.Command(append(append(append([]string{}, base...), cert...),
				"-X", "POST", "-H", "Content-Type: application/macaroon-request", "-d", MacaroonBody(activities, 10*time.Minute), passive)...)+
				` | sed -n 's/.*"macaroon" *: *"\([^"]*\)".*/\1/p' > `+macaroonFile+")")
		words = append(append(words, base...), cert...)
		words = append(words, "-H", "TransferHeaderAuthorization: Bearer $(cat "+macaroonFile+")")
	} else {
		lines = append(lines,
			fmt.Sprintf("# needs in $%s a token with scope %q and audience %s (%s, active)", activeEnv, activeScopes, activeAud, r.Mode.activeRole()),
			fmt.Sprintf("# needs in $%s a token with scope %q and audience %s (%s, passive)", passiveEnv, passiveScopes, passiveAud, r.Mode.passiveRole()))
		words = append(words, base...)
		words = append(words, "-H", `Authorization: Bearer $(cat "$`+activeEnv+`")`,
			"-H", `TransferHeaderAuthorization: Bearer $(cat "$`+passiveEnv+`")`)
	}
	words = append(words, "-H", "Credential: none")
	if r.Mode == Push {
		words = append(words, "-H", "Destination: "+r.Destination)
	} else {
		words = append(words, "-H", "Source: "+r.Source)
	}
	switch r.Overwrite {
	case OverwriteYes:
		words = append(words, "-H", "Overwrite: T")
	case OverwriteNo:
		words = append(words, "-H", "Overwrite: F")
	}
	if r.Timeout > 0 {
		words = append(words, "--max-time", strconv.Itoa(int((r.Timeout+time.Second-1)/time.Second)))
	}
	words = append(words, "-L", "-X", "COPY", "-o", StreamFile, "-w", "%{http_code}", active)
	lines = append(lines, fmt.Sprintf("# %s: COPY %s; the answer streams performance markers, its last line is the verdict", r.Mode, active),
		"code=$("+probe.Command(words...)+`); echo "HTTP $code: $(tail -n 1 `+StreamFile+`)"; `+r.Expect.verdictCheck())
	return lines
}

func (m Mode) activeRole() string {
	if m == Push {
		return "source"
	}
	return "destination"
}

func (m Mode) passiveRole() string {
	if m == Push {
		return "destination"
	}
	return "source"
}
