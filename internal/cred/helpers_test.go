package cred

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os/exec"
)

func parsePEMCert(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM")
	}
	return x509.ParseCertificate(blk.Bytes)
}

func runSh(cmd string) ([]byte, error) {
	return exec.Command("bash", "-c", cmd).CombinedOutput()
}
