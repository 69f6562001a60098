package cred

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// The test PKI — CA with CRL, host/revoked/expired/rogue server certs, and
// proxies made by the real voms-proxy-fake — is built by testdata/mkpki.sh,
// lazily and once per test binary.
var (
	pkiOnce sync.Once
	pkiPath string
	pkiErr  error
)

func pkiDir(t testing.TB) string {
	t.Helper()
	pkiOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cred-pki-")
		if err != nil {
			pkiErr = err
			return
		}
		out, err := exec.Command("bash", "testdata/mkpki.sh", dir).CombinedOutput()
		if err != nil {
			pkiErr = fmt.Errorf("building test PKI with openssl and voms-proxy-fake (both required): %v\n%s", err, out)
			return
		}
		pkiPath = dir
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pkiPath != "" {
		os.RemoveAll(pkiPath)
	}
	os.Exit(code)
}
