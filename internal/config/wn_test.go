package config

import (
	"strings"
	"testing"
	"time"
)

const wnBase = `vo: testvo
sites:
  - name: S
    services:
      - type: htcondor-ce
        url: condor://ce.example:9619
`

func TestWNMinTokenLifetime(t *testing.T) {
	for _, c := range []struct {
		defaults string
		want     time.Duration
	}{
		{"", DefaultWNMinTokenLifetime},
		{"defaults: {timeout: 30s}\n", DefaultWNMinTokenLifetime},
		{"defaults: {wn_min_token_lifetime: 25m}\n", 25 * time.Minute},
		{"defaults: {wn_min_token_lifetime: 1d}\n", 24 * time.Hour},
		{"defaults: {wn_min_token_lifetime: 0s}\n", 0},
		{"defaults:\n  wn_min_token_lifetime: ${WN_MIN:-90s}\n", 90 * time.Second},
	} {
		cfg, err := parse("sites.yaml", []byte(c.defaults+wnBase), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Errorf("%q: %v", c.defaults, err)
			continue
		}
		if got := cfg.Defaults.WNMinLifetime; got != c.want {
			t.Errorf("%q: wn_min_token_lifetime %s, want %s", c.defaults, got, c.want)
		}
	}
}

func TestWNMinTokenLifetimeErrors(t *testing.T) {
	for _, c := range []struct{ defaults, want string }{
		{"defaults:\n  wn_min_token_lifetime: 10\n", `sites.yaml:2:26: wn_min_token_lifetime: "10" is not a duration (missing unit, e.g. "10s")`},
		{"defaults:\n  wn_min_token_lifetime: -5m\n", `sites.yaml:2:26: wn_min_token_lifetime: must be positive, got "-5m"`},
		{"defaults:\n  wn_min_token_lifetme: 5m\n", `unknown key "wn_min_token_lifetme" in defaults (did you mean "wn_min_token_lifetime"?)`},
	} {
		_, err := Parse("sites.yaml", []byte(c.defaults+wnBase))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.defaults, err, c.want)
			continue
		}
		if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
			t.Errorf("%q: %d errors, want exactly one (no repeats from the second pass): %v", c.defaults, n, err)
		}
	}
}

// TestWNSkipIDs: worker-node check ids can be skipped like any other.
func TestWNSkipIDs(t *testing.T) {
	cfg, err := Parse("sites.yaml", []byte(wnBase+"        skip: [WN-21tkn-write, 16tkn-access]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Sites[0].Services[0].Skip, ","); got != "WN-21tkn-write,16tkn-access" {
		t.Errorf("skip = %s", got)
	}
	if _, err := Parse("sites.yaml", []byte(wnBase+"        skip: [WN-basic]\n")); err == nil {
		t.Error("skip WN-basic (no number) accepted")
	}
}

// TestWNRedactedRoundTrip: the effective config written by Redacted (what
// the CE ships to its test job) parses back to the same lifetime.
func TestWNRedactedRoundTrip(t *testing.T) {
	cfg, err := Parse("sites.yaml", []byte("defaults: {wn_min_token_lifetime: 7m}\n"+wnBase))
	if err != nil {
		t.Fatal(err)
	}
	y, err := cfg.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("redacted.yaml", y)
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	if back.Defaults.WNMinLifetime != 7*time.Minute {
		t.Errorf("round trip: %s\n%s", back.Defaults.WNMinLifetime, y)
	}
}
