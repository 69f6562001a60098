package dashboards

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/publish"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
)

// testPublisher is a real publisher to the testbed broker whose metrics go
// serve registers, so the publishing alert has data; it closes when the test ends.
func testPublisher(t *testing.T) *publish.Publisher {
	t.Helper()
	env := testbedenv.Load(t, "GRIDPROBE_STOMP_URL")
	testbedenv.BrokerLock(t, env, false)
	u, err := url.Parse(os.Getenv("GRIDPROBE_STOMP_URL"))
	if err != nil || u.Host == "" {
		u, _ = url.Parse(env["GRIDPROBE_STOMP_URL"])
	}
	login, pass, err := publish.ReadCredentials(env["GRIDPROBE_STOMP_CREDENTIALS"])
	if err != nil {
		t.Fatal(err)
	}
	p, err := publish.New(publish.Options{Broker: u.Host, Destination: "/topic/gridprobe.test.dashboards" /* nobody subscribes: the broker drops them */, Login: login, Passcode: pass,
		SpoolDir: filepath.Join(t.TempDir(), "spool"), SpoolMaxMessages: 10000, SpoolMaxBytes: 64 << 20, MaxMessageBytes: 64 << 10,
		QueueSize: 10000, Timeout: 10 * time.Second, GatheredAt: "dashboards-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}
