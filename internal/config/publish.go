package config

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Publish is the `publish:` section: where `probe serve` and `probe run
// --publish` send every result as an ETF/SAM message over STOMP
// (internal/publish). An empty URL means publishing is off; the other keys
// are still checked. Secrets are never here: the broker password is read
// from CredentialsFile, the client key from KeyFile.
type Publish struct {
	// URL is stomp://host[:port] (port 61613) or stomps://host[:port] (TLS,
	// port 61614).
	URL string `yaml:"url,omitempty"`
	// Destination is the broker destination, e.g. /topic/sam.testvo.metrics
	// or /queue/gridprobe.results.
	Destination string `yaml:"destination,omitempty"`
	// CredentialsFile holds "username:password" (one line) for the STOMP
	// login; empty: no login (a client certificate, or an open broker).
	CredentialsFile string `yaml:"credentials_file,omitempty"`
	// CertFile and KeyFile are the client certificate for stomps:// (PEM;
	// KeyFile defaults to CertFile, so one file holding both works).
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
	// CAFile is a PEM bundle trusted for the broker's certificate; empty:
	// the grid CA directory (credentials.x509.ca_dir and its defaults).
	CAFile string `yaml:"ca_file,omitempty"`
	// VHost is the STOMP host header (RabbitMQ's virtual host); default "/".
	VHost string `yaml:"vhost,omitempty"`
	// SpoolDir keeps every message until the broker acknowledged it;
	// empty: $STATE_DIRECTORY/spool, else ~/.local/state/gridprobe/spool.
	SpoolDir string `yaml:"spool_dir,omitempty"`
	// SpoolMaxMessages and SpoolMaxBytes bound the spool; when full, the
	// oldest messages are dropped (and counted).
	SpoolMaxMessages int   `yaml:"spool_max_messages,omitempty"`
	SpoolMaxBytes    int64 `yaml:"spool_max_bytes,omitempty"`
	// MaxMessageBytes bounds one message; longer details are cut (and
	// counted).
	MaxMessageBytes int `yaml:"max_message_bytes,omitempty"`
	// QueueSize bounds the results waiting in memory to be spooled.
	QueueSize int `yaml:"queue_size,omitempty"`
	// Timeout bounds each network step (connect, one message's receipt).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// FlushTimeout is how long `probe run --publish` waits at its end for
	// the spool to drain (what is left is sent by the next run or serve).
	FlushTimeout time.Duration `yaml:"flush_timeout"` // no omitempty: 0 (do not wait) must survive Redacted
}

// Enabled reports whether results are to be published.
func (p Publish) Enabled() bool { return p.URL != "" }

// Publish defaults.
const (
	DefaultSpoolMaxMessages = 100_000
	DefaultSpoolMaxBytes    = 256 << 20
	DefaultMaxMessageBytes  = 64 << 10
	DefaultPublishQueue     = 10_000
	DefaultPublishTimeout   = 30 * time.Second
	DefaultFlushTimeout     = 30 * time.Second
	DefaultSTOMPPort        = "61613"
	DefaultSTOMPSPort       = "61614"
	minMessageBytes         = 1024
)

var (
	publishKeys = []string{"url", "destination", "credentials_file", "cert_file", "key_file", "ca_file", "vhost", "spool_dir",
		"spool_max_messages", "spool_max_bytes", "max_message_bytes", "queue_size", "timeout", "flush_timeout"}
	// destination: a STOMP destination as RabbitMQ and ActiveMQ name them.
	destinationRE = regexp.MustCompile(`^/[A-Za-z0-9_.:/*>#-]{1,254}$`)
	sizeRE        = regexp.MustCompile(`^([0-9]+)\s*(|B|KiB|MiB|GiB|KB|MB|GB)$`)
)

// publishSection decodes the top-level publish: mapping into c.Publish.
// The top level was already checked by config(); a throwaway decoder finds
// the entry (merge keys included) without reporting those problems twice.
func (d *decoder) publishSection(root *yaml.Node, c *Config) {
	probe := &decoder{file: d.file, lookup: d.lookup, seen: map[string]bool{}}
	top := probe.mapping(root, "config", configKeys)
	if top == nil {
		return
	}
	if e, ok := top.m["publish"]; ok {
		c.Publish = d.publish(e.val)
	}
}

func (d *decoder) publish(n *yaml.Node) Publish {
	p := Publish{SpoolMaxMessages: DefaultSpoolMaxMessages, SpoolMaxBytes: DefaultSpoolMaxBytes,
		MaxMessageBytes: DefaultMaxMessageBytes, QueueSize: DefaultPublishQueue,
		Timeout: DefaultPublishTimeout, FlushTimeout: DefaultFlushTimeout}
	f := d.mapping(n, "publish", publishKeys)
	if f == nil {
		return p
	}
	raw, urlNode, _ := d.scalar(f, "url", "url")
	tls := false
	if raw != "" {
		if u := d.url("url", raw, urlNode, []string{"stomp", "stomps"}, "stomp or stomps", "the publish broker"); u != nil {
			p.URL, tls = brokerURL(u), u.Scheme == "stomps"
			if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
				d.errorf(urlNode, "url %q: a broker URL has no path or query (the destination is set by destination:)", safeURL(raw))
				p.URL = ""
			}
		}
	}
	if s, n := d.str(f, "destination", "destination"); n != nil {
		if destinationRE.MatchString(s) {
			p.Destination = s
		} else {
			d.errorf(n, "destination %q: a STOMP destination like /topic/<name> or /queue/<name> (letters, digits, . _ - : / * > #)", truncate(s, 60))
		}
	} else if raw != "" {
		d.errorf(f.node, "publish: missing required field %q (e.g. /topic/sam.<vo>.metrics)", "destination")
	}
	p.CredentialsFile, _ = d.str(f, "credentials_file", "credentials_file")
	p.CAFile, _ = d.str(f, "ca_file", "ca_file")
	p.VHost, _ = d.str(f, "vhost", "vhost")
	p.SpoolDir, _ = d.str(f, "spool_dir", "spool_dir")
	d.publishTLS(f, &p, raw != "" && !tls)
	d.publishLimits(f, &p)
	return p
}

// brokerURL is u without a trailing slash and with the default port.
func brokerURL(u *url.URL) string {
	host := u.Host
	if u.Port() == "" {
		port := DefaultSTOMPPort
		if u.Scheme == "stomps" {
			port = DefaultSTOMPSPort
		}
		host = strings.TrimSuffix(host, ":") + ":" + port
	}
	return u.Scheme + "://" + host
}

// publishTLS reads cert and key; plain says the URL is stomp:// (no TLS).
func (d *decoder) publishTLS(f *fields, p *Publish, plain bool) {
	var certNode, keyNode *yaml.Node
	p.CertFile, certNode = d.str(f, "cert_file", "cert_file")
	p.KeyFile, keyNode = d.str(f, "key_file", "key_file")
	switch {
	case keyNode != nil && certNode == nil:
		d.errorf(f.keyNode("key_file"), "key_file: only with cert_file (the client certificate for stomps://)")
	case certNode != nil && plain:
		d.errorf(f.keyNode("cert_file"), "cert_file: a client certificate needs a stomps:// url")
	case certNode != nil && p.KeyFile == "":
		p.KeyFile = p.CertFile
	}
	if f.has("ca_file") && plain {
		d.errorf(f.keyNode("ca_file"), "ca_file: only used with a stomps:// url")
	}
}

// publishLimits reads the bounds and timeouts.
func (d *decoder) publishLimits(f *fields, p *Publish) {
	d.positiveInt(f, "spool_max_messages", &p.SpoolMaxMessages, 1)
	d.positiveInt(f, "queue_size", &p.QueueSize, 1)
	d.positiveInt(f, "max_message_bytes", &p.MaxMessageBytes, minMessageBytes)
	if s, n := d.str(f, "spool_max_bytes", "spool_max_bytes"); n != nil {
		if v, ok := parseSize(s); ok && v >= int64(minMessageBytes) {
			p.SpoolMaxBytes = v
		} else {
			d.errorf(n, "spool_max_bytes: %q is not a size of at least %d bytes (e.g. 268435456, 256MiB, 1GiB)", truncate(s, 40), minMessageBytes)
		}
	}
	if int64(p.MaxMessageBytes) > p.SpoolMaxBytes {
		d.errorf(f.keyNode("spool_max_bytes"), "spool_max_bytes %d is smaller than max_message_bytes %d: no message would fit", p.SpoolMaxBytes, p.MaxMessageBytes)
	}
	d.duration(f, "timeout", &p.Timeout, false)
	d.duration(f, "flush_timeout", &p.FlushTimeout, true)
}

// positiveInt sets *dst from key when it is a whole number ≥ min.
func (d *decoder) positiveInt(f *fields, key string, dst *int, min int) {
	s, n := d.str(f, key, key)
	if n == nil {
		return
	}
	v, err := strconv.Atoi(s)
	switch {
	case err != nil:
		d.errorf(n, "%s: %q is not a whole number", key, truncate(s, 40))
	case v < min:
		d.errorf(n, "%s: must be at least %d, got %d", key, min, v)
	default:
		*dst = v
	}
}

// parseSize reads a byte count: a whole number with an optional unit (B,
// KiB, MiB, GiB; KB, MB, GB are read as the binary units too).
func parseSize(s string) (int64, bool) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, false
	}
	shift := map[string]uint{"": 0, "B": 0, "KiB": 10, "KB": 10, "MiB": 20, "MB": 20, "GiB": 30, "GB": 30}[m[2]]
	if v > (1<<62)>>shift {
		return 0, false
	}
	return v << shift, true
}
