package storage

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/storage/wlcgtest"
)

// Diagnoses of refused token checks, on servers misconfigured as sites
// misconfigure theirs (the model's policy), and an issuer whose clock runs
// ahead. Each must name the cause and the party, and stop at the variant
// accepted.
func TestDiagnosis(t *testing.T) {
	cases := []struct {
		name   string
		tokens *wlcgtest.Issuer
		pol    func(p *wlcgtest.Policy)
		check  string
		state  engine.State
		party  string
		words  []string
	}{
		{name: "audience list lacks the URL used", pol: func(p *wlcgtest.Policy) { p.Audience = "root://se.example:1" },
			check: IDTknRead, state: engine.Critical, party: "site",
			words: []string{"site: refused with aud mem://se.example:1, accepted with aud root://se.example:1: the SE's audience list lacks the URL clients use (profile §2.1.1)"}},
		{name: "only the any audience", pol: func(p *wlcgtest.Policy) { p.Audience = "https://elsewhere.example" },
			check: IDTknRead, state: engine.Critical, party: "site",
			words: []string{"accepted with aud https://wlcg.cern.ch/jwt/v1/any: the SE's audience list lacks the endpoint's URLs"}},
		{name: "base path differs", pol: func(p *wlcgtest.Policy) { p.Base = "/" },
			check: IDTknWrite, state: engine.Critical, party: "site",
			words: []string{"accepted with the absolute path storage.create:/testvo/gridprobe/", "the SE's base path for this issuer is not scope_base /testvo"}},
		{name: "untrusted issuer", pol: func(p *wlcgtest.Policy) { p.Issuer = "https://other-issuer.example" },
			check: IDTknRead, state: engine.Critical, party: "site",
			words: []string{"site: the SE accepted none of", "tokens of https://issuer.example", "untrusted issuer, keys not fetched, or no area mapped"}},
		{name: "issuer clock ahead", tokens: &wlcgtest.Issuer{Ahead: 5 * time.Minute},
			check: IDTknRead, state: engine.Unknown, party: "central",
			words: []string{"central: the token is not valid yet: its nbf is ", "ahead of this host's clock", "the issuer's clock runs ahead"}},
		{name: "newer version refused", tokens: &wlcgtest.Issuer{Version: "1.2"}, pol: func(p *wlcgtest.Policy) { p.Break["wlcg-ver-minor"] = true },
			check: IDTknRead, state: engine.Unknown, party: "central",
			words: []string{`refused with wlcg.ver "1.2", accepted with 1.0`}},
		{name: "delete needs read", pol: func(p *wlcgtest.Policy) { p.DeleteNeedsRead = true },
			check: IDTknWrite, state: engine.Critical, party: "site",
			words: []string{"accepted with storage.read added: the SE needs storage.read to delete", "delete <scratch>/17tkn-write.dat with the token storage.modify:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := newMemFS()
			tokens := c.tokens
			if tokens == nil {
				tokens = narrowTokens()
			}
			b := testBook(t, fs, tokens)
			pol := policy(b.Audience())
			if c.pol != nil {
				c.pol(&pol)
			}
			fs.deny = wlcgPolicy(pol)
			res := run(t, b, c.check)[c.check]
			want(t, res, c.state, c.words...)
			d := res.Diagnosis
			if d == nil {
				t.Fatal("no diagnosis")
			}
			if d.Party != c.party || string(res.Party) != c.party || d.Cause == "" || !strings.HasPrefix(res.Detail, c.party+": ") {
				t.Errorf("party %q cause %q detail %q", d.Party, d.Cause, res.Detail)
			}
			if len(d.Steps) > diagMaxSteps+2 {
				t.Errorf("%d steps", len(d.Steps))
			}
			accepted := 0
			for _, s := range d.Steps {
				t.Logf("step %-14s %-60s %s", s.Vary, s.Token, s.Answer)
				if s.Accepted {
					accepted++
				}
				if strings.Contains(s.Token, "eyJ") {
					t.Errorf("a step shows a token: %s", s.Token)
				}
			}
			wantAccepted := 1
			if c.party == "central" && c.name == "issuer clock ahead" || c.name == "untrusted issuer" {
				wantAccepted = 0
			}
			if accepted != wantAccepted {
				t.Errorf("%d steps accepted, want %d", accepted, wantAccepted)
			}
			if wantAccepted == 1 && !strings.Contains(strings.Join(res.Reproduce, "\n"), "# diagnosis: ") {
				t.Errorf("no decisive pair in the reproduce lines:\n%s", strings.Join(res.Reproduce, "\n"))
			}
			assertClean(t, b, fs)
		})
	}
}

// TestNoDiagnosisWithoutRefusal: an OK check has none, a refusal of a
// token that does not narrow has none (nothing to vary).
func TestNoDiagnosisWithoutRefusal(t *testing.T) {
	fs := newMemFS()
	b := testBook(t, fs, narrowTokens())
	fs.deny = wlcg(b.Audience())
	if res := run(t, b, IDTknRead)[IDTknRead]; res.Diagnosis != nil {
		t.Errorf("diagnosis of an OK check: %+v", res.Diagnosis)
	}
	fs2 := newMemFS()
	b2 := testBook(t, fs2, broadTokens())
	pol := policy(b2.Audience())
	pol.Audience = "root://se.example:1"
	fs2.deny = wlcgPolicy(pol)
	res := run(t, b2, IDTknRead)[IDTknRead]
	if res.State != engine.Critical || res.Diagnosis != nil {
		t.Errorf("%s %q diagnosis %+v", res.State, res.Detail, res.Diagnosis)
	}
}

// TestDiagnosisUsesWhatTheSEAccepted: when the SE accepted a token with the
// refused token's audience earlier in the service (17tkn-write's write,
// before its delete is refused), the diagnosis does not vary the audience
// (one step says why) and still finds the cause; when nothing was accepted
// (14tkn-read refused), it does vary it.
func TestDiagnosisUsesWhatTheSEAccepted(t *testing.T) {
	varied := func(steps []engine.DiagnosisStep) (audience, skipped int) {
		for _, s := range steps {
			switch s.Vary {
			case "audience":
				audience++
			case "audience (not varied)":
				skipped++
			}
		}
		return audience, skipped
	}
	fs := newMemFS()
	b := testBook(t, fs, narrowTokens())
	pol := policy(b.Audience())
	pol.DeleteNeedsRead = true
	fs.deny = wlcgPolicy(pol)
	res := run(t, b, IDTknWrite)[IDTknWrite]
	want(t, res, engine.Critical, "accepted with storage.read added")
	if a, s := varied(res.Diagnosis.Steps); a != 0 || s != 1 {
		t.Errorf("after an accepted write with the same audience: %d audience variants tried, %d skip steps; want 0 and 1", a, s)
	}

	fs = newMemFS()
	b = testBook(t, fs, narrowTokens())
	pol = policy(b.Audience())
	pol.Audience = "https://elsewhere.example"
	fs.deny = wlcgPolicy(pol)
	res = run(t, b, IDTknRead)[IDTknRead]
	if a, s := varied(res.Diagnosis.Steps); a == 0 || s != 0 {
		t.Errorf("with nothing accepted: %d audience variants tried, %d skip steps; want some and 0", a, s)
	}
}

// TestAcceptedTokensByIssuerAndAudience: what the SE accepted counts for a
// refused token only with the same issuer (and, for the audience, the same
// audience).
func TestAcceptedTokensByIssuerAndAudience(t *testing.T) {
	tok := func(iss, aud string) *cred.Token {
		enc := base64.RawURLEncoding
		c, _ := json.Marshal(map[string]any{"iss": iss, "aud": aud, "sub": "u", "exp": time.Now().Add(time.Hour).Unix()})
		tk, err := cred.NewToken(enc.EncodeToString([]byte(`{"alg":"RS256"}`))+"."+enc.EncodeToString(c)+".c2ln", "unit")
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	var a acceptedTokens
	a.note(tok("https://a.example", "https://se:1"), "write x")
	for _, c := range []struct {
		iss, aud            string
		sameAud, sameIssuer bool
	}{
		{"https://a.example", "https://se:1", true, true},
		{"https://a.example", "https://other:1", false, true},
		{"https://b.example", "https://se:1", false, false},
	} {
		_, aud := a.withAudience(tok(c.iss, c.aud))
		_, iss := a.ofIssuer(tok(c.iss, c.aud))
		if aud != c.sameAud || iss != c.sameIssuer {
			t.Errorf("%s %s: audience known %v, issuer known %v; want %v, %v", c.iss, c.aud, aud, iss, c.sameAud, c.sameIssuer)
		}
	}
}
