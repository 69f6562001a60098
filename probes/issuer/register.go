package issuer

import (
	"github.com/gridprobe/gridprobe/internal/protocol"
	"github.com/gridprobe/gridprobe/probes/registry"
)

// Type is the sites.yaml service type of a token issuer.
const Type = "issuer"

func init() {
	registry.Register(registry.Protocol{
		Spec: protocol.Spec{Type: Type, Kind: "Token-Issuer", Schemes: []string{"https"}, DefaultPort: "443",
			Keys: []string{"issuer", "scope"}},
		New: New,
	})
}
