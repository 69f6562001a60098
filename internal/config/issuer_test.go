package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	. "github.com/gridprobe/gridprobe/internal/config"
)

const issuerSite = `sites:
  - name: CENTRAL
    services:
      - type: issuer
        url: https://iam.example.org/
`

func TestRefreshTokenAndIssuerService(t *testing.T) {
	in := `vo: testvo
credentials:
  token:
    issuer: https://iam.example.org
    issuer_url: https://iam-node1.example.org:8443
    client_id: gridprobe
    refresh_token_file: /run/gridprobe/rt
` + issuerSite + `      - type: issuer
        name: org.testvo.Token-Issuer-node1
        url: https://iam-node1.example.org:8443
        issuer: https://iam.example.org/
        scope: "storage.read:/probe  compute.read"
        interval: 5m
`
	c, err := ParseWith("sites.yaml", []byte(in), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	tok := c.Credentials.Token
	if tok.RefreshTokenFile != "/run/gridprobe/rt" || tok.IssuerURL != "https://iam-node1.example.org:8443" || tok.ClientSecretFile != "" {
		t.Errorf("token %+v", tok)
	}
	a, b := c.Sites[0].Services[0], c.Sites[0].Services[1]
	if a.Name != "org.testvo.Token-Issuer" || a.Issuer != "https://iam.example.org" || a.Scope != DefaultIssuerScope ||
		a.Interval != DefaultStorageInterval {
		t.Errorf("issuer service defaults: %+v", a)
	}
	if b.Issuer != "https://iam.example.org" || b.Scope != "storage.read:/probe compute.read" || b.Interval != 5*time.Minute {
		t.Errorf("issuer service: %+v", b)
	}
	// A key for private_key_jwt instead of a secret.
	in = "vo: v\ncredentials:\n  token:\n    issuer: https://iam\n    client_id: c\n    client_key_file: /k.pem\n" + issuerSite
	if c, err = ParseWith("sites.yaml", []byte(in), testEnv); err != nil || c.Credentials.Token.ClientKeyFile != "/k.pem" {
		t.Errorf("client_key_file: %v", err)
	}
}

func TestRefreshTokenAndIssuerErrors(t *testing.T) {
	tok := func(body string) string { return "vo: v\ncredentials:\n  token:\n" + body + issuerSite }
	tests := []struct{ name, in, want string }{
		{"refresh without issuer", tok("    refresh_token_file: /rt\n"), "sites.yaml:4:5: token: refresh_token_file is only used with issuer"},
		{"refresh without client id", tok("    issuer: https://iam\n    refresh_token_file: /rt\n"), `sites.yaml:4:5: token: missing required field "client_id" (needed with issuer)`},
		{"refresh and file", tok("    issuer: https://iam\n    client_id: c\n    refresh_token_file: /rt\n    file: /t\n"),
			"sites.yaml:7:5: token: set either issuer (client credentials) or file, not both"},
		{"key and secret", tok("    issuer: https://iam\n    client_id: c\n    client_secret_file: /s\n    client_key_file: /k\n"),
			"sites.yaml:7:5: token: set either client_secret_file or client_key_file (private_key_jwt), not both"},
		{"issuer_url http", tok("    issuer: https://iam\n    client_id: c\n    client_secret_file: /s\n    issuer_url: http://node\n"),
			`sites.yaml:7:17: issuer_url "http://node": scheme must be https for the token issuer`},
		{"issuer key on webdav", "vo: v\nsites:\n  - name: S\n    services:\n      - type: webdav\n        url: https://se\n        issuer: https://iam\n",
			"sites.yaml:7:9: issuer: only for type issuer, not webdav"},
		{"issuer over http", "vo: v\nsites:\n  - name: S\n    services:\n      - type: issuer\n        url: http://iam\n",
			`sites.yaml:6:14: url "http://iam": scheme must be https for type issuer`},
		{"queue on issuer", "vo: v\nsites:\n  - name: S\n    services:\n      - type: issuer\n        url: https://iam\n        queue: q\n",
			"sites.yaml:7:9: queue: only for type arc-ce, htcondor-ce, not issuer"},
	}
	for _, tt := range tests {
		_, err := ParseWith("sites.yaml", []byte(tt.in), testEnv)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: got\n%v\nwant\n%s", tt.name, err, tt.want)
		}
	}
}

// The new Token fields name files, never secret values.
func TestTokenFieldsAreLocations(t *testing.T) {
	tp := reflect.TypeFor[Token]()
	for i := range tp.NumField() {
		f := tp.Field(i)
		if strings.Contains(strings.ToLower(f.Name), "token") && !strings.HasSuffix(f.Name, "File") {
			t.Errorf("Token.%s", f.Name)
		}
	}
}
