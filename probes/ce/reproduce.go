package ce

import (
	"strings"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// Reproduce lines reference credentials only through the environment an
// admin already has: X509_CERT_DIR, X509_USER_PROXY and BEARER_TOKEN_FILE.
const (
	envCADir   = "$X509_CERT_DIR"
	envProxy   = "$X509_USER_PROXY"
	bearerWord = `Authorization: Bearer $(cat "$BEARER_TOKEN_FILE")`
	adlFile    = "gridprobe-job.adl"
)

func authWords(kind string) []string {
	if kind == engine.CredX509 {
		return []string{"--cert", envProxy, "--key", envProxy}
	}
	return []string{"-H", bearerWord}
}

func (s *arcSvc) curl(kind string, args ...string) string {
	words := []string{"curl", "-sS", "--fail-with-body", "--capath", envCADir}
	words = append(words, authWords(kind)...)
	words = append(words, "-H", "Accept: application/json")
	return probe.Command(append(words, args...)...)
}

func (s *arcSvc) rest(p string) string { return s.ws + "/rest/1.0" + p }

func tokenNeed(scopes []string, aud string) string {
	return "# needs a token with scope \"" + strings.Join(scopes, " ") + "\" and audience " + aud + " in $BEARER_TOKEN_FILE"
}

func (s *arcSvc) reproInfo(kind string) []string {
	var out []string
	if kind == engine.CredToken {
		out = append(out, tokenNeed([]string{"compute.read"}, s.aud))
	}
	return append(out, s.curl(kind, s.rest("/info"))+" | head -c 2000")
}

// reproSubmit submits the same job with curl, follows its live state,
// fetches stdout and cleans the job.
func (s *arcSvc) reproSubmit(kind string) []string {
	var out []string
	if kind == engine.CredToken {
		out = append(out, tokenNeed(SubmitScopes, s.aud))
	}
	adl := s.job.adl("gridprobe-manual", s.queue, "gridprobe-marker-manual")
	jobJSON := `"{\"job\":[{\"id\":\"${JOBID}\"}]}"`
	out = append(out,
		"printf '%s\\n' "+probe.Quote(string(adl))+" > "+adlFile,
		"JOBID=$("+s.curl(kind, "-H", "Content-Type: application/xml", "--data-binary", "@"+adlFile, s.rest("/jobs?action=new"))+
			` | sed -n 's/.*"id":"\([^"]*\)".*/\1/p'); echo "job $JOBID"`,
		"until st=$("+s.curl(kind, s.rest("/jobs/${JOBID}/diagnose/status"))+`); echo "$st"; [ "$st" = FINISHED ] || [ "$st" = FAILED ] || [ "$st" = DELETED ]; do sleep 2; done`,
		s.curl(kind, s.rest("/jobs/${JOBID}/diagnose/failed"))+"; "+s.curl(kind, s.rest("/jobs/${JOBID}/session/"+jobStdout))+" | head -3",
		s.curl(kind, "-H", "Content-Type: application/json", "-d")+" "+jobJSON+" "+probe.Quote(s.rest("/jobs?action=clean")),
	)
	return out
}

func (s *arcSvc) reproAccess() []string {
	return []string{
		tokenNeed(SubmitScopes, s.aud) + " (control: must answer 200)",
		s.curl(engine.CredToken, "-o", "/dev/null", "-w", "%{http_code}\\n", s.rest("/jobs")),
		"# then the same with a token for audience " + OtherAudience + ", an expired one and one signed by another key: each must answer 401/403",
	}
}

// condorEnv is the line that sets up the HTCondor client for token-only
// authentication against the CE, and finds its schedd's address.
func (s *condorSvc) condorEnv() []string {
	return []string{
		"export _condor_SEC_CLIENT_AUTHENTICATION_METHODS=SCITOKENS _condor_AUTH_SSL_CLIENT_CADIR=\"$X509_CERT_DIR\"",
		"SCHEDD=$(" + probe.Command("condor_status", "-pool", s.pool, "-schedd", "-af", "MyAddress") + " | head -1)",
	}
}

func (s *condorSvc) reproPing() []string {
	out := []string{tokenNeed(PingScopes, s.aud)}
	out = append(out, s.condorEnv()...)
	return append(out, probe.Command("condor_ping", "-addr", "$SCHEDD", "-verbose", "WRITE"))
}

func (s *condorSvc) reproSubmit() []string {
	out := []string{tokenNeed(SubmitScopes, s.aud)}
	out = append(out, s.condorEnv()...)
	sub := strings.Split(strings.TrimSpace(s.job.condorSubmit("gridprobe-manual", s.t.Service.Queue)), "\n")
	quoted := make([]string, len(sub))
	for i, l := range sub {
		quoted[i] = probe.Quote(l)
	}
	pa := []string{"-pool", s.pool, "-addr", "$SCHEDD"}
	cmd := func(tool string, args ...string) string {
		return probe.Command(append(append([]string{tool}, pa...), args...)...)
	}
	return append(out,
		"printf '#!/bin/sh\\n%s\\n' "+probe.Quote(s.job.script("gridprobe-marker-manual"))+" > gridprobe-job.sh && chmod +x gridprobe-job.sh",
		"printf '%s\\n' "+strings.Join(quoted, " ")+" > gridprobe.sub",
		"CLUSTER=$("+cmd("condor_submit", "-spool", "gridprobe.sub")+" | sed -n 's/.*submitted to cluster \\([0-9]*\\).*/\\1/p'); echo \"cluster $CLUSTER\"",
		"until st=$("+cmd("condor_q", "${CLUSTER}", "-af", "JobStatus", "HoldReason")+"); echo \"$st\"; [ \"${st%% *}\" = 4 ] || [ \"${st%% *}\" = 3 ]; do sleep 2; done",
		cmd("condor_transfer_data", "${CLUSTER}")+" && head -3 "+jobStdout,
		cmd("condor_rm", "${CLUSTER}"),
	)
}

func (s *condorSvc) reproAccess() []string {
	out := []string{tokenNeed([]string{"compute.read"}, s.aud) + " (must be DENIED: SECMAN:2010)"}
	out = append(out, s.condorEnv()...)
	return append(out,
		probe.Command("condor_ping", "-addr", "$SCHEDD", "-verbose", "WRITE"),
		"# then the same with an expired token, one for audience "+OtherAudience+" and one signed by another key: each must fail with AUTHENTICATE:1004",
	)
}
