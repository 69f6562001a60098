package tokensource

import (
	"testing"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
)

func TestNewPicksTheSource(t *testing.T) {
	iss := "https://iam.example.org"
	src, err := New(config.Token{Issuer: iss, ClientID: "c", RefreshTokenFile: "/rt"})
	if _, ok := src.(*cred.RefreshToken); !ok || err != nil {
		t.Errorf("refresh: %T %v", src, err)
	}
	src, err = New(config.Token{Issuer: iss, ClientID: "c", ClientKeyFile: "/k"})
	if _, ok := src.(*cred.ClientCredentials); !ok || err != nil {
		t.Errorf("key: %T %v", src, err)
	}
	src, err = New(config.Token{Issuer: iss, ClientID: "c", ClientSecretFile: "/s", IssuerURL: "https://node:8443"})
	if ti, ok := cred.AsIssuer(src); !ok || err != nil || ti.IssuerURL() != iss {
		t.Errorf("secret: %T %v", src, err)
	}
	src, err = New(config.Token{File: "/t"})
	if _, ok := src.(*cred.FileSource); !ok || err != nil {
		t.Errorf("file: %T %v", src, err)
	}
	if _, err = New(config.Token{Issuer: "http://iam", ClientID: "c", ClientSecretFile: "/s"}); err == nil {
		t.Error("http issuer accepted")
	}
}
