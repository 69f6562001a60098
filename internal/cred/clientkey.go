package cred

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// clientAssertion makes the private_key_jwt client assertion (RFC 7523
// §2.2, OpenID Connect Core §9): a JWT signed with the client's key, iss
// and sub the client id, aud the token endpoint, valid for a minute, with
// a fresh jti. The key file is read at every request (it may be rotated).
func clientAssertion(auth clientAuth, endpoint string) (string, error) {
	key, err := loadClientKey(auth.KeyFile)
	if err != nil {
		return "", err
	}
	var method jwt.SigningMethod
	switch k := key.(type) {
	case *rsa.PrivateKey:
		method = jwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		if k.Curve.Params().BitSize != 256 {
			return "", fmt.Errorf("client key %s: EC keys must be P-256 (ES256)", auth.KeyFile)
		}
		method = jwt.SigningMethodES256
	default:
		return "", fmt.Errorf("client key %s: want an RSA or EC P-256 key", auth.KeyFile)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": auth.ID, "sub": auth.ID, "aud": endpoint, "jti": hex.EncodeToString(jti[:]),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	registerToken(s, now.Add(time.Minute))
	return s, nil
}

// loadClientKey reads a PEM private key (PKCS#8, PKCS#1 RSA or SEC 1 EC).
// Its errors never contain key material.
func loadClientKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client key: %w", err)
	}
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, fmt.Errorf("client key %s: no PEM private key", path)
		}
		var k any
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("client key %s: unreadable %s", path, blk.Type)
		}
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("client key %s: not a signing key", path)
	}
}
