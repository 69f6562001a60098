package gsi

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"unicode/utf16"
	"unicode/utf8"
)

// OpenSSL's subject-name hashes name the files of a hashed CA directory
// (<hash>.0) and fill kXRS_issuer_hash. Go has neither, so they are written
// here: the new one (X509_NAME_hash) is SHA-1 over OpenSSL's canonical name
// encoding, the old one (X509_NAME_hash_old) MD5 over the DER name. Both
// take the first four digest bytes little-endian.

// SubjectHash returns OpenSSL's X509_NAME_hash of a DER-encoded name
// (e.g. cert.RawSubject or cert.RawIssuer), as printed by
// `openssl x509 -hash`.
func SubjectHash(rawName []byte) (uint32, error) {
	canon, err := canonicalName(rawName)
	if err != nil {
		return 0, err
	}
	sum := sha1.Sum(canon)
	return binary.LittleEndian.Uint32(sum[:4]), nil
}

// SubjectHashOld returns OpenSSL's X509_NAME_hash_old of a DER-encoded
// name, as printed by `openssl x509 -subject_hash_old`.
func SubjectHashOld(rawName []byte) uint32 {
	sum := md5.Sum(rawName)
	return binary.LittleEndian.Uint32(sum[:4])
}

// nameHashes returns "<new>.0|<old>.0", the kXRS_issuer_hash form.
func nameHashes(rawName []byte) (string, error) {
	h, err := SubjectHash(rawName)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%08x.0|%08x.0", h, SubjectHashOld(rawName)), nil
}

// ASN.1 universal string tags that OpenSSL canonicalises (ASN1_MASK_CANON).
const (
	tagUTF8      = 12
	tagPrintable = 19
	tagT61       = 20
	tagIA5       = 22
	tagVisible   = 26
	tagUniversal = 28
	tagBMP       = 30
)

// canonicalName reproduces OpenSSL's x509_name_canon: every string value
// is converted to UTF-8, trimmed, internal whitespace runs collapsed to one
// space, ASCII upper case folded, and re-encoded as UTF8String; each RDN is
// DER-encoded as a SET (members sorted) and the SETs are concatenated
// without the outer SEQUENCE.
func canonicalName(rawName []byte) ([]byte, error) {
	var name asn1.RawValue
	rest, err := asn1.Unmarshal(rawName, &name)
	if err != nil {
		return nil, fmt.Errorf("name: %w", err)
	}
	if len(rest) != 0 || name.Class != asn1.ClassUniversal || name.Tag != asn1.TagSequence {
		return nil, errors.New("name: not a single DER SEQUENCE")
	}
	var out []byte
	rdns := name.Bytes
	for len(rdns) > 0 {
		var rdn asn1.RawValue
		if rdns, err = asn1.Unmarshal(rdns, &rdn); err != nil {
			return nil, fmt.Errorf("name RDN: %w", err)
		}
		if rdn.Class != asn1.ClassUniversal || rdn.Tag != asn1.TagSet {
			return nil, errors.New("name RDN: not a SET")
		}
		var members [][]byte
		atvs := rdn.Bytes
		for len(atvs) > 0 {
			var atv asn1.RawValue
			if atvs, err = asn1.Unmarshal(atvs, &atv); err != nil {
				return nil, fmt.Errorf("name attribute: %w", err)
			}
			enc, err := canonicalATV(atv.Bytes)
			if err != nil {
				return nil, err
			}
			members = append(members, enc)
		}
		// DER SET OF: members in ascending order of their encodings.
		sort.Slice(members, func(i, j int) bool { return bytes.Compare(members[i], members[j]) < 0 })
		out = append(out, derTLV(0x31, bytes.Join(members, nil))...)
	}
	return out, nil
}

// canonicalATV re-encodes the content of one AttributeTypeAndValue.
func canonicalATV(content []byte) ([]byte, error) {
	var oid, val asn1.RawValue
	rest, err := asn1.Unmarshal(content, &oid)
	if err != nil || oid.Tag != asn1.TagOID || oid.Class != asn1.ClassUniversal {
		return nil, fmt.Errorf("name attribute type: %v", err)
	}
	if rest, err = asn1.Unmarshal(rest, &val); err != nil {
		return nil, fmt.Errorf("name attribute value: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("name attribute: trailing data")
	}
	valEnc := val.FullBytes
	if val.Class == asn1.ClassUniversal && !val.IsCompound {
		switch val.Tag {
		case tagUTF8, tagPrintable, tagT61, tagIA5, tagVisible, tagUniversal, tagBMP:
			u, err := toUTF8(val.Tag, val.Bytes)
			if err != nil {
				return nil, err
			}
			valEnc = derTLV(tagUTF8, canonString(u))
		}
	}
	return derTLV(0x30, append(append([]byte{}, oid.FullBytes...), valEnc...)), nil
}

// toUTF8 is ASN1_STRING_to_UTF8 for the canonicalised string types.
func toUTF8(tag int, b []byte) ([]byte, error) {
	switch tag {
	case tagUTF8:
		if !utf8.Valid(b) {
			return nil, errors.New("name: invalid UTF8String")
		}
		return b, nil
	case tagBMP:
		if len(b)%2 != 0 {
			return nil, errors.New("name: odd-length BMPString")
		}
		var out []byte
		for i := 0; i < len(b); i += 2 {
			r := rune(b[i])<<8 | rune(b[i+1])
			if utf16.IsSurrogate(r) {
				return nil, errors.New("name: surrogate in BMPString")
			}
			out = utf8.AppendRune(out, r)
		}
		return out, nil
	case tagUniversal:
		if len(b)%4 != 0 {
			return nil, errors.New("name: bad UniversalString length")
		}
		var out []byte
		for i := 0; i < len(b); i += 4 {
			r := rune(binary.BigEndian.Uint32(b[i:]))
			if !utf8.ValidRune(r) {
				return nil, errors.New("name: bad character in UniversalString")
			}
			out = utf8.AppendRune(out, r)
		}
		return out, nil
	}
	// One byte per character (Printable, T61, IA5, Visible): Latin-1.
	out := make([]byte, 0, len(b))
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// canonString is OpenSSL's asn1_string_canon on UTF-8 bytes: trim ASCII
// whitespace, collapse internal runs to one space, lower-case ASCII.
func canonString(s []byte) []byte {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 0x80:
			out = append(out, c)
			i++
		case isSpace(c):
			out = append(out, ' ')
			for i < len(s) && isSpace(s[i]) {
				i++
			}
		default:
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			out = append(out, c)
			i++
		}
	}
	return out
}

// derTLV encodes one DER element with a single-byte tag.
func derTLV(tag byte, content []byte) []byte {
	out := []byte{tag}
	n := len(content)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	case n < 0x10000:
		out = append(out, 0x82, byte(n>>8), byte(n))
	default:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, content...)
}
