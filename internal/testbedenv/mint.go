package testbedenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// Mint is a token source that mints tokens with the testbed issuer's keys
// (`gridprobe-issuer mint`) instead of asking the running issuer: narrowed
// tokens shaped as the issuer shapes client-credentials tokens (the
// requested scopes and audience; wlcg:<v> and wlcg.groups:<g> become
// wlcg.ver and wlcg.groups), plus whatever Flags change (--iss of an issuer
// an SE does not trust, --nbf in the future, …). It serves tests, and tools
// such as cmd/matrix that test servers with tokens the running issuer
// cannot (yet) make. Tokens are written to files in Dir (mode 0600) and
// never printed.
type Mint struct {
	Bin   string   // the issuer binary
	Keys  string   // its key directory
	Dir   string   // where minted tokens are written
	Flags []string // extra mint flags
	Desc  string   // for details; default "tokens minted by <Bin>"

	n atomic.Int64
}

// Describe implements cred.Source.
func (m *Mint) Describe() string {
	if m.Desc != "" {
		return m.Desc
	}
	return "tokens minted by " + m.Bin
}

// Token implements cred.Source.
func (m *Mint) Token(ctx context.Context, req cred.TokenRequest) (*cred.Token, error) {
	args := []string{"mint", "--keys", m.Keys, "--aud", strings.Join(strings.Fields(req.Audience), ",")}
	var scopes, groups []string
	for _, s := range req.Scopes {
		v, isVer := strings.CutPrefix(s, "wlcg:")
		g, isGroup := strings.CutPrefix(s, "wlcg.groups:")
		switch {
		case s == "wlcg":
		case isVer:
			args = append(args, "--wlcg-ver", v)
		case isGroup:
			groups = append(groups, g)
		default:
			scopes = append(scopes, s)
		}
	}
	if len(groups) > 0 {
		args = append(args, "--groups", strings.Join(groups, ","))
	}
	out := filepath.Join(m.Dir, fmt.Sprintf("minted-%d", m.n.Add(1)))
	args = append(append(args, "--scope", strings.Join(scopes, " "), "--out", out), m.Flags...)
	if b, err := exec.CommandContext(ctx, m.Bin, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s mint: %v: %s", m.Bin, err, strings.TrimSpace(string(b)))
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	tok, err := cred.NewToken(string(raw), m.Describe())
	if err != nil {
		return nil, err
	}
	tok.Narrowed, tok.Request = true, req
	return tok, nil
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// IssuerBinary builds the testbed issuer from this repository once per test
// binary (so a test gets the issuer's current features whatever issuer the
// running testbed has) and returns its path.
func IssuerBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gridprobe-issuer-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "gridprobe-issuer")
		cmd := exec.Command("go", "build", "-o", buildBin, "./testbed/issuer")
		cmd.Dir = RepoRoot()
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./testbed/issuer: %v: %s", err, b)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// NewMint is a Mint with the testbed's keys and an issuer built from this
// repository, writing to a test temporary directory.
func NewMint(t testing.TB, env map[string]string, flags ...string) *Mint {
	t.Helper()
	return &Mint{Bin: IssuerBinary(t), Keys: filepath.Join(env["GRIDPROBE_TESTBED"], "issuer", "keys"), Dir: t.TempDir(), Flags: flags}
}
