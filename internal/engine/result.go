// Package engine runs gridprobe's ordered, dependent checks: one catalogue per
// service, prerequisites that turn into UNKNOWN when they fail, per-check
// timeouts, per-site budgets, bounded site concurrency, cleanups that always
// run, and the 99summary of every service.
//
// Probes (probes/...) only describe checks; everything about scheduling,
// timing and failure semantics lives here, once.
package engine

import (
	"fmt"
	"strings"
	"time"
)

// State is a Nagios state; the numeric values are the plugin exit codes.
type State int

// Nagios states, in exit-code order.
const (
	OK       State = 0
	Warning  State = 1
	Critical State = 2
	Unknown  State = 3
)

var stateNames = [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}

// String returns the Nagios spelling: OK, WARNING, CRITICAL, UNKNOWN.
func (s State) String() string {
	if s < OK || s > Unknown {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}

// ParseState is the inverse of String.
func ParseState(s string) (State, error) {
	for i, n := range stateNames {
		if strings.EqualFold(n, s) {
			return State(i), nil
		}
	}
	return Unknown, fmt.Errorf("unknown state %q", s)
}

// MarshalText makes states appear by name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a state name.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Severity orders states for "worst of": OK < WARNING < UNKNOWN < CRITICAL.
// Nagios exit codes put UNKNOWN last, but a CRITICAL is worse news than an
// UNKNOWN caused by it.
func (s State) Severity() int {
	switch s {
	case OK:
		return 0
	case Warning:
		return 1
	case Unknown:
		return 2
	default:
		return 3
	}
}

// Worst returns the most severe of the given states (OK for none).
func Worst(states ...State) State {
	w := OK
	for _, s := range states {
		if s.Severity() > w.Severity() {
			w = s
		}
	}
	return w
}

// Credential kinds a check can use.
const (
	CredNone  = "none"
	CredX509  = "x509"
	CredToken = "token"
)

// Party says whose fault a non-OK result is (DESIGN.md "Who is to blame").
// Only the site's faults are the site's WARNING/CRITICAL.
type Party string

// Parties. An OK result has no party.
const (
	PartySite    Party = "site"    // the endpoint refused, broke a rule, lost data, timed out
	PartyCentral Party = "central" // the token issuer, the redirector, a partner SE
	PartyProbe   Party = "probe"   // the probe's own credentials or configuration, or a probe bug
)

// defaultParty is the party of an outcome that names none: the site's for
// WARNING and CRITICAL, the probe's for UNKNOWN (a check that could not
// decide, for want of a credential or a configured value), none for OK.
func defaultParty(s State) Party {
	switch s {
	case OK:
		return ""
	case Unknown:
		return PartyProbe
	default:
		return PartySite
	}
}

// Perf is one Nagios performance-data value.
type Perf struct {
	Label string  `json:"label"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"` // s, B, %, c (Nagios units)
}

// Result is the outcome of one check of one service of one site.
type Result struct {
	Site       string        `json:"site"`
	Service    string        `json:"service"`  // e.g. org.testvo.SE-WebDAV
	Protocol   string        `json:"protocol"` // webdav, xrootd, arc-ce, htcondor-ce
	VO         string        `json:"vo"`
	URL        string        `json:"url"`
	Check      string        `json:"check"` // e.g. 14tkn-read
	Credential string        `json:"credential"`
	State      State         `json:"state"`
	Party      Party         `json:"party,omitempty"` // whose fault a non-OK result is
	Detail     string        `json:"detail"`
	Reproduce  []string      `json:"reproduce,omitempty"`
	Perf       []Perf        `json:"perf,omitempty"`
	Start      time.Time     `json:"start"`
	Duration   time.Duration `json:"duration_ns"`
	RunID      string        `json:"run_id"`
	// Role is the check's part in its service's 99summary under a summary
	// policy (RoleCritical, RoleCommissioning, RoleNotCounted); empty
	// without a policy, and on 99summary itself.
	Role string `json:"summary_role,omitempty"`
	// RawState, on a 99summary, is the worst state of all the service's
	// checks whatever the policy; State is the summary the policy makes.
	RawState *State `json:"raw_state,omitempty"`
	// Since is when the check entered its current state, as far as known
	// (`probe run --state`, `probe serve`); zero: unknown.
	Since time.Time `json:"since,omitzero"`
	// Rules, Profile and Diagnosis: see rules.go.
	Rules     []RuleResult `json:"rules,omitempty"`
	Profile   *Conformance `json:"profile,omitempty"`
	Diagnosis *Diagnosis   `json:"diagnosis,omitempty"`
}

// Metric is the ETF metric name: <service>-<check>, e.g.
// org.testvo.SE-WebDAV-14tkn-read.
func (r Result) Metric() string { return r.Service + "-" + r.Check }

// MaxDetail is the longest detail line a result carries (ETF's message bus
// cuts at 256 characters).
const MaxDetail = 256

// Outcome is what a check's run function returns.
type Outcome struct {
	State State
	// Party is whose fault a non-OK outcome is; empty: the site's for
	// WARNING/CRITICAL, the probe's for UNKNOWN.
	Party     Party
	Detail    string   // without the "STATE - " prefix; the report adds it
	Reproduce []string // shell lines; credentials only by variable or file
	Perf      []Perf
	// Rules, Profile and Diagnosis: see rules.go.
	Rules     []RuleResult
	Profile   *Conformance
	Diagnosis *Diagnosis
}

// Okf, Warnf, Critf and Unknownf build outcomes with a formatted detail.
func Okf(format string, a ...any) Outcome {
	return Outcome{State: OK, Detail: fmt.Sprintf(format, a...)}
}

// Warnf builds a WARNING outcome.
func Warnf(format string, a ...any) Outcome {
	return Outcome{State: Warning, Detail: fmt.Sprintf(format, a...)}
}

// Critf builds a CRITICAL outcome.
func Critf(format string, a ...any) Outcome {
	return Outcome{State: Critical, Detail: fmt.Sprintf(format, a...)}
}

// Unknownf builds an UNKNOWN outcome.
func Unknownf(format string, a ...any) Outcome {
	return Outcome{State: Unknown, Detail: fmt.Sprintf(format, a...)}
}

// Blame returns o with its party set to p.
func (o Outcome) Blame(p Party) Outcome {
	o.Party = p
	return o
}

// OneLine folds a detail to one line of at most MaxDetail characters.
func OneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= MaxDetail {
		return s
	}
	cut := MaxDetail - 3
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
