package engine

import (
	"context"
	"time"
)

// SummaryID is the id of the per-service summary check the runner adds.
const SummaryID = "99summary"

// Check is one entry of a service's catalogue.
type Check struct {
	// ID is the ETF-numbered id, e.g. "1connection", "14tkn-read".
	ID string
	// Credential is CredNone, CredX509 or CredToken.
	Credential string
	// Requires lists ids of checks of the same service that must be OK (or
	// WARNING) before this one runs; otherwise it reports UNKNOWN.
	Requires []string
	// Timeout overrides the service's per-check timeout when non-zero.
	Timeout time.Duration
	// Run performs the check. It must honour ctx; scratch-area cleanups are
	// registered through env.Cleanup so they run whatever happens.
	Run func(ctx context.Context, env *Env) Outcome
	// Reproduce, when set, gives the reproduce lines for results the runner
	// makes itself (timeouts, panics) so those still carry them.
	Reproduce func() []string
	// Unmet, when set, words the UNKNOWN detail of this check when
	// prerequisites failed (instead of "prerequisite <id> failed"), e.g. to
	// add the reason the prerequisite gave. The state stays UNKNOWN.
	Unmet func(failed []string) string
}

// Service is one endpoint of a site with its ordered checks.
type Service struct {
	Name     string // ETF service name, e.g. org.testvo.SE-WebDAV
	Protocol string // webdav, xrootd, arc-ce, htcondor-ce
	VO       string
	URL      string
	// Timeout is the default per-check timeout.
	Timeout time.Duration
	// Checks in catalogue order. 99summary is added by the runner.
	Checks []Check
	// Close, when set, is called once after the service's checks and
	// cleanups (to close pooled connections).
	Close func()
	// Party is whose service this is, when not a site's: a central
	// service's row (the token issuer) carries its own failures as
	// PartyCentral, and its summary is WARNING/CRITICAL for them. Empty:
	// PartySite.
	Party Party
	// Summary, when set, is the summary policy of sites.yaml: which checks
	// count for 99summary and which are in commissioning (policy.go). Nil:
	// 99summary is the worst state of every check.
	Summary *SummaryPolicy

	// partial: only some checks were selected (Select); no 99summary then.
	partial bool
}

// own is the party of the service's own failures.
func (s *Service) own() Party {
	if s.Party == "" {
		return PartySite
	}
	return s.Party
}

// Site is one site: its services run one after the other within Budget.
type Site struct {
	Name     string
	Budget   time.Duration
	Services []*Service
}

// Logger receives the runner's debug log lines. It must be safe for
// concurrent use and never receives a credential.
type Logger interface {
	Logf(format string, args ...any)
}

// Env is handed to a running check.
type Env struct {
	// RunID is unique per round; probes put their scratch files under
	// <write_dir>/<RunID>/.
	RunID    string
	Site     string
	Service  *Service
	Check    string
	cleanups *cleanupStack
	log      Logger
}

// Cleanup registers fn to run after the service's checks finish, whatever
// their outcome (failure, timeout, cancellation). Cleanups run last-in
// first-out with their own fresh deadline.
func (e *Env) Cleanup(name string, fn func(ctx context.Context) error) {
	e.cleanups.push(e.Check, name, fn)
}

// Logf writes a debug line tagged with site, service and check.
func (e *Env) Logf(format string, args ...any) {
	if e.log == nil {
		return
	}
	e.log.Logf("%s %s %s: "+format, append([]any{e.Site, e.Service.Name, e.Check}, args...)...)
}
