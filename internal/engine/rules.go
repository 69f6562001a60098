package engine

// What a check found beyond its state and one-line detail: the verdict of
// each rule it tested (a check such as 16tkn-access tests many rules of the
// WLCG token profile at once), which profile version the service satisfies,
// and, when a token was refused, the diagnosis that found why. Reports
// carry them in JSON (rules, profile, diagnosis); the detail only names the
// failing rules and the cause.

// Rule verdicts.
const (
	VerdictPass         = "pass"         // the rule holds (a refusal enforced, a grant honoured)
	VerdictFail         = "fail"         // the rule is broken
	VerdictWarn         = "warn"         // the rule holds, with a WARNING-level note (e.g. 403 where 401 is due)
	VerdictInconclusive = "inconclusive" // the answer proves nothing (no explicit denial, an error)
	VerdictUntested     = "untested"     // cannot be tested here (the reason is in the detail)
)

// RuleResult is one rule's verdict in one check.
type RuleResult struct {
	ID      string `json:"id"`      // e.g. create-no-overwrite
	Version string `json:"version"` // the profile version that requires it: 1.0, 1.1, 1.2
	Verdict string `json:"verdict"` // pass, fail, warn, inconclusive, untested
	Detail  string `json:"detail"`
	// Informational: the rule belongs to a newer profile version than the
	// service is expected to satisfy, so its verdict does not change the
	// check's state.
	Informational bool `json:"informational,omitempty"`
}

// Conformance says which version of a profile a service satisfies.
type Conformance struct {
	Profile   string `json:"name"`      // e.g. "WLCG Common JWT Profile"
	Expected  string `json:"expected"`  // the version sites.yaml expects (profile_version)
	Satisfied string `json:"satisfied"` // the highest version all of whose tested rules hold; "" for none
	// Untested lists the rules that could not be tested (so "satisfied"
	// holds as far as tested).
	Untested []string `json:"untested,omitempty"`
}

// Diagnosis is what a check found out, after a refusal, by varying one thing
// at a time.
type Diagnosis struct {
	// Cause in one line; empty when no variation was accepted.
	Cause string `json:"cause"`
	// Party at fault: site, central (the issuer) or probe (configuration).
	Party string          `json:"party,omitempty"`
	Steps []DiagnosisStep `json:"steps"`
}

// DiagnosisStep is one request of a diagnosis and its answer.
type DiagnosisStep struct {
	Vary     string `json:"vary"`    // what was varied: audience, scope path, fresh token, …
	Token    string `json:"token"`   // the token presented, by its claims (never its value)
	Request  string `json:"request"` // e.g. "read /testvo/reference.dat"
	Answer   string `json:"answer"`  // "accepted" or the refusal
	Accepted bool   `json:"accepted"`
}
