package voms

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
)

var attrNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "street",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "title",
	"2.5.4.42":                   "GN",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.2.840.113549.1.9.1":       "emailAddress",
}

// DN formats a distinguished name in the grid's slash form, in encoding
// order: "/DC=org/DC=example/CN=user A" — the form of VOMS .lsc files,
// grid-mapfiles and voms-proxy-info. Multi-valued RDNs are joined with "+".
func DN(rdn pkix.RDNSequence) string {
	var b strings.Builder
	for _, set := range rdn {
		b.WriteByte('/')
		for i, atv := range set {
			if i > 0 {
				b.WriteByte('+')
			}
			name, ok := attrNames[atv.Type.String()]
			if !ok {
				name = atv.Type.String()
			}
			b.WriteString(name)
			b.WriteByte('=')
			b.WriteString(attrValue(atv.Value))
		}
	}
	return b.String()
}

// DNOf parses a DER Name (e.g. x509.Certificate.RawSubject) and formats it
// with DN; on a parse error it returns a placeholder naming the problem.
func DNOf(rawName []byte) string {
	var rdn pkix.RDNSequence
	if rest, err := asn1.Unmarshal(rawName, &rdn); err != nil || len(rest) != 0 {
		return "<unparsable DN>"
	}
	return DN(rdn)
}

func attrValue(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return fmt.Sprintf("%x", s)
	default:
		return fmt.Sprint(s)
	}
}
