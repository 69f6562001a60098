package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	. "github.com/gridprobe/gridprobe/internal/config"
	_ "github.com/gridprobe/gridprobe/probes/all"
)

func TestPublishAbsentIsOff(t *testing.T) {
	c, err := ParseWith("sites.yaml", []byte(base), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Publish.Enabled() || !reflect.DeepEqual(c.Publish, Publish{}) {
		t.Errorf("no publish: section gave %+v", c.Publish)
	}
}

func TestPublishFull(t *testing.T) {
	in := "publish:\n" +
		"  url: stomps://mb.example.org\n" +
		"  destination: /topic/sam.testvo.metrics\n" +
		"  credentials_file: /etc/gridprobe/broker\n" +
		"  cert_file: /etc/gridprobe/robot.pem\n" +
		"  ca_file: /etc/gridprobe/ca.pem\n" +
		"  vhost: /monit\n" +
		"  spool_dir: ${SPOOL}\n" +
		"  spool_max_messages: 500\n" +
		"  spool_max_bytes: 2MiB\n" +
		"  max_message_bytes: 4096\n" +
		"  queue_size: 100\n" +
		"  timeout: 5s\n" +
		"  flush_timeout: 0s\n" + base
	c, err := ParseWith("sites.yaml", []byte(in), env(map[string]string{"SPOOL": "/var/spool/gridprobe"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Publish{
		URL: "stomps://mb.example.org:61614", Destination: "/topic/sam.testvo.metrics",
		CredentialsFile: "/etc/gridprobe/broker", CertFile: "/etc/gridprobe/robot.pem", KeyFile: "/etc/gridprobe/robot.pem",
		CAFile: "/etc/gridprobe/ca.pem", VHost: "/monit", SpoolDir: "/var/spool/gridprobe",
		SpoolMaxMessages: 500, SpoolMaxBytes: 2 << 20, MaxMessageBytes: 4096, QueueSize: 100,
		Timeout: 5 * time.Second, FlushTimeout: 0,
	}
	if !reflect.DeepEqual(c.Publish, want) {
		t.Errorf("got  %+v\nwant %+v", c.Publish, want)
	}
	// The effective config parses back to the same section.
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ParseWith("sites.yaml", out, env(nil))
	if err != nil {
		t.Fatalf("Redacted output does not parse: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(c2.Publish, want) {
		t.Errorf("round trip: %+v", c2.Publish)
	}
}

func TestPublishDefaults(t *testing.T) {
	in := "publish:\n  url: stomp://localhost\n  destination: /queue/results\n" + base
	c, err := ParseWith("sites.yaml", []byte(in), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Publish{URL: "stomp://localhost:61613", Destination: "/queue/results",
		SpoolMaxMessages: DefaultSpoolMaxMessages, SpoolMaxBytes: DefaultSpoolMaxBytes,
		MaxMessageBytes: DefaultMaxMessageBytes, QueueSize: DefaultPublishQueue,
		Timeout: DefaultPublishTimeout, FlushTimeout: DefaultFlushTimeout}
	if !reflect.DeepEqual(c.Publish, want) {
		t.Errorf("got  %+v\nwant %+v", c.Publish, want)
	}
	// An empty url (e.g. ${BROKER:-}) turns publishing off and still checks the rest.
	in = "publish:\n  url: ${BROKER:-}\n  destination: /queue/results\n" + base
	c, err = ParseWith("sites.yaml", []byte(in), env(nil))
	if err != nil || c.Publish.Enabled() || c.Publish.Destination != "/queue/results" {
		t.Errorf("empty url: %+v, %v", c.Publish, err)
	}
}

func TestPublishErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"scheme", "publish:\n  url: https://mb\n  destination: /topic/x\n",
			[]string{`sites.yaml:2:8: url "https://mb": scheme must be stomp or stomps for the publish broker`}},
		{"password in url", "publish:\n  url: stomp://u:pw@mb\n  destination: /topic/x\n",
			[]string{`sites.yaml:2:8: url "stomp://…@mb": must not contain a user name or password (credentials are configured under credentials:)`}},
		{"path in url", "publish:\n  url: stomp://mb/topic/x\n  destination: /topic/x\n",
			[]string{`sites.yaml:2:8: url "stomp://mb/topic/x": a broker URL has no path or query (the destination is set by destination:)`}},
		{"no destination", "publish:\n  url: stomp://mb\n",
			[]string{`sites.yaml:2:3: publish: missing required field "destination" (e.g. /topic/sam.<vo>.metrics)`}},
		{"bad destination", "publish:\n  url: stomp://mb\n  destination: topic x\n",
			[]string{`sites.yaml:3:16: destination "topic x": a STOMP destination like /topic/<name> or /queue/<name> (letters, digits, . _ - : / * > #)`}},
		{"cert without tls", "publish:\n  url: stomp://mb\n  destination: /topic/x\n  cert_file: /c.pem\n",
			[]string{`sites.yaml:4:3: cert_file: a client certificate needs a stomps:// url`}},
		{"key without cert", "publish:\n  url: stomps://mb\n  destination: /topic/x\n  key_file: /k.pem\n",
			[]string{`sites.yaml:4:3: key_file: only with cert_file (the client certificate for stomps://)`}},
		{"ca without tls", "publish:\n  url: stomp://mb\n  destination: /topic/x\n  ca_file: /ca.pem\n",
			[]string{`sites.yaml:4:3: ca_file: only used with a stomps:// url`}},
		{"password key", "publish:\n  url: stomp://mb\n  destination: /topic/x\n  password: hunter22\n",
			[]string{`sites.yaml:4:3: unknown key "password" in publish: secrets are never written in sites.yaml; sites.yaml never holds a password`}},
		{"typo", "publish:\n  url: stomp://mb\n  destinaton: /topic/x\n", []string{
			`sites.yaml:2:3: publish: missing required field "destination" (e.g. /topic/sam.<vo>.metrics)`,
			`sites.yaml:3:3: unknown key "destinaton" in publish (did you mean "destination"?)`}},
		{"limits", "publish:\n  url: stomp://mb\n  destination: /topic/x\n  spool_max_messages: 0\n  queue_size: lots\n  max_message_bytes: 10\n  spool_max_bytes: 1TB\n  timeout: 0s\n", []string{
			`sites.yaml:4:23: spool_max_messages: must be at least 1, got 0`,
			`sites.yaml:5:15: queue_size: "lots" is not a whole number`,
			`sites.yaml:6:22: max_message_bytes: must be at least 1024, got 10`,
			`sites.yaml:7:20: spool_max_bytes: "1TB" is not a size of at least 1024 bytes (e.g. 268435456, 256MiB, 1GiB)`,
			`sites.yaml:8:12: timeout: must be positive, got "0s"`}},
		{"spool smaller than a message", "publish:\n  url: stomp://mb\n  destination: /topic/x\n  spool_max_bytes: 2KiB\n  max_message_bytes: 4096\n",
			[]string{`sites.yaml:4:3: spool_max_bytes 2048 is smaller than max_message_bytes 4096: no message would fit`}},
		{"not a mapping", "publish: stomp://mb\n", []string{`sites.yaml:1:10: publish: expected a mapping, got the value "stomp://mb"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWith("sites.yaml", []byte(tt.in+base), env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "4KiB": 4096, "4 KB": 4096, "256MiB": 256 << 20, "1GiB": 1 << 30, "7B": 7} {
		if got, ok := ParseSize(in); !ok || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "1TiB", "MiB", "99999999999999999999", "8589934592GiB"} {
		if got, ok := ParseSize(in); ok {
			t.Errorf("ParseSize(%q) = %d, accepted", in, got)
		}
	}
}
