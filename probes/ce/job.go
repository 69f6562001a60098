package ce

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// jobSpec is the test job: it prints a marker and its environment, or,
// with wn set, a marker and then runs `probe wn` on the worker node. Tests
// make it fail (exit) or last longer (sleep).
type jobSpec struct {
	exit  int
	sleep time.Duration
	// wn: the run id `probe wn` uses (set when the job carries the
	// worker-node payload); withProxy: a proxy is shipped too.
	wn        string
	withProxy bool
	// holdOnExit (tests): the job asks HTCondor for an output file it
	// never writes, so the CE holds it when it ends.
	holdOnExit bool
}

// Output file names of the test job.
const (
	jobStdout = "gridprobe.out"
	jobStderr = "gridprobe.err"
)

// script is the job's shell script, one line (so it fits a reproduce line).
func (j jobSpec) script(marker string) string {
	if j.wn != "" {
		return j.wnScript(marker)
	}
	parts := []string{
		"echo " + marker,
		`echo "host $(hostname 2>/dev/null || uname -n) user $(id -un 2>/dev/null || id -u) pwd $(pwd)"`,
		"env | sort",
	}
	if j.sleep > 0 {
		parts = append(parts, fmt.Sprintf("sleep %d", int(j.sleep.Seconds())))
	}
	parts = append(parts, fmt.Sprintf("exit %d", j.exit))
	return strings.Join(parts, "; ")
}

// wnScript is the launcher of the worker-node payload: the marker, then
// the job's token and proxy (shipped input files) where grid software finds
// them (BEARER_TOKEN_FILE, X509_USER_PROXY unless the CE gave the job a
// proxy file of its own; A-REX sets X509_USER_PROXY to its delegated proxy
// even when there is none), then probe wn between two lines the CE check finds its output
// by. The job ends with exit 0 whatever the checks found: the verdicts
// travel in the output. The token and proxy copies are removed.
func (j jobSpec) wnScript(marker string) string {
	parts := []string{
		"echo " + marker,
		`echo "host $(hostname 2>/dev/null || uname -n) user $(id -un 2>/dev/null || id -u) pwd $(pwd)"`,
		"chmod 0600 " + wnToken + " " + wnProxy + " 2>/dev/null",
		`if [ -s ` + wnToken + ` ]; then BEARER_TOKEN_FILE="$(pwd)/` + wnToken + `"; export BEARER_TOKEN_FILE; fi`,
		`if [ ! -s "$X509_USER_PROXY" ] && [ -s ` + wnProxy + ` ]; then X509_USER_PROXY="$(pwd)/` + wnProxy + `"; export X509_USER_PROXY; fi`,
		"chmod 0755 " + wnBinary,
		"echo " + wnBegin,
		"./" + wnBinary + " wn -c " + wnConfig + " --run-id " + j.wn,
		"echo " + wnExit + " $?",
		"rm -f " + wnToken + " " + wnProxy,
	}
	if j.sleep > 0 {
		parts = append(parts, fmt.Sprintf("sleep %d", int(j.sleep.Seconds())))
	}
	parts = append(parts, fmt.Sprintf("exit %d", j.exit))
	return strings.Join(parts, "; ")
}

// newMarker returns a line the job prints and the check looks for.
func newMarker(runID, check string) string {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic("ce: no randomness for a job marker: " + err.Error())
	}
	return "gridprobe-marker-" + check + "-" + hex.EncodeToString(r[:])
}

// jobName names the job after the run and the check (CE admins see it).
func jobName(runID, check string) string {
	return "gridprobe-" + check + "-" + runID
}

// adl is an EMI-ES ADL job description on one line (what A-REX REST
// accepts besides xRSL): /bin/sh -c <script>, stdout/stderr kept in the session directory
// for download (OutputFile without target), in the given queue.
func (j jobSpec) adl(name, queue, marker string) []byte {
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	var b strings.Builder
	b.WriteString(`<ActivityDescription xmlns="http://www.eu-emi.eu/es/2010/12/adl">`)
	fmt.Fprintf(&b, "<ActivityIdentification><Name>%s</Name></ActivityIdentification>", esc(name))
	b.WriteString("<Application>")
	if j.wn != "" {
		fmt.Fprintf(&b, "<Executable><Path>/bin/sh</Path><Argument>%s</Argument></Executable>", wnLauncher)
	} else {
		fmt.Fprintf(&b, "<Executable><Path>/bin/sh</Path><Argument>-c</Argument><Argument>%s</Argument></Executable>", esc(j.script(marker)))
	}
	fmt.Fprintf(&b, "<Output>%s</Output><Error>%s</Error>", jobStdout, jobStderr)
	b.WriteString("</Application>")
	if queue != "" {
		fmt.Fprintf(&b, "<Resources><QueueName>%s</QueueName></Resources>", esc(queue))
	}
	b.WriteString("<DataStaging>")
	// Input files without a source are uploaded by the client
	// (PUT <job>/session/<name>) before the job can start.
	for _, in := range j.inputs() {
		fmt.Fprintf(&b, "<InputFile><Name>%s</Name>", in)
		if in == wnBinary || in == wnLauncher {
			b.WriteString("<IsExecutable>true</IsExecutable>")
		}
		b.WriteString("</InputFile>")
	}
	fmt.Fprintf(&b, "<OutputFile><Name>%s</Name></OutputFile><OutputFile><Name>%s</Name></OutputFile></DataStaging>", jobStdout, jobStderr)
	b.WriteString("</ActivityDescription>")
	return []byte(b.String())
}

// condorSubmit is the submit description for the HTCondor trace job: the
// script is transferred as the executable, output spooled back.
func (j jobSpec) condorSubmit(name, queue string) string {
	var b strings.Builder
	b.WriteString("universe = vanilla\n")
	if j.wn != "" {
		fmt.Fprintf(&b, "executable = %s\n", wnLauncher)
		var in []string
		for _, f := range j.inputs() {
			if f != wnLauncher && f != wnProxy {
				in = append(in, f)
			}
		}
		fmt.Fprintf(&b, "transfer_input_files = %s\n", strings.Join(in, ", "))
		if j.withProxy {
			// HTCondor's own way to give a job a proxy: transferred with
			// the job, X509_USER_PROXY set, renewed in place.
			fmt.Fprintf(&b, "x509userproxy = %s\n", wnProxy)
		}
	} else {
		b.WriteString("executable = gridprobe-job.sh\n")
	}
	b.WriteString("transfer_executable = true\n")
	fmt.Fprintf(&b, "output = %s\nerror = %s\n", jobStdout, jobStderr)
	if j.holdOnExit {
		b.WriteString("transfer_output_files = gridprobe-never-written\n")
	}
	b.WriteString("should_transfer_files = YES\nwhen_to_transfer_output = ON_EXIT\n")
	fmt.Fprintf(&b, "+GridprobeJob = %q\n", name)
	fmt.Fprintf(&b, "batch_name = %s\n", name)
	if queue != "" {
		fmt.Fprintf(&b, "+queue = %q\n", queue)
	}
	// A job that cannot finish in time is removed by the CE itself too.
	b.WriteString("periodic_remove = (time() - QDate) > 3600\n")
	b.WriteString("queue\n")
	return b.String()
}

// inputs are the job's input files (besides the description itself).
func (j jobSpec) inputs() []string {
	if j.wn == "" {
		return nil
	}
	in := []string{wnLauncher, wnBinary, wnConfig, wnToken}
	if j.withProxy {
		in = append(in, wnProxy)
	}
	return in
}

// stateTrail records a job's distinct states in order.
type stateTrail []string

func (t *stateTrail) add(s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	if n := len(*t); n > 0 && (*t)[n-1] == s {
		return
	}
	*t = append(*t, s)
}

func (t stateTrail) String() string {
	if len(t) == 0 {
		return "no state seen"
	}
	return strings.Join(t, ">")
}
