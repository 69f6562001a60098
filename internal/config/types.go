// Package config reads and validates sites.yaml: the VO, defaults,
// credentials and the sites with their services. Validation happens here,
// once, with file:line:col errors; nothing downstream re-checks the shape.
//
// The file is decoded by hand from a yaml.Node tree rather than with
// yaml.Unmarshal into tagged structs: that is what lets every problem carry
// its own line and column, lets all problems be reported at once instead of
// only the first, and lets ${VAR} expansion happen on the text of a value
// before it is converted to a duration or a number. After Parse every
// default is filled in and every inherited value copied down, so callers
// read Service.Timeout, Service.VO, Service.Name, Service.Audience and
// Service.Interval directly.
//
// sites.yaml never holds a secret: credentials are referenced by file path,
// values that look like a token or a PEM block are refused without being
// echoed, and URLs with user info or a token in the query are refused.
package config

import (
	"net/url"
	"time"

	"github.com/gridprobe/gridprobe/internal/protocol"
)

// Config is a whole sites.yaml after defaults and environment expansion.
type Config struct {
	// File is the path the config was read from (for messages).
	File string `yaml:"-"`

	VO          string      `yaml:"vo,omitempty"` // default VO of every site/service
	Prefix      string      `yaml:"prefix"`       // service-name prefix; default org.<vo>
	Defaults    Defaults    `yaml:"defaults"`
	Credentials Credentials `yaml:"credentials"`
	Sites       []Site      `yaml:"sites"`
	Publish     Publish     `yaml:"publish,omitempty"` // results over STOMP (publish.go)
	// SitesFrom: sites from a VO feed or CRIC besides the written ones
	// (nil: none). internal/vofeed adds them.
	SitesFrom *SitesFrom `yaml:"sites_from,omitempty"`
	// Templates are defaults.templates by service type (templates.go).
	// Parse has applied them to every service, so they are not part of
	// the effective config (Redacted).
	Templates map[string]*Template `yaml:"-" json:"-"`
}

// Defaults apply to every site and service unless overridden.
type Defaults struct {
	Timeout     time.Duration `yaml:"timeout"`     // per check; default 60s
	Budget      time.Duration `yaml:"budget"`      // per site round; default 10m
	Concurrency int           `yaml:"concurrency"` // sites at once; default 20
	// CertExpiryWarning: 2ssl is WARNING when the host certificate expires
	// within this; default 336h (14 days). 0 disables the warning.
	CertExpiryWarning time.Duration `yaml:"cert_expiry_warning"`
	// Intervals between rounds in `probe serve`, per service kind; copied
	// into Service.Interval unless a service sets its own.
	StorageInterval time.Duration `yaml:"storage_interval"` // default 30m
	CEInterval      time.Duration `yaml:"ce_interval"`      // default 60m
	// Summary holds the summary policies per VO and service type
	// (policy.go); Config.Summary gives a service's effective one.
	Summary []SummaryRule `yaml:"summary,omitempty"`
	// WNMinLifetime (wn_min_token_lifetime): a CE test job whose token has less lifetime left
	// when the job starts is WARNING (expired: CRITICAL); default 10m, 0
	// disables the warning. Decoded in wn.go.
	WNMinLifetime time.Duration `yaml:"wn_min_token_lifetime"`
	// TPCPartners are the VO's reference SEs (partners.go): every storage
	// service whose protocol speaks a partner's scheme copies with it,
	// unless it lists its own.
	TPCPartners Partners `yaml:"tpc_partners,omitempty"`
	// ProfileVersion is defaults.profile_version by VO ("*": every VO not
	// named); profile.go.
	ProfileVersion map[string]string `yaml:"profile_version,omitempty"`
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
	Proxy        string `yaml:"proxy,omitempty"`
	ForeignProxy string `yaml:"foreign_proxy,omitempty"` // a proxy of another VO (crt-access, crt-contain)
	NoVOMSProxy  string `yaml:"novoms_proxy,omitempty"`  // a proxy without VOMS attributes (crt-access)
	CADir        string `yaml:"ca_dir,omitempty"`
	VOMSDir      string `yaml:"voms_dir,omitempty"`
}

// Token says where bearer tokens come from: an issuer (OAuth2 client
// credentials, one token per scope set and audience) or a file (one token
// for every check), or neither (WLCG bearer-token discovery). Parse
// guarantees: Issuer and File are not both set; with Issuer, ClientID and
// ClientSecretFile are set and Issuer is an https URL.
type Token struct {
	Issuer           string `yaml:"issuer,omitempty"`
	ClientID         string `yaml:"client_id,omitempty"`
	ClientSecretFile string `yaml:"client_secret_file,omitempty"` // a path; the secret itself is never in sites.yaml
	File             string `yaml:"file,omitempty"`
	// CAFile: extra PEM CA bundle trusted for the issuer's https endpoint.
	CAFile string `yaml:"ca_file,omitempty"`
	// RefreshTokenFile: a refresh token (re-read every round) exchanged at
	// Issuer for narrow access tokens, instead of client credentials.
	RefreshTokenFile string `yaml:"refresh_token_file,omitempty"`
	// ClientKeyFile: a PEM private key for private_key_jwt client
	// authentication, instead of ClientSecretFile.
	ClientKeyFile string `yaml:"client_key_file,omitempty"`
	// IssuerURL: where the issuer is reached when not at Issuer (a node or
	// proxy in front of it); its discovery must still name Issuer.
	IssuerURL string `yaml:"issuer_url,omitempty"`
}

// Site is one grid site.
type Site struct {
	Name     string        `yaml:"name"`
	VO       string        `yaml:"vo"`               // inherits Config.VO
	Budget   time.Duration `yaml:"budget"`           // inherits Defaults.Budget; ≥ every service's Timeout
	Groups   Groups        `yaml:"groups,omitempty"` // tier and country default from the name
	Services []Service     `yaml:"services"`
	Line     int           `yaml:"-"` // where the site starts in the file
}

// FileRef is a file with known content.
type FileRef struct {
	Path    string `yaml:"path"`
	Adler32 string `yaml:"adler32,omitempty"` // 8 lower-case hex digits, or empty
	Size    int64  `yaml:"size"`              // -1 when not given
}

// IsZero reports whether no file is configured (used by the YAML encoder's
// omitempty).
func (f FileRef) IsZero() bool { return f.Path == "" }

// MarshalYAML leaves out a size that was not given, so the output of
// Config.Redacted parses back to the same FileRef.
func (f FileRef) MarshalYAML() (any, error) {
	type out struct {
		Path    string `yaml:"path"`
		Adler32 string `yaml:"adler32,omitempty"`
		Size    *int64 `yaml:"size,omitempty"`
	}
	o := out{Path: f.Path, Adler32: f.Adler32}
	if f.Size >= 0 {
		o.Size = &f.Size
	}
	return o, nil
}

// Service is one endpoint of a site.
type Service struct {
	Type string `yaml:"type"` // a registered type (internal/protocol): webdav, xrootd, arc-ce, htcondor-ce
	// URL is the parsed url. Normalised: a webdav davs:// URL has scheme
	// https; an htcondor-ce URL always has a port (default 9619).
	URL *url.URL `yaml:"-"`
	// RawURL is the url as written (after env expansion).
	RawURL string `yaml:"url"`
	// Name is the ETF service name: as written, or <prefix>.SE-WebDAV,
	// <prefix>.SE-XRootD, <prefix>.CE-ARC, <prefix>.CE-HTCondor. Unique
	// within its site.
	Name string `yaml:"name"`
	VO   string `yaml:"vo"` // inherits Site.VO

	// Storage (webdav, xrootd only). Paths are absolute and clean.
	ScopeBase   string  `yaml:"scope_base,omitempty"`   // token scope paths are relative to this; empty: not given
	ReadFile    FileRef `yaml:"read_file,omitempty"`    // reference file (read checks); Path empty: not given
	WriteDir    string  `yaml:"write_dir,omitempty"`    // scratch parent; each run uses <write_dir>/<run id>/; never / or the VO base
	ForeignFile string  `yaml:"foreign_file,omitempty"` // a file of another VO (contain/access); outside ScopeBase
	Federation  string  `yaml:"federation,omitempty"`   // XRootD redirector URL root:// or roots:// (9federation; xrootd only)

	// ProfileVersion is the WLCG Common JWT Profile version the service is
	// expected to satisfy (profile.go): as written, else defaults', else
	// DefaultProfileVersion.
	ProfileVersion string `yaml:"profile_version"`

	// Compute (arc-ce, htcondor-ce only).
	Queue string `yaml:"queue,omitempty"`

	// Issuer (type issuer only): the identifier the issuer must announce
	// (default: the url), and the scope its token check asks for.
	Issuer string `yaml:"issuer,omitempty"`
	Scope  string `yaml:"scope,omitempty"`

	// Audience is the token audience: as written, or the endpoint URL
	// scheme://host[:port] (after normalisation).
	Audience string `yaml:"audience"`

	Timeout  time.Duration `yaml:"timeout"`        // inherits Defaults.Timeout
	Skip     []string      `yaml:"skip,omitempty"` // check ids not to run, e.g. 14tkn-read
	Interval time.Duration `yaml:"interval"`       // serve: as written, or Defaults.StorageInterval / CEInterval
	// Summary is the service's own summary policy as written (nil: none);
	// Config.Summary merges it with defaults.summary.
	Summary *SummaryPolicy `yaml:"summary,omitempty"`

	// Path is the storage path a feed gives the service (se_resource),
	// filled into the templates' $(path).
	Path string `yaml:"path,omitempty"`

	// TPCPartners are the storage endpoints the service copies to and from
	// (third-party copy; partners.go): its own list, its template's, or
	// the defaults' that speak its protocol.
	TPCPartners Partners `yaml:"tpc_partners,omitempty"`

	Line int `yaml:"-"` // where the service starts in the file
	// From says where each key's value comes from: "file:line:col" of the
	// service's own key, or of the template (with " (defaults.templates.T)").
	// Keys absent here have their default.
	From map[string]string `yaml:"-" json:"-"`
}

// IsStorage reports whether the service is a storage element rather than a
// compute element (internal/protocol says which types are).
func (s *Service) IsStorage() bool {
	spec, ok := protocol.Lookup(s.Type)
	return ok && spec.Storage
}
