package bench

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/testbedenv"
)

func TestMeasureUnitCostsAgainstTestbed(t *testing.T) {
	env := testbedenv.Load(t, "GRIDPROBE_WEBDAV_URL")
	u, err := url.Parse(env["GRIDPROBE_WEBDAV_URL"])
	if err != nil {
		t.Fatal(err)
	}
	c, err := MeasureUnitCosts(context.Background(), u.Host, env["X509_CERT_DIR"], 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(c)
	if c.Version != "TLS 1.3" || c.Curve == "" || c.Cipher == "" {
		t.Errorf("negotiated %q %q %q", c.Version, c.Cipher, c.Curve)
	}
	// an RSA verification and a key exchange at least; less than a
	// 4096-bit RSA signature would take many times over
	if c.Handshake < 20*time.Microsecond || c.Handshake > 100*time.Millisecond {
		t.Errorf("handshake %v", c.Handshake)
	}
	// AES-GCM and adler32 run at 0.1–20 GB/s on anything that runs Go; make
	// test runs with -race, whose instrumentation slows pure-Go loops such as
	// hash/adler32 about 30× (10.7 ms/MiB seen on a loaded 2-CPU machine,
	// 0.33 ms/MiB without -race), hence the upper bound: it still catches a
	// measurement of the wrong thing (a sleep, a whole file per MiB).
	for name, d := range map[string]time.Duration{"aes-gcm": c.DecryptPerMiB, "adler32": c.Adler32PerMiB, "receive": c.ReceivePerMiB} {
		if d < 50*time.Microsecond || d > 100*time.Millisecond {
			t.Errorf("%s: %v per MiB", name, d)
		}
	}
}

func TestWorkOfTheLightSet(t *testing.T) {
	w := WorkOf(map[string][]string{
		"webdav": {"1connection", "2ssl", "14tkn-read"},
		"xrootd": {"1connection", "3version", "14tkn-read"},
	}, 1<<20)
	if w.Handshakes != 3 || w.Checksummed != 2<<20 || w.Decrypted != 2<<20+2*rangedRead || len(w.Uncounted) != 0 {
		t.Errorf("%+v", w)
	}
	u := UnitCosts{Handshake: time.Millisecond, ReceivePerMiB: 100 * time.Microsecond, DecryptPerMiB: 100 * time.Microsecond, Adler32PerMiB: 300 * time.Microsecond}
	want := 3*time.Millisecond + 400*time.Microsecond + 1562 + 600*time.Microsecond // 2 ranged reads: 8 KiB at 200 µs/MiB
	if got := w.Floor(u); got != want {
		t.Errorf("floor %v, want %v", got, want)
	}
	if w := WorkOf(map[string][]string{"xrootd": {"7crt-write"}}, 1); len(w.Uncounted) != 1 {
		t.Errorf("uncounted %v", w.Uncounted)
	}
}

func TestMeanCosts(t *testing.T) {
	a := UnitCosts{Handshake: 1000, ReceivePerMiB: 10, DecryptPerMiB: 20, Adler32PerMiB: 30, Cipher: "x"}
	b := UnitCosts{Handshake: 3000, ReceivePerMiB: 30, DecryptPerMiB: 40, Adler32PerMiB: 50, Cipher: "y"}
	m := MeanCosts(a, b)
	if m.Handshake != 2000 || m.ReceivePerMiB != 20 || m.DecryptPerMiB != 30 || m.Adler32PerMiB != 40 || m.Cipher != "x" {
		t.Errorf("%+v", m)
	}
}
