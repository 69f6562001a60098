package config_test

import (
	"errors"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	. "github.com/gridprobe/gridprobe/internal/config"
	_ "github.com/gridprobe/gridprobe/probes/all"
)

// env is the fake environment of the tests.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

var testEnv = env(map[string]string{
	"GP_PROXY": "/tmp/x509up_u1000",
	"SE_HOST":  "se.example.org",
	"EMPTY":    "",
	"DOLLAR":   "a$b",
	"TIMEOUT":  "90s",
	"BAD_DUR":  "sixty",
})

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestFullExample(t *testing.T) {
	data, err := os.ReadFile("testdata/sites.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseWith("sites.yaml", data, testEnv)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	se := mustURL(t, "https://se.example.org:1094/")
	want := &Config{
		File:   "sites.yaml",
		VO:     "testvo",
		Prefix: "org.testvo",
		Defaults: Defaults{
			Timeout: 45 * time.Second, Budget: 15 * time.Minute, Concurrency: 4,
			CertExpiryWarning: 7 * 24 * time.Hour, StorageInterval: 20 * time.Minute, CEInterval: 2 * time.Hour,
			WNMinLifetime:  DefaultWNMinTokenLifetime,
			ProfileVersion: map[string]string{"testvo": "1.1", "*": "1.0"},
		},
		Credentials: Credentials{
			X509: X509{
				Proxy:        "/tmp/x509up_u1000",
				ForeignProxy: "/etc/gridprobe/othervo-proxy.pem",
				NoVOMSProxy:  "/etc/gridprobe/novoms-proxy.pem",
				CADir:        "/etc/grid-security/certificates",
				VOMSDir:      "/etc/grid-security/vomsdir",
			},
			Token: Token{
				Issuer: "https://iam.example.org/", ClientID: "gridprobe",
				ClientSecretFile: "/etc/gridprobe/client-secret", CAFile: "/etc/gridprobe/issuer-ca.pem",
			},
		},
		Sites: []Site{
			{
				Name: "T2_XX_Example", VO: "testvo", Budget: 20 * time.Minute, Line: 25,
				Groups: Groups{Tier: "2", Country: "XX"}, // from the name
				Services: []Service{
					{
						Type: "webdav", URL: se, RawURL: "davs://se.example.org:1094/",
						Name: "org.testvo.SE-WebDAV", VO: "testvo", ScopeBase: "/testvo",
						ReadFile: FileRef{Path: "/testvo/reference.dat", Adler32: "1a2b3c4d", Size: 1048576},
						WriteDir: "/testvo/gridprobe", ForeignFile: "/othervo/reference.dat",
						Audience: "https://se.example.org:1094", Timeout: 45 * time.Second,
						Skip: []string{"10macaroon", "6crt-access"}, Interval: 20 * time.Minute, Line: 28, ProfileVersion: "1.1",
					},
					{
						Type: "xrootd", URL: mustURL(t, "roots://se.example.org:1094"), RawURL: "roots://se.example.org:1094",
						Name: "org.testvo.SE-XRootD-main", VO: "othervo", ReadFile: FileRef{Size: -1},
						Federation: "root://redirector.example.org:1094", Audience: "https://wlcg.cern.ch/jwt/v1/any",
						Timeout: 2 * time.Minute, Interval: 24 * time.Hour, Line: 35, ProfileVersion: "1.0",
					},
				},
			},
			{
				Name: "T1_YY_Other", VO: "cms", Budget: 15 * time.Minute, Line: 43,
				Groups: Groups{Tier: "1", Country: "YY"},
				Services: []Service{
					{
						Type: "arc-ce", URL: mustURL(t, "https://ce.example.org/arex"), RawURL: "https://ce.example.org/arex",
						Name: "org.testvo.CE-ARC", VO: "cms", ReadFile: FileRef{Size: -1}, Queue: "grid",
						Audience: "https://ce.example.org", Timeout: 45 * time.Second, Interval: 2 * time.Hour, Line: 46, ProfileVersion: "1.2",
					},
					{
						Type: "htcondor-ce", URL: mustURL(t, "condor://ce2.example.org:9619"), RawURL: "condor://ce2.example.org",
						Name: "org.testvo.CE-HTCondor", VO: "cms", ReadFile: FileRef{Size: -1},
						Audience: "condor://ce2.example.org:9619", Timeout: 45 * time.Second, Interval: 2 * time.Hour, Line: 47, ProfileVersion: "1.0",
					},
				},
			},
		},
	}
	if got := c.Sites[0].Services[0].From; got["read_file"] != "sites.yaml:31:9" || got["url"] != "sites.yaml:29:9" || got["profile_version"] != "sites.yaml:11:29 (defaults.profile_version)" {
		t.Errorf("From = %v", got)
	}
	clearFrom(c) // provenance: TestTemplates
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%#v\nwant\n%#v", c, want)
		for i := range min(len(c.Sites), len(want.Sites)) {
			for j := range min(len(c.Sites[i].Services), len(want.Sites[i].Services)) {
				if g, w := c.Sites[i].Services[j], want.Sites[i].Services[j]; !reflect.DeepEqual(g, w) {
					t.Errorf("site %d service %d:\n got %+v\nwant %+v", i, j, g, w)
				}
			}
		}
	}
}

func TestLoad(t *testing.T) {
	t.Setenv("GP_PROXY", "/tmp/x509up_u7")
	c, err := Load("testdata/sites.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.File != "testdata/sites.yaml" || c.Credentials.X509.Proxy != "/tmp/x509up_u7" {
		t.Errorf("File %q Proxy %q", c.File, c.Credentials.X509.Proxy)
	}
	_, err = Load("testdata/does-not-exist.yaml")
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read config: ") {
		t.Errorf("missing file: %v", err)
	}
}

// base is a minimal valid config; svc appends lines to its one service,
// so extra line i (0-based) is file line 7+i and a key there is at col 9.
const base = `vo: testvo
sites:
  - name: S
    services:
      - type: webdav
        url: https://se.example.org
`

func svc(lines ...string) string {
	var b strings.Builder
	b.WriteString(base)
	for _, l := range lines {
		b.WriteString("        " + l + "\n")
	}
	return b.String()
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // every line of the error, in order
	}{
		// Structure.
		{"empty file", "", []string{"sites.yaml:1:1: empty config: no sites"}},
		{"only comments", "# nothing\n", []string{"sites.yaml:1:1: empty config: no sites"}},
		{"null document", "~\n", []string{"sites.yaml:1:1: empty config: no sites"}},
		{"no sites key", "vo: testvo\n", []string{`sites.yaml:1:1: config: missing required field "sites" (or sites_from)`}},
		{"sites empty list", "vo: testvo\nsites: []\n", []string{"sites.yaml:2:8: sites: no sites"}},
		{"sites null", "vo: testvo\nsites:\n", []string{"sites.yaml:2:7: sites: no sites"}},
		{"top is a list", "- a\n- b\n", []string{"sites.yaml:1:1: config: expected a mapping, got a list"}},
		{"sites is a mapping", "sites:\n  name: x\n", []string{"sites.yaml:2:3: sites: expected a list, got a mapping"}},
		{"site is a scalar", "sites:\n  - T2_X\n", []string{`sites.yaml:2:5: site: expected a mapping, got the value "T2_X"`}},
		{"services is a scalar", "vo: v\nsites:\n  - name: S\n    services: webdav\n",
			[]string{`sites.yaml:4:15: services: expected a list, got the value "webdav"`}},
		{"no services", "vo: v\nsites:\n  - name: S\n", []string{`sites.yaml:3:5: site: missing required field "services"`}},
		{"services empty", "vo: v\nsites:\n  - name: S\n    services: []\n", []string{`sites.yaml:4:15: services: site "S" has no services`}},
		{"value is a list", svc("timeout: [1, 2]"), []string{"sites.yaml:7:18: timeout: expected a single value, got a list"}},
		{"syntax error", "vo: testvo\nbad line\nsites: []\n", []string{"sites.yaml:2: YAML syntax: could not find expected ':'"}},
		{"two documents", base + "---\nvo: x\n", []string{"sites.yaml:7:1: a second YAML document (\"---\"); sites.yaml holds one"}},
		{"duplicate key", svc("url: https://se2.example.org"), []string{`sites.yaml:7:9: service: duplicate key "url" (first at line 6)`}},
		{"key is a mapping", svc("? {a: 1}\n        : x"), []string{"sites.yaml:7:11: service: a key must be a plain word, got a mapping"}},

		// WLCG token profile version expected (profile.go).
		{"profile version grammar", svc("profile_version: one"), []string{`sites.yaml:7:26: profile_version "one": a profile version is MAJOR.MINOR, e.g. "1.1"`}},
		{"profile version unknown", svc("profile_version: 1.7"), []string{`sites.yaml:7:26: profile_version "1.7": gridprobe knows the WLCG Common JWT Profile versions 1.0, 1.1, 1.2`}},
		{"profile version per vo", "defaults:\n  profile_version: {cms: 1.1, cms: 1.2, \"bad vo\": 1.0, atlas: 2}\n" + base, []string{
			`sites.yaml:2:31: profile_version: "cms" is listed twice`,
			`sites.yaml:2:41: profile_version: vo "bad vo": use only letters, digits, '_', '.' and '-' (at most 128, not starting with a punctuation mark)`,
			`sites.yaml:2:63: profile_version.atlas "2": a profile version is MAJOR.MINOR, e.g. "1.1"`}},

		// Unknown keys, everywhere, with suggestions.
		{"unknown service key", svc("tiemout: 30s"), []string{`sites.yaml:7:9: unknown key "tiemout" in service (did you mean "timeout"?)`}},
		{"unknown top key", "vo: v\nsite: []\n", []string{
			`sites.yaml:1:1: config: missing required field "sites" (or sites_from)`,
			`sites.yaml:2:1: unknown key "site" in config (did you mean "sites"?)`}},
		{"unknown key no suggestion", svc("colour: red"), []string{`sites.yaml:7:9: unknown key "colour" in service (known: type, url, name, vo, scope_base, read_file, write_dir, foreign_file, federation, queue, audience, timeout, skip, interval, summary, path, issuer, scope, tpc_partners, profile_version)`}},
		{"unknown defaults key", "defaults:\n  timout: 1s\n" + base, []string{`sites.yaml:2:3: unknown key "timout" in defaults (did you mean "timeout"?)`}},
		{"unknown site key", "vo: v\nsites:\n  - name: S\n    budgit: 1m\n    services: [{type: webdav, url: 'https://a'}]\n",
			[]string{`sites.yaml:4:5: unknown key "budgit" in site (did you mean "budget"?)`}},
		{"unknown read_file key", svc("read_file: {path: /a, adler: 00000001}"), []string{`sites.yaml:7:31: unknown key "adler" in read_file (did you mean "adler32"?)`}},
		{"unknown x509 key", "credentials:\n  x509:\n    proxi: /tmp/p\n" + base, []string{`sites.yaml:3:5: unknown key "proxi" in x509 (did you mean "proxy"?)`}},
		{"inline client secret", "credentials:\n  token:\n    client_secret: hunter2\n" + base, []string{
			`sites.yaml:3:5: unknown key "client_secret" in token: secrets are never written in sites.yaml; put it in a file readable only by the probe and set client_secret_file`}},
		{"inline token", "credentials:\n  token:\n    token: abc\n" + base, []string{
			`sites.yaml:3:5: unknown key "token" in token: secrets are never written in sites.yaml; put it in a file and set credentials.token.file`}},
		{"jwt value", svc("audience: eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4eXoifQ.c2lnbmF0dXJl"), []string{
			"sites.yaml:7:19: audience: the value looks like a JWT; sites.yaml never holds secrets (reference a file instead)"}},
		{"pem value", "credentials:\n  x509:\n    proxy: \"-----BEGIN PRIVATE KEY-----\"\n" + base, []string{
			"sites.yaml:3:12: proxy: the value looks like a PEM block; sites.yaml never holds secrets (reference a file instead)"}},
		{"control character", svc(`audience: "a\tb"`), []string{"sites.yaml:7:19: audience: contains a control character (tab, newline, ...)"}},

		// Types and URLs.
		{"missing type", "vo: v\nsites:\n  - name: S\n    services:\n      - url: https://a\n", []string{`sites.yaml:5:9: service: missing required field "type"`}},
		{"missing url", "vo: v\nsites:\n  - name: S\n    services:\n      - type: webdav\n", []string{`sites.yaml:5:9: service: missing required field "url"`}},
		{"empty url", "vo: v\nsites:\n  - name: S\n    services:\n      - type: webdav\n        url: ''\n", []string{`sites.yaml:6:14: url: must not be empty`}},
		{"bad type", "vo: v\nsites:\n  - name: S\n    services:\n      - type: webdva\n        url: https://a\n",
			[]string{`sites.yaml:5:15: type "webdva": must be one of arc-ce, htcondor-ce, issuer, webdav, xrootd (did you mean "webdav"?)`}},
		{"bad scheme webdav", "vo: v\nsites:\n  - name: S\n    services:\n      - type: webdav\n        url: htps://x\n",
			[]string{`sites.yaml:6:14: url "htps://x": scheme must be https or davs for type webdav`}},
		{"http refused", "vo: v\nsites:\n  - name: S\n    services:\n      - type: webdav\n        url: http://x\n",
			[]string{`sites.yaml:6:14: url "http://x": scheme must be https or davs for type webdav`}},
		{"bad scheme xrootd", "vo: v\nsites:\n  - name: S\n    services:\n      - type: xrootd\n        url: https://x\n",
			[]string{`sites.yaml:6:14: url "https://x": scheme must be root or roots for type xrootd`}},
		{"bad scheme arc", "vo: v\nsites:\n  - name: S\n    services:\n      - {type: arc-ce, url: 'root://x'}\n",
			[]string{`sites.yaml:5:29: url "root://x": scheme must be https for type arc-ce`}},
		{"bad scheme condor", "vo: v\nsites:\n  - name: S\n    services:\n      - {type: htcondor-ce, url: 'https://x:9619'}\n",
			[]string{`sites.yaml:5:34: url "https://x:9619": scheme must be condor for type htcondor-ce`}},
		{"no host", "vo: v\nsites:\n  - name: S\n    services:\n      - {type: htcondor-ce, url: 'condor:ce:9619'}\n",
			[]string{`sites.yaml:5:34: url "condor:ce:9619": host required (scheme://host[:port])`}},
		{"bad port", "vo: v\nsites:\n  - name: S\n    services:\n      - type: xrootd\n        url: root://se\n        federation: root://r:99999\n",
			[]string{`sites.yaml:7:21: federation "root://r:99999": port "99999" out of range`}},
		{"user info", "vo: v\nsites:\n  - name: S\n    services:\n      - type: webdav\n        url: https://me:pw@se.example.org/x\n",
			[]string{`sites.yaml:6:14: url "https://…@se.example.org/x": must not contain a user name or password (credentials are configured under credentials:)`}},
		{"token in query", "vo: v\nsites:\n  - name: S\n    services:\n      - type: webdav\n        url: https://se.example.org/x?authz=abc\n",
			[]string{`sites.yaml:6:14: url "https://se.example.org/x?…": must not carry a token (query parameter "authz")`}},
		{"unparsable url", "vo: v\nsites:\n  - name: S\n    services:\n      - type: webdav\n        url: 'https://se:x:y/'\n",
			[]string{`sites.yaml:6:14: url "https://se:x:y/": not a URL: invalid port ":x:y" after host`}},
		{"federation scheme", "vo: v\nsites:\n  - name: S\n    services:\n      - type: xrootd\n        url: root://se\n        federation: https://r\n",
			[]string{`sites.yaml:7:21: federation "https://r": scheme must be root or roots for type xrootd federation`}},
		{"federation on webdav", svc("federation: root://r"), []string{"sites.yaml:7:9: federation: only for type xrootd, not webdav"}},
		{"queue on storage", svc("queue: grid"), []string{"sites.yaml:7:9: queue: only for type arc-ce, htcondor-ce, not webdav"}},
		{"storage field on ce", "vo: v\nsites:\n  - name: S\n    services:\n      - type: arc-ce\n        url: https://ce\n        write_dir: /v/x\n",
			[]string{"sites.yaml:7:9: write_dir: only for type webdav, xrootd, not arc-ce"}},

		// Values.
		{"bad duration", svc("timeout: sixty"), []string{`sites.yaml:7:18: timeout: "sixty" is not a duration`}},
		{"duration without unit", svc("timeout: 60"), []string{`sites.yaml:7:18: timeout: "60" is not a duration (missing unit, e.g. "60s")`}},
		{"zero timeout", svc("timeout: 0s"), []string{`sites.yaml:7:18: timeout: must be positive, got "0s"`}},
		{"negative interval", svc("interval: -1d"), []string{`sites.yaml:7:19: interval: must be positive, got "-1d"`}},
		{"zero budget", "defaults: {budget: 0s}\n" + base, []string{`sites.yaml:1:20: budget: must be positive, got "0s"`}},
		{"concurrency zero", "defaults:\n  concurrency: 0\n" + base, []string{"sites.yaml:2:16: concurrency: must be at least 1, got 0"}},
		{"concurrency word", "defaults:\n  concurrency: many\n" + base, []string{`sites.yaml:2:16: concurrency: "many" is not a whole number`}},
		{"budget shorter than timeout", "defaults: {budget: 1m}\n" + base + "        timeout: 2m\n",
			[]string{`sites.yaml:8:18: site "S": budget 1m0s is shorter than the timeout 2m0s of the service at line 6`}},
		{"default budget shorter than default timeout", "defaults: {budget: 30s}\n" + base,
			[]string{`sites.yaml:1:20: site "S": budget 30s is shorter than the timeout 1m0s of the service at line 6`}},
		{"adler32", svc("read_file: {path: /testvo/f, adler32: xyz}"), []string{`sites.yaml:7:47: read_file.adler32: "xyz" is not 8 hex digits`}},
		{"size negative", svc("read_file: {path: /testvo/f, size: -1}"), []string{`sites.yaml:7:44: read_file.size: "-1" is not a size in bytes (a whole number ≥ 0)`}},
		{"read_file without path", svc("read_file: {size: 3}"), []string{`sites.yaml:7:20: read_file: missing required field "path"`}},
		{"relative path", svc("write_dir: testvo/x"), []string{`sites.yaml:7:20: write_dir "testvo/x": must be an absolute path`}},
		{"dotdot path", svc("foreign_file: /testvo/../etc/passwd"), []string{`sites.yaml:7:23: foreign_file "/testvo/../etc/passwd": must not contain ".."`}},
		{"unclean path", svc("read_file: {path: /testvo//f}"), []string{`sites.yaml:7:27: read_file.path "/testvo//f": not a clean path (write "/testvo/f")`}},
		{"write_dir root", svc("write_dir: /"), []string{"sites.yaml:7:20: write_dir: must not be / (the probe creates and deletes <write_dir>/<run id>/; use a directory of its own)"}},
		{"write_dir vo base", svc("write_dir: /testvo/"), []string{`sites.yaml:7:20: write_dir "/testvo": must not be the VO base itself; use a directory of its own below it`}},
		{"write_dir scope base", svc("scope_base: /data/vo", "write_dir: /data/vo"), []string{`sites.yaml:8:20: write_dir "/data/vo": must not be the VO base itself; use a directory of its own below it`}},
		{"write_dir outside scope", svc("scope_base: /testvo", "write_dir: /tmp/x"), []string{`sites.yaml:8:20: write_dir "/tmp/x": outside scope_base "/testvo", so no token can write there`}},
		{"read_file outside scope", svc("scope_base: /testvo", "read_file: {path: /testvo2/f}"), []string{`sites.yaml:8:27: read_file.path "/testvo2/f": outside scope_base "/testvo", so no token can read it`}},
		{"foreign_file inside scope", svc("scope_base: /testvo", "foreign_file: /testvo/f"), []string{`sites.yaml:8:23: foreign_file "/testvo/f": inside scope_base "/testvo"; it must be a file the VO's tokens cannot reach`}},
		{"skip id", svc("skip: [14tkn-read, tkn-write, 14tkn-read]"), []string{
			`sites.yaml:7:28: skip: "tkn-write" is not a check id (like "14tkn-read")`,
			`sites.yaml:7:39: skip: "14tkn-read" is listed twice`}},
		{"skip not a list", svc("skip: 14tkn-read"), []string{`sites.yaml:7:15: skip: expected a list, got the value "14tkn-read"`}},
		{"bad site name", "vo: v\nsites:\n  - name: 'T2 X'\n    services: [{type: webdav, url: 'https://a'}]\n",
			[]string{`sites.yaml:3:11: site name "T2 X": use only letters, digits, '_', '.' and '-' (at most 128, not starting with a punctuation mark)`}},
		{"missing site name", "vo: v\nsites:\n  - services: [{type: webdav, url: 'https://a'}]\n", []string{`sites.yaml:3:5: site: missing required field "name"`}},
		{"duplicate site", "vo: v\nsites:\n  - name: S\n    services: [{type: webdav, url: 'https://a'}]\n  - name: S\n    services: [{type: webdav, url: 'https://a'}]\n",
			[]string{`sites.yaml:5:11: name: site "S" is already defined at line 3`}},
		{"duplicate endpoint", base + "      - type: webdav\n        url: https://se.example.org\n",
			[]string{
				`sites.yaml:7:9: service name "org.testvo.SE-WebDAV" is already used by the service at line 5 of site "S"; set name: to tell them apart`,
				`sites.yaml:8:14: url: this webdav endpoint is already defined at line 5`}},
		{"duplicate service name", base + "      - type: webdav\n        url: https://se2.example.org\n",
			[]string{`sites.yaml:7:9: service name "org.testvo.SE-WebDAV" is already used by the service at line 5 of site "S"; set name: to tell them apart`}},
		{"no vo anywhere", "sites:\n  - name: S\n    services: [{type: webdav, url: 'https://a'}]\n",
			[]string{"sites.yaml:3:16: service: no vo (set vo at the top, in the site or in the service)"}},
		{"bad vo", "vo: 'my vo'\n" + base[len("vo: testvo\n"):], []string{`sites.yaml:1:5: vo "my vo": use only letters, digits, '_', '.' and '-' (at most 128, not starting with a punctuation mark)`,
			"sites.yaml:5:9: service: no vo (set vo at the top, in the site or in the service)"}},

		// Credentials.
		{"issuer and file", "credentials:\n  token:\n    issuer: https://iam\n    client_id: c\n    client_secret_file: /s\n    file: /t\n" + base,
			[]string{"sites.yaml:6:5: token: set either issuer (client credentials) or file, not both"}},
		{"issuer without client", "credentials:\n  token:\n    issuer: https://iam\n" + base, []string{
			`sites.yaml:3:5: token: missing required field "client_id" (needed with issuer)`,
			`sites.yaml:3:5: token: missing required field "client_secret_file" (needed with issuer)`}},
		{"issuer http", "credentials:\n  token:\n    issuer: http://iam\n    client_id: c\n    client_secret_file: /s\n" + base,
			[]string{`sites.yaml:3:13: issuer "http://iam": scheme must be https for the token issuer`}},
		{"client id empty with issuer", "credentials:\n  token:\n    issuer: https://iam\n    client_id: ${EMPTY}\n    client_secret_file: /s\n" + base,
			[]string{"sites.yaml:4:16: client_id: must not be empty (needed with issuer)"}},
		{"issuer and client id unset: no follow-up errors", "credentials:\n  token:\n    issuer: ${NOPE}\n    client_id: ${NOPE2}\n    client_secret_file: /s\n" + base,
			[]string{
				"sites.yaml:3:13: issuer: environment variable NOPE is not set (write ${NOPE:-default} to allow that)",
				"sites.yaml:4:16: client_id: environment variable NOPE2 is not set (write ${NOPE2:-default} to allow that)"}},
		{"client id without issuer", "credentials:\n  token:\n    client_id: c\n" + base, []string{"sites.yaml:3:5: token: client_id is only used with issuer"}},

		// Environment.
		{"unset variable", svc("audience: ${NOPE}"), []string{"sites.yaml:7:19: audience: environment variable NOPE is not set (write ${NOPE:-default} to allow that)"}},
		{"unset variable in duration", svc("timeout: ${NOPE}"), []string{"sites.yaml:7:18: timeout: environment variable NOPE is not set (write ${NOPE:-default} to allow that)"}},
		{"bad value from variable", svc("timeout: ${BAD_DUR}"), []string{`sites.yaml:7:18: timeout: "sixty" is not a duration`}},
		{"lone dollar", svc("audience: $HOME"), []string{`sites.yaml:7:19: audience: a lone "$" (write $$ for a dollar sign, ${NAME} for a variable)`}},
		{"unclosed", svc("audience: ${HOME"), []string{`sites.yaml:7:19: audience: "${" without a closing "}"`}},
		{"bad name", svc("audience: ${A-b}"), []string{`sites.yaml:7:19: audience: "A-b" is not a variable name in ${...} (use ${NAME} or ${NAME:-default})`}},
		{"unset in skip", svc("skip: ['${NOPE}']"), []string{"sites.yaml:7:16: skip: environment variable NOPE is not set (write ${NOPE:-default} to allow that)"}},

		// Many problems at once, in file order.
		{"all errors in order", "vo: testvo\ndefaults: {timeout: x}\nsites:\n  - name: S\n    services:\n      - type: webdav\n        url: htps://a\n        tiemout: 1s\n      - type: nope\n",
			[]string{
				`sites.yaml:2:21: timeout: "x" is not a duration`,
				`sites.yaml:7:14: url "htps://a": scheme must be https or davs for type webdav`,
				`sites.yaml:8:9: unknown key "tiemout" in service (did you mean "timeout"?)`,
				`sites.yaml:9:9: service: missing required field "url"`,
				`sites.yaml:9:15: type "nope": must be one of arc-ce, htcondor-ce, issuer, webdav, xrootd`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseWith("sites.yaml", []byte(tt.in), testEnv)
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Errorf("config returned with an error")
			}
			got := strings.Split(err.Error(), "\n")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("input:\n%s\ngot:\n  %s\nwant:\n  %s", tt.in, strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			var list Errors
			if !errors.As(err, &list) || len(list) != len(tt.want) {
				t.Errorf("error is not an Errors of %d: %T", len(tt.want), err)
			}
		})
	}
}
