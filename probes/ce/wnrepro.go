package ce

import (
	"strings"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// Reproduce lines of the WN checks: the job as the submit check sent it
// (description, input files, output), and probe wn run by hand on a worker
// node. The job's token is only described ("gridprobe-wn.token: a token
// with scope … and audience …"), never printed.

// printfFile is a shell line writing content (one or more lines) to name.
func printfFile(name, content string) string {
	lines := strings.Split(strings.TrimRight(content, "\n"), "\n")
	q := make([]string, len(lines))
	for i, l := range lines {
		q[i] = probe.Quote(l)
	}
	return "printf '%s\\n' " + strings.Join(q, " ") + " > " + name
}

// wnFilesLines write the payload's input files (all but the binary and the
// token, which are described).
func wnFilesLines(js jobSpec, pl *wnPayload) []string {
	return []string{
		printfFile(wnLauncher, js.launcher("gridprobe-marker-manual")) + " && chmod +x " + wnLauncher,
		printfFile(wnConfig, string(pl.config)),
		"# " + wnBinary + ": the static probe binary (make; CGO_ENABLED=0); " + wnToken + ": a token with scope \"" +
			strings.Join(pl.scopes, " ") + "\" and audience \"" + pl.aud + "\" (cp \"$BEARER_TOKEN_FILE\" " + wnToken + ")",
	}
}

// wnByHand runs the payload on a worker node without a CE.
func wnByHand(js jobSpec) []string {
	return []string{
		"# by hand on a worker node, with the files above in the working directory:",
		"BEARER_TOKEN_FILE=\"$PWD/" + wnToken + "\" ./" + wnBinary + " wn -c " + wnConfig + " --run-id " + js.wn,
	}
}

// reproWN is the ARC job of 14tkn-submit with the payload.
func (s *arcSvc) reproWN(js jobSpec, pl *wnPayload) []string {
	out := []string{tokenNeed(SubmitScopes, s.aud)}
	out = append(out, wnFilesLines(js, pl)...)
	jobJSON := `"{\"job\":[{\"id\":\"${JOBID}\"}]}"`
	files := js.inputs()
	out = append(out,
		"printf '%s\\n' "+probe.Quote(string(js.adl("gridprobe-manual", s.queue, "gridprobe-marker-manual")))+" > "+adlFile,
		"JOBID=$("+s.curl(engine.CredToken, "-H", "Content-Type: application/xml", "--data-binary", "@"+adlFile, s.rest("/jobs?action=new"))+
			` | sed -n 's/.*"id":"\([^"]*\)".*/\1/p'); echo "job $JOBID"`,
		"for f in "+strings.Join(files, " ")+"; do "+s.curl(engine.CredToken)+` -T "$f" `+probe.Quote(s.rest("/jobs/${JOBID}/session/"))+`"$f" || break; done`,
		"until st=$("+s.curl(engine.CredToken, s.rest("/jobs/${JOBID}/diagnose/status"))+`); echo "$st"; [ "$st" = FINISHED ] || [ "$st" = FAILED ] || [ "$st" = DELETED ]; do sleep 2; done`,
		s.curl(engine.CredToken, s.rest("/jobs/${JOBID}/session/"+jobStdout))+" | sed -n '/^"+wnBegin+"$/,$p'",
		s.curl(engine.CredToken, "-H", "Content-Type: application/json", "-d")+" "+jobJSON+" "+probe.Quote(s.rest("/jobs?action=clean")),
	)
	return append(out, wnByHand(js)...)
}

// reproWN is the HTCondor job of 14tkn-submit with the payload.
func (s *condorSvc) reproWN(js jobSpec, pl *wnPayload) []string {
	out := []string{tokenNeed(SubmitScopes, s.aud)}
	out = append(out, s.condorEnv()...)
	out = append(out, wnFilesLines(js, pl)...)
	pa := []string{"-pool", s.pool, "-addr", "$SCHEDD"}
	cmd := func(tool string, args ...string) string {
		return probe.Command(append(append([]string{tool}, pa...), args...)...)
	}
	sub := js.condorSubmit("gridprobe-manual", s.t.Service.Queue)
	if js.withProxy {
		out = append(out, "cp \"$X509_USER_PROXY\" "+wnProxy)
	}
	out = append(out,
		printfFile("gridprobe-wn.sub", sub),
		"CLUSTER=$("+cmd("condor_submit", "-spool", "gridprobe-wn.sub")+" | sed -n 's/.*submitted to cluster \\([0-9]*\\).*/\\1/p'); echo \"cluster $CLUSTER\"",
		"until st=$("+cmd("condor_q", "${CLUSTER}", "-af", "JobStatus", "HoldReason")+"); echo \"$st\"; [ \"${st%% *}\" = 4 ] || [ \"${st%% *}\" = 3 ] || [ \"${st%% *}\" = 5 ]; do sleep 2; done",
		cmd("condor_transfer_data", "${CLUSTER}")+" && sed -n '/^"+wnBegin+"$/,$p' "+jobStdout,
		cmd("condor_rm", "${CLUSTER}"),
	)
	return append(out, wnByHand(js)...)
}
