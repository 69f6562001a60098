package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/probes/xrootd/gsi"
	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
)

// ProcCPU is the CPU time (user+system) a process has used so far, from
// /proc/<pid>/stat; 0 when it cannot be read.
func ProcCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// fields after the command name, which is in parentheses
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz
}

// SEPid is the testbed storage element's xrootd process, 0 if unknown.
func SEPid() int {
	tb := os.Getenv("GRIDPROBE_TESTBED")
	if tb == "" {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(tb, "run", "se", "xrootd.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// ListDir lists dir on the XRootD endpoint (roots://host:port) with the
// proxy over GSI: the bench's own check that a round left nothing behind.
func ListDir(ctx context.Context, endpoint, proxyPath, caDir, dir string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, err := cred.LoadProxy(proxyPath)
	if err != nil {
		return nil, err
	}
	ca, err := cred.LoadCAPool(caDir)
	if err != nil {
		return nil, err
	}
	gc, err := gsi.CredentialFromTLS(p.Cert)
	if err != nil {
		return nil, err
	}
	host, _, _, _, err := xrd.ParseURL(endpoint)
	if err != nil {
		return nil, err
	}
	sess, err := xrd.Dial(ctx, endpoint, xrd.Options{
		TLSConfig: ca.TLSConfig(host, nil),
		Auth: func() []secproto.Authenticator {
			return []secproto.Authenticator{gsi.New(gsi.Config{Credential: gc, CADir: caDir})}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	defer sess.Close()
	ents, err := sess.Dirlist(ctx, dir, false)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	return names, nil
}

// ListenOverflows is the kernel's count of connections dropped because a
// listening socket's accept queue was full (TcpExt ListenOverflows in
// /proc/net/netstat); -1 when it cannot be read. The testbed SE listens
// with XRootD's backlog of 255, which a thousand sites connecting to the
// one SE at once overflow: each drop costs the client a TCP retransmission
// (1 s, then 2 s, 4 s, …), a thing that cannot happen when the thousand
// sites are a thousand servers.
func ListenOverflows() int64 {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return -1
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) || values[0] != "TcpExt:" {
			continue
		}
		for j, n := range names {
			if n == "ListenOverflows" {
				v, err := strconv.ParseInt(values[j], 10, 64)
				if err != nil {
					return -1
				}
				return v
			}
		}
	}
	return -1
}
