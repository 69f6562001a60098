package storage

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// The storage rules of the WLCG Common JWT Profile (v1.0 of 2019, v1.1 of
// September 2025, v1.2 of December 2025; sections as numbered in v1.2),
// each tagged with the first version that requires it. 16tkn-access tests
// every rule that can be tested against a disk endpoint with tokens from
// the VO's issuer; the read, write and directory checks exercise the grants
// the VO's work needs (read, create, modify-delete) on their own.

// ProfileName is the profile the rules come from.
const ProfileName = "WLCG Common JWT Profile"

// ProfileRule is one rule of the profile.
type ProfileRule struct {
	ID      string
	Version string // the first profile version that requires it
	Section string
	Text    string
	// Suite: the public compliance suite (indigo-iam/wlcg-jwt-compliance-
	// tests) tests the rule too ("" when it does not): how.
	Suite string
}

// ProfileRules are the rules 16tkn-access reports, in the order of its JSON.
var ProfileRules = []ProfileRule{
	{"read", "1.0", "§2.2.1", "storage.read allows reading", "storage.read:/ reads (a 404 on a missing file counts)"},
	{"create-new", "1.0", "§2.2.1", "storage.create allows creating new files", "storage.modify:/ only"},
	{"create-mkdir", "1.0", "§2.2.1", "storage.create allows creating directories below its path", "mkdir with storage.create on the parent"},
	{"create-parents", "1.0", "§2.2.1", "storage.create allows creating the missing directories of its own path (v1.1 adds the example)", ""},
	{"create-no-overwrite", "1.0", "§2.2.1", "storage.create must not overwrite existing data", "yes (403)"},
	{"create-no-delete", "1.0", "§2.2.1", "storage.create must not delete existing data", "yes (403)"},
	{"create-no-read", "1.0", "§2.2.1", "storage.create does not imply storage.read", "yes (403)"},
	{"modify-create", "1.0", "§2.2.1", "storage.modify allows creating new files", "yes (storage.modify:/)"},
	{"modify-overwrite", "1.0", "§2.2.1", "storage.modify allows overwriting existing data", ""},
	{"modify-delete", "1.0", "§2.2.1", "storage.modify allows deleting", "yes (storage.modify:/)"},
	{"modify-mkdir", "1.0", "§2.2.1", "storage.modify allows creating directories", "yes (storage.modify:/)"},
	{"modify-no-read", "1.0", "§2.2.1", "storage.modify does not imply storage.read", "yes (403)"},
	{"read-no-create", "1.0", "§2.2.1", "storage.read does not allow creating data", "yes (storage.read:/, 403)"},
	{"read-no-delete", "1.0", "§2.2.1", "storage.read does not allow deleting data", ""},
	{"path-elements-read", "1.0", "§2.2.1", "a storage.read path covers itself and what is below it, by whole path elements", "yes (not critical there)"},
	{"path-elements-create", "1.0", "§2.2.1", "a storage.create path is matched by whole path elements", "mkdir only (not critical there)"},
	{"path-elements-modify", "1.0", "§2.2.1", "a storage.modify path is matched by whole path elements", ""},
	{"other-path", "1.0", "§2.2.3", "a token grants only the paths of its scopes", "yes (a 404 on a missing file counts)"},
	{"no-storage-scope", "1.0", "§2.1.3", "a token without a storage scope reads and writes nothing", "yes (openid only, a missing file)"},
	{"scope-without-path", "1.0", "§2.2.1", "a storage scope without a path makes the token invalid", ""},
	{"audience", "1.0", "§2.1.1", "a token whose aud does not name the endpoint is refused", "yes (a 404 on a missing file counts as a refusal)"},
	{"audience-list-other", "1.0", "§2.1.1", "a token whose aud list does not name the endpoint is refused", "yes (a 404 counts)"},
	{"audience-list", "1.0", "§2.1.1", "an aud list that names the endpoint is accepted", "yes (on a missing file)"},
	{"wlcg-ver-major", "1.0", "§4.3.3", "a token of an unsupported profile version (wlcg.ver 2.0) is refused", ""},
	{"invalid-token-401", "1.0", "RFC 6750 §3.1", "an invalid token is answered 401 with WWW-Authenticate (HTTP)", "strict mode only"},
	{"stat-create", "1.1", "§2.2.1", "storage.create allows stat", ""},
	{"stat-modify", "1.1", "§2.2.1", "storage.modify allows stat", ""},
	{"stat-stage", "1.1", "§2.2.1", "storage.stage allows stat", ""},
	{"create-parent-not-file", "1.1", "§2.2.1", "storage.create:/a/b does not allow creating a file /a", ""},
	{"create-trailing-slash", "1.1", "§2.2.1", "storage.create:/a/ (a directory) does not allow creating a file /a", "read only, not critical (TBD there)"},
	{"wlcg-ver-minor", "1.1", "§4.3.3", "a token of a newer minor profile version (wlcg.ver 1.9) is accepted", ""},
	{"capabilities-over-groups", "1.1", "§2.2.3", "a token with storage scopes is authorized by them, its wlcg.groups ignored", ""},
	{"stage-no-read", "1.2", "§2.2.1", "storage.stage does not allow reading", ""},
	{"stage", "1.0", "§2.2.1", "storage.stage stages nearline data (tape REST API)", ""},
	{"poll", "1.2", "§2.2.1", "storage.poll (and storage.stage) allow polling file locality", ""},
}

// profileRule is the rule with id (a rulebook bug when there is none).
func profileRule(id string) ProfileRule {
	for _, r := range ProfileRules {
		if r.ID == id {
			return r
		}
	}
	panic("storage: no profile rule " + id)
}

// versionAtMost reports whether version a is at most b (MAJOR.MINOR).
func versionAtMost(a, b string) bool {
	var am, an, bm, bn int
	fmt.Sscanf(a, "%d.%d", &am, &an)
	fmt.Sscanf(b, "%d.%d", &bm, &bn)
	return am < bm || am == bm && an <= bn
}

// verdicts collects the rule results of one check.
type verdicts struct {
	expected string
	mu       sync.Mutex // sub-rules run side by side (tryLanes, tryReads)
	rules    []engine.RuleResult
}

// set records a rule's verdict (once: a later verdict replaces it, so a
// grant that passes and then turns out not to have taken effect fails).
func (v *verdicts) set(id, verdict, detail string) {
	r := profileRule(id)
	res := engine.RuleResult{ID: id, Version: r.Version, Verdict: verdict, Detail: detail,
		Informational: !versionAtMost(r.Version, v.expected)}
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := range v.rules {
		if v.rules[i].ID == id {
			v.rules[i] = res
			return
		}
	}
	v.rules = append(v.rules, res)
}

// get is the verdict of id ("" when not recorded).
func (v *verdicts) get(id string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range v.rules {
		if r.ID == id {
			return r.Verdict
		}
	}
	return ""
}

// sorted are the results in catalogue order.
func (v *verdicts) sorted() []engine.RuleResult {
	v.mu.Lock()
	out := slices.Clone(v.rules)
	v.mu.Unlock()
	idx := func(id string) int {
		return slices.IndexFunc(ProfileRules, func(r ProfileRule) bool { return r.ID == id })
	}
	slices.SortStableFunc(out, func(a, b engine.RuleResult) int { return idx(a.ID) - idx(b.ID) })
	return out
}

// conformance is the highest profile version all of whose tested rules
// hold (pass or warn).
func (v *verdicts) conformance() *engine.Conformance {
	c := &engine.Conformance{Profile: ProfileName, Expected: v.expected}
	rules := v.sorted()
	for _, ver := range config.ProfileVersions {
		ok := true
		for _, r := range rules {
			if versionAtMost(r.Version, ver) && (r.Verdict == engine.VerdictFail || r.Verdict == engine.VerdictInconclusive) {
				ok = false
			}
		}
		if !ok {
			break
		}
		c.Satisfied = ver
	}
	for _, r := range rules {
		if r.Verdict == engine.VerdictUntested {
			c.Untested = append(c.Untested, r.ID)
		}
	}
	return c
}

// satisfiedWords says what the conformance is, for a detail.
func satisfiedWords(c *engine.Conformance) string {
	s := c.Satisfied
	if s == "" {
		s = "none"
	}
	return fmt.Sprintf("satisfies WLCG profile %s (expected %s)", s, c.Expected)
}

// outcome words the verdicts: a broken rule of the expected version (or
// below) is CRITICAL; else an inconclusive one UNKNOWN; else a warning
// WARNING; else OK. Rules of newer versions are named, informational. The
// detail starts with the version the service satisfies and names the rules
// (the first with its finding); JSON has every rule's finding.
func (v *verdicts) outcome() engine.Outcome {
	rules := v.sorted()
	conf := v.conformance()
	var broken, unsure, warned, info []engine.RuleResult
	pass, total := 0, 0
	for _, r := range rules {
		switch {
		case r.Verdict == engine.VerdictUntested:
			continue
		case r.Verdict == engine.VerdictPass:
			pass++
		case r.Informational && (r.Verdict == engine.VerdictFail || r.Verdict == engine.VerdictInconclusive):
			info = append(info, r)
		case r.Verdict == engine.VerdictFail:
			broken = append(broken, r)
		case r.Verdict == engine.VerdictInconclusive:
			unsure = append(unsure, r)
		case r.Verdict == engine.VerdictWarn:
			pass++
			warned = append(warned, r)
		}
		total++
	}
	var tail string
	if len(info) > 0 {
		tail += "; newer versions' rules broken (informational): " + ruleList(info, false)
	}
	if len(conf.Untested) > 0 {
		tail += "; untested: " + strings.Join(conf.Untested, ", ")
	}
	head := satisfiedWords(conf)
	var o engine.Outcome
	switch {
	case total == 0:
		o = engine.Unknownf("nothing tested")
	case len(broken) > 0:
		o = engine.Critf("%s: %d of %d rules broken: %s%s", head, len(broken), total, ruleList(broken, true), tail)
	case len(unsure) > 0:
		o = engine.Unknownf("%s as far as shown: %d of %d rules got no explicit answer: %s%s", head, len(unsure), total, ruleList(unsure, true), tail)
	case len(warned) > 0:
		o = engine.Warnf("%s: %d rules hold, with a warning: %s%s", head, pass, ruleList(warned, true), tail)
	default:
		o = engine.Okf("%s: all %d rules tested hold on existing objects%s", head, pass, tail)
	}
	o.Rules, o.Profile = rules, conf
	return o
}

// ruleList names rules by id and version, the first with its finding.
func ruleList(rs []engine.RuleResult, first bool) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID + " " + r.Version
		if i == 0 && first {
			out[i] += " (" + r.Detail + ")"
		}
	}
	return strings.Join(out, ", ")
}
