package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"

	"github.com/golang-jwt/jwt/v5"
)

// Signing algorithms the issuer supports.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
)

// Key is one signing key with its key id.
type Key struct {
	Kid    string
	Alg    string
	Signer crypto.Signer
}

// Method returns the golang-jwt signing method of the key.
func (k *Key) Method() jwt.SigningMethod {
	if k.Alg == AlgES256 {
		return jwt.SigningMethodES256
	}
	return jwt.SigningMethodRS256
}

// KeySet holds the trusted keys (published in the JWKS) and the rogue keys
// (never published; for negative tests: a token signed by them must be
// refused by every relying party).
type KeySet struct {
	Trusted map[string]*Key // by algorithm
	Rogue   map[string]*Key // by algorithm
}

// keyFiles maps a key file name in the key directory to its role.
var keyFiles = []struct {
	file, kid, alg string
	rogue          bool
}{
	{"rs256.key", "testbed-rs256-1", AlgRS256, false},
	{"es256.key", "testbed-es256-1", AlgES256, false},
	{"rogue-rs256.key", "rogue-rs256-1", AlgRS256, true},
	{"rogue-es256.key", "rogue-es256-1", AlgES256, true},
}

// LoadKeys reads the key set from dir. With create, missing keys are
// generated and written with mode 0600; existing keys are never replaced.
func LoadKeys(dir string, create bool) (*KeySet, error) {
	ks := &KeySet{Trusted: map[string]*Key{}, Rogue: map[string]*Key{}}
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create key directory: %w", err)
		}
	}
	for _, kf := range keyFiles {
		path := filepath.Join(dir, kf.file)
		signer, err := readKey(path)
		if errors.Is(err, fs.ErrNotExist) && create {
			signer, err = generateKey(path, kf.alg)
		}
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", path, err)
		}
		k := &Key{Kid: kf.kid, Alg: kf.alg, Signer: signer}
		if kf.rogue {
			ks.Rogue[kf.alg] = k
		} else {
			ks.Trusted[kf.alg] = k
		}
	}
	return ks, nil
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#8 key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("key cannot sign")
	}
	return s, nil
}

func generateKey(path, alg string) (crypto.Signer, error) {
	var s crypto.Signer
	var err error
	switch alg {
	case AlgES256:
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(s)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	if err := writeFile0600(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return nil, err
	}
	return s, nil
}

// writeFile0600 writes data to path atomically (temp file + rename) with
// mode 0600, so a secret is never readable by others, not even briefly.
func writeFile0600(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename to %s: %w", path, err)
	}
	return nil
}

// JWK is one public key in JSON Web Key form (RFC 7517/7518).
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

var b64 = base64.RawURLEncoding

// PublicJWK returns the public half of k as a JWK.
func PublicJWK(k *Key) (JWK, error) {
	j := JWK{Kid: k.Kid, Use: "sig", Alg: k.Alg}
	switch pub := k.Signer.Public().(type) {
	case *rsa.PublicKey:
		j.Kty = "RSA"
		j.N = b64.EncodeToString(pub.N.Bytes())
		j.E = b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		ecdh, err := pub.ECDH()
		if err != nil {
			return JWK{}, fmt.Errorf("EC key %s: %w", k.Kid, err)
		}
		raw := ecdh.Bytes() // 0x04 || X || Y, fixed size for P-256
		j.Kty = "EC"
		j.Crv = "P-256"
		j.X = b64.EncodeToString(raw[1:33])
		j.Y = b64.EncodeToString(raw[33:65])
	default:
		return JWK{}, fmt.Errorf("key %s: unsupported public key type %T", k.Kid, pub)
	}
	return j, nil
}

// PublicJWKS returns the JWKS of the trusted keys only.
func (ks *KeySet) PublicJWKS() (JWKS, error) {
	var set JWKS
	for _, alg := range []string{AlgRS256, AlgES256} {
		k, ok := ks.Trusted[alg]
		if !ok {
			continue
		}
		j, err := PublicJWK(k)
		if err != nil {
			return JWKS{}, err
		}
		set.Keys = append(set.Keys, j)
	}
	return set, nil
}
