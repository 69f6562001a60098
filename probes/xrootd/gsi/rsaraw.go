package gsi

import (
	"crypto"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// rsaPrivateEncrypt is OpenSSL's RSA "private encrypt" with PKCS#1 v1.5
// type-1 padding over raw bytes (no hash, no DigestInfo), applied to chunks
// of at most k-11 bytes; the k-byte blocks are concatenated. crypto/rsa
// offers this for one chunk (hash 0), the chunking is GSI's.
func rsaPrivateEncrypt(rnd io.Reader, key *rsa.PrivateKey, msg []byte) ([]byte, error) {
	k := key.Size()
	chunk := k - 11
	if chunk <= 0 {
		return nil, errors.New("RSA key too small")
	}
	if len(msg) == 0 {
		return nil, errors.New("nothing to sign")
	}
	out := make([]byte, 0, (len(msg)+chunk-1)/chunk*k)
	for len(msg) > 0 {
		n := min(chunk, len(msg))
		blk, err := rsa.SignPKCS1v15(rnd, key, crypto.Hash(0), msg[:n])
		if err != nil {
			return nil, fmt.Errorf("RSA private encrypt: %w", err)
		}
		out = append(out, blk...)
		msg = msg[n:]
	}
	return out, nil
}

// rsaPublicDecrypt reverses rsaPrivateEncrypt with the public key: each
// k-byte block is raised to e, its 00 01 FF..FF 00 padding (at least 8 FF)
// checked and stripped, and the payloads concatenated. Go has no public
// verify-recover, hence the hand-written math/big version.
func rsaPublicDecrypt(pub *rsa.PublicKey, data []byte) ([]byte, error) {
	k := pub.Size()
	if k < 12 {
		return nil, errors.New("RSA key too small")
	}
	if len(data) == 0 || len(data)%k != 0 {
		return nil, fmt.Errorf("RSA public decrypt: %d bytes is not a multiple of the %d-byte block", len(data), k)
	}
	e := big.NewInt(int64(pub.E))
	var out []byte
	em := make([]byte, k)
	for off := 0; off < len(data); off += k {
		c := new(big.Int).SetBytes(data[off : off+k])
		if c.Cmp(pub.N) >= 0 {
			return nil, errors.New("RSA public decrypt: block not below the modulus")
		}
		m := new(big.Int).Exp(c, e, pub.N)
		m.FillBytes(em)
		if em[0] != 0 || em[1] != 1 {
			return nil, errors.New("RSA public decrypt: bad block type")
		}
		i := 2
		for i < k && em[i] == 0xff {
			i++
		}
		if i == k || em[i] != 0 || i-2 < 8 {
			return nil, errors.New("RSA public decrypt: bad padding")
		}
		out = append(out, em[i+1:]...)
	}
	return out, nil
}

// checkSigned tells whether sig is want "signed" with pub.
func checkSigned(pub *rsa.PublicKey, sig, want []byte) error {
	got, err := rsaPublicDecrypt(pub, sig)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return errors.New("content mismatch")
	}
	return nil
}
