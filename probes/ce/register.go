package ce

import (
	"github.com/gridprobe/gridprobe/internal/protocol"
	"github.com/gridprobe/gridprobe/probes/registry"
)

// The service types of this package.
const (
	TypeARC      = "arc-ce"
	TypeHTCondor = "htcondor-ce"
)

func init() {
	registry.Register(registry.Protocol{
		Spec: protocol.Spec{Type: TypeARC, Kind: "CE-ARC", Schemes: []string{"https"}, DefaultPort: "443",
			Keys: []string{"queue"}, Flavours: []string{"ARC-CE"}, FeedURL: "https://$(endpoint)/arex"}, // A-REX REST lives below /arex
		New: NewARC,
	})
	registry.Register(registry.Protocol{
		Spec: protocol.Spec{Type: TypeHTCondor, Kind: "CE-HTCondor", Schemes: []string{"condor"}, DefaultPort: "9619",
			PortInURL: true, Keys: []string{"queue"}, Flavours: []string{"HTCONDOR-CE", "ORG.OPENSCIENCEGRID.HTCONDORCE"},
			FeedURL: "condor://$(endpoint)"},
		New: NewHTCondor,
	})
}
