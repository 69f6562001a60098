package wn

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// jwtFor signs claims with a throwaway HMAC key: the payload reads claims
// without verifying (the storage verifies).
func jwtFor(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("test key, never a real one"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(now time.Time, exp time.Duration, scope string, aud ...string) jwt.MapClaims {
	return jwt.MapClaims{"iss": "https://issuer.example", "sub": "pilot", "scope": scope, "aud": aud,
		"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-2 * time.Minute).Unix(), "exp": now.Add(exp).Unix(),
		"jti": "j-" + exp.String(), "wlcg.ver": "1.0"}
}

func token(t *testing.T, c jwt.MapClaims) *cred.Token {
	t.Helper()
	tok, err := cred.NewToken(jwtFor(t, c), "test")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// isolate clears every discovery place the payload looks at.
func isolate(t *testing.T) {
	t.Helper()
	for _, v := range []string{"BEARER_TOKEN", "BEARER_TOKEN_FILE", CondorCredsEnv} {
		t.Setenv(v, "")
	}
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	t.Setenv("X509_USER_PROXY", filepath.Join(t.TempDir(), "no-proxy"))
	if _, err := os.Stat("/tmp/bt_u" + strconv.Itoa(os.Geteuid())); err == nil {
		t.Skip("/tmp/bt_u<euid> exists on this machine: discovery would find it")
	}
}

func TestDiscoverWLCGOrder(t *testing.T) {
	isolate(t)
	now := time.Now().Truncate(time.Second) // claims hold whole seconds
	dir := t.TempDir()
	f := filepath.Join(dir, "tok")
	if err := os.WriteFile(f, []byte(jwtFor(t, claims(now, time.Hour, "storage.read:/a", "https://se"))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BEARER_TOKEN_FILE", f)
	jc := discover(os.Getenv, "")
	if jc.Token == nil || jc.TokErr != nil || tokenWhere(jc.Source) != "BEARER_TOKEN_FILE" {
		t.Fatalf("file token not found: %+v", jc)
	}
	// BEARER_TOKEN comes first.
	t.Setenv("BEARER_TOKEN", jwtFor(t, claims(now, 2*time.Hour, "storage.read:/b", "https://se")))
	jc = discover(os.Getenv, "")
	if tokenWhere(jc.Source) != "BEARER_TOKEN" || jc.Token.Claims().Scopes[0] != "storage.read:/b" {
		t.Fatalf("BEARER_TOKEN not preferred: %s %v", tokenWhere(jc.Source), jc.Token)
	}
	if got := strings.Join(jc.Looked, "; "); !strings.Contains(got, "BEARER_TOKEN: set") || !strings.Contains(got, "BEARER_TOKEN_FILE="+f+": found") {
		t.Errorf("looked: %s", got)
	}
}

func TestDiscoverCondorCreds(t *testing.T) {
	isolate(t)
	now := time.Now().Truncate(time.Second) // claims hold whole seconds
	dir := t.TempDir()
	raw := jwtFor(t, claims(now, time.Hour, "storage.read:/c", "https://se"))
	// The credmon's JSON form, and a bare token in another file.
	if err := os.WriteFile(filepath.Join(dir, "scitokens.use"), []byte(`{"access_token": "`+raw+`", "expires_in": 3600}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.use"), []byte(jwtFor(t, claims(now, time.Hour, "storage.read:/other", "https://se"))), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(CondorCredsEnv, dir)
	jc := discover(os.Getenv, "")
	if jc.Token == nil || jc.Token.Claims().Scopes[0] != "storage.read:/c" {
		t.Fatalf("scitokens.use not used: %+v %v", jc.Token, jc.TokErr)
	}
	if w := tokenWhere(jc.Source); w != "$_CONDOR_CREDS/scitokens.use" {
		t.Errorf("where %s", w)
	}
	tok, err := jc.Source.Token(t.Context(), cred.TokenRequest{})
	if err != nil || tok.Bearer() != raw {
		t.Fatalf("source token: %v", err)
	}
	// A refreshed file is read again.
	raw2 := jwtFor(t, claims(now, 3*time.Hour, "storage.read:/c", "https://se"))
	if err := os.WriteFile(filepath.Join(dir, "scitokens.use"), []byte(raw2), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := jc.Source.Token(t.Context(), cred.TokenRequest{}); err != nil || tok.Bearer() != raw2 {
		t.Fatalf("refreshed file not re-read: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scitokens.use"), []byte(`{"token_type":"bearer"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := jc.Source.Token(t.Context(), cred.TokenRequest{}); err == nil || !strings.Contains(err.Error(), "without an access_token") {
		t.Errorf("JSON without access_token: %v", err)
	}
}

func TestNoCredential(t *testing.T) {
	isolate(t)
	jc := discover(os.Getenv, "")
	o := credentialsOutcome(jc, []string{"https://se"}, time.Now())
	if o.State != engine.Critical {
		t.Fatalf("no credential: %s %s", o.State, o.Detail)
	}
	for _, want := range []string{"no usable credential", "looked in: BEARER_TOKEN: unset; BEARER_TOKEN_FILE: unset", "$_CONDOR_CREDS: unset", "missing"} {
		if !strings.Contains(o.Detail, want) {
			t.Errorf("detail %q lacks %q", o.Detail, want)
		}
	}
}

func TestBadTokenFile(t *testing.T) {
	isolate(t)
	f := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(f, []byte("not a token at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BEARER_TOKEN_FILE", f)
	o := credentialsOutcome(discover(os.Getenv, ""), []string{"https://se"}, time.Now())
	if o.State != engine.Critical || !strings.Contains(o.Detail, "token unusable") || strings.Contains(o.Detail, "not a token at all") {
		t.Errorf("bad token file: %s %q", o.State, o.Detail)
	}
}

func TestCredentialsOutcome(t *testing.T) {
	now := time.Now().Truncate(time.Second) // claims hold whole seconds
	auds := []string{"https://se:443", "roots://se:1094"}
	for _, c := range []struct {
		name  string
		c     jwt.MapClaims
		state engine.State
		want  []string
	}{
		{"good", claims(now, 20*time.Minute, "storage.read:/r", auds...), engine.OK,
			[]string{"iss=https://issuer.example", "sub=pilot", "aud=https://se:443,roots://se:1094", "20m left", "clock +1m vs iat", "scope read:/r"}},
		{"wrong audience", claims(now, time.Hour, "storage.read:/r", "https://elsewhere"), engine.Unknown,
			[]string{"not for the site's storage", "not the site"}},
		{"one audience missing", claims(now, time.Hour, "storage.read:/r", "https://se:443"), engine.Warning,
			[]string{"not for roots://se:1094"}},
		{"any audience", claims(now, time.Hour, "storage.read:/r", cred.AnyAudience), engine.OK, nil},
		{"node clock behind", func() jwt.MapClaims {
			c := claims(now, time.Hour, "storage.read:/r", auds...)
			c["iat"], c["nbf"] = now.Add(5*time.Minute).Unix(), now.Add(4*time.Minute).Unix()
			return c
		}(), engine.Warning, []string{"clock -5m vs iat", "node's clock is behind", "not valid for another 4m"}},
		{"expired", claims(now, -time.Hour, "storage.read:/r", auds...), engine.OK, []string{"EXPIRED 1h00m ago"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := credentialsOutcome(&jobCreds{Token: token(t, c.c), Source: &cred.EnvSource{Var: "BEARER_TOKEN"}, ProxyPath: "/tmp/x"}, auds, now)
			if o.State != c.state {
				t.Errorf("state %s, want %s (%s)", o.State, c.state, o.Detail)
			}
			for _, w := range c.want {
				if !strings.Contains(o.Detail, w) {
					t.Errorf("detail %q lacks %q", o.Detail, w)
				}
			}
		})
	}
}

func TestLifetimeOutcome(t *testing.T) {
	now := time.Now().Truncate(time.Second) // claims hold whole seconds
	tk := func(exp time.Duration, jti string) *cred.Token {
		c := claims(now, exp, "storage.read:/r", "https://se")
		c["jti"] = jti
		return token(t, c)
	}
	long, short, gone := tk(20*time.Minute, "a"), tk(4*time.Minute, "b"), tk(-time.Hour, "c")
	later := now.Add(5 * time.Minute)
	for _, c := range []struct {
		name       string
		start, end snapshot
		min        time.Duration
		state      engine.State
		want       []string
	}{
		{"ok", snapshot{now, long}, snapshot{now.Add(time.Minute), long}, 10 * time.Minute, engine.OK,
			[]string{"20m token lifetime left when the job started (wn_min_token_lifetime 10m)", "issued 1m before the job started", "19m left at job end", "not refreshed"}},
		{"short", snapshot{now, short}, snapshot{now, short}, 10 * time.Minute, engine.Warning,
			[]string{"only 4m token lifetime left when the job started, less than wn_min_token_lifetime 10m"}},
		{"no minimum", snapshot{now, short}, snapshot{now, short}, 0, engine.OK, []string{"no wn_min_token_lifetime"}},
		{"expired at start", snapshot{now, gone}, snapshot{now, gone}, 10 * time.Minute, engine.Critical,
			[]string{"token EXPIRED 1h00m before the job started"}},
		{"expired during the job", snapshot{now, short}, snapshot{later, short}, time.Minute, engine.Critical,
			[]string{"token expired during the job", "EXPIRED 1m before the job ended"}},
		{"refreshed", snapshot{now, short}, snapshot{later, long}, time.Minute, engine.OK,
			[]string{"REFRESHED during the job", "15m left at job end"}},
		{"no token", snapshot{now, nil}, snapshot{now, nil}, time.Minute, engine.Unknown, []string{"no token in the job"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := lifetimeOutcome(c.start, c.end, c.min)
			if o.State != c.state {
				t.Errorf("state %s, want %s (%s)", o.State, c.state, o.Detail)
			}
			for _, w := range c.want {
				if !strings.Contains(o.Detail, w) {
					t.Errorf("detail %q lacks %q", o.Detail, w)
				}
			}
		})
	}
}

func TestCompactScopes(t *testing.T) {
	got := compactScopes([]string{"storage.read:/reference.dat", "storage.read:/gridprobe/gp-20261207T194349Z-3a1a1ea5d695",
		"storage.create:/gridprobe/gp-20261207T194349Z-3a1a1ea5d695", "compute.read", "storage.modify:/gridprobe/gp-20261207T194349Z-3a1a1ea5d695"})
	want := "read:/reference.dat read,create,modify:/gridprobe/gp-…a5d695 compute.read"
	if got != want {
		t.Errorf("compactScopes = %q, want %q", got, want)
	}
}
