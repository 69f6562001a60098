// Package config reads and validates sites.yaml: the VO, defaults,
// credentials and the sites with their services. Validation happens here,
// once, with file:line:col errors; nothing downstream re-checks the shape.
package config

import (
	"net/url"
	"time"
)

// Service types.
const (
	TypeWebDAV     = "webdav"
	TypeXRootD     = "xrootd"
	TypeARCCE      = "arc-ce"
	TypeHTCondorCE = "htcondor-ce"
)

// Config is a whole sites.yaml after defaults and environment expansion.
type Config struct {
	// File is the path the config was read from (for messages).
	File string `yaml:"-"`

	VO          string      `yaml:"vo"`     // default VO of every site/service
	Prefix      string      `yaml:"prefix"` // service-name prefix, e.g. org.testvo
	Defaults    Defaults    `yaml:"defaults"`
	Credentials Credentials `yaml:"credentials"`
	Sites       []Site      `yaml:"sites"`
}

// Defaults apply to every site and service unless overridden.
type Defaults struct {
	Timeout     time.Duration `yaml:"timeout"`     // per check; default 60s
	Budget      time.Duration `yaml:"budget"`      // per site round; default 10m
	Concurrency int           `yaml:"concurrency"` // sites at once; default 20
	// CertExpiryWarning: 2ssl is WARNING when the host certificate expires
	// within this; default 336h (14 days).
	CertExpiryWarning time.Duration `yaml:"cert_expiry_warning"`
	// Intervals between rounds in `probe serve`, per service kind.
	StorageInterval time.Duration `yaml:"storage_interval"` // default 30m
	CEInterval      time.Duration `yaml:"ce_interval"`      // default 60m
}

// Credentials says where the probe's credentials come from.
type Credentials struct {
	X509  X509  `yaml:"x509"`
	Token Token `yaml:"token"`
}

// X509 holds proxy and CA locations. Empty fields take the grid defaults
// (X509_USER_PROXY → /tmp/x509up_u<uid>; X509_CERT_DIR →
// /etc/grid-security/certificates; X509_VOMS_DIR → /etc/grid-security/vomsdir).
type X509 struct {
	Proxy        string `yaml:"proxy"`
	ForeignProxy string `yaml:"foreign_proxy"` // a proxy of another VO (crt-access, crt-contain)
	NoVOMSProxy  string `yaml:"novoms_proxy"`  // a proxy without VOMS attributes (crt-access)
	CADir        string `yaml:"ca_dir"`
	VOMSDir      string `yaml:"voms_dir"`
}

// Token says where bearer tokens come from: an issuer (OAuth2 client
// credentials, one token per scope set and audience) or a file (one token
// for every check), or neither (WLCG bearer-token discovery).
type Token struct {
	Issuer           string `yaml:"issuer"`
	ClientID         string `yaml:"client_id"`
	ClientSecretFile string `yaml:"client_secret_file"`
	File             string `yaml:"file"`
	// CAFile: extra PEM CA bundle trusted for the issuer's https endpoint.
	CAFile string `yaml:"ca_file"`
}

// Site is one grid site.
type Site struct {
	Name     string        `yaml:"name"`
	VO       string        `yaml:"vo"`     // inherits Config.VO
	Budget   time.Duration `yaml:"budget"` // inherits Defaults.Budget
	Services []Service     `yaml:"services"`
	Line     int           `yaml:"-"` // where the site starts in the file
}

// FileRef is a file with known content.
type FileRef struct {
	Path    string `yaml:"path"`
	Adler32 string `yaml:"adler32"` // 8 lower-case hex digits
	Size    int64  `yaml:"size"`    // -1 when not given
}

// Service is one endpoint of a site.
type Service struct {
	Type string   `yaml:"type"` // webdav | xrootd | arc-ce | htcondor-ce
	URL  *url.URL `yaml:"-"`
	// RawURL is the url as written (after env expansion).
	RawURL string `yaml:"url"`
	// Name overrides the ETF service name (default <prefix>.SE-WebDAV etc.).
	Name string `yaml:"name"`
	VO   string `yaml:"vo"` // inherits Site.VO

	// Storage.
	ScopeBase   string  `yaml:"scope_base"`   // token scope paths are relative to this
	ReadFile    FileRef `yaml:"read_file"`    // reference file (read checks)
	WriteDir    string  `yaml:"write_dir"`    // scratch parent; each run uses <write_dir>/<run id>/
	ForeignFile string  `yaml:"foreign_file"` // a file of another VO (contain/access)
	Federation  string  `yaml:"federation"`   // XRootD redirector URL (9federation)

	// Compute.
	Queue string `yaml:"queue"`

	// Audience overrides the token audience (default: the endpoint URL
	// scheme://host[:port]).
	Audience string `yaml:"audience"`

	Timeout  time.Duration `yaml:"timeout"`  // inherits Defaults.Timeout
	Skip     []string      `yaml:"skip"`     // check ids not to run
	Interval time.Duration `yaml:"interval"` // serve: overrides the per-kind interval

	Line int `yaml:"-"` // where the service starts in the file
}
