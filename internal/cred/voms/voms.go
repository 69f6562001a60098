// Package voms reads VOMS attribute certificates (ACs) out of grid proxy
// certificates: the VO, its FQANs, the VOMS server that signed them and the
// AC's validity.
//
// It is written by hand on encoding/asn1 because there is no maintained Go
// VOMS library (the C++ libvomsapi is the reference implementation). The
// layout follows RFC 5755 (AttributeCertificate) and the VOMS AC format
// (OGF GFD.182): the proxy carries extension 1.3.6.1.4.1.8005.100.100.5,
// a SEQUENCE OF ACSeq, each a SEQUENCE OF AttributeCertificate; the FQANs are
// the attribute 1.3.6.1.4.1.8005.100.100.4 (IetfAttrSyntax), whose
// policyAuthority is the URI "<vo>://<host>:<port>". The parser only reads;
// it never trusts the AC on its own (see Attr.Verify), and it must never panic
// on hostile input (it is fuzzed).
package voms

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Object identifiers of the VOMS AC format.
var (
	// OIDACExtension is the proxy certificate extension that carries the ACs.
	OIDACExtension = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 8005, 100, 100, 5}
	// OIDFQANAttribute is the AC attribute listing the FQANs.
	OIDFQANAttribute = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 8005, 100, 100, 4}
	// OIDACCerts is the AC extension carrying the VOMS signer's certificates.
	OIDACCerts = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 8005, 100, 100, 10}
)

// Attr is what one VOMS attribute certificate asserts.
type Attr struct {
	VO              string   // "testvo" (from the policy authority)
	FQANs           []string // "/testvo/Role=NULL/Capability=NULL", first = primary
	Server          string   // "voms.example.org:15000"
	PolicyAuthority string   // "testvo://voms.example.org:15000"
	Issuer          string   // DN of the VOMS server that signed the AC
	HolderIssuer    string   // DN in the AC's Holder (voms writes the holder cert's subject)
	HolderSerial    *big.Int // serial of the certificate the AC was issued to
	Serial          *big.Int // the AC's own serial
	NotBefore       time.Time
	NotAfter        time.Time

	tbs       []byte // DER of AttributeCertificateInfo, for Verify
	sigAlg    x509.SignatureAlgorithm
	signature []byte
	signers   []*x509.Certificate // from the AC certs extension, may be empty
}

// Valid reports whether the AC is within its validity window at now.
func (a *Attr) Valid(now time.Time) error {
	if now.Before(a.NotBefore) {
		return fmt.Errorf("VOMS AC of %s not valid before %s", a.VO, a.NotBefore.UTC().Format(time.RFC3339))
	}
	if !now.Before(a.NotAfter) {
		return fmt.Errorf("VOMS AC of %s expired at %s", a.VO, a.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// FromCertificate returns the ACs carried by cert; nil, nil when it has none.
func FromCertificate(cert *x509.Certificate) ([]Attr, error) {
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(OIDACExtension) {
			return ParseExtension(ext.Value)
		}
	}
	return nil, nil
}

// FromChain returns the ACs of the first certificate in chain (leaf first)
// that carries any, as VOMS clients do for proxies of proxies.
func FromChain(chain []*x509.Certificate) ([]Attr, error) {
	for _, c := range chain {
		acs, err := FromCertificate(c)
		if err != nil || len(acs) > 0 {
			return acs, err
		}
	}
	return nil, nil
}

// ParseExtension parses the value of the 1.3.6.1.4.1.8005.100.100.5 extension.
func ParseExtension(der []byte) ([]Attr, error) {
	seqs, err := sequenceOf(der)
	if err != nil {
		return nil, fmt.Errorf("VOMS AC extension: %w", err)
	}
	var out []Attr
	for _, s := range seqs {
		acs, err := sequenceOf(s.FullBytes)
		if err != nil {
			return nil, fmt.Errorf("VOMS AC sequence: %w", err)
		}
		for _, ac := range acs {
			a, err := ParseAC(ac.FullBytes)
			if err != nil {
				return nil, err
			}
			out = append(out, *a)
		}
	}
	return out, nil
}

type attributeCertificate struct {
	Info      asn1.RawValue
	SigAlg    pkix.AlgorithmIdentifier
	Signature asn1.BitString
}

type acInfo struct {
	Version    int
	Holder     asn1.RawValue
	Issuer     asn1.RawValue
	SigAlg     pkix.AlgorithmIdentifier
	Serial     *big.Int
	Validity   acValidity
	Attributes []acAttribute
	IssuerUID  asn1.BitString   `asn1:"optional"`
	Extensions []pkix.Extension `asn1:"optional"`
}

type acValidity struct {
	NotBefore time.Time `asn1:"generalized"`
	NotAfter  time.Time `asn1:"generalized"`
}

type acAttribute struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// ParseAC parses one DER AttributeCertificate carrying VOMS FQANs.
func ParseAC(der []byte) (*Attr, error) {
	var ac attributeCertificate
	if err := unmarshalAll(der, &ac); err != nil {
		return nil, fmt.Errorf("VOMS AC: %w", err)
	}
	var info acInfo
	if err := unmarshalAll(ac.Info.FullBytes, &info); err != nil {
		return nil, fmt.Errorf("VOMS AC info: %w", err)
	}
	if info.Version != 1 {
		return nil, fmt.Errorf("VOMS AC: version %d, want 1 (v2)", info.Version)
	}
	a := &Attr{
		Serial:    info.Serial,
		NotBefore: info.Validity.NotBefore,
		NotAfter:  info.Validity.NotAfter,
		tbs:       ac.Info.FullBytes,
		sigAlg:    sigAlgorithm(ac.SigAlg.Algorithm),
		signature: ac.Signature.RightAlign(),
	}
	var err error
	if a.Issuer, err = issuerDN(info.Issuer); err != nil {
		return nil, err
	}
	a.HolderIssuer, a.HolderSerial = holder(info.Holder)
	for _, at := range info.Attributes {
		if !at.Type.Equal(OIDFQANAttribute) {
			continue
		}
		for _, v := range at.Values {
			if err := a.parseIetfAttr(v.FullBytes); err != nil {
				return nil, err
			}
		}
	}
	if a.PolicyAuthority == "" {
		return nil, errors.New("VOMS AC: no FQAN attribute with a policy authority")
	}
	vo, server, ok := strings.Cut(a.PolicyAuthority, "://")
	if !ok || vo == "" {
		return nil, fmt.Errorf("VOMS AC: policy authority %q is not <vo>://<host>:<port>", a.PolicyAuthority)
	}
	a.VO, a.Server = vo, server
	for _, ext := range info.Extensions {
		if ext.Id.Equal(OIDACCerts) {
			a.signers = acCerts(ext.Value)
		}
	}
	return a, nil
}

// parseIetfAttr reads IetfAttrSyntax ::= SEQUENCE { policyAuthority [0]
// GeneralNames OPTIONAL, values SEQUENCE OF CHOICE { octets, oid, string } }.
func (a *Attr) parseIetfAttr(der []byte) error {
	elems, err := sequenceOf(der)
	if err != nil {
		return fmt.Errorf("VOMS FQAN attribute: %w", err)
	}
	for _, e := range elems {
		switch {
		case e.Class == asn1.ClassContextSpecific && e.Tag == 0:
			names, err := rawList(e.Bytes)
			if err != nil {
				return fmt.Errorf("VOMS policy authority: %w", err)
			}
			for _, n := range names {
				// uniformResourceIdentifier [6] IA5String (implicit).
				if n.Class == asn1.ClassContextSpecific && n.Tag == 6 && a.PolicyAuthority == "" {
					a.PolicyAuthority = string(n.Bytes)
				}
			}
		case e.Class == asn1.ClassUniversal && e.Tag == asn1.TagSequence:
			vals, err := rawList(e.Bytes)
			if err != nil {
				return fmt.Errorf("VOMS FQAN values: %w", err)
			}
			for _, v := range vals {
				if v.Class == asn1.ClassUniversal && (v.Tag == asn1.TagOctetString || v.Tag == asn1.TagUTF8String) {
					a.FQANs = append(a.FQANs, string(v.Bytes))
				}
			}
		}
	}
	return nil
}

// issuerDN reads AttCertIssuer: v2Form [0] IMPLICIT V2Form (whose first
// element is issuerName GeneralNames) or v1Form GeneralNames.
func issuerDN(raw asn1.RawValue) (string, error) {
	names := raw.FullBytes
	if raw.Class == asn1.ClassContextSpecific && raw.Tag == 0 {
		inner, err := rawList(raw.Bytes)
		if err != nil || len(inner) == 0 || inner[0].Tag != asn1.TagSequence {
			return "", errors.New("VOMS AC: issuer is not a V2Form with an issuerName")
		}
		names = inner[0].FullBytes
	}
	dn, ok := directoryName(names)
	if !ok {
		return "", errors.New("VOMS AC: issuer has no directoryName")
	}
	return dn, nil
}

// holder reads Holder { baseCertificateID [0] IMPLICIT IssuerSerial ... }.
func holder(raw asn1.RawValue) (string, *big.Int) {
	elems, err := rawList(raw.Bytes)
	if err != nil {
		return "", nil
	}
	for _, e := range elems {
		if e.Class != asn1.ClassContextSpecific || e.Tag != 0 {
			continue
		}
		parts, err := rawList(e.Bytes)
		if err != nil || len(parts) < 2 {
			return "", nil
		}
		dn, _ := directoryName(parts[0].FullBytes)
		var serial *big.Int
		if _, err := asn1.Unmarshal(parts[1].FullBytes, &serial); err != nil {
			serial = nil
		}
		return dn, serial
	}
	return "", nil
}

// directoryName returns the first directoryName [4] of a GeneralNames.
func directoryName(generalNames []byte) (string, bool) {
	names, err := sequenceOf(generalNames)
	if err != nil {
		return "", false
	}
	for _, n := range names {
		if n.Class == asn1.ClassContextSpecific && n.Tag == 4 {
			var rdn pkix.RDNSequence
			if err := unmarshalAll(n.Bytes, &rdn); err != nil {
				return "", false
			}
			return DN(rdn), true
		}
	}
	return "", false
}

// acCerts reads the signer certificates: SEQUENCE OF Certificate.
func acCerts(der []byte) []*x509.Certificate {
	list, err := sequenceOf(der)
	if err != nil {
		return nil
	}
	var out []*x509.Certificate
	for _, l := range list {
		// voms writes the list wrapped once more in a SEQUENCE.
		if c, err := x509.ParseCertificate(l.FullBytes); err == nil {
			out = append(out, c)
			continue
		}
		inner, err := rawList(l.Bytes)
		if err != nil {
			continue
		}
		for _, i := range inner {
			if c, err := x509.ParseCertificate(i.FullBytes); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// sequenceOf parses a DER SEQUENCE (with nothing after it) into its elements.
func sequenceOf(der []byte) ([]asn1.RawValue, error) {
	var seq asn1.RawValue
	if err := unmarshalAll(der, &seq); err != nil {
		return nil, err
	}
	if seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return nil, fmt.Errorf("expected SEQUENCE, got class %d tag %d", seq.Class, seq.Tag)
	}
	return rawList(seq.Bytes)
}

// rawList splits concatenated DER elements.
func rawList(b []byte) ([]asn1.RawValue, error) {
	var out []asn1.RawValue
	for len(b) > 0 {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(b, &v)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		b = rest
	}
	return out, nil
}

func unmarshalAll(der []byte, v any) error {
	rest, err := asn1.Unmarshal(der, v)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d trailing bytes", len(rest))
	}
	return nil
}
