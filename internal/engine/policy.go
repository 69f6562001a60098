package engine

import (
	"fmt"
	"strings"
	"time"
)

// Roles a check can have in its service's 99summary under a summary policy.
const (
	// RoleCritical: the check counts for 99summary.
	RoleCritical = "critical"
	// RoleCommissioning: the check runs and reports its own state, but its
	// effect on 99summary is capped (SummaryPolicy.CommissioningCap).
	RoleCommissioning = "commissioning"
	// RoleNotCounted: the check runs and reports but does not count.
	RoleNotCounted = "not_counted"
)

// SummaryPolicy says what 99summary means for one service, as ETF's
// per-experiment profiles do: which checks count ("critical"), and which
// are in commissioning (they run and report their own state but affect the
// summary at most as much as CommissioningCap). Ids are resolved from
// sites.yaml's patterns against the service's catalogue before a round
// (internal/policy); the engine only looks them up.
type SummaryPolicy struct {
	// Critical holds the ids that count; nil: every check not in
	// commissioning counts.
	Critical map[string]bool
	// Commissioning holds the ids in commissioning; they never count as
	// critical, whatever Critical says.
	Commissioning map[string]bool
	// CommissioningCap is the worst a commissioning check can make the
	// summary: Warning (a failing one shows as WARNING) or OK (left out).
	CommissioningCap State
}

// Role returns the part check id plays in the summary: RoleCritical,
// RoleCommissioning or RoleNotCounted; "" for no policy and for 99summary.
func (p *SummaryPolicy) Role(id string) string {
	switch {
	case p == nil || id == SummaryID:
		return ""
	case p.Commissioning[id]:
		return RoleCommissioning
	case p.Critical == nil || p.Critical[id]:
		return RoleCritical
	}
	return RoleNotCounted
}

// capAt lowers s to limit when s is more severe.
func capAt(s, limit State) State {
	if s.Severity() > limit.Severity() {
		return limit
	}
	return s
}

// policySummary makes the 99summary of a service that has a summary
// policy: the worst of its critical checks and of its commissioning
// checks capped at the policy's cap (a failed cleanup makes it at least
// WARNING). A check that failed for a central service or the probe counts
// as UNKNOWN, whatever its own state, and is named by party. The detail
// names the non-OK checks the policy left out or capped; RawState keeps
// the worst state of every check.
func (r *Runner) policySummary(site *Site, svc *Service, states []checkState, cleanupErrs []string, now time.Time) Result {
	p := svc.Summary
	res := r.result(site, svc, SummaryID, CredNone, now)
	own := svc.own()
	var all, counted, ownStates []State
	byState := map[State][]string{}
	byParty := map[Party][]string{}
	var commissioning, notCounted []string
	critical := 0
	for _, s := range states {
		all = append(all, s.state)
		st, other := s.state, s.state != OK && s.party != own && s.party != ""
		if other {
			st = Unknown // not the service's fault: it could not be judged
		}
		switch p.Role(s.id) {
		case RoleCritical:
			critical++
			counted = append(counted, st)
			if other {
				byParty[s.party] = append(byParty[s.party], s.id)
				continue
			}
			ownStates = append(ownStates, st)
			byState[st] = append(byState[st], s.id)
		case RoleCommissioning:
			counted = append(counted, capAt(st, p.CommissioningCap))
			if s.state != OK {
				commissioning = append(commissioning, s.id+" "+s.state.String())
			}
		default:
			if s.state != OK {
				notCounted = append(notCounted, s.id+" "+s.state.String())
			}
		}
	}
	if len(cleanupErrs) > 0 {
		all = append(all, Warning)
		counted = append(counted, Warning)
	}
	raw := Worst(all...)
	res.RawState = &raw
	res.State = Worst(counted...)
	res.Party = summaryParty(res.State, own, ownStates, byParty)
	var parts []string
	switch {
	case len(states) == 0:
		raw = Unknown
		res.State, res.Detail = Unknown, "no checks ran"
		return res
	case critical == 0: // everything in commissioning, or the critical ones skipped
		parts = append(parts, "no critical checks")
	case len(byState[OK]) == critical:
		parts = append(parts, fmt.Sprintf("%d critical %s OK", critical, pluralCheck(critical)))
	default:
		parts = append(parts, fmt.Sprintf("%d of %d critical %s not OK", critical-len(byState[OK]), critical, pluralCheck(critical)))
		for _, st := range []State{Critical, Unknown, Warning} { // most severe first
			if ids := byState[st]; len(ids) > 0 {
				parts = append(parts, fmt.Sprintf("%s: %s", st, strings.Join(ids, ", ")))
			}
		}
		if other := partyParts(byParty); other != "" {
			parts = append(parts, fmt.Sprintf("not the %s's fault: %s", partyWords[own], other))
		}
	}
	// What counts comes first: a long commissioning list is what the
	// 256-character cut drops.
	parts = append(parts, cleanupErrs...)
	if len(commissioning) > 0 {
		parts = append(parts, "commissioning: "+strings.Join(commissioning, ", "))
	}
	if len(notCounted) > 0 {
		parts = append(parts, "not counted: "+strings.Join(notCounted, ", "))
	}
	res.Detail = OneLine(strings.Join(parts, "; "))
	return res
}

func pluralCheck(n int) string {
	if n == 1 {
		return "check"
	}
	return "checks"
}
