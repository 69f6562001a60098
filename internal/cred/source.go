package cred

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Source hands out bearer tokens for requests.
type Source interface {
	// Token returns a token for req. Sources that hold one token for all
	// requests return it with Narrowed=false.
	Token(ctx context.Context, req TokenRequest) (*Token, error)
	// Describe says where tokens come from, for details and logs (never a
	// token or secret).
	Describe() string
}

// ErrNoToken is returned by Discover when no discovery step found a token.
var ErrNoToken = errors.New("no bearer token found")

// tmpDir is where the last discovery step looks (tests point it elsewhere).
var tmpDir = "/tmp"

// maxTokenFile bounds what is read from a token file.
const maxTokenFile = 64 << 10

// Discover follows WLCG bearer-token discovery: $BEARER_TOKEN, then the file
// $BEARER_TOKEN_FILE, then $XDG_RUNTIME_DIR/bt_u<euid>, then
// /tmp/bt_u<euid>. White space around the token is ignored; an empty value or
// missing file moves on to the next step; a value that is not a JWT is an
// error naming where it was found (never what it contained).
func Discover() (Source, error) {
	if v := strings.TrimSpace(os.Getenv("BEARER_TOKEN")); v != "" {
		if !looksLikeJWT(v) {
			return nil, fmt.Errorf("BEARER_TOKEN: %w", errNotJWT)
		}
		return &EnvSource{Var: "BEARER_TOKEN"}, nil
	}
	var tried []string
	tried = append(tried, "BEARER_TOKEN")
	var files []*FileSource
	if p := os.Getenv("BEARER_TOKEN_FILE"); p != "" {
		files = append(files, &FileSource{Path: p, Origin: "BEARER_TOKEN_FILE"})
	} else {
		tried = append(tried, "BEARER_TOKEN_FILE (unset)")
	}
	euid := strconv.Itoa(os.Geteuid())
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		files = append(files, &FileSource{Path: filepath.Join(d, "bt_u"+euid), Origin: "XDG_RUNTIME_DIR"})
	}
	files = append(files, &FileSource{Path: filepath.Join(tmpDir, "bt_u"+euid), Origin: "default"})
	for _, f := range files {
		raw, err := ReadTokenFile(f.Path)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && raw == "") {
			tried = append(tried, f.Path)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Describe(), err)
		}
		if !looksLikeJWT(raw) {
			return nil, fmt.Errorf("%s: %w", f.Describe(), errNotJWT)
		}
		return f, nil
	}
	return nil, fmt.Errorf("%w (tried %s)", ErrNoToken, strings.Join(tried, ", "))
}

// ReadTokenFile reads a token file (at most 64 KiB), trimmed of white space.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("larger than %d bytes", maxTokenFile)
	}
	return strings.TrimSpace(string(b)), nil
}

// FileSource reads the token from a file on every call, since token
// operators (htgettoken, oidc-agent) rotate it in place. It ignores the
// request: its tokens are not narrowed.
type FileSource struct {
	Path string
	// Origin says how the path was found ("BEARER_TOKEN_FILE",
	// "XDG_RUNTIME_DIR", "default", "config"); may be empty.
	Origin string
}

// Describe implements Source.
func (f *FileSource) Describe() string {
	if f.Origin == "" {
		return "token file " + f.Path
	}
	return fmt.Sprintf("token file %s (%s)", f.Path, f.Origin)
}

// Token implements Source: it reads the file, refuses an empty file, a
// non-JWT and an expired token.
func (f *FileSource) Token(ctx context.Context, req TokenRequest) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	raw, err := ReadTokenFile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Describe(), err)
	}
	return wholeToken(raw, f.Describe(), req)
}

// EnvSource takes the token from an environment variable (BEARER_TOKEN),
// read on every call. It ignores the request: its tokens are not narrowed.
type EnvSource struct {
	Var string
}

// Describe implements Source.
func (e *EnvSource) Describe() string { return "environment variable " + e.Var }

// Token implements Source.
func (e *EnvSource) Token(ctx context.Context, req TokenRequest) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return wholeToken(strings.TrimSpace(os.Getenv(e.Var)), e.Describe(), req)
}

func wholeToken(raw, desc string, req TokenRequest) (*Token, error) {
	if raw == "" {
		return nil, fmt.Errorf("%s: empty", desc)
	}
	if !looksLikeJWT(raw) {
		registerToken(raw, time.Time{}) // whatever it is, keep it out of output
		return nil, fmt.Errorf("%s: %w", desc, errNotJWT)
	}
	t, err := NewToken(raw, desc)
	if err != nil {
		return nil, err
	}
	t.Request = req
	if !t.Expiry.IsZero() && !time.Now().Before(t.Expiry) {
		return nil, fmt.Errorf("%s: token of %s expired at %s", desc, orDash(t.claims.Subject), t.Expiry.UTC().Format(time.RFC3339))
	}
	return t, nil
}
