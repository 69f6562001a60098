package publish

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
)

// FromConfig builds the Publisher that cfg's publish: section describes:
// the login from credentials_file, TLS with ca_file (or the grid CA
// directory) and the client certificate, the spool. It returns nil, nil when
// publishing is not configured.
func FromConfig(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (*Publisher, error) {
	pc := cfg.Publish
	if !pc.Enabled() {
		return nil, nil
	}
	o, err := Resolve(pc, cfg.Credentials.X509.CADir)
	if err != nil {
		return nil, err
	}
	o.Log, o.Registerer = log, reg
	return New(o)
}

// Resolve turns a publish: section into Options: it reads the credentials
// file and the TLS files and picks the spool directory. caDir is
// credentials.x509.ca_dir (empty: its defaults), used when ca_file is not
// set.
func Resolve(pc config.Publish, caDir string) (Options, error) {
	u, err := url.Parse(pc.URL)
	if err != nil || u.Host == "" {
		return Options{}, fmt.Errorf("publish: url %q is not a broker URL", pc.URL)
	}
	o := Options{
		Broker: u.Host, Destination: pc.Destination, VHost: pc.VHost,
		SpoolDir: pc.SpoolDir, SpoolMaxMessages: pc.SpoolMaxMessages, SpoolMaxBytes: pc.SpoolMaxBytes,
		MaxMessageBytes: pc.MaxMessageBytes, QueueSize: pc.QueueSize, Timeout: pc.Timeout,
	}
	if o.SpoolDir == "" {
		if o.SpoolDir, err = DefaultSpoolDir(); err != nil {
			return Options{}, err
		}
	}
	if o.GatheredAt, err = os.Hostname(); err != nil {
		o.GatheredAt = "unknown"
	}
	if pc.CredentialsFile != "" {
		if o.Login, o.Passcode, err = ReadCredentials(pc.CredentialsFile); err != nil {
			return Options{}, err
		}
	}
	if u.Scheme == "stomps" {
		if o.TLS, err = tlsConfig(u.Hostname(), pc, caDir); err != nil {
			return Options{}, err
		}
	}
	return o, nil
}

// DefaultSpoolDir is $STATE_DIRECTORY/spool (systemd's StateDirectory=),
// else $XDG_STATE_HOME/gridprobe/spool, else ~/.local/state/gridprobe/spool.
func DefaultSpoolDir() (string, error) {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		return filepath.Join(strings.Split(d, ":")[0], "spool"), nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "gridprobe", "spool"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("publish: no spool_dir and no home directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "gridprobe", "spool"), nil
}

// ReadCredentials reads a "username:password" file (one line; surrounding
// white space ignored). The password is registered with the redactor so it
// never appears in any output. Errors never quote the file's content.
func ReadCredentials(path string) (login, passcode string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("publish: credentials_file: %w", err)
	}
	line := strings.TrimSpace(string(data))
	login, passcode, ok := strings.Cut(line, ":")
	if !ok || login == "" || passcode == "" || strings.ContainsAny(line, "\r\n") {
		return "", "", fmt.Errorf("publish: credentials_file %s: want one line \"username:password\"", path)
	}
	cred.RegisterSecret(passcode)
	return login, passcode, nil
}

// tlsConfig trusts ca_file, or the grid CA directory, for the broker host,
// and presents the client certificate when one is configured.
func tlsConfig(host string, pc config.Publish, caDir string) (*tls.Config, error) {
	c := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if pc.CAFile != "" {
		pem, err := os.ReadFile(pc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("publish: ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("publish: ca_file %s: no PEM certificate in it", pc.CAFile)
		}
	} else {
		store, err := cred.LoadCAPool(cred.CADir(caDir))
		if err != nil {
			return nil, fmt.Errorf("publish: CA directory for the broker: %w", err)
		}
		c.RootCAs = store.Pool()
	}
	if pc.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(pc.CertFile, pc.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("publish: client certificate %s: %w", pc.CertFile, redactKeyError(err))
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// redactKeyError keeps a key parsing error from echoing key material.
func redactKeyError(err error) error {
	if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "-----") {
		return errors.New("cannot parse the certificate or key PEM")
	}
	return errors.New(cred.Redact(err.Error()))
}
