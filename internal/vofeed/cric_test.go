package vofeed

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestCRICSiteQuery(t *testing.T) {
	data, err := os.ReadFile("testdata/cric-200.json")
	if err != nil {
		t.Fatal(err)
	}
	c, probs, err := ParseCRIC("cric-200.json", data, "cms")
	if err != nil || len(probs) > 0 {
		t.Fatalf("err %v, problems %v", err, probs)
	}
	if len(c.Sites) != 200 || len(c.Feed.Sites) != 0 {
		t.Fatalf("%d sites, %d service sites", len(c.Sites), len(c.Feed.Sites))
	}
	var cern *CRICSite
	for i := range c.Sites {
		if c.Sites[i].Name == "T0_CH_CERN" {
			cern = &c.Sites[i]
		}
	}
	if cern == nil || cern.RCSite != "CERN-PROD" || cern.Tier != "0" || cern.Country != "CH" || cern.Federation != "CH-CERN" {
		t.Errorf("T0_CH_CERN: %+v", cern)
	}
}

// The three shapes of service output: a service query keyed by service, the
// same grouped by rcsite, and site entries listing their services.
func TestCRICServiceShapes(t *testing.T) {
	in := `{
  "ce01.example.org": {"endpoint": "ce01.example.org:9619", "flavour": "HTCONDOR-CE", "rcsite": "EXAMPLE-LCG2",
                       "state": "ACTIVE", "status": "production", "usage": {"cms": [{"site": "T2_XX_Example"}]}},
  "OTHER-GRID": [
    {"endpoint": "davs://dav.other.org:2880", "flavour": "WebDAV", "status": "testing"},
    {"endpoint": "xrd.other.org:1094", "flavour": "XRootD", "state": "DISABLED"}
  ],
  "T2_YY_Site": {"name": "T2_YY_Site", "rc_tier_level": 2, "country": "Yland", "federation": "YY-FED",
                 "services": [{"hostname": "ARC.yy.org", "flavour": "ARC-CE", "queue": "grid", "production": false},
                              {"hostname": "se.yy.org", "flavour": "XROOTD", "paths": [["RD", "/store"]]}]}
}`
	c, probs, err := ParseCRIC("svc.json", []byte(in), "cms")
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 || probs[0].String() != "svc.json:6:5: $.OTHER-GRID[1]: state DISABLED (not ACTIVE): left out" {
		t.Errorf("problems %v", probs)
	}
	var got []string
	for _, s := range c.Feed.Sites {
		for _, sv := range s.Services {
			got = append(got, s.ExpName+"|"+s.Name+"|"+sv.Host+"|"+sv.Flavour+"|"+sv.Endpoint+"|"+
				map[bool]string{true: "prod", false: "test"}[sv.Production]+"|"+sv.Where.Path)
		}
	}
	want := []string{
		"T2_XX_Example|EXAMPLE-LCG2|ce01.example.org|HTCONDOR-CE|ce01.example.org:9619|prod|$.ce01\\.example\\.org",
		"OTHER-GRID|OTHER-GRID|dav.other.org|WebDAV|davs://dav.other.org:2880|test|$.OTHER-GRID[0]",
		"T2_YY_Site||arc.yy.org|ARC-CE||test|$.T2_YY_Site.services[0]",
		"T2_YY_Site||se.yy.org|XROOTD||prod|$.T2_YY_Site.services[1]",
	}
	want[0] = strings.Replace(want[0], `$.ce01\.example\.org`, `$["ce01.example.org"]`, 1)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("services:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(c.Sites) != 1 || c.Sites[0] != (CRICSite{Name: "T2_YY_Site", Tier: "2", Country: "Yland", Federation: "YY-FED", Where: c.Sites[0].Where}) {
		t.Errorf("sites %+v", c.Sites)
	}
}

func TestCRICProblemsNameTheJSONPath(t *testing.T) {
	in := `{"T2_XX": {"name": "T2_XX", "services": [
  {"hostname": "a", "flavour": "WEBDAV"},
  {"hostname": "b", "flavour": "XROOTD"},
  {"hostname": "c", "flavour": 3},
  {"hostname": "d"},
  {"flavour": "WEBDAV"},
  {"hostname": "f", "flavour": "WEBDAV", "paths": "/store"},
  "g"]},
 "T2_YY": {"name": "T2_YY", "rc_tier_level": "gold", "services": []},
 "T2_ZZ": 7}`
	c, probs, err := ParseCRIC("c.json", []byte(in), "cms")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range probs {
		got = append(got, p.String())
	}
	want := []string{
		`c.json:4:32: $.T2_XX.services[2].flavour: expected a string, got the number 3; entry left out`,
		`c.json:5:3: $.T2_XX.services[3]: service without a flavour: left out`,
		`c.json:6:3: $.T2_XX.services[4]: service without hostname or endpoint: nothing to probe; left out`,
		`c.json:7:51: $.T2_XX.services[5].paths: expected a list of [id, path] pairs, got the string "/store"; entry left out`,
		`c.json:8:3: $.T2_XX.services[6]: expected a service object, got the string "g"; left out`,
		`c.json:9:46: $.T2_YY.rc_tier_level: not a tier (0-9, "Tier-2" or "T2"): the string "gold"; entry left out`,
		`c.json:10:11: $.T2_ZZ: expected a site or service object, got the number 7; left out`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(c.Feed.Sites) != 1 || len(c.Feed.Sites[0].Services) != 2 {
		t.Errorf("kept %+v", c.Feed.Sites)
	}
}

func TestCRICErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"truncated", `{"T2_XX": {"name": "T2_XX", "services": [{"hostname": "a", "fla`,
			`c.json:1:64: $.T2_XX.services[0]: truncated: the document ends inside this value`},
		{"malformed", "{\"T2_XX\": {\"name\": \"T2_XX\",\n \"tier\": 2,, \"x\": 1}}",
			`c.json:2:12: $.T2_XX: malformed JSON: invalid character ',' looking for beginning of object key string`},
		{"a list", `[{"name": "x"}]`, `c.json:1:1: $: expected an object keyed by name (CRIC ?json output), got a list`},
		{"two values", `{} {}`, `c.json:1:4: $: more than one JSON value in the document`},
		{"duplicate key", `{"a": {}, "a": {}}`, `c.json:1:11: $.a: duplicate key "a" in one object`},
		{"deep", strings.Repeat("[", 40), `c.json:1:33: $[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: nested more than 32 deep`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseCRIC("c.json", []byte(tc.in), "cms")
			var e *Error
			if !errors.As(err, &e) || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}
