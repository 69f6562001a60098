package gsi

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ivLen is the IV carried in front of every encrypted bucket
// (EVP_MAX_IV_LENGTH, whatever the cipher's block size).
const ivLen = 16

// cipherKeyLen lists the session ciphers this client supports, with their
// key lengths. Keys are the first bytes of the DH secret (no KDF).
var cipherKeyLen = map[string]int{
	"aes-128-cbc": 16,
	"aes-192-cbc": 24,
	"aes-256-cbc": 32,
}

// digests the client may echo; the digest plays no part in the exchange.
var knownDigests = map[string]bool{
	"sha256": true, "sha1": true, "sha384": true, "sha512": true, "sha224": true, "md5": true,
}

// pickFirst returns the first entry of the server's ':'-separated list that
// ok accepts.
func pickFirst(list string, ok func(string) bool) string {
	for _, s := range strings.Split(list, ":") {
		s = strings.TrimSpace(s)
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		if s != "" && ok(s) {
			return s
		}
	}
	return ""
}

// sessionCipher is the AES-CBC session cipher keyed from the DH secret.
type sessionCipher struct {
	name  string
	block cipher.Block
}

func newSessionCipher(name string, secret []byte) (*sessionCipher, error) {
	n, ok := cipherKeyLen[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrCipherMismatch, name)
	}
	if len(secret) < n {
		return nil, fmt.Errorf("DH secret of %d bytes too short for %s", len(secret), name)
	}
	blk, err := aes.NewCipher(secret[:n])
	if err != nil {
		return nil, fmt.Errorf("session cipher: %w", err)
	}
	return &sessionCipher{name: name, block: blk}, nil
}

// encrypt returns IV ‖ CBC(PKCS#7(plain)) with a fresh random IV.
func (c *sessionCipher) encrypt(rnd io.Reader, plain []byte) ([]byte, error) {
	bs := c.block.BlockSize()
	pad := bs - len(plain)%bs
	out := make([]byte, ivLen+len(plain)+pad)
	if _, err := io.ReadFull(rnd, out[:ivLen]); err != nil {
		return nil, fmt.Errorf("IV: %w", err)
	}
	body := out[ivLen:]
	copy(body, plain)
	for i := len(plain); i < len(body); i++ {
		body[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(c.block, out[:bs]).CryptBlocks(body, body)
	return out, nil
}

// decrypt reverses encrypt.
func (c *sessionCipher) decrypt(data []byte) ([]byte, error) {
	bs := c.block.BlockSize()
	if len(data) < ivLen+bs || (len(data)-ivLen)%bs != 0 {
		return nil, fmt.Errorf("encrypted bucket of %d bytes has a bad length", len(data))
	}
	body := make([]byte, len(data)-ivLen)
	cipher.NewCBCDecrypter(c.block, data[:bs]).CryptBlocks(body, data[ivLen:])
	pad := int(body[len(body)-1])
	if pad == 0 || pad > bs {
		return nil, errors.New("bad padding after decryption (wrong session key?)")
	}
	for _, b := range body[len(body)-pad:] {
		if int(b) != pad {
			return nil, errors.New("bad padding after decryption (wrong session key?)")
		}
	}
	return body[:len(body)-pad], nil
}
