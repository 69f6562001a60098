package wn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// CondorCredsEnv is the directory HTCondor's starter fills with the job's
// OAuth credentials (<service>.use, refreshed by the credential monitor).
const CondorCredsEnv = "_CONDOR_CREDS"

// jobCreds is what the payload found, and where it looked.
type jobCreds struct {
	Looked []string // every place, with what was there ("BEARER_TOKEN: unset")

	Source cred.Source // the job's token source (re-read on every use); nil: none
	Token  *cred.Token // the token at job start (also when expired); nil: none
	TokErr error       // a token was found but is unusable (not a JWT, unreadable)

	ProxyPath string
	Proxy     *cred.Proxy // nil: none or unusable
	ProxyErr  error       // a proxy file exists but is unusable
}

// discover finds the job's credentials the way grid software does: WLCG
// bearer-token discovery (BEARER_TOKEN, BEARER_TOKEN_FILE,
// $XDG_RUNTIME_DIR/bt_u<euid>, /tmp/bt_u<euid>), then the HTCondor
// credential directory ($_CONDOR_CREDS/*.use); the proxy from
// X509_USER_PROXY, then /tmp/x509up_u<uid>.
func discover(getenv func(string) string, proxyConfigured string) *jobCreds {
	jc := &jobCreds{}
	jc.Looked = append(jc.Looked, wlcgPlaces(getenv)...)
	src, err := cred.Discover()
	switch {
	case err == nil:
		jc.Source = src
	case errors.Is(err, cred.ErrNoToken):
		src, looked, cerr := condorSource(getenv(CondorCredsEnv))
		jc.Looked = append(jc.Looked, looked)
		jc.Source, jc.TokErr = src, cerr
	default:
		jc.TokErr = err
		jc.Looked = append(jc.Looked, "$"+CondorCredsEnv+": not looked at (a WLCG discovery place comes first)")
	}
	if jc.Source != nil {
		jc.Token, jc.TokErr = peek(jc.Source, getenv)
	}
	jc.ProxyPath = cred.ProxyPath(proxyConfigured)
	switch p, err := cred.LoadProxy(jc.ProxyPath); {
	case err == nil:
		jc.Proxy = p
		jc.Looked = append(jc.Looked, "proxy "+jc.ProxyPath+": found")
	case errors.Is(err, fs.ErrNotExist):
		jc.Looked = append(jc.Looked, "proxy "+jc.ProxyPath+": missing")
	default:
		jc.ProxyErr = err
		jc.Looked = append(jc.Looked, "proxy "+jc.ProxyPath+": unusable")
	}
	return jc
}

// wlcgPlaces describes each WLCG discovery place for the report.
func wlcgPlaces(getenv func(string) string) []string {
	euid := strconv.Itoa(os.Geteuid())
	out := []string{"BEARER_TOKEN: " + setOrUnset(getenv("BEARER_TOKEN"))}
	if p := getenv("BEARER_TOKEN_FILE"); p != "" {
		out = append(out, "BEARER_TOKEN_FILE="+p+": "+fileState(p))
	} else {
		out = append(out, "BEARER_TOKEN_FILE: unset")
	}
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		p := filepath.Join(d, "bt_u"+euid)
		out = append(out, p+": "+fileState(p))
	} else {
		out = append(out, "XDG_RUNTIME_DIR: unset")
	}
	p := "/tmp/bt_u" + euid
	return append(out, p+": "+fileState(p))
}

func setOrUnset(v string) string {
	if strings.TrimSpace(v) == "" {
		return "unset"
	}
	return "set"
}

func fileState(p string) string {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "missing"
	case err != nil:
		return "unreadable"
	case st.Size() == 0:
		return "empty"
	}
	return "found"
}

// condorSource picks the job's token among $_CONDOR_CREDS/*.use:
// scitokens.use when present, else the first by name.
func condorSource(dir string) (cred.Source, string, error) {
	if dir == "" {
		return nil, "$" + CondorCredsEnv + ": unset", nil
	}
	uses, err := filepath.Glob(filepath.Join(dir, "*.use"))
	if err != nil || len(uses) == 0 {
		return nil, "$" + CondorCredsEnv + "=" + dir + ": no *.use file", nil
	}
	sort.Strings(uses)
	pick := uses[0]
	for _, u := range uses {
		if filepath.Base(u) == "scitokens.use" {
			pick = u
		}
	}
	names := make([]string, len(uses))
	for i, u := range uses {
		names[i] = filepath.Base(u)
	}
	return &condorCredSource{Path: pick}, "$" + CondorCredsEnv + "=" + dir + ": " + strings.Join(names, ", "), nil
}

// condorCredSource reads an HTCondor credential file on every call (the
// credential monitor rewrites it in place). The file holds the access
// token, bare or as the credmon's JSON ({"access_token": ...}).
type condorCredSource struct{ Path string }

// Describe implements cred.Source.
func (c *condorCredSource) Describe() string {
	return "HTCondor credential " + c.Path + " ($" + CondorCredsEnv + ")"
}

// Token implements cred.Source; it refuses an expired token, like
// cred.FileSource.
func (c *condorCredSource) Token(ctx context.Context, req cred.TokenRequest) (*cred.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, err := c.read()
	if err != nil {
		return nil, err
	}
	t.Request = req
	if !t.Expiry.IsZero() && !time.Now().Before(t.Expiry) {
		return nil, fmt.Errorf("%s: token expired at %s", c.Describe(), t.Expiry.UTC().Format(time.RFC3339))
	}
	return t, nil
}

func (c *condorCredSource) read() (*cred.Token, error) {
	raw, err := cred.ReadTokenFile(c.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Describe(), err)
	}
	if strings.HasPrefix(raw, "{") {
		var j struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal([]byte(raw), &j); err != nil || j.AccessToken == "" {
			return nil, fmt.Errorf("%s: JSON without an access_token", c.Describe())
		}
		raw = j.AccessToken
	}
	return cred.NewToken(raw, c.Describe())
}

// peek reads the source's current token without refusing an expired one
// (the report says how long ago it expired).
func peek(src cred.Source, getenv func(string) string) (*cred.Token, error) {
	switch s := src.(type) {
	case *cred.FileSource:
		raw, err := cred.ReadTokenFile(s.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Describe(), err)
		}
		return cred.NewToken(raw, s.Describe())
	case *cred.EnvSource:
		return cred.NewToken(getenv(s.Var), s.Describe())
	case *condorCredSource:
		return s.read()
	}
	return src.Token(context.Background(), cred.TokenRequest{})
}
