package config_test

import (
	"reflect"
	"testing"
	"time"

	. "github.com/gridprobe/gridprobe/internal/config"
	_ "github.com/gridprobe/gridprobe/probes/all"
)

func TestExpandEnv(t *testing.T) {
	lookup := env(map[string]string{"A": "alpha", "EMPTY": "", "DOLLAR": "x$y", "REF": "${A}"})
	tests := []struct {
		in, want string
		problems []string
	}{
		{"plain", "plain", nil},
		{"${A}", "alpha", nil},
		{"pre-${A}-post", "pre-alpha-post", nil},
		{"${A}${A}", "alphaalpha", nil},
		{"${UNSET:-/tmp/x}", "/tmp/x", nil},
		{"${A:-/tmp/x}", "alpha", nil},
		{"${EMPTY:-dflt}", "dflt", nil}, // as in the shell: empty takes the default
		{"${EMPTY}", "", nil},           // set but empty is allowed
		{"${UNSET:-}", "", nil},
		{"${UNSET:-${A}}", "alpha", nil}, // nested default
		{"${UNSET:-${UNSET2:-deep}}", "deep", nil},
		{"${UNSET:-a}b}", "ab}", nil},
		{"$$", "$", nil},
		{"$${A}", "${A}", nil}, // escaped: no expansion
		{"cost: $$5", "cost: $5", nil},
		{"${DOLLAR}", "x$y", nil}, // values are not expanded again
		{"${REF}", "${A}", nil},
		{"${UNSET}", "", []string{"environment variable UNSET is not set (write ${UNSET:-default} to allow that)"}},
		{"${U1}/${U2}", "", []string{
			"environment variable U1 is not set (write ${U1:-default} to allow that)",
			"environment variable U2 is not set (write ${U2:-default} to allow that)"}},
		{"${UNSET:-${U2}}", "", []string{"environment variable U2 is not set (write ${U2:-default} to allow that)"}},
		{"$A", "", []string{`a lone "$" (write $$ for a dollar sign, ${NAME} for a variable)`}},
		{"a$", "", []string{`a lone "$" (write $$ for a dollar sign, ${NAME} for a variable)`}},
		{"${A", "", []string{`"${" without a closing "}"`}},
		{"${}", "", []string{`"" is not a variable name in ${...} (use ${NAME} or ${NAME:-default})`}},
		{"${1A}", "", []string{`"1A" is not a variable name in ${...} (use ${NAME} or ${NAME:-default})`}},
		{"${A:=x}", "", []string{`"A:=x" is not a variable name in ${...} (use ${NAME} or ${NAME:-default})`}},
	}
	for _, tt := range tests {
		got, problems := ExpandEnv(tt.in, lookup)
		if got != tt.want || !reflect.DeepEqual(problems, tt.problems) {
			t.Errorf("ExpandEnv(%q) = %q, %q; want %q, %q", tt.in, got, problems, tt.want, tt.problems)
		}
	}
}

// Expansion happens before conversion: durations, numbers and URLs can
// come from the environment.
func TestEnvInFields(t *testing.T) {
	in := "vo: ${VO:-testvo}\ndefaults:\n  timeout: ${TIMEOUT}\n  concurrency: ${CONC:-3}\n" +
		"sites:\n  - name: S\n    services:\n      - type: webdav\n        url: https://${SE_HOST}:1094\n" +
		"        write_dir: /testvo/$$dir\n        audience: ${EMPTY}\n"
	c, err := ParseWith("sites.yaml", []byte(in), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sites[0].Services[0]
	if c.VO != "testvo" || c.Defaults.Timeout != 90*time.Second || c.Defaults.Concurrency != 3 ||
		s.RawURL != "https://se.example.org:1094" || s.WriteDir != "/testvo/$dir" ||
		s.Audience != "https://se.example.org:1094" { // empty after expansion: the default applies
		t.Errorf("got vo %q timeout %v conc %d url %q write_dir %q audience %q",
			c.VO, c.Defaults.Timeout, c.Defaults.Concurrency, s.RawURL, s.WriteDir, s.Audience)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"60s", time.Minute, true},
		{"10m", 10 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"14d", 14 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"2d3h4m", 51*time.Hour + 4*time.Minute, true},
		{"-1d", -24 * time.Hour, true},
		{"0", 0, true},
		{"500ms", 500 * time.Millisecond, true},
		{"d", 0, false},
		{"1dd", 0, false},
		{"1 d", 0, false},
		{"1days", 0, false},
		{"sixty", 0, false},
		{"60", 0, false},
		{"", 0, false},
		{"99999999999d", 0, false}, // overflows
		{"1e3d", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseDuration(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// One sites.yaml can serve an issuer setup and a token-file setup: empty
// values from the environment count as not given.
func TestTokenSourceFromEnv(t *testing.T) {
	in := "credentials:\n  token:\n    issuer: ${ISS:-}\n    client_id: ${CID:-}\n    client_secret_file: ${CSF:-}\n    file: ${BTF:-}\n" + base
	c, err := ParseWith("sites.yaml", []byte(in), env(map[string]string{"BTF": "/run/bt"}))
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Credentials.Token; tok != (Token{File: "/run/bt"}) {
		t.Errorf("file setup: %+v", tok)
	}
	c, err = ParseWith("sites.yaml", []byte(in), env(map[string]string{"ISS": "https://iam.example.org", "CID": "probe", "CSF": "/etc/s"}))
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Credentials.Token; tok != (Token{Issuer: "https://iam.example.org", ClientID: "probe", ClientSecretFile: "/etc/s"}) {
		t.Errorf("issuer setup: %+v", tok)
	}
}
