package ce

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// jobSpec is the test job: it prints a marker and its environment. Tests
// make it fail (exit) or last longer (sleep).
type jobSpec struct {
	exit  int
	sleep time.Duration
}

// Output file names of the test job.
const (
	jobStdout = "gridprobe.out"
	jobStderr = "gridprobe.err"
)

// script is the job's shell script, one line (so it fits a reproduce line).
func (j jobSpec) script(marker string) string {
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
	fmt.Fprintf(&b, "<Executable><Path>/bin/sh</Path><Argument>-c</Argument><Argument>%s</Argument></Executable>", esc(j.script(marker)))
	fmt.Fprintf(&b, "<Output>%s</Output><Error>%s</Error>", jobStdout, jobStderr)
	b.WriteString("</Application>")
	if queue != "" {
		fmt.Fprintf(&b, "<Resources><QueueName>%s</QueueName></Resources>", esc(queue))
	}
	fmt.Fprintf(&b, "<DataStaging><OutputFile><Name>%s</Name></OutputFile><OutputFile><Name>%s</Name></OutputFile></DataStaging>", jobStdout, jobStderr)
	b.WriteString("</ActivityDescription>")
	return []byte(b.String())
}

// condorSubmit is the submit description for the HTCondor trace job: the
// script is transferred as the executable, output spooled back.
func (j jobSpec) condorSubmit(name, queue string) string {
	var b strings.Builder
	b.WriteString("universe = vanilla\n")
	b.WriteString("executable = gridprobe-job.sh\n")
	b.WriteString("transfer_executable = true\n")
	fmt.Fprintf(&b, "output = %s\nerror = %s\n", jobStdout, jobStderr)
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
