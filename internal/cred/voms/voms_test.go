package voms

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test PKI (openssl + voms-proxy-fake, ../testdata/mkpki.sh) is built
// lazily, once, so fuzz workers that only need the committed seed do not pay
// for it.
var (
	pkiOnce sync.Once
	pkiPath string
	pkiErr  error
)

func pkiDir(t testing.TB) string {
	t.Helper()
	pkiOnce.Do(func() {
		dir, err := os.MkdirTemp("", "voms-pki-")
		if err != nil {
			pkiErr = err
			return
		}
		out, err := exec.Command("bash", "../testdata/mkpki.sh", dir).CombinedOutput()
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

func readChain(t testing.TB, name string) []*x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pkiDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	var chain []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	return chain
}

func caPool(t *testing.T) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pkiDir(t), "ca/ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatal("no CA cert")
	}
	return p
}

func TestRealVOMSProxyFake(t *testing.T) {
	chain := readChain(t, "proxy.pem")
	acs, err := FromChain(chain)
	if err != nil {
		t.Fatal(err)
	}
	if len(acs) != 1 {
		t.Fatalf("got %d ACs, want 1", len(acs))
	}
	a := acs[0]
	if a.VO != "testvo" || a.Server != "voms.localhost:15000" || a.PolicyAuthority != "testvo://voms.localhost:15000" {
		t.Errorf("VO/server = %q %q %q", a.VO, a.Server, a.PolicyAuthority)
	}
	want := []string{"/testvo/Role=NULL/Capability=NULL", "/testvo/prod/Role=production/Capability=NULL"}
	if !slices.Equal(a.FQANs, want) {
		t.Errorf("FQANs = %q, want %q", a.FQANs, want)
	}
	if a.Issuer != "/DC=org/DC=gridprobe/CN=voms.localhost" {
		t.Errorf("Issuer = %q", a.Issuer)
	}
	user := chain[len(chain)-1] // voms-proxy-fake writes proxy, key, user cert
	// GFD.182 says the holder's issuer; voms-proxy-fake (like voms-proxy-init)
	// writes the holder certificate's subject. Either names the user's cert.
	if (a.HolderIssuer != DNOf(user.RawIssuer) && a.HolderIssuer != DNOf(user.RawSubject)) ||
		a.HolderSerial == nil || a.HolderSerial.Cmp(user.SerialNumber) != 0 {
		t.Errorf("holder = %q %v, want user cert %v", a.HolderIssuer, a.HolderSerial, user.SerialNumber)
	}
	if d := time.Until(a.NotAfter); d < 11*time.Hour || d > 13*time.Hour {
		t.Errorf("NotAfter in %v, want ~12h", d)
	}
	if err := a.Verify(filepath.Join(pkiDir(t), "vomsdir"), caPool(t), time.Now()); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestVerifyFailures(t *testing.T) {
	acs, err := FromChain(readChain(t, "proxy.pem"))
	if err != nil || len(acs) != 1 {
		t.Fatal(acs, err)
	}
	a := acs[0]
	// No .lsc for the VO: untrusted.
	err = a.Verify(t.TempDir(), caPool(t), time.Now())
	if err == nil || !strings.Contains(err.Error(), "voms.localhost.lsc") {
		t.Errorf("empty vomsdir: %v", err)
	}
	// An .lsc naming another signer.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "testvo"), 0o755)
	os.WriteFile(filepath.Join(dir, "testvo/voms.localhost.lsc"), []byte("/CN=someone else\n/DC=org/DC=gridprobe/CN=gridprobe Test CA\n"), 0o644)
	if err := a.Verify(dir, caPool(t), time.Now()); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("wrong lsc: %v", err)
	}
	// Signer not chaining to the roots.
	if err := a.Verify(filepath.Join(pkiDir(t), "vomsdir"), x509.NewCertPool(), time.Now()); err == nil || !strings.Contains(err.Error(), "not trusted") {
		t.Errorf("no roots: %v", err)
	}
	// Tampered FQAN: signature must fail.
	b := a
	b.tbs = []byte(strings.Replace(string(a.tbs), "production", "productioN", 1))
	if err := b.Verify(filepath.Join(pkiDir(t), "vomsdir"), caPool(t), time.Now()); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("tampered: %v", err)
	}
}

func TestExpiredAC(t *testing.T) {
	acs, err := FromChain(readChain(t, "expiredproxy.pem"))
	if err != nil || len(acs) != 1 {
		t.Fatal(acs, err)
	}
	if err := acs[0].Valid(time.Now()); err == nil || !strings.Contains(err.Error(), "expired at") {
		t.Errorf("Valid = %v, want expired", err)
	}
}

func TestNoVOMS(t *testing.T) {
	acs, err := FromChain(readChain(t, "plain.pem"))
	if err != nil || acs != nil {
		t.Errorf("plain proxy: %v %v", acs, err)
	}
}

func TestCommittedFixture(t *testing.T) {
	b, err := os.ReadFile("testdata/testvo-ac.der")
	if err != nil {
		t.Fatal(err)
	}
	acs, err := ParseExtension(b)
	if err != nil || len(acs) != 1 || acs[0].VO != "testvo" || len(acs[0].FQANs) != 2 {
		t.Fatalf("fixture: %+v %v", acs, err)
	}
	if len(acs[0].signers) != 1 || DNOf(acs[0].signers[0].RawSubject) != acs[0].Issuer {
		t.Errorf("signer certs not read from the AC: %d", len(acs[0].signers))
	}
}

func TestGarbage(t *testing.T) {
	for _, in := range [][]byte{nil, {0x30}, {0x30, 0x00}, {0x30, 0x02, 0x30, 0x00}, {0x04, 0x00}, []byte("not der")} {
		acs, err := ParseExtension(in)
		if len(in) == 2 && in[0] == 0x30 && in[1] == 0 {
			if err != nil || len(acs) != 0 {
				t.Errorf("empty SEQUENCE: %v %v", acs, err)
			}
			continue
		}
		if len(in) == 4 {
			if err != nil || len(acs) != 0 {
				t.Errorf("empty ACSeq: %v %v", acs, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseExtension(%x) = %v, want error", in, acs)
		}
	}
}

func FuzzParseExtension(f *testing.F) {
	// testdata/testvo-ac.der: the AC extension of a real voms-proxy-fake proxy
	// (made once by ../testdata/mkpki.sh).
	seed, err := os.ReadFile("testdata/testvo-ac.der")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		acs, err := ParseExtension(b)
		if err != nil && acs != nil {
			t.Fatal("both result and error")
		}
		for _, a := range acs {
			_ = a.Valid(time.Now())
			if a.VO == "" {
				t.Fatal("AC accepted without a VO")
			}
		}
	})
}
