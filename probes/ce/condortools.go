package ce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// CondorRootEnv names an unpacked HTCondor installation (for example a
// Debian chroot with minicondor) whose client tools the checks run through
// the tree's own dynamic loader. Unset: the tools are looked up in $PATH.
const CondorRootEnv = "GRIDPROBE_CONDOR_ROOT"

// ErrNoCondorTools: neither $PATH nor GRIDPROBE_CONDOR_ROOT has them.
var ErrNoCondorTools = errors.New("HTCondor client tools not installed")

// toolTimeout bounds one client tool run.
const toolTimeout = 60 * time.Second

// condorTools runs the HTCondor client tools.
type condorTools struct {
	root   string // GRIDPROBE_CONDOR_ROOT, or ""
	binDir string
	loader string // root's ld-linux, when root is set
	libs   string
	caDir  string
}

// findCondorTools locates condor_ping and friends.
func findCondorTools(caDir string) (*condorTools, error) {
	if root := os.Getenv(CondorRootEnv); root != "" {
		t := &condorTools{root: root, binDir: filepath.Join(root, "usr/bin"), caDir: caDir}
		for _, l := range []string{"lib64/ld-linux-x86-64.so.2", "lib/ld-linux-aarch64.so.1", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"} {
			if _, err := os.Stat(filepath.Join(root, l)); err == nil {
				t.loader = filepath.Join(root, l)
				break
			}
		}
		if t.loader == "" {
			return nil, fmt.Errorf("%w: %s=%s has no dynamic loader", ErrNoCondorTools, CondorRootEnv, root)
		}
		if _, err := os.Stat(filepath.Join(t.binDir, "condor_ping")); err != nil {
			return nil, fmt.Errorf("%w: no usr/bin/condor_ping below %s=%s", ErrNoCondorTools, CondorRootEnv, root)
		}
		var libs []string
		for _, d := range []string{"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "usr/lib", "lib", "usr/lib64", "lib64"} {
			if st, err := os.Stat(filepath.Join(root, d)); err == nil && st.IsDir() {
				libs = append(libs, filepath.Join(root, d))
			}
		}
		t.libs = strings.Join(libs, ":")
		return t, nil
	}
	p, err := exec.LookPath("condor_ping")
	if err != nil {
		return nil, fmt.Errorf("%w (condor_ping not in PATH; or set %s to an HTCondor installation root)", ErrNoCondorTools, CondorRootEnv)
	}
	return &condorTools{binDir: filepath.Dir(p), caDir: caDir}, nil
}

// toolRun is one tool invocation's result.
type toolRun struct {
	stdout, stderr string
	err            error
}

// output is stdout and stderr folded to one line for details.
func (r toolRun) output() string {
	return strings.Join(strings.Fields(strings.TrimSpace(r.stdout+" "+r.stderr)), " ")
}

// run runs tool with args in dir. The token, if any, is written to a 0600
// file in a private temporary directory that is removed afterwards; the
// tool finds it through BEARER_TOKEN_FILE (never on the command line).
func (t *condorTools) run(ctx context.Context, tok *cred.Token, dir, tool string, args ...string) toolRun {
	ctx, cancel := context.WithTimeout(ctx, toolTimeout)
	defer cancel()
	tokDir, err := os.MkdirTemp("", "gridprobe-condor-token-")
	if err != nil {
		return toolRun{err: fmt.Errorf("token directory: %w", err)}
	}
	defer os.RemoveAll(tokDir)
	env := t.env()
	if tok != nil {
		f := filepath.Join(tokDir, "token")
		if err := os.WriteFile(f, []byte(tok.Bearer()+"\n"), 0o600); err != nil {
			return toolRun{err: fmt.Errorf("token file: %w", err)}
		}
		env = append(env, "BEARER_TOKEN_FILE="+f)
	} else {
		env = append(env, "BEARER_TOKEN_FILE="+filepath.Join(tokDir, "none"))
	}
	argv := append([]string{filepath.Join(t.binDir, tool)}, args...)
	if t.loader != "" {
		argv = append([]string{t.loader, "--library-path", t.libs}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.WaitDelay = 2 * time.Second
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err = cmd.Run()
	r := toolRun{stdout: cred.Redact(so.String()), stderr: cred.Redact(se.String())}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%s did not finish: %w", tool, ctx.Err())
		} else {
			err = fmt.Errorf("%s: %w", tool, err)
		}
		r.err = err
	}
	return r
}

// env is the tools' whole environment: nothing of the probe's own (no
// BEARER_TOKEN, no X509_USER_PROXY), SCITOKENS as the only client method,
// the CA directory for the TLS that SCITOKENS runs inside CEDAR.
func (t *condorTools) env() []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"LANG=C", "LC_ALL=C",
		"_condor_SEC_CLIENT_AUTHENTICATION_METHODS=SCITOKENS",
		"_condor_AUTH_SSL_CLIENT_CADIR=" + t.caDir,
		"_condor_TOOL_DEBUG=",
		// A job's proxy (x509userproxy) is copied with the job, not
		// delegated: HTCondor 23.9.6's schedd fails the delegation at
		// spool time (SchedLog: "get_x509_delegation(): delegation
		// failed: X509Credential::Request() failed").
		"_condor_DELEGATE_JOB_GSI_CREDENTIALS=False",
	}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		env = append(env, "TMPDIR="+tmp)
	}
	if t.root != "" {
		// An unpacked tree has no configuration for this host: use only
		// the environment, and do not look for a "condor" user.
		env = append(env, "CONDOR_CONFIG=ONLY_ENV",
			"_condor_CONDOR_IDS="+strconv.Itoa(os.Getuid())+"."+strconv.Itoa(os.Getgid()))
	} else if c := os.Getenv("CONDOR_CONFIG"); c != "" {
		env = append(env, "CONDOR_CONFIG="+c)
	}
	return env
}

// schedd is a schedd ad from the collector.
type schedd struct {
	Name, Addr, Machine string
}

// locateSchedd asks the collector (pool host:port) for the schedds and picks
// the CE's: named host (or name@host), on machine host, or the only one.
// The tools' own lookup by -name cannot resolve names like "localhost".
func (t *condorTools) locateSchedd(ctx context.Context, tok *cred.Token, pool, host string) (schedd, error) {
	r := t.run(ctx, tok, "", "condor_status", "-pool", pool, "-schedd", "-af:t", "Name", "MyAddress", "Machine")
	if r.err != nil {
		return schedd{}, fmt.Errorf("collector query at %s failed: %v: %s", pool, r.err, firstLine(r.output(), 160))
	}
	var all []schedd
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 3 || !strings.HasPrefix(f[1], "<") {
			continue
		}
		all = append(all, schedd{Name: f[0], Addr: f[1], Machine: f[2]})
	}
	if len(all) == 0 {
		return schedd{}, fmt.Errorf("the collector at %s lists no schedd", pool)
	}
	for _, s := range all {
		if strings.EqualFold(s.Name, host) || strings.HasSuffix(strings.ToLower(s.Name), "@"+strings.ToLower(host)) {
			return s, nil
		}
	}
	for _, s := range all {
		if strings.EqualFold(s.Machine, host) {
			return s, nil
		}
	}
	if len(all) == 1 {
		return all[0], nil
	}
	var names []string
	for _, s := range all {
		names = append(names, s.Name)
	}
	return schedd{}, fmt.Errorf("the collector at %s lists %d schedds, none named %s: %s", pool, len(all), host, strings.Join(names, ", "))
}

// pingResult is condor_ping -verbose's answer.
type pingResult struct {
	Authorized bool
	Mapping    string // Remote Mapping
	Method     string // Authenticated using
	Failure    string // "WRITE failed!" lines: AUTHENTICATE:..., SECMAN:...
}

// parsePing reads condor_ping -verbose output.
func parsePing(out string) pingResult {
	var p pingResult
	var fails []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch {
		case ok && k == "Authorized":
			p.Authorized = strings.EqualFold(v, "TRUE")
		case ok && k == "Remote Mapping":
			p.Mapping = v
		case ok && k == "Authenticated using":
			p.Method = v
		case strings.HasPrefix(line, "AUTHENTICATE:") || strings.HasPrefix(line, "SECMAN:") ||
			strings.HasPrefix(line, "CEDAR:") || strings.HasPrefix(line, "ERROR"):
			fails = append(fails, line)
		}
	}
	p.Failure = strings.Join(fails, " | ")
	return p
}

// deniedUser extracts the user from `SECMAN:2010:Received "DENIED" from
// server for user gpuser@users.htcondor.org using method SCITOKENS.`
func deniedUser(failure string) string {
	const k = "for user "
	i := strings.Index(failure, k)
	if i < 0 {
		return ""
	}
	rest := failure[i+len(k):]
	if j := strings.IndexByte(rest, ' '); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// explainCondor words a failure class with its likely causes: HTCondor's
// client does not see the server's reason (it is only in the CE's log).
func explainCondor(failure string) string {
	switch {
	case strings.Contains(failure, "SECMAN:2010") || strings.Contains(failure, "DENIED"):
		return "authenticated but not authorized: the token lacks the scopes (WRITE needs compute.create compute.modify compute.cancel, READ compute.read) or the mapped user is not in ALLOW_WRITE"
	case strings.Contains(failure, "Failed to authenticate using SCITOKENS"):
		return "token not accepted: likely the issuer is not trusted or its keys unreachable from the CE, the audience is not in SCITOKENS_SERVER_AUDIENCE, the token expired, or no mapfile line for issuer,subject"
	case strings.Contains(failure, "SSL") || strings.Contains(failure, "AUTHENTICATE:1003"):
		return "no authentication method worked: likely the CE host certificate is not trusted by X509_CERT_DIR or SCITOKENS is not enabled on the CE"
	case strings.Contains(failure, "couldn't locate") || strings.Contains(failure, "CEDAR:6001") || strings.Contains(failure, "Failed to connect"):
		return "cannot reach the daemon (collector/schedd down, or shared port not forwarding)"
	}
	return "see the CE's SchedLog/CollectorLog for the reason"
}
