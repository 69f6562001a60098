package xrd

import (
	"fmt"
	"strings"

	"go-hep.org/x/hep/xrootd/xrdproto"
	"go-hep.org/x/hep/xrootd/xrdproto/auth"
	"go-hep.org/x/hep/xrootd/xrdproto/dirlist"
	"go-hep.org/x/hep/xrootd/xrdproto/locate"
	"go-hep.org/x/hep/xrootd/xrdproto/login"
	"go-hep.org/x/hep/xrootd/xrdproto/mkdir"
	"go-hep.org/x/hep/xrootd/xrdproto/open"
	"go-hep.org/x/hep/xrootd/xrdproto/ping"
	"go-hep.org/x/hep/xrootd/xrdproto/protocol"
	"go-hep.org/x/hep/xrootd/xrdproto/query"
	"go-hep.org/x/hep/xrootd/xrdproto/read"
	"go-hep.org/x/hep/xrootd/xrdproto/rm"
	"go-hep.org/x/hep/xrootd/xrdproto/rmdir"
	"go-hep.org/x/hep/xrootd/xrdproto/stat"
	"go-hep.org/x/hep/xrootd/xrdproto/write"
	"go-hep.org/x/hep/xrootd/xrdproto/xrdclose"
)

// Request ids (XProtocol.hh). The ones go-hep names are taken from it.
const (
	reqAuth     = auth.RequestID     // 3000
	reqQuery    = query.RequestID    // 3001
	reqClose    = xrdclose.RequestID // 3003
	reqDirlist  = dirlist.RequestID  // 3004
	reqProtocol = protocol.RequestID // 3006
	reqLogin    = login.RequestID    // 3007
	reqMkdir    = mkdir.RequestID    // 3008
	reqOpen     = open.RequestID     // 3010
	reqPing     = ping.RequestID     // 3011
	reqRead     = read.RequestID     // 3013
	reqRm       = rm.RequestID       // 3014
	reqRmdir    = rmdir.RequestID    // 3015
	reqStat     = stat.RequestID     // 3017
	reqWrite    = write.RequestID    // 3019
	reqLocate   = locate.RequestID   // 3027
)

// Response status values. go-hep lacks 4001, 4002, 4006 and 4007.
const (
	statusOK       = uint16(xrdproto.Ok)       // 0
	statusOKSoFar  = uint16(xrdproto.OkSoFar)  // 4000
	statusAttn     = uint16(4001)              // kXR_attn
	statusAuthMore = uint16(4002)              // kXR_authmore
	statusError    = uint16(xrdproto.Error)    // 4003
	statusRedirect = uint16(xrdproto.Redirect) // 4004
	statusWait     = uint16(xrdproto.Wait)     // 4005
	statusWaitResp = uint16(4006)              // kXR_waitresp
	statusStatus   = uint16(4007)              // kXR_status (pgread/pgwrite only)
)

// kXR_attn action numbers.
const attnAsynResp = 5008

// statusName names a response status for error messages.
func statusName(s uint16) string {
	switch s {
	case statusOK:
		return "kXR_ok"
	case statusOKSoFar:
		return "kXR_oksofar"
	case statusAttn:
		return "kXR_attn"
	case statusAuthMore:
		return "kXR_authmore"
	case statusError:
		return "kXR_error"
	case statusRedirect:
		return "kXR_redirect"
	case statusWait:
		return "kXR_wait"
	case statusWaitResp:
		return "kXR_waitresp"
	case statusStatus:
		return "kXR_status"
	}
	return fmt.Sprintf("status %d", s)
}

// kXR_protocol request flags and expect values.
const (
	protoSecReqs = 0x01 // kXR_secreqs
	protoAbleTLS = 0x02 // kXR_ableTLS
	protoWantTLS = 0x04 // kXR_wantTLS
	protoBifReqs = 0x08 // kXR_bifreqs

	expectLogin = 3 // kXR_ExpLogin
)

// clientProtocolVersion is the protocol version the client announces (5.1.0),
// as XrdCl 5.5 does.
const clientProtocolVersion = 0x511

// ServerFlags are the flags of the kXR_protocol response.
type ServerFlags uint32

// Server flag bits (XProtocol.hh, kXR_isServer ... kXR_haveTLS).
const (
	FlagIsServer   ServerFlags = 0x00000001
	FlagIsManager  ServerFlags = 0x00000002
	FlagAttrMeta   ServerFlags = 0x00000100
	FlagAttrProxy  ServerFlags = 0x00000200
	FlagAttrSuper  ServerFlags = 0x00000400
	FlagAttrVirtRd ServerFlags = 0x00000800
	FlagSupPOSC    ServerFlags = 0x00100000
	FlagSupPgRW    ServerFlags = 0x00200000
	FlagSupGPF     ServerFlags = 0x00400000
	FlagAnonGPF    ServerFlags = 0x00800000
	FlagTLSData    ServerFlags = 0x01000000
	FlagTLSGPF     ServerFlags = 0x02000000
	FlagTLSLogin   ServerFlags = 0x04000000
	FlagTLSSess    ServerFlags = 0x08000000
	FlagTLSTPC     ServerFlags = 0x10000000
	FlagTLSGPFA    ServerFlags = 0x20000000
	FlagGotoTLS    ServerFlags = 0x40000000
	FlagHaveTLS    ServerFlags = 0x80000000
)

var flagNames = []struct {
	f    ServerFlags
	name string
}{
	{FlagIsServer, "isServer"}, {FlagIsManager, "isManager"}, {FlagAttrMeta, "attrMeta"},
	{FlagAttrProxy, "attrProxy"}, {FlagAttrSuper, "attrSuper"}, {FlagAttrVirtRd, "attrVirtRdr"},
	{FlagSupPOSC, "supposc"}, {FlagSupPgRW, "suppgrw"}, {FlagSupGPF, "supgpf"}, {FlagAnonGPF, "anongpf"},
	{FlagTLSData, "tlsData"}, {FlagTLSGPF, "tlsGPF"}, {FlagTLSLogin, "tlsLogin"}, {FlagTLSSess, "tlsSess"},
	{FlagTLSTPC, "tlsTPC"}, {FlagTLSGPFA, "tlsGPFA"}, {FlagGotoTLS, "gotoTLS"}, {FlagHaveTLS, "haveTLS"},
}

// Has reports whether all bits of g are set in f.
func (f ServerFlags) Has(g ServerFlags) bool { return f&g == g }

// String lists the set flags by their XRootD names, e.g. "isServer|haveTLS".
func (f ServerFlags) String() string {
	var parts []string
	rest := f
	for _, n := range flagNames {
		if f&n.f != 0 {
			parts = append(parts, n.name)
			rest &^= n.f
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint32(rest)))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// Open options (kXR_open options field).
const (
	openDelete  = 0x0002
	openForce   = 0x0004
	openNew     = 0x0008
	openRead    = 0x0010
	openUpdate  = 0x0020
	openRefresh = 0x0080
	openMkpath  = 0x0100
	openRetstat = 0x0400
	openPOSC    = 0x1000
)

// Query info types.
const (
	queryChecksum = 3 // kXR_Qcksum
	queryConfig   = 7 // kXR_Qconfig
)

// Dirlist options.
const dirlistDstat = 0x02

// Locate options.
const (
	locateRefresh  = 0x0080
	locatePrefName = 0x0100
	locateNoWait   = 0x2000
)

// Mkdir options.
const mkdirPath = 0x01

// Stat options.
const statVFS = 0x01
