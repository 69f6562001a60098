package storage

import (
	"context"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// Role names one of the probe's X.509 proxies.
type Role int

// Proxy roles.
const (
	Own     Role = iota // the VO proxy (credentials.x509.proxy)
	Foreign             // another VO's proxy (foreign_proxy)
	NoVOMS              // a proxy without VOMS attributes (novoms_proxy)
)

var roleNames = [...]string{"proxy", "foreign proxy", "proxy without VOMS"}

func (r Role) String() string { return roleNames[r] }

// Transport is one storage protocol's side of a service: it opens Stores on
// the endpoint, one per credential (pooling connections and sessions as the
// protocol allows), and renders reproduce lines with the protocol's
// command-line client.
type Transport interface {
	// Proxy returns the store authenticated with the proxy p of role. An
	// error of the probe's own set-up is a *CredError; a refused login is
	// an *Error of kind LoginRefused.
	Proxy(ctx context.Context, role Role, p *cred.Proxy) (Store, error)
	// Token returns the store presenting tok (over the protocol's token
	// mechanism only: a fallback to another credential would make a token
	// check prove nothing).
	Token(ctx context.Context, tok *cred.Token) (Store, error)
	// Line renders one reproduce operation as a shell line.
	Line(op Op) string
	// LateWrites is how long the final sweep of the scratch area waits for
	// creating requests that got no answer (the server may still carry them
	// out); 0 when none is outstanding.
	LateWrites() time.Duration
}

// OpKind is what a reproduce line does.
type OpKind int

// Reproduce operations.
const (
	OpToken    OpKind = iota // comment: which token the next lines need (Scopes, Aud)
	OpStat                   // stat Path
	OpGet                    // download Path to Local
	OpGetRange               // read N bytes of Path at Off and compare with Local's
	OpChecksum               // the server's adler32 of Path
	OpPut                    // upload Local as Path
	OpMkdir                  // make the directory Path (Parents: with its parents)
	OpList                   // list Path, showing Name
	OpDelete                 // remove the file Path
	OpRmdir                  // remove the directory Path
)

// Op is one operation of a reproduce script, in protocol-neutral terms.
type Op struct {
	Kind OpKind
	// As is the credential: a proxy role, or Token (the token in
	// $BEARER_TOKEN_FILE, announced by an OpToken line).
	As    Role
	Token bool
	Path  string
	Local string
	Off   int64
	N     int64
	// Parents: mkdir -p.
	Parents bool
	// Name: an entry a listing must show.
	Name string
	// Refused: the line succeeds only when the server refuses explicitly;
	// LoginRefusal: a refused login counts as that refusal.
	Refused      bool
	LoginRefusal bool
	// MayFail: the line's failure does not matter (|| true).
	MayFail bool
	// Scopes and Aud of an OpToken line; ForWrite notes that the next lines
	// write (some clients need more than the scope the probe uses).
	Scopes   string
	Aud      string
	ForWrite bool
}
