package publish

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/publish/stomptest"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
	_ "github.com/gridprobe/gridprobe/probes/all" // the service types sites.yaml names
)

// broker is the testbed's RabbitMQ as the tests see it.
type broker struct {
	env            map[string]string
	plain, secure  string // host:port
	login, passwd  string
	caFile         string
	certFile, keyF string
}

func testBroker(t *testing.T, exclusive bool) broker {
	t.Helper()
	env := testbedenv.Load(t, "GRIDPROBE_STOMP_URL", "GRIDPROBE_STOMPS_URL")
	testbedenv.BrokerLock(t, env, exclusive)
	b := broker{env: env, plain: hostOf(t, env["GRIDPROBE_STOMP_URL"]), secure: hostOf(t, env["GRIDPROBE_STOMPS_URL"]),
		caFile: env["GRIDPROBE_STOMP_CA"], certFile: env["GRIDPROBE_STOMP_CLIENT_CERT"], keyF: env["GRIDPROBE_STOMP_CLIENT_KEY"]}
	var err error
	if b.login, b.passwd, err = ReadCredentials(env["GRIDPROBE_STOMP_CREDENTIALS"]); err != nil {
		t.Fatal(err)
	}
	return b
}

func hostOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// dest is a queue of this test's own.
func dest(t *testing.T) string {
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("/queue/gridprobe.test.%s.%x", strings.ToLower(strings.ReplaceAll(t.Name(), "/", ".")), b)
}

// options are fast-retrying publisher options for the plain port.
func (b broker) options(t *testing.T, d string) Options {
	return Options{Broker: b.plain, Destination: d, Login: b.login, Passcode: b.passwd,
		SpoolDir: filepath.Join(t.TempDir(), "spool"), SpoolMaxMessages: 10000, SpoolMaxBytes: 64 << 20,
		MaxMessageBytes: 64 << 10, QueueSize: 10000, Timeout: 10 * time.Second,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond, GatheredAt: "gridprobe-test"}
}

// consume subscribes to d on the plain port with the independent client.
func (b broker) consume(t *testing.T, ctx context.Context, d string) *stomptest.Consumer {
	t.Helper()
	c, err := stomptest.Dial(ctx, b.plain, nil, b.login, b.passwd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Subscribe(d); err != nil {
		t.Fatal(err)
	}
	return c
}

// results makes n distinct results of a service's round.
func results(n int) []engine.Result {
	out := make([]engine.Result, n)
	for i := range out {
		r := sampleResult()
		r.Check = fmt.Sprintf("%dtest", i+1)
		r.State = engine.State(i % 4)
		r.Detail = fmt.Sprintf("result %d", i)
		out[i] = r
	}
	return out
}

// logLines captures log lines and signals each one that contains a word.
type logLines struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	match map[string]chan struct{}
}

func newLogLines(words ...string) *logLines {
	l := &logLines{match: map[string]chan struct{}{}}
	for _, w := range words {
		l.match[w] = make(chan struct{})
	}
	return l
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for w, ch := range l.match {
		if bytes.Contains(p, []byte(w)) {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	}
	return len(p), nil
}

func (l *logLines) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

func (l *logLines) wait(t *testing.T, word string, d time.Duration) {
	t.Helper()
	select {
	case <-l.match[word]:
	case <-time.After(d):
		t.Fatalf("no log line with %q within %s; log:\n%s", word, d, l)
	}
}

func (l *logLines) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// collect reads messages until every id in want arrived; it returns how
// often each id came.
func collect(t *testing.T, ctx context.Context, c *stomptest.Consumer, want map[string]bool) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for missing := len(want); missing > 0; {
		f, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("%v (%d of %d messages arrived)", err, len(want)-missing, len(want))
		}
		id := f.Header["gridprobe-id"]
		if want[id] && seen[id] == 0 {
			missing--
		}
		seen[id]++
	}
	return seen
}

func TestPublishRoundReadBack(t *testing.T) {
	b := testBroker(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := dest(t)
	c := b.consume(t, ctx, d)
	reg := prometheus.NewRegistry()
	o := b.options(t, d)
	o.Registerer = reg
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	in := results(14)
	p.Publish(in)
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	byMetric := map[string]engine.Result{}
	for _, r := range in {
		byMetric[r.Metric()] = r
	}
	got := map[string]int{}
	for range in {
		f, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Header["persistent"] != "true" || f.Header["gridprobe-id"] == "" || !strings.HasPrefix(f.Header["content-type"], "text/plain") {
			t.Errorf("headers %v", f.Header)
		}
		m, err := stomptest.ParseMetricOutput(string(f.Body))
		if err != nil {
			t.Fatalf("%v\n%s", err, f.Body)
		}
		r, ok := byMetric[m["metricName"]]
		if !ok {
			t.Fatalf("unexpected message %v", m)
		}
		got[m["metricName"]]++
		if m["metricStatus"] != r.State.String() || m["siteName"] != r.Site || m["voName"] != r.VO ||
			m["hostName"] != "se.example.org" || m["serviceFlavour"] != "XROOTD" || !strings.Contains(m["summaryData"], r.Detail) {
			t.Errorf("message %v does not match result %+v", m, r)
		}
	}
	if len(got) != len(in) {
		t.Errorf("%d distinct metrics of %d", len(got), len(in))
	}
	st := p.Stats()
	if st.Published != 14 || st.Spooled != 14 || st.Dropped != 0 || st.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
	if v := testutil.ToFloat64(p.m.published); v != 14 {
		t.Errorf("%s = %v", MetricPublished, v)
	}
	if v := testutil.ToFloat64(p.m.lastSuccess); time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("%s = %v", MetricLastSuccess, v)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n < 10 {
		t.Errorf("registry: %d series, %v", n, err)
	}
}

// TestBrokerKilledAndRestarted kills RabbitMQ (SIGKILL: no clean shutdown)
// while messages are being sent, publishes more while it is down, restarts
// it with testbed/broker/up.sh and checks that every result arrives: at
// least once (see the package comment for why not exactly once).
func TestBrokerKilledAndRestarted(t *testing.T) {
	b := testBroker(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	d := dest(t)
	c := b.consume(t, ctx, d)
	lines := newLogLines("connected to the broker", "cannot connect to the broker")
	o := b.options(t, d)
	o.Log = lines.logger()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	const first, second = 400, 100
	p.Publish(results(first))
	// Kill the broker as soon as the consumer has seen some of the first batch.
	seen := map[string]int{}
	for n := 0; n < 20; n++ {
		f, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen[f.Header["gridprobe-id"]]++
	}
	pid := brokerPID(t, b)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	t.Logf("broker (pid %d) killed after %d messages were acknowledged", pid, p.Stats().Published)
	// What the broker pushed to the consumer before it died (auto-acknowledged,
	// so gone from the queue) is still readable; then the connection ends.
	for {
		f, err := c.Next(ctx)
		if err != nil {
			break
		}
		seen[f.Header["gridprobe-id"]]++
	}
	lines.wait(t, "cannot connect to the broker", time.Minute)
	p.Publish(results(first + second)[first:]) // the round goes on while the broker is down
	restartBroker(t)

	rest := map[string]bool{}
	for i := 1; i <= first+second; i++ {
		if id := fmt.Sprintf("%s.%d", p.runID, i); seen[id] == 0 {
			rest[id] = true
		}
	}
	for id, n := range collect(t, ctx, b.consume(t, ctx, d), rest) {
		seen[id] += n
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	dups := 0
	for _, n := range seen {
		if n > 1 {
			dups += n - 1
		}
	}
	st := p.Stats()
	t.Logf("%d results, all delivered; %d duplicates; publisher: %+v", first+second, dups, st)
	if st.Dropped != 0 || st.Pending != 0 || st.Published < first+second {
		t.Errorf("stats %+v", st)
	}
}

func brokerPID(t *testing.T, b broker) int {
	data, err := os.ReadFile(b.env["GRIDPROBE_BROKER_PIDFILE"])
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscan(string(data), &pid); err != nil || pid <= 1 {
		t.Fatalf("broker pid file: %q", data)
	}
	return pid
}

// waitGone waits for the killed process to be gone (its pidfd would be the
// event; polling /proc is what bash scripts here do too).
func waitGone(t *testing.T, pid int) {
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker %d still running 30 s after SIGKILL", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func restartBroker(t *testing.T) {
	t.Helper()
	cmd := exec.Command(filepath.Join(testbedenv.RepoRoot(), "testbed", "broker", "up.sh"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("testbed/broker/up.sh: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}

func TestAuthRefused(t *testing.T) {
	b := testBroker(t, false)
	lines := newLogLines("the broker refused the login")
	o := b.options(t, dest(t))
	o.Passcode = "wrong-password-for-the-test"
	o.Log = lines.logger()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p.Publish(results(5))
	if d := time.Since(start); d > time.Second {
		t.Errorf("Publish took %s", d) // a round never waits for the broker
	}
	lines.wait(t, "the broker refused the login", 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = p.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "5 messages not yet acknowledged") {
		t.Errorf("Close: %v", err)
	}
	if v := testutil.ToFloat64(p.m.errors.WithLabelValues(ErrAuth)); v < 1 {
		t.Errorf("%s{reason=auth} = %v", MetricErrors, v)
	}
	if st := p.Stats(); st.Published != 0 || st.Pending != 5 {
		t.Errorf("stats %+v", st)
	}
	if strings.Contains(lines.String(), o.Passcode) {
		t.Error("the password is in the log")
	}
	// The messages wait in the spool: the next publisher with the right
	// password delivers them.
	d := dest(t)
	o2 := b.options(t, d)
	o2.SpoolDir = o.SpoolDir
	c := b.consume(t, context.Background(), d)
	p2, err := New(o2)
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if err := p2.Close(ctx2); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := c.Next(ctx2); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTLS(t *testing.T) {
	b := testBroker(t, false)
	host := strings.Split(b.secure, ":")[0]
	ca, err := os.ReadFile(b.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	clientCert, err := tls.LoadX509KeyPair(b.certFile, b.keyF)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		login bool
		cert  bool
	}{{"password", true, false}, {"client certificate", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			d := dest(t)
			c := b.consume(t, ctx, d)
			o := b.options(t, d)
			o.Broker = b.secure
			o.TLS = &tls.Config{ServerName: host, RootCAs: pool, MinVersion: tls.VersionTLS12}
			if tc.cert {
				o.TLS.Certificates = []tls.Certificate{clientCert}
			}
			if !tc.login {
				o.Login, o.Passcode = "", ""
			}
			p, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			p.Publish(results(3))
			if err := p.Close(ctx); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if _, err := c.Next(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}

	t.Run("untrusted broker certificate", func(t *testing.T) {
		lines := newLogLines("TLS with the broker failed")
		o := b.options(t, dest(t))
		o.Broker = b.secure
		o.TLS = &tls.Config{ServerName: host, RootCAs: x509.NewCertPool()} // trusts nothing
		o.Log = lines.logger()
		p, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		p.Publish(results(2))
		lines.wait(t, "TLS with the broker failed", 30*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := p.Close(ctx); err == nil {
			t.Error("Close reported everything delivered")
		}
		if v := testutil.ToFloat64(p.m.errors.WithLabelValues(ErrTLS)); v < 1 {
			t.Errorf("%s{reason=tls} = %v", MetricErrors, v)
		}
		if !strings.Contains(lines.String(), "certificate signed by unknown authority") {
			t.Errorf("log does not say why:\n%s", lines)
		}
	})
}

func TestOversizedDetails(t *testing.T) {
	b := testBroker(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := dest(t)
	c := b.consume(t, ctx, d)
	lines := newLogLines("details cut")
	o := b.options(t, d)
	o.MaxMessageBytes = 2048
	o.Log = lines.logger()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	r := sampleResult()
	r.Reproduce = []string{strings.Repeat("x", 100_000)}
	p.Publish([]engine.Result{r, sampleResult()})
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	lines.wait(t, "details cut", time.Second)
	for range 2 {
		f, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Body) > 2048 {
			t.Errorf("message of %d bytes", len(f.Body))
		}
	}
	if v := testutil.ToFloat64(p.m.truncated); v != 1 {
		t.Errorf("%s = %v", MetricTruncated, v)
	}
	if st := p.Stats(); st.Published != 2 || st.Truncated != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestFromConfig builds the publisher from a publish: section as sites.yaml
// has it (credentials file, stomps://, ca_file) and delivers.
func TestFromConfig(t *testing.T) {
	b := testBroker(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := dest(t)
	c := b.consume(t, ctx, d)
	yaml := fmt.Sprintf(`vo: testvo
publish:
  url: %s
  destination: %s
  credentials_file: %s
  ca_file: %s
  spool_dir: %s
sites: [{name: S, services: [{type: webdav, url: "https://se.example.org"}]}]
`, b.env["GRIDPROBE_STOMPS_URL"], d, b.env["GRIDPROBE_STOMP_CREDENTIALS"], b.caFile, filepath.Join(t.TempDir(), "spool"))
	cfg, err := config.Parse("sites.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := FromConfig(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Publish(results(1))
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestBrokerRejectsMessage: a destination the broker refuses (an exchange
// that does not exist) gets an ERROR frame for every SEND; after three
// refusals the message is dropped and counted, so it cannot block the rest.
func TestBrokerRejectsMessage(t *testing.T) {
	b := testBroker(t, false)
	lines := newLogLines("the broker refused a message")
	o := b.options(t, "/exchange/gridprobe-test-no-such-exchange/x")
	o.Log = lines.logger()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	p.Publish(results(2))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err) // both dropped: nothing left in the spool
	}
	lines.wait(t, "the broker refused a message", time.Second)
	if v := testutil.ToFloat64(p.m.dropped.WithLabelValues(DropRejected)); v != 2 {
		t.Errorf("%s{reason=rejected} = %v\n%s", MetricDropped, v, lines)
	}
	if v := testutil.ToFloat64(p.m.errors.WithLabelValues(ErrReject)); v != 2*rejectLimit {
		t.Errorf("%s{reason=rejected} = %v", MetricErrors, v)
	}
	if !strings.Contains(lines.String(), "no exchange") {
		t.Errorf("the log does not give the broker's reason:\n%s", lines)
	}
}
