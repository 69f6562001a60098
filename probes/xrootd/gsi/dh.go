package gsi

import (
	"bytes"
	"crypto/rand"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
)

const (
	dhBeginPub = "---BPUB---"
	dhEndPub   = "---EPUB--" // the C++ reader searches for 9 characters only
	// maxDHBits bounds the work an abusive server can cause.
	maxDHBits = 8192
)

// dhGroup is the Diffie-Hellman group a server sent, plus the PEM text it
// was sent in (echoed back in the client's blob, as the C++ client does).
type dhGroup struct {
	p, g *big.Int
	pem  []byte
}

// parseDHBlob parses "PEM DH PARAMETERS ---BPUB---<hex Y>---EPUB---".
func parseDHBlob(blob []byte) (dhGroup, *big.Int, error) {
	var grp dhGroup
	i := bytes.Index(blob, []byte(dhBeginPub))
	if i < 0 {
		return grp, nil, errors.New("DH blob: no ---BPUB--- marker")
	}
	rest := blob[i+len(dhBeginPub):]
	j := bytes.Index(rest, []byte(dhEndPub))
	if j < 0 {
		return grp, nil, errors.New("DH blob: no ---EPUB--- marker")
	}
	hexY := string(rest[:j])
	grp.pem = blob[:i]
	blk, _ := pem.Decode(grp.pem)
	if blk == nil {
		return grp, nil, errors.New("DH blob: no PEM DH parameters")
	}
	if !strings.Contains(blk.Type, "DH PARAMETERS") {
		return grp, nil, fmt.Errorf("DH blob: PEM type %q", blk.Type)
	}
	// PKCS#3 DHParameter {p, g [, l]} or X9.42 {p, g, q, ...}: p and g come first.
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(blk.Bytes, &seq); err != nil || seq.Tag != asn1.TagSequence {
		return grp, nil, fmt.Errorf("DH blob: parameters are not a DER sequence: %v", err)
	}
	grp.p, grp.g = new(big.Int), new(big.Int)
	r, err := asn1.Unmarshal(seq.Bytes, &grp.p)
	if err == nil {
		_, err = asn1.Unmarshal(r, &grp.g)
	}
	if err != nil {
		return grp, nil, fmt.Errorf("DH blob: p, g: %w", err)
	}
	if hexY == "" || strings.Trim(hexY, "0123456789abcdefABCDEF") != "" {
		return grp, nil, errors.New("DH blob: public value is not hex")
	}
	y, ok := new(big.Int).SetString(hexY, 16)
	if !ok {
		return grp, nil, errors.New("DH blob: bad public value")
	}
	return grp, y, nil
}

// check validates the group against the policy and the peer value y.
func (grp dhGroup) check(y *big.Int, minBits int) error {
	p, g := grp.p, grp.g
	bits := p.BitLen()
	if bits > maxDHBits {
		return fmt.Errorf("DH prime of %d bits exceeds %d", bits, maxDHBits)
	}
	if bits < minBits {
		return fmt.Errorf("%w: %d-bit DH prime below the %d-bit minimum", ErrWeakDH, bits, minBits)
	}
	if p.Sign() <= 0 || p.Bit(0) == 0 || !p.ProbablyPrime(4) {
		return errors.New("DH modulus is not an odd prime")
	}
	pm1 := new(big.Int).Sub(p, big.NewInt(1))
	one := big.NewInt(1)
	if g.Cmp(one) <= 0 || g.Cmp(pm1) >= 0 {
		return errors.New("DH generator out of range")
	}
	if y.Cmp(one) <= 0 || y.Cmp(pm1) >= 0 {
		return errors.New("DH public value out of range (1 < Y < p-1)")
	}
	return nil
}

// genPrivate picks x in [2, p-2].
func genPrivate(rnd io.Reader, p *big.Int) (*big.Int, error) {
	limit := new(big.Int).Sub(p, big.NewInt(3)) // x-2 in [0, p-4]
	x, err := rand.Int(rnd, limit)
	if err != nil {
		return nil, fmt.Errorf("DH private value: %w", err)
	}
	return x.Add(x, big.NewInt(2)), nil
}

// sharedSecret computes Z = y^x mod p, left-padded with zeros to |p| bytes
// when padded (OpenSSL EVP_PKEY_CTX_set_dh_pad) or minimal otherwise.
func sharedSecret(p, x, y *big.Int, padded bool) []byte {
	z := new(big.Int).Exp(y, x, p)
	if padded {
		return z.FillBytes(make([]byte, (p.BitLen()+7)/8))
	}
	return z.Bytes()
}

// buildDHBlob writes the client's blob: the server's PEM parameters, then
// Y in upper-case hex (BN_bn2hex: whole bytes, no leading zero byte).
func buildDHBlob(pemText []byte, y *big.Int) []byte {
	var b bytes.Buffer
	b.Write(pemText)
	b.WriteString(dhBeginPub)
	fmt.Fprintf(&b, "%X", y.Bytes())
	b.WriteString("---EPUB---")
	return b.Bytes()
}
