package cred

import (
	"os"
	"strconv"
)

// ProxyPath returns configured if set, else $X509_USER_PROXY, else
// /tmp/x509up_u<uid>.
func ProxyPath(configured string) string {
	if configured != "" {
		return configured
	}
	if p := os.Getenv("X509_USER_PROXY"); p != "" {
		return p
	}
	return "/tmp/x509up_u" + strconv.Itoa(os.Getuid())
}

// CADir returns configured if set, else $X509_CERT_DIR, else
// /etc/grid-security/certificates.
func CADir(configured string) string {
	return firstNonEmpty(configured, os.Getenv("X509_CERT_DIR"), "/etc/grid-security/certificates")
}

// VOMSDir returns configured if set, else $X509_VOMS_DIR, else
// /etc/grid-security/vomsdir.
func VOMSDir(configured string) string {
	return firstNonEmpty(configured, os.Getenv("X509_VOMS_DIR"), "/etc/grid-security/vomsdir")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
